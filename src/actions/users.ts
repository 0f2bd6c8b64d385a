// People and their access: users join accounts with a role (the operator adds them from the CLI), and see or revoke
// the OAuth grants they gave agents. An account admin sees every grant of the account; anyone else only their own.
import { Type } from '@sinclair/typebox';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/passwords.js';
import { invalid, notFound } from '../errors.js';
import { isoNow } from '../store/db.js';
import { findUser, normalEmail, ROLES } from '../store/users.js';
import { type ActionContext, defineAction } from './registry.js';
import { Empty, Id } from './schemas.js';

export const createUser = defineAction({
  name: 'create_user',
  title: 'Add a person to an account',
  description:
    'Adds a user (email and password) to an account with a role: owner, admin, developer or viewer. A user who ' +
    'exists already joins the account (or changes role there); the password is only needed for a new user.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    email: Type.String({ format: 'email' }),
    password: Type.Optional(Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: 1024 })),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  }),
  output: Type.Object({
    userId: Type.Integer(),
    email: Type.String(),
    accountId: Type.Integer(),
    role: Type.String(),
    created: Type.Boolean({ description: 'a new user (false: an existing user joined the account)' }),
  }),
  async handler(ctx, input) {
    const accountId = ctx.grant.accountId;
    const account = await ctx.app.db
      .selectFrom('accounts')
      .select('id')
      .where('id', '=', accountId)
      .executeTakeFirst();
    if (!account) throw notFound(`account ${accountId}`);
    const now = isoNow();
    let user = await findUser(ctx.app.db, input.email);
    const created = !user;
    if (!user) {
      if (!input.password) throw invalid([{ field: 'password', reasons: ['a new user needs a password'] }]);
      user = await ctx.app.db
        .insertInto('users')
        .values({
          email: normalEmail(input.email),
          passwordHash: await hashPassword(input.password),
          createdAt: now,
          passwordChangedAt: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    await ctx.app.db
      .insertInto('memberships')
      .values({ userId: user.id, accountId, role: input.role, createdAt: now })
      .onConflict((oc) => oc.columns(['userId', 'accountId']).doUpdateSet({ role: input.role }))
      .execute();
    return { userId: user.id, email: user.email, accountId, role: input.role, created };
  },
});

const GrantOut = Type.Object({
  id: Type.Integer(),
  clientId: Type.String(),
  clientName: Type.String(),
  user: Type.String({ description: 'the email of the person who consented' }),
  scopes: Type.Array(Type.String()),
  resource: Type.String({ description: 'where its tokens may be used (…/mcp, …/v1, or the whole service)' }),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  revokedReason: Type.Union([Type.String(), Type.Null()]),
});

/** Admins' credentials (scope `*`) see the account's grants; a user's own credential sees that user's. */
function grantsQuery(ctx: ActionContext) {
  let q = ctx.app.db
    .selectFrom('oauthGrants')
    .innerJoin('users', 'users.id', 'oauthGrants.userId')
    .leftJoin('oauthClients', 'oauthClients.clientId', 'oauthGrants.clientId')
    .where('oauthGrants.accountId', '=', ctx.grant.accountId);
  if (!ctx.grant.scopes.includes('*')) q = q.where('oauthGrants.userId', '=', ctx.grant.userId ?? -1);
  return q;
}

export const listOauthGrants = defineAction({
  name: 'list_oauth_grants',
  title: 'List OAuth grants',
  description:
    'Lists the access people gave to agents and apps over OAuth on this account: client, person, scopes, audience, ' +
    'last use and revocation. An admin credential sees every grant of the account, a person their own.',
  scope: 'self',
  mutates: false,
  input: Empty,
  output: Type.Object({ grants: Type.Array(GrantOut) }),
  async handler(ctx) {
    const rows = await grantsQuery(ctx)
      .select([
        'oauthGrants.id',
        'oauthGrants.clientId',
        'oauthClients.name as clientName',
        'users.email as user',
        'oauthGrants.scopes',
        'oauthGrants.resource',
        'oauthGrants.createdAt',
        'oauthGrants.lastUsedAt',
        'oauthGrants.revokedAt',
        'oauthGrants.revokedReason',
      ])
      .orderBy('oauthGrants.id', 'desc')
      .execute();
    return {
      grants: rows.map((r) => ({
        ...r,
        clientName: r.clientName ?? r.clientId,
        scopes: JSON.parse(r.scopes) as string[],
      })),
    };
  },
});

export const revokeOauthGrant = defineAction({
  name: 'revoke_oauth_grant',
  title: 'Revoke an OAuth grant',
  description:
    'Revokes a grant: its access and refresh tokens stop working on their next request. An admin credential may ' +
    'revoke any grant of the account, a person their own.',
  scope: 'self',
  mutates: true,
  input: Type.Object({ id: Id }),
  output: Empty,
  async handler(ctx, input) {
    const grant = await grantsQuery(ctx)
      .select('oauthGrants.id')
      .where('oauthGrants.id', '=', input.id)
      .executeTakeFirst();
    if (!grant) throw notFound(`OAuth grant ${input.id}`);
    await ctx.app.db
      .updateTable('oauthGrants')
      .set({ revokedAt: isoNow(), revokedReason: 'revoked' })
      .where('id', '=', input.id)
      .where('revokedAt', 'is', null)
      .execute();
    await ctx.app.auth.forget();
    return {};
  },
});

export const userActions = [createUser, listOauthGrants, revokeOauthGrant];
