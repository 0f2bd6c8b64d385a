// Pass types (certificates), scanners, app keys and the audit log.
import { createPrivateKey } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import {
  IdentityError,
  loadIdentityFromP12,
  loadIdentityFromPem,
  type PassIdentity,
  toPem,
} from '../engine/index.js';
import { conflict, invalid, notFound } from '../errors.js';
import { PARKED_UNTIL } from '../store/jobs.js';
import { createKey, listKeys, revokeKey, rotateKey, SCOPES } from '../store/keys.js';
import type { PassTypeRow } from '../store/schema.js';
import { findPassType, requireUnrestricted } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { Empty } from './schemas.js';

// ---------------------------------------------------------------------------------------------------------------
// Pass types

const PassTypeOut = Type.Object({
  id: Type.String({ description: 'the pass type id' }),
  passTypeIdentifier: Type.String(),
  teamIdentifier: Type.String(),
  organizationName: Type.String(),
  certificateExpirationDate: Type.String(),
  healthy: Type.Boolean(),
  unhealthyReason: Type.Union([Type.String(), Type.Null()]),
});

const passTypeOut = (r: PassTypeRow) => ({
  id: r.passTypeIdentifier,
  passTypeIdentifier: r.passTypeIdentifier,
  teamIdentifier: r.teamIdentifier,
  organizationName: r.organizationName,
  certificateExpirationDate: r.expiresAt,
  healthy: r.unhealthyReason === null,
  unhealthyReason: r.unhealthyReason,
});

export const getPassTypes = defineAction({
  name: 'get_pass_types',
  title: 'List pass types',
  description:
    'Lists the pass types (Apple pass type certificates) of the account with their team, organization and certificate expiry.',
  scope: 'passtypes:read',
  mutates: false,
  input: Empty,
  output: Type.Array(PassTypeOut),
  async handler(ctx) {
    let q = ctx.app.db.selectFrom('passTypes').selectAll().where('accountId', '=', ctx.grant.accountId);
    if (ctx.grant.passTypeIds)
      q = q.where('passTypeIdentifier', 'in', ctx.grant.passTypeIds.length ? ctx.grant.passTypeIds : ['']);
    return (await q.orderBy('id').execute()).map(passTypeOut);
  },
});

export const getPassType = defineAction({
  name: 'get_pass_type',
  title: 'Get a pass type',
  description:
    'Returns one pass type: team, organization, certificate expiry and whether pushes work (healthy).',
  scope: 'passtypes:read',
  mutates: false,
  input: Type.Object({ id: Type.String({ minLength: 1, maxLength: 255 }) }),
  output: PassTypeOut,
  handler: async (ctx, input) => passTypeOut(await findPassType(ctx, input.id)),
});

const IdentityInput = {
  p12: Type.Optional(Type.String({ description: 'the .p12 file, base64', maxLength: 200_000 })),
  password: Type.Optional(Type.String({ maxLength: 500 })),
  certificate: Type.Optional(Type.String({ description: 'PEM certificate', maxLength: 100_000 })),
  privateKey: Type.Optional(Type.String({ description: 'PEM private key', maxLength: 100_000 })),
  wwdrCertificate: Type.Optional(
    Type.String({ description: 'PEM intermediate; default Apple WWDR G4', maxLength: 100_000 }),
  ),
};

function identityOf(input: {
  p12?: string;
  password?: string;
  certificate?: string;
  privateKey?: string;
  wwdrCertificate?: string;
}): PassIdentity {
  const options = { wwdr: input.wwdrCertificate };
  try {
    if (input.p12 !== undefined)
      return loadIdentityFromP12(Buffer.from(input.p12, 'base64'), input.password ?? '', options);
    if (input.certificate && input.privateKey)
      return loadIdentityFromPem({ certificate: input.certificate, privateKey: input.privateKey }, options);
  } catch (err) {
    if (err instanceof IdentityError)
      throw invalid([{ field: input.p12 !== undefined ? 'p12' : 'certificate', reasons: [err.message] }]);
    throw err;
  }
  throw invalid([{ field: 'p12', reasons: ['give p12 (with password), or certificate and privateKey'] }]);
}

const identityColumns = (ctx: ActionContext, identity: PassIdentity) => ({
  teamIdentifier: identity.teamIdentifier,
  organizationName: identity.organizationName,
  certificatePem: toPem(identity.certificate.der),
  privateKeyEnc: ctx.app.secrets.encrypt(
    identity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  ),
  wwdrPem: identity.chain.map((c) => toPem(c.der)).join(''),
  expiresAt: identity.expiresAt.toISOString(),
});

/** Pushes parked while a pass type's credentials were failing run again. */
async function unparkPushes(ctx: ActionContext, passTypeIds: number[]): Promise<void> {
  if (passTypeIds.length === 0) return;
  await ctx.app.db
    .updateTable('jobs')
    .set({ runAt: ctx.app.clock.now().toISOString() })
    .where('kind', '=', 'push')
    .where('status', '=', 'pending')
    .where('runAt', '>=', PARKED_UNTIL.toISOString())
    .where((eb) =>
      eb.or(
        passTypeIds.flatMap((id) => [
          eb('groupKey', 'like', `push:${id}:%`),
          eb('groupKey', 'like', `push-retry:${id}:%`),
        ]),
      ),
    )
    .execute();
  ctx.app.wake('push');
}

export const updatePassType = defineAction({
  name: 'update_pass_type',
  title: 'Replace the certificate of a pass type',
  description:
    'Replaces the certificate of a pass type (a renewed .p12, or PEM certificate and key) for the same pass type id. ' +
    'New passes and pushes use it at once; pushes held back by a certificate error resume.',
  scope: 'passtypes:write',
  mutates: true,
  input: Type.Object({ id: Type.String({ minLength: 1, maxLength: 255 }), ...IdentityInput }),
  output: PassTypeOut,
  async handler(ctx, input) {
    const row = await findPassType(ctx, input.id);
    const identity = identityOf(input);
    if (identity.passTypeIdentifier !== row.passTypeIdentifier)
      throw invalid([
        {
          field: 'certificate',
          reasons: [`is for ${identity.passTypeIdentifier}, not ${row.passTypeIdentifier}`],
        },
      ]);
    const updated = await ctx.app.db
      .updateTable('passTypes')
      .set({
        ...identityColumns(ctx, identity),
        unhealthyReason: null,
        updatedAt: ctx.app.clock.now().toISOString(),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await unparkPushes(ctx, [row.id]);
    return passTypeOut(updated);
  },
});

export const setApnsKey = defineAction({
  name: 'set_apns_key',
  title: 'Use an APNs token key for pushes',
  description:
    "Makes the account's pushes authenticate with an APNs auth key (.p8) instead of each pass type certificate: " +
    'its key id, your team id and the key (PEM). The key is encrypted at rest and never returned.',
  scope: 'passtypes:write',
  mutates: true,
  input: Type.Object({
    keyId: Type.String({ pattern: '^[A-Z0-9]{10}$' }),
    teamId: Type.String({ pattern: '^[A-Z0-9]{10}$' }),
    p8: Type.String({ maxLength: 10_000, description: 'the .p8 file (PEM, EC P-256 private key)' }),
  }),
  output: Type.Object({ keyId: Type.String(), teamId: Type.String() }),
  async handler(ctx, input) {
    try {
      const key = createPrivateKey(input.p8);
      if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not a P-256 key');
    } catch (err) {
      throw invalid([
        {
          field: 'p8',
          reasons: [`is not an APNs auth key (EC P-256 private key in PEM): ${(err as Error).message}`],
        },
      ]);
    }
    await ctx.app.db
      .updateTable('accounts')
      .set({
        apnsKeyEnc: ctx.app.secrets.encrypt(input.p8),
        apnsKeyId: input.keyId,
        apnsTeamId: input.teamId,
      })
      .where('id', '=', ctx.grant.accountId)
      .execute();
    const types = await ctx.app.db
      .selectFrom('passTypes')
      .select('id')
      .where('accountId', '=', ctx.grant.accountId)
      .execute();
    await ctx.app.db
      .updateTable('passTypes')
      .set({ unhealthyReason: null })
      .where('accountId', '=', ctx.grant.accountId)
      .execute();
    await unparkPushes(
      ctx,
      types.map((t) => t.id),
    );
    return { keyId: input.keyId, teamId: input.teamId };
  },
});

export const deleteApnsKey = defineAction({
  name: 'delete_apns_key',
  title: 'Stop using an APNs token key',
  description:
    "Removes the account's APNs auth key: pushes authenticate with each pass type certificate again.",
  scope: 'passtypes:write',
  mutates: true,
  input: Empty,
  output: Empty,
  async handler(ctx) {
    await ctx.app.db
      .updateTable('accounts')
      .set({ apnsKeyEnc: null, apnsKeyId: null, apnsTeamId: null })
      .where('id', '=', ctx.grant.accountId)
      .execute();
    return {};
  },
});

export const createPassType = defineAction({
  name: 'create_pass_type',
  title: 'Add a pass type certificate',
  description:
    'Adds an Apple pass type certificate: a .p12 (base64) with its password, or a PEM certificate and private key. ' +
    'The private key is encrypted at rest and never returned. The pass type id is read from the certificate.',
  scope: 'passtypes:write',
  mutates: true,
  input: Type.Object(IdentityInput),
  output: PassTypeOut,
  async handler(ctx, input) {
    const identity = identityOf(input);
    const taken = await ctx.app.db
      .selectFrom('passTypes')
      .select('accountId')
      .where('passTypeIdentifier', '=', identity.passTypeIdentifier)
      .executeTakeFirst();
    if (taken) throw conflict(`the pass type ${identity.passTypeIdentifier} is already registered`);
    const now = ctx.app.clock.now().toISOString();
    const row = await ctx.app.db
      .insertInto('passTypes')
      .values({
        accountId: ctx.grant.accountId,
        passTypeIdentifier: identity.passTypeIdentifier,
        ...identityColumns(ctx, identity),
        unhealthyReason: null,
        createdAt: now,
        updatedAt: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return passTypeOut(row);
  },
});

export const deletePassType = defineAction({
  name: 'delete_pass_type',
  title: 'Remove a pass type',
  description: 'Removes a pass type and its certificate. Refused while templates use it.',
  scope: 'passtypes:write',
  mutates: true,
  input: Type.Object({ id: Type.String({ minLength: 1, maxLength: 255 }) }),
  output: Empty,
  async handler(ctx, input) {
    const row = await findPassType(ctx, input.id);
    const used = await ctx.app.db
      .selectFrom('templates')
      .select('id')
      .where('passTypeId', '=', row.id)
      .executeTakeFirst();
    if (used) throw conflict(`the pass type ${row.passTypeIdentifier} is used by template ${used.id}`);
    await ctx.app.db.deleteFrom('passTypes').where('id', '=', row.id).execute();
    return {};
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Scanners (scanning itself comes later)

const ScannerIn = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  type: Type.Union([Type.Literal('PassVerifier'), Type.Literal('Browser')]),
  fullAccess: Type.Boolean(),
  allowedTemplates: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 1000 })),
};
const ScannerOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  type: Type.String(),
  fullAccess: Type.Boolean(),
  allowedTemplates: Type.Array(Type.Integer()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

async function scannerRow(ctx: ActionContext, id: number) {
  const row = await ctx.app.db
    .selectFrom('scanners')
    .selectAll()
    .where('id', '=', id)
    .where('accountId', '=', ctx.grant.accountId)
    .executeTakeFirst();
  if (!row) throw notFound(`scanner ${id}`);
  return row;
}
const scannerOut = (r: Awaited<ReturnType<typeof scannerRow>>) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  fullAccess: r.fullAccess === 1,
  allowedTemplates: JSON.parse(r.allowedTemplates) as number[],
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

async function checkScannerTemplates(
  ctx: ActionContext,
  fullAccess: boolean,
  templates: number[] | undefined,
): Promise<number[]> {
  if (fullAccess) return [];
  if (!templates || templates.length === 0)
    throw invalid([{ field: 'allowedTemplates', reasons: ['is required when fullAccess is false'] }]);
  const found = await ctx.app.db
    .selectFrom('templates')
    .select('id')
    .where('accountId', '=', ctx.grant.accountId)
    .where('id', 'in', templates)
    .execute();
  const missing = templates.filter((t) => !found.some((f) => f.id === t));
  if (missing.length)
    throw invalid([{ field: 'allowedTemplates', reasons: [`unknown templates: ${missing.join(', ')}`] }]);
  return templates;
}

export const listScanners = defineAction({
  name: 'list_scanners',
  title: 'List scanners',
  description: 'Lists the scanners (devices or browsers allowed to redeem passes) of the account.',
  scope: 'scanners:read',
  mutates: false,
  input: Empty,
  output: Type.Array(ScannerOut),
  async handler(ctx) {
    return (
      await ctx.app.db
        .selectFrom('scanners')
        .selectAll()
        .where('accountId', '=', ctx.grant.accountId)
        .orderBy('id')
        .execute()
    ).map(scannerOut);
  },
});

export const getScanner = defineAction({
  name: 'get_scanner',
  title: 'Get a scanner',
  description: 'Returns one scanner.',
  scope: 'scanners:read',
  mutates: false,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  output: ScannerOut,
  handler: async (ctx, input) => scannerOut(await scannerRow(ctx, input.id)),
});

export const createScanner = defineAction({
  name: 'create_scanner',
  title: 'Create a scanner',
  description:
    'Creates a scanner of type PassVerifier or Browser, with access to all templates (fullAccess) or the allowedTemplates.',
  scope: 'scanners:write',
  mutates: true,
  input: Type.Object(ScannerIn),
  output: ScannerOut,
  async handler(ctx, input) {
    const allowed = await checkScannerTemplates(ctx, input.fullAccess, input.allowedTemplates);
    const now = ctx.app.clock.now().toISOString();
    const row = await ctx.app.db
      .insertInto('scanners')
      .values({
        accountId: ctx.grant.accountId,
        name: input.name,
        type: input.type,
        fullAccess: input.fullAccess ? 1 : 0,
        allowedTemplates: JSON.stringify(allowed),
        createdAt: now,
        updatedAt: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return scannerOut(row);
  },
});

export const updateScanner = defineAction({
  name: 'update_scanner',
  title: 'Change a scanner',
  description: 'Replaces the name, type and template access of a scanner.',
  scope: 'scanners:write',
  mutates: true,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }), ...ScannerIn }),
  output: ScannerOut,
  async handler(ctx, input) {
    await scannerRow(ctx, input.id);
    const allowed = await checkScannerTemplates(ctx, input.fullAccess, input.allowedTemplates);
    await ctx.app.db
      .updateTable('scanners')
      .set({
        name: input.name,
        type: input.type,
        fullAccess: input.fullAccess ? 1 : 0,
        allowedTemplates: JSON.stringify(allowed),
        updatedAt: ctx.app.clock.now().toISOString(),
      })
      .where('id', '=', input.id)
      .execute();
    return scannerOut(await scannerRow(ctx, input.id));
  },
});

export const deleteScanner = defineAction({
  name: 'delete_scanner',
  title: 'Delete a scanner',
  description: 'Deletes a scanner.',
  scope: 'scanners:write',
  mutates: true,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  output: Empty,
  async handler(ctx, input) {
    await scannerRow(ctx, input.id);
    await ctx.app.db.deleteFrom('scanners').where('id', '=', input.id).execute();
    return {};
  },
});

// ---------------------------------------------------------------------------------------------------------------
// App keys

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
});
const NewKeyOut = Type.Object({
  key: Type.String({ description: 'the secret key, shown this once' }),
  ...KeyOut.properties,
});
const ScopeSchema = Type.Union(SCOPES.map((s) => Type.Literal(s)));

async function checkKeyRestrictions(
  ctx: ActionContext,
  templateIds?: number[] | null,
  passTypeIds?: string[] | null,
): Promise<void> {
  if (templateIds?.length) {
    const found = await ctx.app.db
      .selectFrom('templates')
      .select('id')
      .where('accountId', '=', ctx.grant.accountId)
      .where('id', 'in', templateIds)
      .execute();
    const missing = templateIds.filter((t) => !found.some((f) => f.id === t));
    if (missing.length)
      throw invalid([{ field: 'templateIds', reasons: [`unknown templates: ${missing.join(', ')}`] }]);
  }
  if (passTypeIds?.length) {
    const found = await ctx.app.db
      .selectFrom('passTypes')
      .select('passTypeIdentifier')
      .where('accountId', '=', ctx.grant.accountId)
      .where('passTypeIdentifier', 'in', passTypeIds)
      .execute();
    const missing = passTypeIds.filter((t) => !found.some((f) => f.passTypeIdentifier === t));
    if (missing.length)
      throw invalid([{ field: 'passTypeIds', reasons: [`unknown pass types: ${missing.join(', ')}`] }]);
  }
}

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
    templateIds: Type.Optional(Type.Union([Type.Array(Type.Integer({ minimum: 1 })), Type.Null()])),
    passTypeIds: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  }),
  output: NewKeyOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    await checkKeyRestrictions(ctx, input.templateIds, input.passTypeIds);
    const { key, info } = await createKey(ctx.app.db, { accountId: ctx.grant.accountId, ...input });
    return { key, ...info };
  },
});

export const rotateAppKey = defineAction({
  name: 'rotate_app_key',
  title: 'Rotate an app key',
  description: 'Gives an app key a new secret (shown once); the old secret stops working at once.',
  scope: '*',
  mutates: true,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  output: NewKeyOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    const out = await rotateKey(ctx.app.db, ctx.grant.accountId, input.id);
    if (!out) throw notFound(`app key ${input.id}`);
    ctx.app.auth.forget(); // the old secret stops working now, not when its cache entry expires
    return { key: out.key, ...out.info };
  },
});

export const revokeAppKey = defineAction({
  name: 'revoke_app_key',
  title: 'Revoke an app key',
  description: 'Revokes an app key; requests made with it are refused from now on.',
  scope: '*',
  mutates: true,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  output: Empty,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage app keys');
    if (!(await revokeKey(ctx.app.db, ctx.grant.accountId, input.id))) throw notFound(`app key ${input.id}`);
    ctx.app.auth.forget();
    return {};
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Audit log

const AuditEntry = Type.Object({
  id: Type.Integer(),
  keyId: Type.Union([Type.Integer(), Type.Null()], { description: 'the app key; null for Passslot itself' }),
  edge: Type.String({ description: 'where the action was run from: rest, cli, mcp, job, page or wallet' }),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Integer({ description: 'the status of the run, as HTTP would answer it' }),
  durationMs: Type.Number(),
  requestId: Type.String(),
  input: Type.Unknown(),
  createdAt: Type.String(),
});

export const listAudit = defineAction({
  name: 'list_audit_log',
  title: 'Read the audit log',
  description:
    'Lists the runs of mutating actions on the account, newest first, from every edge (REST, CLI, MCP, jobs, pages, ' +
    'Wallet): key, edge, action, target, outcome, duration, request id and input (secrets redacted).',
  scope: 'audit:read',
  mutates: false,
  input: Type.Object({
    action: Type.Optional(Type.String({ maxLength: 100 })),
    keyId: Type.Optional(Type.Integer()),
    edge: Type.Optional(Type.String({ maxLength: 20 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
  }),
  output: Type.Object({
    entries: Type.Array(AuditEntry),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  }),
  async handler(ctx, input) {
    const limit = input.limit ?? 100;
    let q = ctx.app.db.selectFrom('auditLog').selectAll().where('accountId', '=', ctx.grant.accountId);
    if (input.action) q = q.where('action', '=', input.action);
    if (input.keyId !== undefined) q = q.where('keyId', '=', input.keyId);
    if (input.edge) q = q.where('edge', '=', input.edge);
    if (input.since) q = q.where('createdAt', '>=', new Date(input.since).toISOString());
    if (input.cursor) q = q.where('id', '<', Number(input.cursor));
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    return {
      entries: page.map(({ accountId: _a, input: raw, ...r }) => ({
        ...r,
        input: raw ? JSON.parse(raw) : null,
      })),
      nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
    };
  },
});

export const adminActions = [
  getPassTypes,
  getPassType,
  createPassType,
  updatePassType,
  deletePassType,
  setApnsKey,
  deleteApnsKey,
  listScanners,
  getScanner,
  createScanner,
  updateScanner,
  deleteScanner,
  listAppKeys,
  createAppKey,
  rotateAppKey,
  revokeAppKey,
  listAudit,
];
