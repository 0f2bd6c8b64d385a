// The OAuth 2.1 authorization server's rules (RFC 6749 as profiled by OAuth 2.1 and RFC 9700, with PKCE S256 only,
// RFC 7591 registration, RFC 8707 resources, RFC 7009 revocation). Pages and HTTP live in http/routes/oauth.ts.
//
// Tokens are opaque, like app keys: `psa_<public id>_<secret>` (access, one hour) and `psr_…` (refresh, 30 days of
// inactivity), found by their public part and compared by hash in constant time, so revoking one takes effect on the
// next request. Refresh tokens rotate on every use; presenting one that was already used revokes the whole grant,
// because the server cannot tell the thief from the client (RFC 9700 §4.14.2).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/db.js';
import { type KeyGrant, SCOPES, type Scope } from '../store/keys.js';
import { isRole, scopesOfRole, tokenHash } from '../store/users.js';
import { randomToken, safeEqual } from './tokens.js';

export const ACCESS_TOKEN_SECONDS = 3600;
const REFRESH_TOKEN_DAYS = 30;
const CODE_SECONDS = 120;

/** What an OAuth client may ask for: every named scope (managing app keys and people, `*`, stays with keys). */
export const OAUTH_SCOPES: readonly Scope[] = SCOPES.filter((s) => s !== '*');

/** An OAuth error, answered as `{error, error_description}` (RFC 6749 §5.2) with its HTTP status. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

/** The resources (audiences) this server's tokens may be bound to: /mcp, /v1, or the whole service. */
export function resources(publicUrl: string): { base: string; mcp: string; v1: string } {
  const base = canonicalResource(publicUrl) ?? publicUrl;
  return { base, mcp: `${base}/mcp`, v1: `${base}/v1` };
}

/** RFC 8707's canonical form: an absolute URI, lower-case scheme and host, no fragment, no trailing slash. */
export function canonicalResource(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.hash || url.search || !/^https?:$/.test(url.protocol)) return undefined;
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** The audience a request to `path` needs: /mcp's or /v1's, each also satisfied by a token for the whole service. */
export function audienceAccepts(audience: string, publicUrl: string, path: string): boolean {
  const r = resources(publicUrl);
  if (audience === r.base) return true;
  return path === '/mcp' || path.startsWith('/mcp?') ? audience === r.mcp : audience === r.v1;
}

// ——— clients (RFC 7591) ———

export interface ClientMetadata {
  redirect_uris?: unknown;
  client_name?: unknown;
  token_endpoint_auth_method?: unknown;
  grant_types?: unknown;
  response_types?: unknown;
  scope?: unknown;
}

const AUTH_METHODS = ['none', 'client_secret_post', 'client_secret_basic'];

/** Redirect URIs a client may register: https, http on a loopback host, or a native app's private-use scheme. */
function redirectProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${uri} is not an absolute URI`;
  }
  if (url.hash) return `${uri} has a fragment`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:')
    return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
      ? undefined
      : `${uri}: plain http is only for loopback addresses`;
  return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)
    ? undefined
    : `${uri}: a custom scheme must be a reverse domain name (com.example.app:)`;
}

export async function registerClient(db: Db, meta: ClientMetadata, now: Date) {
  const uris = meta.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0 || !uris.every((u) => typeof u === 'string'))
    throw new OAuthError('invalid_redirect_uri', 'redirect_uris must be a non-empty array of URIs');
  for (const u of uris as string[]) {
    const problem = redirectProblem(u);
    if (problem) throw new OAuthError('invalid_redirect_uri', problem);
  }
  const method = meta.token_endpoint_auth_method ?? 'none';
  if (typeof method !== 'string' || !AUTH_METHODS.includes(method))
    throw new OAuthError(
      'invalid_client_metadata',
      `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`,
    );
  const grantTypes = meta.grant_types ?? ['authorization_code', 'refresh_token'];
  if (
    !Array.isArray(grantTypes) ||
    !grantTypes.every((g) => g === 'authorization_code' || g === 'refresh_token')
  )
    throw new OAuthError(
      'invalid_client_metadata',
      'grant_types may only hold authorization_code and refresh_token',
    );
  const responseTypes = meta.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || !responseTypes.every((r) => r === 'code'))
    throw new OAuthError('invalid_client_metadata', 'response_types may only hold code');
  const name =
    typeof meta.client_name === 'string' && meta.client_name.trim() ? meta.client_name.trim() : undefined;
  if (name && name.length > 200) throw new OAuthError('invalid_client_metadata', 'client_name is too long');
  const clientId = `psc_${randomToken(16)}`;
  const secret = method === 'none' ? undefined : `pss_${randomToken(32)}`;
  await db
    .insertInto('oauthClients')
    .values({
      clientId,
      secretHash: secret ? tokenHash(secret) : null,
      name: name ?? clientId,
      redirectUris: JSON.stringify(uris),
      authMethod: method,
      createdAt: now.toISOString(),
    })
    .execute();
  return {
    client_id: clientId,
    ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    client_id_issued_at: Math.floor(now.getTime() / 1000),
    client_name: name ?? clientId,
    redirect_uris: uris as string[],
    token_endpoint_auth_method: method,
    grant_types: grantTypes as string[],
    response_types: ['code'],
  };
}

export interface Client {
  clientId: string;
  name: string;
  redirectUris: string[];
  authMethod: string;
  secretHash: string | null;
}

export async function findClient(db: Db, clientId: unknown): Promise<Client | undefined> {
  if (typeof clientId !== 'string' || clientId.length > 200) return undefined;
  const row = await db
    .selectFrom('oauthClients')
    .selectAll()
    .where('clientId', '=', clientId)
    .executeTakeFirst();
  return row && { ...row, redirectUris: JSON.parse(row.redirectUris) as string[] };
}

/** The client of a token or revocation request: public clients name themselves, confidential ones prove it. */
export async function authenticateClient(
  db: Db,
  body: Record<string, unknown>,
  authorization: string | undefined,
): Promise<Client> {
  let id = body.client_id;
  let secret = body.client_secret;
  if (authorization?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
  }
  const client = await findClient(db, id);
  if (!client) throw new OAuthError('invalid_client', 'unknown client_id', 401);
  if (client.secretHash) {
    if (typeof secret !== 'string' || !safeEqual(tokenHash(secret), client.secretHash))
      throw new OAuthError('invalid_client', 'the client secret is missing or wrong', 401);
  }
  return client;
}

// ——— scopes ———

/** Parses a space-separated scope list; unknown scopes are an error. */
export function parseScopes(text: unknown): Scope[] {
  if (text === undefined || text === null || text === '') return [...OAUTH_SCOPES];
  if (typeof text !== 'string') throw new OAuthError('invalid_scope', 'scope must be a space-separated list');
  const asked = [...new Set(text.split(' ').filter(Boolean))];
  const unknown = asked.filter((s) => !(OAUTH_SCOPES as readonly string[]).includes(s));
  if (unknown.length)
    throw new OAuthError(
      'invalid_scope',
      `unknown scopes: ${unknown.join(', ')} (known: ${OAUTH_SCOPES.join(' ')})`,
    );
  return asked as Scope[];
}

// ——— authorization codes ———

export interface CodeRequest {
  clientId: string;
  userId: number;
  accountId: number;
  redirectUri: string;
  codeChallenge: string;
  scopes: Scope[];
  resource: string;
}

export async function createCode(db: Db, request: CodeRequest, now: Date): Promise<string> {
  const code = randomToken(32);
  await db
    .insertInto('oauthCodes')
    .values({
      codeHash: tokenHash(code),
      clientId: request.clientId,
      userId: request.userId,
      accountId: request.accountId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      scopes: JSON.stringify(request.scopes),
      resource: request.resource,
      expiresAt: new Date(now.getTime() + CODE_SECONDS * 1000).toISOString(),
    })
    .execute();
  await db
    .deleteFrom('oauthCodes')
    .where('expiresAt', '<', new Date(now.getTime() - 86_400_000).toISOString())
    .execute();
  return code;
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

function newToken(prefix: 'psa' | 'psr'): { token: string; publicId: string; secretHash: string } {
  const publicId = randomBytes(8).toString('hex');
  const token = `${prefix}_${publicId}_${randomToken(32)}`;
  return { token, publicId, secretHash: tokenHash(token) };
}

async function issueTokens(db: Db, grantId: number, scopes: string[], now: Date): Promise<TokenResponse> {
  const access = newToken('psa');
  const refresh = newToken('psr');
  await db
    .insertInto('oauthTokens')
    .values([
      {
        publicId: access.publicId,
        secretHash: access.secretHash,
        grantId,
        kind: 'access',
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ACCESS_TOKEN_SECONDS * 1000).toISOString(),
      },
      {
        publicId: refresh.publicId,
        secretHash: refresh.secretHash,
        grantId,
        kind: 'refresh',
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + REFRESH_TOKEN_DAYS * 86_400_000).toISOString(),
      },
    ])
    .execute();
  await db
    .updateTable('oauthGrants')
    .set({ lastUsedAt: now.toISOString() })
    .where('id', '=', grantId)
    .execute();
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: ACCESS_TOKEN_SECONDS,
    refresh_token: refresh.token,
    scope: scopes.join(' '),
  };
}

async function revokeGrant(db: Db, grantId: number, reason: string, now: Date): Promise<void> {
  await db
    .updateTable('oauthGrants')
    .set({ revokedAt: now.toISOString(), revokedReason: reason })
    .where('id', '=', grantId)
    .where('revokedAt', 'is', null)
    .execute();
}

export interface CodeExchange {
  code: unknown;
  redirect_uri: unknown;
  code_verifier: unknown;
  resource: unknown;
}

/** authorization_code: a code, once, by the client it was issued to, with its redirect URI and PKCE verifier. */
export async function exchangeCode(
  db: Db,
  client: Client,
  body: CodeExchange,
  now: Date,
): Promise<TokenResponse> {
  if (typeof body.code !== 'string' || !body.code)
    throw new OAuthError('invalid_request', 'code is required');
  if (typeof body.code_verifier !== 'string' || !VERIFIER.test(body.code_verifier))
    throw new OAuthError('invalid_request', 'code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]');
  const row = await db
    .selectFrom('oauthCodes')
    .selectAll()
    .where('codeHash', '=', tokenHash(body.code))
    .executeTakeFirst();
  if (!row || row.clientId !== client.clientId)
    throw new OAuthError('invalid_grant', 'unknown authorization code');
  // single use: the first exchange marks it; a second presentation revokes what the first one obtained
  const claimed = await db
    .updateTable('oauthCodes')
    .set({ usedAt: now.toISOString() })
    .where('id', '=', row.id)
    .where('usedAt', 'is', null)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) {
    if (row.grantId) await revokeGrant(db, row.grantId, 'authorization code reused', now);
    throw new OAuthError('invalid_grant', 'this authorization code was already used; its tokens are revoked');
  }
  if (row.expiresAt <= now.toISOString())
    throw new OAuthError('invalid_grant', 'the authorization code expired');
  if (body.redirect_uri !== row.redirectUri)
    throw new OAuthError('invalid_grant', 'redirect_uri does not match the one of the authorization request');
  const challenge = createHash('sha256').update(body.code_verifier).digest('base64url');
  if (!safeEqual(challenge, row.codeChallenge))
    throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
  if (body.resource !== undefined && canonicalResource(String(body.resource)) !== row.resource)
    throw new OAuthError('invalid_target', 'resource differs from the one authorized');
  const grant = await db
    .insertInto('oauthGrants')
    .values({
      clientId: client.clientId,
      userId: row.userId,
      accountId: row.accountId,
      scopes: row.scopes,
      resource: row.resource,
      createdAt: now.toISOString(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db.updateTable('oauthCodes').set({ grantId: grant.id }).where('id', '=', row.id).execute();
  return issueTokens(db, grant.id, JSON.parse(row.scopes) as string[], now);
}

const TOKEN_FORMAT = /^(psa|psr)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The stored token a presented one is, when its secret matches (constant-time), else undefined. */
async function findToken(db: Db, presented: string, kind: 'access' | 'refresh') {
  const m = TOKEN_FORMAT.exec(presented);
  if (!m || (m[1] === 'psa') !== (kind === 'access')) return undefined;
  const row = await db
    .selectFrom('oauthTokens')
    .innerJoin('oauthGrants', 'oauthGrants.id', 'oauthTokens.grantId')
    .select([
      'oauthTokens.id',
      'oauthTokens.secretHash',
      'oauthTokens.expiresAt',
      'oauthTokens.usedAt',
      'oauthTokens.revokedAt',
      'oauthTokens.grantId',
      'oauthGrants.clientId',
      'oauthGrants.revokedAt as grantRevokedAt',
      'oauthGrants.scopes',
      'oauthGrants.resource',
    ])
    .where('oauthTokens.publicId', '=', m[2]!)
    .where('oauthTokens.kind', '=', kind)
    .executeTakeFirst();
  if (!row) return undefined;
  const ok = timingSafeEqual(Buffer.from(tokenHash(presented), 'hex'), Buffer.from(row.secretHash, 'hex'));
  return ok ? row : undefined;
}

/** refresh_token: rotates; a refresh token used before revokes its grant (reuse detection). */
export async function refreshTokens(
  db: Db,
  client: Client,
  body: { refresh_token: unknown; scope?: unknown; resource?: unknown },
  now: Date,
): Promise<TokenResponse> {
  if (typeof body.refresh_token !== 'string')
    throw new OAuthError('invalid_request', 'refresh_token is required');
  const row = await findToken(db, body.refresh_token, 'refresh');
  if (!row || row.clientId !== client.clientId)
    throw new OAuthError('invalid_grant', 'unknown refresh token');
  if (row.grantRevokedAt || row.revokedAt) throw new OAuthError('invalid_grant', 'this grant was revoked');
  const claimed = await db
    .updateTable('oauthTokens')
    .set({ usedAt: now.toISOString() })
    .where('id', '=', row.id)
    .where('usedAt', 'is', null)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) {
    await revokeGrant(db, row.grantId, 'refresh token reused', now);
    throw new OAuthError(
      'invalid_grant',
      'this refresh token was already used: the grant is revoked, sign in again',
    );
  }
  if (row.expiresAt <= now.toISOString()) throw new OAuthError('invalid_grant', 'the refresh token expired');
  if (body.resource !== undefined && canonicalResource(String(body.resource)) !== row.resource)
    throw new OAuthError('invalid_target', 'resource differs from the one authorized');
  // the tokens carry the grant's scopes: a request for more is refused (narrowing is not offered)
  const granted = JSON.parse(row.scopes) as Scope[];
  if (body.scope !== undefined && body.scope !== '') {
    const beyond = parseScopes(body.scope).filter((s) => !granted.includes(s));
    if (beyond.length) throw new OAuthError('invalid_scope', `not granted: ${beyond.join(', ')}`);
  }
  return issueTokens(db, row.grantId, granted, now);
}

/** RFC 7009: revoking a refresh token ends its grant; an access token ends alone. Unknown tokens are no error. */
export async function revokeToken(db: Db, client: Client, token: unknown, now: Date): Promise<void> {
  if (typeof token !== 'string') throw new OAuthError('invalid_request', 'token is required');
  for (const kind of ['refresh', 'access'] as const) {
    const row = await findToken(db, token, kind);
    if (!row || row.clientId !== client.clientId) continue;
    if (kind === 'refresh') await revokeGrant(db, row.grantId, 'revoked by the client', now);
    else
      await db
        .updateTable('oauthTokens')
        .set({ revokedAt: now.toISOString() })
        .where('id', '=', row.id)
        .execute();
  }
}

/**
 * The principal of an access token, or undefined: unexpired, not revoked, its grant alive, and its person still a
 * member of the account (scopes are what was granted, within the person's current role).
 */
export async function verifyAccessToken(db: Db, presented: string, now: Date): Promise<KeyGrant | undefined> {
  const row = await findToken(db, presented, 'access');
  if (!row || row.revokedAt || row.grantRevokedAt || row.expiresAt <= now.toISOString()) return undefined;
  const who = await db
    .selectFrom('oauthGrants')
    .innerJoin('users', 'users.id', 'oauthGrants.userId')
    .innerJoin('memberships', (j) =>
      j
        .onRef('memberships.userId', '=', 'oauthGrants.userId')
        .onRef('memberships.accountId', '=', 'oauthGrants.accountId'),
    )
    .innerJoin('accounts', 'accounts.id', 'oauthGrants.accountId')
    .select([
      'oauthGrants.userId',
      'oauthGrants.accountId',
      'users.email',
      'memberships.role',
      'accounts.rateLimit',
    ])
    .where('oauthGrants.id', '=', row.grantId)
    .executeTakeFirst();
  if (!who || !isRole(who.role)) return undefined;
  const allowed = scopesOfRole(who.role);
  return {
    keyId: 0,
    accountId: who.accountId,
    scopes: (JSON.parse(row.scopes) as Scope[]).filter((s) => allowed.includes(s)),
    templateIds: null,
    passTypeIds: null,
    rateLimit: who.rateLimit,
    credential: `oauth:${row.clientId}/grant:${row.grantId}`,
    onBehalfOf: who.email,
    userId: who.userId,
    grantId: row.grantId,
    audience: row.resource,
  };
}

/** Whether a presented credential is an OAuth access token (else an app key). */
export const isAccessToken = (presented: string): boolean => presented.startsWith('psa_');
