// Signed-in people: a session is a random token in an HttpOnly cookie (SameSite=Lax, Secure over https), stored as
// its SHA-256 with the user and the CSRF token its forms carry. Before sign-in, forms carry a double-submit token.

import type { Db } from '../store/db.js';
import type { KeyGrant } from '../store/keys.js';
import { membershipsOf, scopesOfRole, tokenHash } from '../store/users.js';
import { randomToken, safeEqual } from './tokens.js';

export const SESSION_COOKIE = 'passslot_session';
export const FORM_COOKIE = 'passslot_form';
const SESSION_HOURS = 12;

export interface Session {
  id: number;
  userId: number;
  email: string;
  csrf: string;
}

/** Cookies of a request, by name. */
export function cookiesOf(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    try {
      out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      // a cookie that is not ours and not URL-encoded
    }
  }
  return out;
}

/** A Set-Cookie value with the attributes every Passslot cookie has. */
export function cookie(name: string, value: string, secure: boolean, maxAgeSeconds: number): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export async function openSession(
  db: Db,
  userId: number,
  now: Date,
): Promise<{ token: string; maxAge: number }> {
  const token = randomToken(32);
  await db
    .insertInto('sessions')
    .values({
      tokenHash: tokenHash(token),
      userId,
      csrf: randomToken(24),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + SESSION_HOURS * 3600_000).toISOString(),
    })
    .execute();
  // sessions that ended are forgotten as new ones open
  await db.deleteFrom('sessions').where('expiresAt', '<', now.toISOString()).execute();
  return { token, maxAge: SESSION_HOURS * 3600 };
}

/** The session of a cookie header, if it is valid. (Found by the hash of a 256-bit token: nothing to time.) */
export async function sessionOf(
  db: Db,
  cookieHeader: string | undefined,
  now: Date,
): Promise<Session | undefined> {
  const token = cookiesOf(cookieHeader).get(SESSION_COOKIE);
  if (!token) return undefined;
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.userId')
    .select(['sessions.id', 'sessions.userId', 'users.email', 'sessions.csrf'])
    .where('sessions.tokenHash', '=', tokenHash(token))
    .where('sessions.expiresAt', '>', now.toISOString())
    .executeTakeFirst();
  return row;
}

export async function closeSession(db: Db, id: number): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', id).execute();
}

/** A form's CSRF token matches: the session's, or (before sign-in) the double-submit cookie's. */
export function formTokenValid(expected: string | undefined, presented: unknown): boolean {
  return (
    typeof presented === 'string' &&
    expected !== undefined &&
    expected !== '' &&
    safeEqual(expected, presented)
  );
}

/** The request headers that make a signed-in person's credential for /v1 (the web app's calls). */
export interface SessionHeaders {
  cookie?: string;
  /** `X-CSRF-Token`: the session's token, which a page of another site cannot read nor send. */
  csrf?: string | string[];
  /** `X-Passslot-Account`: which of the person's accounts (default: the first by name). */
  account?: string | string[];
}

/**
 * The grant of a signed-in person calling /v1 from the web app: their role in the account decides the scopes (as for
 * their OAuth grants and keys). Undefined without a valid session and its CSRF token, or outside the account.
 */
export async function sessionGrant(
  db: Db,
  headers: SessionHeaders,
  now: Date,
): Promise<KeyGrant | undefined> {
  const session = await sessionOf(db, headers.cookie, now);
  if (!session || !formTokenValid(session.csrf, headers.csrf)) return undefined;
  const memberships = await membershipsOf(db, session.userId);
  const wanted = typeof headers.account === 'string' ? Number(headers.account) : undefined;
  const member = wanted === undefined ? memberships[0] : memberships.find((m) => m.accountId === wanted);
  if (!member) return undefined;
  return {
    keyId: 0,
    accountId: member.accountId,
    scopes: scopesOfRole(member.role),
    templateIds: null,
    passTypeIds: null,
    rateLimit: member.rateLimit,
    credential: `session:${session.id}`,
    onBehalfOf: session.email,
    userId: session.userId,
    grantId: null,
    audience: null,
  };
}
