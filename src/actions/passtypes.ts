// Pass types: Apple pass type certificates (the private key encrypted at rest, never returned), the account's APNs
// token key, and the health of their pushes.
import { createPrivateKey } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { unparkPushes } from '../apple/push-queue.js';
import {
  IdentityError,
  loadIdentityFromP12,
  loadIdentityFromPem,
  type PassIdentity,
  toPem,
} from '../engine/index.js';
import { conflict, invalid } from '../errors.js';
import { certificateExpiringEvent } from '../events/payloads.js';
import { appendEvent, withEvents } from '../store/events.js';
import type { PassTypeRow } from '../store/schema.js';
import { findPassType } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { Empty } from './schemas.js';

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
    await unparkPushes(ctx.app, [row.id], ctx.app.clock.now());
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
      ctx.app,
      types.map((t) => t.id),
      ctx.app.clock.now(),
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

export const markPassTypeUnhealthy = defineAction({
  name: 'mark_pass_type_unhealthy',
  title: 'Mark a pass type unhealthy',
  description:
    "Records that APNs refused a pass type's credentials (403): its pushes are held until the certificate or the " +
    "account's APNs key is replaced. Run by the push worker.",
  scope: 'system',
  mutates: true,
  input: Type.Object({
    id: Type.String({ minLength: 1, maxLength: 255 }),
    reason: Type.String({ maxLength: 500 }),
  }),
  output: Empty,
  async handler(ctx, input) {
    const row = await findPassType(ctx, input.id);
    await ctx.app.db
      .updateTable('passTypes')
      .set({ unhealthyReason: input.reason })
      .where('id', '=', row.id)
      .execute();
    return {};
  },
});

const EXPIRY_NOTICE_MS = 30 * 86_400_000;
const EXPIRY_REMIND_MS = 7 * 86_400_000;

export const warnExpiringCertificates = defineAction({
  name: 'warn_expiring_certificates',
  title: 'Warn of expiring pass type certificates',
  description:
    'Writes passtype.certificate_expiring for every pass type whose certificate has 30 days or less left, once and ' +
    'then weekly until it is replaced (pushes and new passes stop working when it expires). Run by the workers.',
  scope: 'system',
  mutates: false,
  input: Empty,
  output: Type.Object({ warned: Type.Integer() }),
  async handler(ctx) {
    const { app } = ctx;
    const now = app.clock.now();
    let q = app.db
      .selectFrom('passTypes')
      .select(['id', 'accountId', 'passTypeIdentifier', 'expiresAt', 'expiryWarnedAt'])
      .where('expiresAt', '<', new Date(now.getTime() + EXPIRY_NOTICE_MS).toISOString())
      .where((eb) =>
        eb.or([
          eb('expiryWarnedAt', 'is', null),
          eb('expiryWarnedAt', '<', new Date(now.getTime() - EXPIRY_REMIND_MS).toISOString()),
        ]),
      );
    if (ctx.grant.accountId) q = q.where('accountId', '=', ctx.grant.accountId);
    const due = await q.execute();
    for (const pt of due)
      await withEvents(app, async (trx) => {
        const claimed = await trx
          .updateTable('passTypes')
          .set({ expiryWarnedAt: now.toISOString() })
          .where('id', '=', pt.id)
          .where((eb) =>
            pt.expiryWarnedAt === null
              ? eb('expiryWarnedAt', 'is', null)
              : eb('expiryWarnedAt', '=', pt.expiryWarnedAt),
          )
          .executeTakeFirst();
        // another process warned first
        if (Number(claimed.numUpdatedRows) === 0) return;
        await appendEvent(trx, certificateExpiringEvent(pt, now), now);
      });
    return { warned: due.length };
  },
});

export const passTypeActions = [
  getPassTypes,
  getPassType,
  createPassType,
  updatePassType,
  deletePassType,
  setApnsKey,
  deleteApnsKey,
  markPassTypeUnhealthy,
  warnExpiringCertificates,
];
