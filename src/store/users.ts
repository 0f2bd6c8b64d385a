// People: users (an email and a scrypt hash of their password), their memberships of accounts with a role, and
// their signed-in sessions (a random cookie token, stored as its SHA-256).
import { createHash } from 'node:crypto';
import type { Db } from './db.js';
import { isRole, type Role } from './scopes.js';

export { isRole, ROLES, type Role, scopesOfRole } from './scopes.js';

export interface Membership {
  accountId: number;
  accountName: string;
  role: Role;
  /** The account's requests a minute (null: the server default). */
  rateLimit: number | null;
}

export const normalEmail = (email: string): string => email.trim().toLowerCase();

export async function findUser(db: Db, email: string) {
  return db.selectFrom('users').selectAll().where('email', '=', normalEmail(email)).executeTakeFirst();
}

export async function membershipsOf(db: Db, userId: number): Promise<Membership[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('accounts', 'accounts.id', 'memberships.accountId')
    .select([
      'memberships.accountId',
      'accounts.name as accountName',
      'memberships.role',
      'accounts.rateLimit',
    ])
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
