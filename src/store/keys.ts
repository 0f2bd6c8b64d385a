// App keys: random, shown once, stored as a SHA-256 hash, found by their public part and compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from './db.js';
import { isoNow } from './db.js';
import type { AppKeyRow } from './schema.js';

import { isRole, type Scope, scopesOfRole } from './scopes.js';

export { SCOPES, type Scope } from './scopes.js';

export interface KeyGrant {
  keyId: number;
  accountId: number;
  scopes: Scope[];
  /** When set, the key may only touch these templates / pass types. */
  templateIds: number[] | null;
  passTypeIds: string[] | null;
  /** Requests per minute allowed to the account (null: the server default). */
  rateLimit: number | null;
  /** Work Passslot does itself (the operator's CLI, workers, Wallet, pages): may run `system` actions. */
  system?: true;
  /** The credential, as the execution log names it: `key:ID`, `oauth:CLIENT_ID/grant:ID` or `system`. */
  credential: string;
  /** On whose behalf: the user's email, else the key's name, else `system`. */
  onBehalfOf: string;
  /** The user acting (an OAuth grant's, or a key's that belongs to a user); null for service keys and Passslot. */
  userId: number | null;
  /** The OAuth grant of an access token; null for keys. */
  grantId: number | null;
  /** Where an access token may be used (its RFC 8707 resource); null for keys (anywhere). */
  audience: string | null;
  /** The scanner a scanner's key belongs to (its scans are that scanner's). */
  scannerId?: number;
}

/** Who is calling: an app key, an OAuth grant, or Passslot itself. */
export type Principal = KeyGrant;

export interface KeyInfo {
  id: number;
  name: string;
  prefix: string;
  scopes: Scope[];
  templateIds: number[] | null;
  passTypeIds: string[] | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** The person on whose behalf the key acts; null for a service key. */
  userId: number | null;
}

const KEY_FORMAT = /^psk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const hash = (key: string): Buffer => createHash('sha256').update(key).digest();

function newKey(): { key: string; publicId: string; secretHash: string } {
  const publicId = randomBytes(8).toString('hex');
  const key = `psk_${publicId}_${randomBytes(32).toString('base64url')}`;
  return { key, publicId, secretHash: hash(key).toString('hex') };
}

const parseJson = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

export function keyInfo(row: AppKeyRow): KeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: `psk_${row.publicId}`,
    scopes: JSON.parse(row.scopes) as Scope[],
    templateIds: parseJson<number[]>(row.templateIds),
    passTypeIds: parseJson<string[]>(row.passTypeIds),
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
    userId: row.userId,
  };
}

export interface NewKeyInput {
  accountId: number;
  name: string;
  scopes: Scope[];
  templateIds?: number[] | null;
  passTypeIds?: string[] | null;
  userId?: number | null;
  scannerId?: number | null;
}

export async function createKey(db: Db, input: NewKeyInput): Promise<{ key: string; info: KeyInfo }> {
  const { key, publicId, secretHash } = newKey();
  const row = await db
    .insertInto('appKeys')
    .values({
      accountId: input.accountId,
      publicId,
      secretHash,
      name: input.name,
      scopes: JSON.stringify(input.scopes),
      templateIds: input.templateIds ? JSON.stringify(input.templateIds) : null,
      passTypeIds: input.passTypeIds ? JSON.stringify(input.passTypeIds) : null,
      userId: input.userId ?? null,
      scannerId: input.scannerId ?? null,
      createdAt: isoNow(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { key, info: keyInfo(row) };
}

/** Replaces a key's secret; the old key stops working at once. */
export async function rotateKey(
  db: Db,
  accountId: number,
  id: number,
): Promise<{ key: string; info: KeyInfo } | undefined> {
  const { key, publicId, secretHash } = newKey();
  const row = await db
    .updateTable('appKeys')
    .set({ publicId, secretHash })
    .where('id', '=', id)
    .where('accountId', '=', accountId)
    .where('revokedAt', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row ? { key, info: keyInfo(row) } : undefined;
}

export async function revokeKey(db: Db, accountId: number, id: number): Promise<boolean> {
  const result = await db
    .updateTable('appKeys')
    .set({ revokedAt: isoNow() })
    .where('id', '=', id)
    .where('accountId', '=', accountId)
    .where('revokedAt', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function listKeys(db: Db, accountId: number): Promise<KeyInfo[]> {
  const rows = await db
    .selectFrom('appKeys')
    .selectAll()
    .where('accountId', '=', accountId)
    .orderBy('id')
    .execute();
  return rows.map(keyInfo);
}

/** Finds the grant of a presented key, or undefined. The hash comparison is constant-time. */
export async function verifyKey(db: Db, presented: string): Promise<KeyGrant | undefined> {
  const m = KEY_FORMAT.exec(presented);
  if (!m) return undefined;
  const row = await db
    .selectFrom('appKeys')
    .innerJoin('accounts', 'accounts.id', 'appKeys.accountId')
    .leftJoin('users', 'users.id', 'appKeys.userId')
    .leftJoin('memberships', (j) =>
      j
        .onRef('memberships.userId', '=', 'appKeys.userId')
        .onRef('memberships.accountId', '=', 'appKeys.accountId'),
    )
    .selectAll('appKeys')
    .select(['accounts.rateLimit', 'users.email', 'memberships.role'])
    .where('appKeys.publicId', '=', m[1]!)
    .where('appKeys.revokedAt', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  const expected = Buffer.from(row.secretHash, 'hex');
  if (!timingSafeEqual(hash(presented), expected)) return undefined;
  const info = keyInfo(row);
  // a person's key acts within their role, and not at all once they left the account
  let scopes = info.scopes;
  if (row.userId !== null) {
    if (!row.role || !isRole(row.role)) return undefined;
    const allowed = scopesOfRole(row.role);
    scopes = scopes.includes('*') ? allowed : scopes.filter((s) => allowed.includes(s));
  }
  return {
    keyId: row.id,
    accountId: row.accountId,
    scopes,
    templateIds: info.templateIds,
    passTypeIds: info.passTypeIds,
    rateLimit: row.rateLimit,
    credential: `key:${row.id}`,
    onBehalfOf: row.email ?? row.name,
    userId: row.userId,
    grantId: null,
    audience: null,
    ...(row.scannerId !== null ? { scannerId: row.scannerId } : {}),
  };
}

export const hasScope = (grant: KeyGrant, scope: Scope): boolean =>
  grant.scopes.includes('*') || grant.scopes.includes(scope);
