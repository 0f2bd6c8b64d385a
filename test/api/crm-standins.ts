// Stand-ins for HubSpot and Salesforce in API tests: real HTTP servers on 127.0.0.1 that speak each CRM's wire
// protocol as its public docs describe it (see the CRM reference, sections 2 and 3) and check every request exactly:
// path, method, headers and body shape. Whatever a client gets wrong is listed in `problems`, which tests expect to be
// empty; credentials a CRM would refuse (a stale refresh token, an expired access token) are listed in `refusals`.
// Tests can expire or revoke tokens, answer 429, switch on refresh-token rotation, and hold requests.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** A request as a stand-in got it, and the status it answered. */
export interface Seen {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

type Incoming = Omit<Seen, 'status'>;

interface Reply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

/** A request kept unanswered until the test releases it. */
export interface Hold {
  /** Resolves when a matching request has arrived (and is being held). */
  arrived: Promise<Incoming>;
  release(): void;
}

interface HoldEntry {
  match: (r: Incoming) => boolean;
  taken: boolean;
  arrive: (r: Incoming) => void;
  released: Promise<void>;
}

/** Both stand-ins: the base URL, what they got, and what was wrong with it. */
export interface StandinBase {
  url: string;
  seen: Seen[];
  problems: string[];
  refusals: string[];
  /**
   * Holds the first request that matches (checked on arrival, answered from the state at release): the test can
   * let other requests through meanwhile.
   */
  hold(match: (r: Incoming) => boolean): Hold;
  close(): Promise<void>;
}

const mediaType = (h: IncomingHttpHeaders): string | undefined =>
  h['content-type']?.split(';')[0]?.trim().toLowerCase();

/** The token of an `Authorization: Bearer <token>` header; a malformed one is a problem. */
function bearerOf(r: Incoming, problems: string[]): string | undefined {
  const header = r.headers.authorization;
  if (header === undefined) {
    problems.push(`${r.method} ${r.path}: no Authorization header`);
    return undefined;
  }
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  if (!m) {
    problems.push(`${r.method} ${r.path}: Authorization is not "Bearer <token>": ${JSON.stringify(header)}`);
    return undefined;
  }
  return m[1];
}

/**
 * Parses an OAuth refresh request: form-encoded, with exactly grant_type=refresh_token, client_id, client_secret
 * and refresh_token, each once. Undefined (and problems) when it is not one.
 */
function refreshForm(r: Incoming, problems: string[]): Record<string, string> | undefined {
  const where = `${r.method} ${r.path}`;
  const before = problems.length;
  if (mediaType(r.headers) !== 'application/x-www-form-urlencoded')
    problems.push(
      `${where}: content-type is ${r.headers['content-type']}, not application/x-www-form-urlencoded`,
    );
  if (r.path.includes('?')) problems.push(`${where}: parameters belong in the form body, not the query`);
  const params = new URLSearchParams(r.body);
  const form: Record<string, string> = {};
  const required = ['grant_type', 'client_id', 'client_secret', 'refresh_token'];
  for (const key of new Set(params.keys())) {
    if (!required.includes(key)) problems.push(`${where}: unexpected form field ${key}`);
    if (params.getAll(key).length > 1) problems.push(`${where}: form field ${key} given more than once`);
    form[key] = params.get(key)!;
  }
  for (const key of required) if (!form[key]) problems.push(`${where}: form field ${key} missing or empty`);
  if (form.grant_type !== undefined && form.grant_type !== 'refresh_token')
    problems.push(`${where}: grant_type is ${form.grant_type}, expected refresh_token`);
  return problems.length === before ? form : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(r: Incoming, problems: string[]): unknown {
  if (mediaType(r.headers) !== 'application/json')
    problems.push(
      `${r.method} ${r.path}: content-type is ${r.headers['content-type']}, not application/json`,
    );
  try {
    return JSON.parse(r.body);
  } catch {
    problems.push(`${r.method} ${r.path}: the body is not JSON: ${r.body.slice(0, 200)}`);
    return undefined;
  }
}

const token = (bytes: number) => randomBytes(bytes).toString('base64url');
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const base62 = (n: number) => Array.from(randomBytes(n), (b) => BASE62[b % 62]).join('');

/** The HTTP plumbing both stand-ins share: read the body, hold if asked, answer, and record. */
async function serve(
  handle: (r: Incoming) => Reply,
  problems: string[],
): Promise<{ url: string; seen: Seen[]; hold: StandinBase['hold']; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const holds: HoldEntry[] = [];
  const releases: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const r: Incoming = {
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const held = holds.find((h) => !h.taken && h.match(r));
      if (held) {
        held.taken = true;
        held.arrive(r);
        await held.released;
      }
      let reply: Reply;
      try {
        reply = handle(r);
      } catch (err) {
        problems.push(`the stand-in failed on ${r.method} ${r.path}: ${(err as Error).message}`);
        reply = { status: 500, json: { message: 'stand-in error' } };
      }
      seen.push({ ...r, status: reply.status });
      if (res.destroyed) return;
      const headers: Record<string, string> = { ...reply.headers };
      if (reply.json !== undefined) headers['content-type'] ??= 'application/json;charset=UTF-8';
      res.writeHead(reply.status, headers).end(reply.json === undefined ? '' : JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    hold(match) {
      let arrive!: (r: Incoming) => void;
      let release!: () => void;
      const arrived = new Promise<Incoming>((resolve) => {
        arrive = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      holds.push({ match, taken: false, arrive, released });
      releases.push(release);
      return { arrived, release };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const release of releases) release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HubSpot

export const HUBSPOT_TOKEN_PATH = '/oauth/2026-03/token';
export const HUBSPOT_UPSERT_PATH = '/crm/v3/objects/contacts/batch/upsert';

/** Contact properties the stand-in's portal has: HubSpot's own and the wallet pass ones an admin created. */
export const HUBSPOT_PROPERTIES = [
  'email',
  'firstname',
  'lastname',
  'phone',
  'company',
  'wallet_pass_status',
  'wallet_pass_installed',
  'wallet_pass_url',
  'wallet_pass_updated_at',
];

export interface HubSpotContact {
  id: string;
  email: string;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface HubSpotUpsertInput {
  idProperty: string;
  id: string;
  properties: Record<string, string>;
  objectWriteTraceId?: string;
}

export interface HubSpotOAuthClient {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export interface HubSpotStandin extends StandinBase {
  contacts: Map<string, HubSpotContact>;
  /** Token requests answered 200, their forms in order, with the tokens issued. */
  refreshes: { form: Record<string, string>; accessToken: string; refreshToken: string }[];
  /** Every token request's form (refused ones too). */
  tokenRequests: Record<string, string>[];
  /** Upserts accepted: the access token used and the inputs. */
  upserts: { accessToken: string; inputs: HubSpotUpsertInput[] }[];
  /** A private (static) app token the portal accepts. */
  privateAppToken(): string;
  /** An OAuth app installed in the portal, with its first refresh token. */
  oauthClient(): HubSpotOAuthClient;
  /** Makes an access token expired now. */
  expire(accessToken: string): void;
  /** The next `times` upserts are answered 429 with HubSpot's RATE_LIMIT body. */
  rateLimit(times?: number, policy?: 'TEN_SECONDLY_ROLLING' | 'DAILY'): void;
}

/**
 * A HubSpot portal: the OAuth token endpoint (refresh-token rotation: each refresh returns a new refresh token and
 * the old one stops working) and the contacts batch upsert by email. `now` is the clock access tokens expire by
 * (HubSpot's 30 minutes).
 */
export async function startHubSpot(options: { now?: () => number } = {}): Promise<HubSpotStandin> {
  const now = options.now ?? Date.now;
  const problems: string[] = [];
  const refusals: string[] = [];
  const contacts = new Map<string, HubSpotContact>();
  const refreshes: HubSpotStandin['refreshes'] = [];
  const tokenRequests: Record<string, string>[] = [];
  const upserts: HubSpotStandin['upserts'] = [];
  const clients = new Map<string, { secret: string; refreshToken: string }>();
  /** access token -> when it expires (ms, by `now`); private app tokens never do. */
  const accessTokens = new Map<string, number>();
  let limited: { times: number; policy: string } = { times: 0, policy: 'TEN_SECONDLY_ROLLING' };
  let nextId = 512;
  const hubId = 62515;

  const error = (status: number, message: string, category: string, extra: Record<string, unknown> = {}) => ({
    status,
    json: { status: 'error', message, correlationId: randomUUID(), category, ...extra },
  });

  function tokenEndpoint(r: Incoming): Reply {
    const form = refreshForm(r, problems);
    if (!form)
      return { status: 400, json: { status: 'error', message: 'bad request', correlationId: randomUUID() } };
    tokenRequests.push(form);
    const client = clients.get(form.client_id!);
    if (!client || client.secret !== form.client_secret) {
      refusals.push(`token: unknown client ${form.client_id} or wrong secret`);
      return {
        status: 400,
        json: {
          error: 'invalid_client',
          error_description: 'missing or unknown client_id, or wrong client_secret',
          status: 'BAD_CLIENT_ID',
          message: 'missing or unknown client_id',
          correlationId: randomUUID(),
        },
      };
    }
    if (client.refreshToken !== form.refresh_token) {
      refusals.push(`token: refresh token ${form.refresh_token} is not the current one`);
      return {
        status: 400,
        json: {
          error: 'invalid_grant',
          error_description: 'refresh token is invalid, expired or revoked',
          status: 'BAD_REFRESH_TOKEN',
          message: 'missing or invalid refresh token',
          correlationId: randomUUID(),
        },
      };
    }
    const accessToken = `CJ${token(120)}`;
    const refreshToken = `na1-${randomUUID()}`;
    client.refreshToken = refreshToken;
    accessTokens.set(accessToken, now() + 1800 * 1000);
    refreshes.push({ form, accessToken, refreshToken });
    return {
      status: 200,
      json: {
        token_type: 'bearer',
        refresh_token: refreshToken,
        access_token: accessToken,
        expires_in: 1800,
        hub_id: hubId,
        scopes: ['oauth', 'crm.objects.contacts.read', 'crm.objects.contacts.write'],
      },
    };
  }

  /** The inputs of a batch upsert, checked against HS-Upsert's schema; problems for what does not fit. */
  function upsertInputs(r: Incoming, body: unknown): HubSpotUpsertInput[] | undefined {
    const where = `${r.method} ${r.path}`;
    const before = problems.length;
    if (!isRecord(body)) {
      problems.push(`${where}: the body is not a JSON object`);
      return undefined;
    }
    for (const key of Object.keys(body))
      if (key !== 'inputs') problems.push(`${where}: unexpected body key ${key}`);
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > 100) {
      problems.push(`${where}: inputs must be an array of 1 to 100 items`);
      return undefined;
    }
    const ids = new Set<string>();
    inputs.forEach((input: unknown, i) => {
      const at = `${where}: inputs[${i}]`;
      if (!isRecord(input)) {
        problems.push(`${at} is not an object`);
        return;
      }
      for (const key of Object.keys(input))
        if (!['idProperty', 'id', 'properties', 'objectWriteTraceId'].includes(key))
          problems.push(`${at} has an unexpected key ${key}`);
      if (input.idProperty !== 'email')
        problems.push(`${at}.idProperty is ${input.idProperty}, expected email`);
      if (typeof input.id !== 'string' || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(input.id))
        problems.push(`${at}.id is not an email address: ${JSON.stringify(input.id)}`);
      else if (ids.has(input.id.toLowerCase())) problems.push(`${at}.id ${input.id} is in the batch twice`);
      else ids.add(input.id.toLowerCase());
      if (!isRecord(input.properties)) problems.push(`${at}.properties is not an object`);
      else
        for (const [name, value] of Object.entries(input.properties))
          if (typeof value !== 'string') problems.push(`${at}.properties.${name} is not a string`);
      if (input.objectWriteTraceId !== undefined && typeof input.objectWriteTraceId !== 'string')
        problems.push(`${at}.objectWriteTraceId is not a string`);
    });
    return problems.length === before ? (inputs as HubSpotUpsertInput[]) : undefined;
  }

  function upsert(r: Incoming): Reply {
    const where = `${r.method} ${r.path}`;
    const bearer = bearerOf(r, problems);
    const expiresAt = bearer === undefined ? undefined : accessTokens.get(bearer);
    if (bearer === undefined || expiresAt === undefined) {
      refusals.push(`upsert: unknown access token ${bearer}`);
      return error(
        401,
        'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more ' +
          'details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        'INVALID_AUTHENTICATION',
      );
    }
    if (expiresAt <= now()) {
      refusals.push(`upsert: expired access token ${bearer}`);
      const minutes = Math.max(1, Math.round((now() - expiresAt) / 60_000));
      return error(
        401,
        `The OAuth token used to make this call expired ${minutes} minute(s) ago.`,
        'EXPIRED_AUTHENTICATION',
      );
    }
    const body = parseJson(r, problems);
    const inputs = body === undefined ? undefined : upsertInputs(r, body);
    if (!inputs) return error(400, 'Invalid input JSON on line 1', 'VALIDATION_ERROR');
    const unknown = inputs.flatMap((i) =>
      Object.keys(i.properties).filter((p) => !HUBSPOT_PROPERTIES.includes(p)),
    );
    if (unknown.length) {
      problems.push(`${where}: properties that do not exist in the portal: ${unknown.join(', ')}`);
      return error(
        400,
        `Property values were not valid: ${unknown.map((n) => `Property "${n}" does not exist`).join('; ')}`,
        'VALIDATION_ERROR',
        {
          errors: unknown.map((name) => ({
            message: `Property "${name}" does not exist`,
            code: 'PROPERTY_DOESNT_EXIST',
            context: { propertyName: [name] },
          })),
        },
      );
    }
    if (limited.times > 0) {
      limited.times--;
      const daily = limited.policy === 'DAILY';
      return {
        status: 429,
        headers: {
          'x-hubspot-ratelimit-interval-milliseconds': '10000',
          'x-hubspot-ratelimit-max': '190',
          'x-hubspot-ratelimit-remaining': '0',
        },
        json: {
          status: 'error',
          message: daily
            ? 'You have reached your daily limit.'
            : 'You have reached your ten_secondly_rolling limit.',
          errorType: 'RATE_LIMIT',
          correlationId: randomUUID(),
          policyName: limited.policy,
          requestId: randomUUID(),
        },
      };
    }
    const started = new Date(now()).toISOString();
    const results = inputs.map((input) => {
      const email = input.id.toLowerCase();
      const at = new Date(now()).toISOString();
      let contact = contacts.get(email);
      const created = !contact;
      if (!contact) {
        contact = { id: String(nextId++), email, properties: {}, createdAt: at, updatedAt: at };
        contacts.set(email, contact);
      }
      Object.assign(contact.properties, input.properties);
      contact.updatedAt = at;
      return {
        id: contact.id,
        new: created,
        archived: false,
        createdAt: contact.createdAt,
        updatedAt: contact.updatedAt,
        properties: {
          ...contact.properties,
          email,
          hs_object_id: contact.id,
          createdate: contact.createdAt,
          lastmodifieddate: contact.updatedAt,
        },
      };
    });
    upserts.push({ accessToken: bearer, inputs });
    return {
      status: 200,
      json: {
        status: 'COMPLETE',
        requestedAt: started,
        startedAt: started,
        completedAt: new Date(now()).toISOString(),
        results,
        numErrors: 0,
        errors: [],
        links: {},
      },
    };
  }

  const http = await serve((r) => {
    const path = r.path.split('?')[0];
    if (path === HUBSPOT_TOKEN_PATH) {
      if (r.method !== 'POST') problems.push(`${r.method} ${r.path}: the token endpoint takes POST`);
      return tokenEndpoint(r);
    }
    if (path === HUBSPOT_UPSERT_PATH) {
      if (r.method !== 'POST') problems.push(`${r.method} ${r.path}: batch upsert takes POST`);
      const query = new URLSearchParams(r.path.split('?')[1] ?? '');
      for (const key of query.keys())
        if (key !== 'idProperty' || query.get(key) !== 'email')
          problems.push(`${r.method} ${r.path}: unexpected query parameter ${key}`);
      return upsert(r);
    }
    problems.push(`${r.method} ${r.path}: not a HubSpot endpoint the connector should call`);
    return error(404, 'Not found', 'OBJECT_NOT_FOUND');
  }, problems);

  return {
    ...http,
    problems,
    refusals,
    contacts,
    refreshes,
    tokenRequests,
    upserts,
    privateAppToken() {
      const t = `pat-na1-${randomUUID()}`;
      accessTokens.set(t, Number.POSITIVE_INFINITY);
      return t;
    },
    oauthClient() {
      const client = {
        clientId: randomUUID(),
        clientSecret: randomUUID(),
        refreshToken: `na1-${randomUUID()}`,
      };
      clients.set(client.clientId, { secret: client.clientSecret, refreshToken: client.refreshToken });
      return client;
    },
    expire(accessToken) {
      if (accessTokens.has(accessToken)) accessTokens.set(accessToken, now() - 60_000);
    },
    rateLimit(times = 1, policy = 'TEN_SECONDLY_ROLLING') {
      limited = { times, policy };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Salesforce

export const SALESFORCE_TOKEN_PATH = '/services/oauth2/token';
/** The newest GA API version in 2026 (Summer '26). */
export const SALESFORCE_LATEST_VERSION = 67;

/** The org's objects: their fields, and which are External ID + Unique. */
export const SALESFORCE_OBJECTS: Record<string, { fields: string[]; externalIds: string[] }> = {
  Contact: {
    fields: [
      'Email',
      'FirstName',
      'LastName',
      'Phone',
      'Passslot_Id__c',
      'Member_Id__c',
      'Wallet_Pass_Status__c',
      'Wallet_Pass_Installed__c',
      'Wallet_Pass_URL__c',
    ],
    externalIds: ['Passslot_Id__c', 'Member_Id__c'],
  },
  Lead: {
    fields: ['Email', 'FirstName', 'LastName', 'Company', 'Passslot_Id__c', 'Wallet_Pass_Status__c'],
    externalIds: ['Passslot_Id__c'],
  },
};

export interface SalesforceRecord {
  id: string;
  object: string;
  externalIdField: string;
  externalId: string;
  fields: Record<string, unknown>;
}

export interface SalesforceClient {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export interface SalesforceStandin extends StandinBase {
  /** By `${object}/${externalIdField}/${externalId}`. */
  records: Map<string, SalesforceRecord>;
  /** Every token request's form (refused ones too). */
  tokenRequests: Record<string, string>[];
  /** Token requests answered 200, with what was issued (refreshToken only while rotation is on). */
  refreshes: { form: Record<string, string>; accessToken: string; refreshToken?: string }[];
  /** Upserts accepted. */
  upserts: {
    accessToken: string;
    record: SalesforceRecord;
    fields: Record<string, unknown>;
    created: boolean;
  }[];
  /** A connected app (external client app) with a refresh token of a user who authorized it. */
  connectedApp(): SalesforceClient;
  /** Refresh-token rotation on the app: each refresh returns a new refresh token and retires the old one. */
  rotation: boolean;
  /** Ends every session: every access token issued so far is invalid. */
  revokeAccessTokens(): void;
}

/**
 * A Salesforce org: the OAuth token endpoint (refresh token grant; with rotation on, replaying a retired refresh
 * token revokes the current one and its sessions, as Salesforce does) and upsert by external id on the REST API. The
 * instance URL it hands out is its own.
 */
export async function startSalesforce(): Promise<SalesforceStandin> {
  const problems: string[] = [];
  const refusals: string[] = [];
  const records = new Map<string, SalesforceRecord>();
  const tokenRequests: Record<string, string>[] = [];
  const refreshes: SalesforceStandin['refreshes'] = [];
  const upserts: SalesforceStandin['upserts'] = [];
  const clients = new Map<string, { secret: string }>();
  interface Grant {
    clientId: string;
    current: string;
    retired: Set<string>;
    sessions: Set<string>;
    revoked: boolean;
  }
  const grants: Grant[] = [];
  const sessions = new Set<string>();
  const orgId = `00D${base62(15)}`;
  const userId = `005${base62(15)}`;
  let apiCalls = 0;
  let url = '';

  const sfError = (status: number, errorCode: string, message: string, fields?: string[]): Reply => ({
    status,
    json: [{ message, errorCode, ...(fields ? { fields } : {}) }],
  });

  function tokenEndpoint(r: Incoming): Reply {
    if (r.method !== 'POST') problems.push(`${r.method} ${r.path}: the token endpoint takes POST`);
    const form = refreshForm(r, problems);
    if (!form) return { status: 400, json: { error: 'invalid_request', error_description: 'bad request' } };
    tokenRequests.push(form);
    const client = clients.get(form.client_id!);
    if (!client) {
      refusals.push(`token: unknown client ${form.client_id}`);
      return {
        status: 400,
        json: { error: 'invalid_client_id', error_description: 'client identifier invalid' },
      };
    }
    if (client.secret !== form.client_secret) {
      refusals.push(`token: wrong client secret for ${form.client_id}`);
      return {
        status: 400,
        json: { error: 'invalid_client', error_description: 'invalid client credentials' },
      };
    }
    const grant = grants.find(
      (g) =>
        g.clientId === form.client_id &&
        (g.current === form.refresh_token || g.retired.has(form.refresh_token!)),
    );
    const expired = {
      status: 400,
      json: { error: 'invalid_grant', error_description: 'expired access/refresh token' },
    };
    if (!grant || grant.revoked) {
      refusals.push(`token: refresh token ${form.refresh_token} is unknown or revoked`);
      return expired;
    }
    if (grant.current !== form.refresh_token) {
      // replaying a rotated-out refresh token invalidates the current one and its access tokens (SF-Refresh)
      refusals.push(`token: retired refresh token ${form.refresh_token} replayed; the grant is revoked`);
      grant.revoked = true;
      for (const s of grant.sessions) sessions.delete(s);
      return expired;
    }
    const accessToken = `${orgId}!${token(72)}`;
    sessions.add(accessToken);
    grant.sessions.add(accessToken);
    let refreshToken: string | undefined;
    if (standin.rotation) {
      refreshToken = `5Aep${base62(83)}`;
      grant.retired.add(grant.current);
      grant.current = refreshToken;
    }
    refreshes.push({ form, accessToken, refreshToken });
    const issuedAt = String(Date.now());
    const id = `${url}/id/${orgId}/${userId}`;
    return {
      status: 200,
      json: {
        access_token: accessToken,
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
        signature: createHmac('sha256', client.secret)
          .update(id + issuedAt)
          .digest('base64'),
        scope: 'refresh_token api',
        instance_url: url,
        id,
        token_type: 'Bearer',
        issued_at: issuedAt,
      },
    };
  }

  function upsert(r: Incoming, m: RegExpExecArray): Reply {
    const where = `${r.method} ${r.path}`;
    const [, version, object, field, rawValue, query] = m;
    const bearer = bearerOf(r, problems);
    if (bearer === undefined || !sessions.has(bearer)) {
      refusals.push(`upsert: invalid or expired session ${bearer}`);
      return sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
    }
    apiCalls++;
    const major = Number(version!.slice(1, -2));
    if (!/^v\d+\.0$/.test(version!) || major < 46 || major > SALESFORCE_LATEST_VERSION) {
      problems.push(
        `${where}: API version ${version} is not one this org serves (v46.0 to v${SALESFORCE_LATEST_VERSION}.0)`,
      );
      return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    }
    if (r.method !== 'PATCH') {
      problems.push(`${where}: upsert by external id takes PATCH`);
      return sfError(
        405,
        'METHOD_NOT_ALLOWED',
        `HTTP Method '${r.method}' not allowed. Allowed are GET,PATCH,DELETE`,
      );
    }
    for (const key of new URLSearchParams(query ?? '').keys())
      if (key !== 'updateOnly') problems.push(`${where}: unexpected query parameter ${key}`);
    const sobject = SALESFORCE_OBJECTS[object!];
    if (!sobject) {
      problems.push(`${where}: no sObject ${object}`);
      return sfError(404, 'NOT_FOUND', `The requested resource does not exist`);
    }
    if (!sobject.externalIds.includes(field!)) {
      problems.push(`${where}: ${field} is not an External ID field of ${object}`);
      return sfError(
        400,
        'INVALID_FIELD',
        `Provided external ID field does not exist or is not accessible: ${field}`,
      );
    }
    let externalId: string;
    try {
      externalId = decodeURIComponent(rawValue!);
    } catch {
      problems.push(`${where}: the external id is not URI-encoded`);
      return sfError(400, 'MALFORMED_ID', 'bad external id');
    }
    const body = parseJson(r, problems);
    if (!isRecord(body)) {
      problems.push(`${where}: the body is not a JSON object of fields`);
      return sfError(400, 'JSON_PARSER_ERROR', 'The body must be a JSON object');
    }
    const bad: string[] = [];
    for (const [name, value] of Object.entries(body)) {
      if (name === field)
        bad.push(`the external id field ${name} is in the body (it belongs in the URL only)`);
      else if (name === 'Id') bad.push('Id is in the body');
      else if (name === 'attributes') continue;
      else if (!sobject.fields.includes(name)) bad.push(`no field ${name} on ${object}`);
      else if (value !== null && !['string', 'number', 'boolean'].includes(typeof value))
        bad.push(`${name} is not a scalar value`);
    }
    if (bad.length) {
      problems.push(...bad.map((b) => `${where}: ${b}`));
      return sfError(400, 'INVALID_FIELD', bad.join('; '));
    }
    const key = `${object}/${field}/${externalId}`;
    let record = records.get(key);
    const created = !record;
    if (!record) {
      record = {
        id: `${object === 'Lead' ? '00Q' : '003'}${base62(15)}`,
        object: object!,
        externalIdField: field!,
        externalId,
        fields: {},
      };
      records.set(key, record);
    }
    Object.assign(record.fields, body);
    upserts.push({ accessToken: bearer, record, fields: body, created });
    return {
      status: created ? 201 : 200,
      headers: { 'sforce-limit-info': `api-usage=${apiCalls}/100000` },
      json: { id: record.id, success: true, errors: [], created },
    };
  }

  const upsertPath = /^\/services\/data\/(v[^/]+)\/sobjects\/([^/]+)\/([^/]+)\/([^/?]+)(?:\?(.*))?$/;
  const http = await serve((r) => {
    if (r.path.split('?')[0] === SALESFORCE_TOKEN_PATH) return tokenEndpoint(r);
    const m = upsertPath.exec(r.path);
    if (m) return upsert(r, m);
    problems.push(`${r.method} ${r.path}: not a Salesforce endpoint the connector should call`);
    return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
  }, problems);
  url = http.url;

  const standin: SalesforceStandin = {
    ...http,
    problems,
    refusals,
    records,
    tokenRequests,
    refreshes,
    upserts,
    rotation: false,
    connectedApp() {
      const client = {
        clientId: `3MVG9${base62(80)}`,
        clientSecret: base62(64),
        refreshToken: `5Aep${base62(83)}`,
      };
      clients.set(client.clientId, { secret: client.clientSecret });
      grants.push({
        clientId: client.clientId,
        current: client.refreshToken,
        retired: new Set(),
        sessions: new Set(),
        revoked: false,
      });
      return client;
    },
    revokeAccessTokens() {
      sessions.clear();
    },
  };
  return standin;
}
