// App keys: scopes and template or pass type restrictions, shown once, stored hashed; managing them needs '*' and an
// unrestricted key (a restricted key could otherwise mint wider access).
import { Type } from '@sinclair/typebox';
import { invalid, notFound } from '../errors.js';
import { createKey, listKeys, revokeKey, rotateKey, SCOPES, type Scope } from '../store/keys.js';
import { findUser, roleIn, scopesOfRole } from '../store/users.js';
import { requireOwnPassTypes, requireOwnTemplates, requireUnrestricted } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { Empty, Id } from './schemas.js';

const KeyOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  prefix: Type.String({ description: 'the public start of the key, to recognise it' }),
  scopes: Type.Array(Type.String()),
  templateIds: Type.Union([Type.Array(Type.Integer()), Type.Null()]),
  passTypeIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  userId: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the person on whose behalf the key acts; null for a service key',
  }),
});
const NewKeyOut = Type.Object({
  key: Type.String({ description: 'the secret key, shown this once' }),
  ...KeyOut.properties,
});
/** The member `email` of the account, whose role allows `scopes`; else a 422 naming the field. */
async function memberWithin(ctx: ActionContext, email: string, scopes: Scope[]): Promise<number> {
  const found = await findUser(ctx.app.db, email);
  const role = found && (await roleIn(ctx.app.db, found.id, ctx.grant.accountId));
  if (!found || !role)
    throw invalid([{ field: 'user', reasons: [`${email} is not a member of this account`] }]);
  const allowed = scopesOfRole(role);
  const beyond = scopes.filter((s) => !allowed.includes(s));
  if (beyond.length)
    throw invalid([{ field: 'scopes', reasons: [`beyond what a ${role} may grant: ${beyond.join(', ')}`] }]);
  return found.id;
}

const ScopeSchema = Type.Union(SCOPES.map((s) => Type.Literal(s)));

export const listAppKeys = defineAction({
  name: 'list_app_keys',
  title: 'List app keys',
  description: 'Lists the app keys of the account (never their secrets).',
  scope: '*',
  mutates: false,
  input: Empty,
  output: Type.Array(KeyOut),
  handler: (ctx) => {
    requireUnrestricted(ctx, 'manage app keys');
    return listKeys(ctx.app.db, ctx.grant.accountId);
  },
});

export const createAppKey = defineAction({
  name: 'create_app_key',
  title: 'Create an app key',
  description:
    'Creates an app key with scopes and optional restrictions to templates and pass types. The key is shown once.',
  scope: '*',
  mutates: true,
  input: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(ScopeSchema, { minItems: 1 }),
    templateIds: Type.Optional(Type.Union([Type.Array(Id), Type.Null()])),
    passTypeIds: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
    user: Type.Optional(
      Type.String({
        format: 'email',
        description:
          'a member of the account on whose behalf the key acts (its runs are logged as theirs; its scopes stay ' +
          'within their role); without it, a service key',
      }),
    ),
  }),
  output: NewKeyOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    await requireOwnTemplates(ctx, 'templateIds', input.templateIds ?? []);
    await requireOwnPassTypes(ctx, 'passTypeIds', input.passTypeIds ?? []);
    const { user, ...rest } = input;
    const userId = user ? await memberWithin(ctx, user, input.scopes) : null;
    const { key, info } = await createKey(ctx.app.db, { accountId: ctx.grant.accountId, ...rest, userId });
    return { key, ...info };
  },
});

export const rotateAppKey = defineAction({
  name: 'rotate_app_key',
  title: 'Rotate an app key',
  description: 'Gives an app key a new secret (shown once); the old secret stops working at once.',
  scope: '*',
  mutates: true,
  input: Type.Object({ id: Id }),
  output: NewKeyOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    const out = await rotateKey(ctx.app.db, ctx.grant.accountId, input.id);
    if (!out) throw notFound(`app key ${input.id}`);
    await ctx.app.auth.forget(); // the old secret stops working now, not when its cache entry expires
    return { key: out.key, ...out.info };
  },
});

export const revokeAppKey = defineAction({
  name: 'revoke_app_key',
  title: 'Revoke an app key',
  description: 'Revokes an app key; requests made with it are refused from now on.',
  scope: '*',
  mutates: true,
  input: Type.Object({ id: Id }),
  output: Empty,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    if (!(await revokeKey(ctx.app.db, ctx.grant.accountId, input.id))) throw notFound(`app key ${input.id}`);
    await ctx.app.auth.forget();
    return {};
  },
});

export const keyActions = [listAppKeys, createAppKey, rotateAppKey, revokeAppKey];
