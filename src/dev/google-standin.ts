// A local stand-in for Google Wallet: the OAuth token endpoint (the JWT-bearer grant, the assertion checked against
// the service account's public key), the Wallet REST API (walletobjects/v1: classes and objects of every type
// inserted, read, patched, messages added, each request checked as Google's reference specifies and refused with
// Google's error shape), the keys that sign callbacks, and a save page (/save/<JWT>, as pay.google.com/gp/v/save)
// that inserts what the JWT carries and posts a signed save callback to the class's callback URL. It keeps every
// class and object, and can be told to answer the next requests with 409, 429 or 500.
import { createPublicKey, generateKeyPairSync, type KeyObject, randomUUID, verify } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonObject, JsonValue } from '../engine/index.js';
import { type CallbackMessage, signCallback } from '../google/callbacks.js';
import { WALLET_SCOPE } from '../google/client.js';

const TYPES = new Set(['generic', 'eventTicket', 'loyalty', 'offer', 'flight', 'transit', 'giftCard']);
const STATES = new Set(['ACTIVE', 'COMPLETED', 'EXPIRED', 'INACTIVE']);
const BARCODES = new Set([
  'QR_CODE',
  'PDF_417',
  'AZTEC',
  'CODE_128',
  'CODE_39',
  'CODABAR',
  'DATA_MATRIX',
  'EAN_8',
  'EAN_13',
  'ITF_14',
  'UPC_A',
  'TEXT_ONLY',
]);
/** The fields each class type must have (Google's reference marks them required). */
const CLASS_REQUIRED: Record<string, string[]> = {
  generic: [],
  eventTicket: ['issuerName', 'eventName', 'reviewStatus'],
  loyalty: ['issuerName', 'programName', 'reviewStatus'],
  offer: ['issuerName', 'provider', 'title', 'redemptionChannel', 'reviewStatus'],
  flight: [
    'issuerName',
    'flightHeader',
    'origin',
    'destination',
    'localScheduledDepartureDateTime',
    'reviewStatus',
  ],
  transit: ['issuerName', 'transitType', 'reviewStatus'],
  giftCard: ['issuerName', 'reviewStatus'],
};
const ID = /^\d+\.[A-Za-z0-9._-]+$/;
const TOKEN_SECONDS = 3600;

export interface GoogleStandinRecord {
  time: string;
  method: string;
  path: string;
  status: number;
  body: string;
}

export interface GoogleStandinOptions {
  port?: number;
  host?: string;
}

interface Fault {
  status: number;
  count: number;
  /** Only requests whose path contains this. */
  path?: string;
}

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function googleError(status: number, message: string): JsonObject {
  const names: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    409: 'ALREADY_EXISTS',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
  };
  return { error: { code: status, message, status: names[status] ?? 'UNKNOWN' } };
}

/** What is wrong with a LocalizedString at `field`, if anything. */
function localizedProblem(v: JsonValue | undefined, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !isObject(v.defaultValue) || typeof v.defaultValue.value !== 'string')
    return `${field} must be a LocalizedString {defaultValue: {language, value}}`;
  if (typeof v.defaultValue.language !== 'string') return `${field}.defaultValue.language is required`;
  return undefined;
}

function imageProblem(v: JsonValue | undefined, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !isObject(v.sourceUri) || typeof v.sourceUri.uri !== 'string')
    return `${field} must be an Image {sourceUri: {uri}}`;
  return undefined;
}

/** What Google would refuse in a class or object body (400), if anything. */
export function bodyProblem(type: string, kind: 'Class' | 'Object', json: JsonObject): string | undefined {
  if (typeof json.id !== 'string' || !ID.test(json.id))
    return `id must be "<issuerId>.<suffix>" with only letters, digits, '.', '_' or '-': ${JSON.stringify(json.id)}`;
  for (const key of ['logo', 'heroImage', 'programLogo', 'titleImage', 'wideLogo']) {
    const p = imageProblem(json[key], key);
    if (p) return p;
  }
  for (const key of ['cardTitle', 'header', 'subheader', 'eventName']) {
    const p = localizedProblem(json[key], key);
    if (p) return p;
  }
  if (json.hexBackgroundColor !== undefined && !/^#[0-9a-fA-F]{6}$/.test(String(json.hexBackgroundColor)))
    return 'hexBackgroundColor must be #rrggbb';
  if (json.textModulesData !== undefined) {
    if (!Array.isArray(json.textModulesData) || json.textModulesData.length > 10)
      return 'textModulesData must be an array of at most 10';
    for (const m of json.textModulesData)
      if (!isObject(m) || (typeof m.header !== 'string' && typeof m.body !== 'string'))
        return 'each textModulesData item needs a header or a body';
  }
  if (kind === 'Class') {
    for (const field of CLASS_REQUIRED[type] ?? [])
      if (json[field] === undefined) return `${type}Class.${field} is required`;
    if (
      json.reviewStatus !== undefined &&
      !['UNDER_REVIEW', 'DRAFT', 'APPROVED'].includes(String(json.reviewStatus))
    )
      return 'reviewStatus must be UNDER_REVIEW, DRAFT or APPROVED';
    return undefined;
  }
  if (typeof json.classId !== 'string' || !ID.test(json.classId)) return 'classId is required';
  if (json.state !== undefined && !STATES.has(String(json.state)))
    return 'state must be ACTIVE, COMPLETED, EXPIRED or INACTIVE';
  if (json.barcode !== undefined) {
    if (!isObject(json.barcode) || !BARCODES.has(String(json.barcode.type)))
      return `barcode.type must be one of ${[...BARCODES].join(', ')}`;
    if (typeof json.barcode.value !== 'string') return 'barcode.value is required';
  }
  if (type === 'generic' && (json.cardTitle === undefined || json.header === undefined))
    return 'genericObject.cardTitle and header are required';
  return undefined;
}

/** Merges a patch into a resource as Google's PATCH does: the fields given replace the ones stored. */
const merge = (stored: JsonObject, patch: JsonObject): JsonObject => ({ ...stored, ...patch });

export class GoogleStandin {
  private server: http.Server | undefined;
  /** Service accounts: client email → public key and the issuer ids they may use. */
  private readonly accounts = new Map<string, { publicKey: KeyObject; issuers: Set<string> }>();
  private readonly tokens = new Map<string, { clientEmail: string; until: number }>();
  readonly classes = new Map<string, { type: string; json: JsonObject }>();
  readonly objects = new Map<string, { type: string; json: JsonObject; messages: JsonObject[] }>();
  readonly received: GoogleStandinRecord[] = [];
  /** Counts of answered requests by method and kind, and when the first and last write arrived (ms). */
  readonly counts = { tokens: 0, inserts: 0, patches: 0, messages: 0, first: 0, last: 0 };
  private readonly faults: Fault[] = [];
  /** The root key that signs callback keys (its public half at /keys). */
  readonly rootKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  private readonly intermediate = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  url = '';
  /** Keep the request log (off for benchmarks). */
  record = true;

  async start(options: GoogleStandinOptions = {}): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.handle(req, Buffer.concat(chunks).toString('utf8')).then(
          ({ status, body }) => {
            const text = JSON.stringify(body);
            if (this.record)
              this.received.push({
                time: new Date().toISOString(),
                method: req.method ?? '',
                path: req.url ?? '',
                status,
                body: Buffer.concat(chunks).toString('utf8'),
              });
            res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(text);
          },
          (err: Error) => res.writeHead(500).end(JSON.stringify(googleError(500, err.message))),
        );
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) =>
      this.server!.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
    );
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://${options.host ?? '127.0.0.1'}:${port}`;
    return this.url;
  }

  get tokenUrl(): string {
    return `${this.url}/token`;
  }
  get keysUrl(): string {
    return `${this.url}/keys`;
  }

  /** Lets a service account (its public key) obtain tokens and use these issuer ids. */
  addAccount(clientEmail: string, publicKeyPem: string, issuerIds: string[]): void {
    this.accounts.set(clientEmail, { publicKey: createPublicKey(publicKeyPem), issuers: new Set(issuerIds) });
  }

  /** The next `count` requests (whose path contains `path`) answer `status`. */
  fail(status: number, count: number, path?: string): void {
    this.faults.push({ status, count, ...(path ? { path } : {}) });
  }

  /** Forgets every class, object, request and fault. */
  reset(): void {
    this.classes.clear();
    this.objects.clear();
    this.received.length = 0;
    this.faults.length = 0;
    this.resetCounts();
  }

  /** Starts the counts afresh, keeping the classes and objects. */
  resetCounts(): void {
    Object.assign(this.counts, { tokens: 0, inserts: 0, patches: 0, messages: 0, first: 0, last: 0 });
  }

  /** A callback as Google signs it, for `recipientId` (the issuer id). */
  signedCallback(message: CallbackMessage, recipientId: string) {
    return signCallback(message, {
      root: this.rootKey.privateKey,
      intermediate: this.intermediate.privateKey,
      intermediateExpiration: Date.now() + 24 * 3600_000,
      recipientId,
    });
  }

  /** Posts a signed save or delete callback for an object to its class's callback URL; answers the HTTP status. */
  async callback(objectId: string, eventType: 'save' | 'del'): Promise<number> {
    const object = this.objects.get(objectId);
    if (!object) throw new Error(`no object ${objectId}`);
    const classId = String(object.json.classId);
    const cls = this.classes.get(classId);
    const url = isObject(cls?.json.callbackOptions) ? cls.json.callbackOptions.url : undefined;
    if (typeof url !== 'string') throw new Error(`class ${classId} has no callbackOptions.url`);
    const body = this.signedCallback(
      { classId, objectId, eventType, expTimeMillis: Date.now() + 60_000, nonce: randomUUID() },
      classId.split('.')[0]!,
    );
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.status;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private fault(path: string): number | undefined {
    const f = this.faults.find((x) => x.count > 0 && (!x.path || path.includes(x.path)));
    if (!f) return undefined;
    f.count--;
    return f.status;
  }

  private async handle(
    req: http.IncomingMessage,
    raw: string,
  ): Promise<{ status: number; body: JsonObject }> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/keys')
      return {
        status: 200,
        body: {
          keys: [
            {
              keyValue: this.rootKey.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
              protocolVersion: 'ECv2SigningOnly',
            },
          ],
        },
      };
    if (path.startsWith('/control/')) return this.control(req.method ?? '', path, raw);
    if (req.method === 'GET' && path.startsWith('/save/')) return this.save(path.slice('/save/'.length));
    const injected = this.fault(path);
    if (injected)
      return { status: injected, body: googleError(injected, `the stand-in was told to answer ${injected}`) };
    if (req.method === 'POST' && path === '/token') return this.token(req, raw);
    const m = /^\/walletobjects\/v1\/([a-zA-Z]+)(Class|Object)(?:\/([^/]+))?(\/addMessage)?$/.exec(path);
    if (!m) return { status: 404, body: googleError(404, `no such method: ${req.method} ${path}`) };
    const [, type, kind, rawId, addMessage] = m as unknown as [
      string,
      string,
      'Class' | 'Object',
      string?,
      string?,
    ];
    if (!TYPES.has(type)) return { status: 404, body: googleError(404, `no such resource: ${type}${kind}`) };
    const caller = this.caller(req);
    if (!caller)
      return { status: 401, body: googleError(401, 'Request had invalid authentication credentials.') };
    let json: JsonObject = {};
    if (raw) {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
        return { status: 400, body: googleError(400, 'the body must be application/json') };
      try {
        const parsed = JSON.parse(raw) as JsonValue;
        if (!isObject(parsed))
          return { status: 400, body: googleError(400, 'the body must be a JSON object') };
        json = parsed;
      } catch {
        return { status: 400, body: googleError(400, 'Invalid JSON payload received.') };
      }
    }
    const id = rawId ? decodeURIComponent(rawId) : typeof json.id === 'string' ? json.id : '';
    if (id && !caller.issuers.has(id.split('.')[0]!))
      return {
        status: 403,
        body: googleError(403, `the caller does not have permission for issuer ${id.split('.')[0]}`),
      };
    const store = (kind === 'Class' ? this.classes : this.objects) as Map<
      string,
      { type: string; json: JsonObject; messages?: JsonObject[] }
    >;
    const existing = store.get(id);
    if (existing && existing.type !== type)
      return {
        status: 400,
        body: googleError(400, `${id} is a ${existing.type}${kind}, not a ${type}${kind}`),
      };
    if (req.method === 'GET' && rawId && !addMessage) {
      if (!existing) return { status: 404, body: googleError(404, `Resource not found: ${id}`) };
      return { status: 200, body: existing.json };
    }
    if (req.method === 'POST' && addMessage) {
      const obj = kind === 'Object' ? this.objects.get(id) : undefined;
      if (!obj) return { status: 404, body: googleError(404, `Resource not found: ${id}`) };
      const message = json.message;
      if (!isObject(message) || (typeof message.header !== 'string' && typeof message.body !== 'string'))
        return { status: 400, body: googleError(400, 'message with a header or a body is required') };
      if (
        message.messageType !== undefined &&
        !['TEXT', 'TEXT_AND_NOTIFY'].includes(String(message.messageType))
      )
        return { status: 400, body: googleError(400, 'messageType must be TEXT or TEXT_AND_NOTIFY') };
      obj.messages.push(message);
      obj.json = merge(obj.json, { messages: obj.messages });
      this.counts.messages++;
      this.wrote();
      return { status: 200, body: { resource: obj.json } };
    }
    if (req.method === 'POST' && !rawId) {
      if (existing) return { status: 409, body: googleError(409, `Resource already exists: ${id}`) };
      const problem = bodyProblem(type, kind, json);
      if (problem) return { status: 400, body: googleError(400, problem) };
      if (kind === 'Object' && !this.classes.has(String(json.classId)))
        return { status: 404, body: googleError(404, `Class not found: ${String(json.classId)}`) };
      store.set(id, { type, json, ...(kind === 'Object' ? { messages: [] } : {}) });
      this.counts.inserts++;
      this.wrote();
      return { status: 200, body: json };
    }
    if (req.method === 'PATCH' && rawId) {
      if (!existing) return { status: 404, body: googleError(404, `Resource not found: ${id}`) };
      if (json.id !== undefined && json.id !== id)
        return { status: 400, body: googleError(400, 'the id in the body is not the id in the path') };
      const next = merge(existing.json, json);
      const problem = bodyProblem(type, kind, next);
      if (problem) return { status: 400, body: googleError(400, problem) };
      if (kind === 'Object' && !this.classes.has(String(next.classId)))
        return { status: 404, body: googleError(404, `Class not found: ${String(next.classId)}`) };
      existing.json = next;
      this.counts.patches++;
      this.wrote();
      return { status: 200, body: next };
    }
    return { status: 405, body: googleError(405, `${req.method} is not allowed here`) };
  }

  private wrote(): void {
    const now = Date.now();
    if (!this.counts.first) this.counts.first = now;
    this.counts.last = now;
  }

  private caller(req: http.IncomingMessage) {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? this.tokens.get(auth.slice(7)) : undefined;
    if (!token || token.until < Date.now()) return undefined;
    return this.accounts.get(token.clientEmail);
  }

  /** The JWT-bearer grant (RFC 7523), checked as Google's token endpoint does. */
  private token(req: http.IncomingMessage, raw: string): { status: number; body: JsonObject } {
    const refuse = (description: string) => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: description },
    });
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return {
        status: 400,
        body: { error: 'invalid_request', error_description: 'form-encoded body expected' },
      };
    const form = new URLSearchParams(raw);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' },
      };
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return refuse('Invalid JWT: not three parts');
    let header: JsonObject;
    let claims: JsonObject;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as JsonObject;
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as JsonObject;
    } catch {
      return refuse('Invalid JWT: not JSON');
    }
    if (header.alg !== 'RS256') return refuse('Invalid JWT: alg must be RS256');
    const account = this.accounts.get(String(claims.iss));
    if (!account) return refuse(`Invalid JWT: unknown service account ${String(claims.iss)}`);
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      account.publicKey,
      Buffer.from(parts[2]!, 'base64url'),
    );
    if (!signed) return refuse('Invalid JWT Signature.');
    if (claims.aud !== this.tokenUrl) return refuse(`Invalid JWT: aud must be ${this.tokenUrl}`);
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number')
      return refuse('Invalid JWT: iat and exp are required');
    if (claims.exp <= now || claims.iat > now + 300 || claims.exp - claims.iat > 3600)
      return refuse(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    if (
      !String(claims.scope ?? '')
        .split(' ')
        .includes(WALLET_SCOPE)
    )
      return refuse(`Invalid JWT: scope must include ${WALLET_SCOPE}`);
    const token = `ya29.standin-${randomUUID()}`;
    this.tokens.set(token, { clientEmail: String(claims.iss), until: Date.now() + TOKEN_SECONDS * 1000 });
    this.counts.tokens++;
    return { status: 200, body: { access_token: token, expires_in: TOKEN_SECONDS, token_type: 'Bearer' } };
  }

  /**
   * The save page: the JWT checked (the service account's signature, aud google, typ savetowallet), the classes and
   * objects it carries inserted when new, those it names checked to exist, then a save callback for each object.
   */
  private async save(jwt: string): Promise<{ status: number; body: JsonObject }> {
    const parts = jwt.split('.');
    let claims: JsonObject;
    try {
      claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as JsonObject;
    } catch {
      return { status: 400, body: googleError(400, 'the save JWT is not a JWT') };
    }
    const account = this.accounts.get(String(claims.iss));
    if (
      !account ||
      !verify(
        'RSA-SHA256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        account.publicKey,
        Buffer.from(parts[2] ?? '', 'base64url'),
      )
    )
      return { status: 400, body: googleError(400, 'the save JWT is not signed by a known service account') };
    if (claims.aud !== 'google' || claims.typ !== 'savetowallet')
      return {
        status: 400,
        body: googleError(400, 'the save JWT needs aud "google" and typ "savetowallet"'),
      };
    const payload = isObject(claims.payload) ? claims.payload : {};
    const saved: string[] = [];
    for (const [key, list] of Object.entries(payload)) {
      const m = /^([a-zA-Z]+)(Classes|Objects)$/.exec(key);
      if (!m || !TYPES.has(m[1]!) || !Array.isArray(list))
        return { status: 400, body: googleError(400, `unknown payload key ${key}`) };
      const kind = m[2] === 'Classes' ? 'Class' : 'Object';
      for (const item of list) {
        if (!isObject(item) || typeof item.id !== 'string')
          return { status: 400, body: googleError(400, `${key} item without id`) };
        if (!account.issuers.has(item.id.split('.')[0]!))
          return { status: 403, body: googleError(403, `not an issuer of ${item.id}`) };
        const store = kind === 'Class' ? this.classes : this.objects;
        if (!store.has(item.id)) {
          // a skinny JWT names an object Google must already have
          if (Object.keys(item).length <= 2 && kind === 'Object')
            return { status: 404, body: googleError(404, `Resource not found: ${item.id}`) };
          const problem = bodyProblem(m[1]!, kind, item);
          if (problem) return { status: 400, body: googleError(400, problem) };
          if (kind === 'Class') this.classes.set(item.id, { type: m[1]!, json: item });
          else this.objects.set(item.id, { type: m[1]!, json: item, messages: [] });
        }
        if (kind === 'Object') saved.push(item.id);
      }
    }
    const callbacks: JsonObject = {};
    for (const id of saved) {
      const cls = this.classes.get(String(this.objects.get(id)!.json.classId));
      callbacks[id] = isObject(cls?.json.callbackOptions)
        ? await this.callback(id, 'save')
        : 'no callback URL';
    }
    return { status: 200, body: { saved, callbacks } };
  }

  private control(method: string, path: string, raw: string): { status: number; body: JsonObject } {
    const body = raw ? (JSON.parse(raw) as JsonObject) : {};
    if (method === 'POST' && path === '/control/fail') {
      this.fail(
        Number(body.status),
        Number(body.count ?? 1),
        typeof body.path === 'string' ? body.path : undefined,
      );
      return { status: 200, body: { ok: true } };
    }
    if (method === 'POST' && path === '/control/accounts') {
      this.addAccount(
        String(body.clientEmail),
        String(body.publicKeyPem),
        (body.issuerIds as string[]) ?? [],
      );
      return { status: 200, body: { ok: true } };
    }
    if (method === 'GET' && path === '/control/objects')
      return {
        status: 200,
        body: {
          classes: Object.fromEntries([...this.classes].map(([k, v]) => [k, v.json])),
          objects: Object.fromEntries([...this.objects].map(([k, v]) => [k, v.json])),
        },
      };
    if (method === 'GET' && path === '/control/received')
      return {
        status: 200,
        body: {
          received: this.received as unknown as JsonValue[],
          counts: this.counts,
        } as unknown as JsonObject,
      };
    if (method === 'POST' && path === '/control/reset') {
      this.reset();
      return { status: 200, body: { ok: true } };
    }
    return { status: 404, body: googleError(404, `no control ${method} ${path}`) };
  }
}
