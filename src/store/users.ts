// People: users (an email and a scrypt hash of their password), their memberships of accounts with a role, and
// their signed-in sessions (a random cookie token, stored as its SHA-256).
import { createHash } from 'node:crypto';
import type { Db } from './db.js';
import type { Scope } from './keys.js';
import { SCOPES } from './keys.js';

export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a role may grant (to an OAuth client, or a key of theirs): owners and admins everything, including app keys
 * and people (`*`); developers every named scope; viewers the read scopes.
 */
export function scopesOfRole(role: Role): Scope[] {
  if (role === 'owner' || role === 'admin') return [...SCOPES];
  const named = SCOPES.filter((s) => s !== '*');
  return role === 'developer' ? named : named.filter((s) => s.endsWith(':read'));
}

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

export interface Membership {
  accountId: number;
  accountName: string;
  role: Role;
}

export const normalEmail = (email: string): string => email.trim().toLowerCase();

export async function findUser(db: Db, email: string) {
  return db.selectFrom('users').selectAll().where('email', '=', normalEmail(email)).executeTakeFirst();
}

export async function membershipsOf(db: Db, userId: number): Promise<Membership[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('accounts', 'accounts.id', 'memberships.accountId')
    .select(['memberships.accountId', 'accounts.name as accountName', 'memberships.role'])
    .where('memberships.userId', '=', userId)
    .orderBy('accounts.name')
    .execute();
  return rows.filter((r): r is Membership => isRole(r.role));
}

export async function roleIn(db: Db, userId: number, accountId: number): Promise<Role | undefined> {
  const row = await db
    .selectFrom('memberships')
    .select('role')
    .where('userId', '=', userId)
    .where('accountId', '=', accountId)
    .executeTakeFirst();
  return row && isRole(row.role) ? row.role : undefined;
}

export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
