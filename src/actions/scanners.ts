// Scanners: the devices or browsers allowed to redeem passes (scanning itself comes with the web app).
import { Type } from '@sinclair/typebox';
import { invalid, notFound } from '../errors.js';
import { createKey } from '../store/keys.js';
import { requireOwnTemplates } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { Empty, Id } from './schemas.js';

const ScannerIn = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  type: Type.Union([Type.Literal('PassVerifier'), Type.Literal('Browser')]),
  fullAccess: Type.Boolean(),
  allowedTemplates: Type.Optional(Type.Array(Id, { maxItems: 1000 })),
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

/** A scanner of the account (404 for another account's). */
export async function scannerRow(ctx: ActionContext, id: number) {
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
  await requireOwnTemplates(ctx, 'allowedTemplates', templates);
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
  input: Type.Object({ id: Id }),
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
  input: Type.Object({ id: Id, ...ScannerIn }),
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
  input: Type.Object({ id: Id }),
  output: Empty,
  async handler(ctx, input) {
    await scannerRow(ctx, input.id);
    await ctx.app.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('scanners').where('id', '=', input.id).execute();
      // its keys stop working with it
      await trx
        .updateTable('appKeys')
        .set({ revokedAt: ctx.app.clock.now().toISOString() })
        .where('scannerId', '=', input.id)
        .where('accountId', '=', ctx.grant.accountId)
        .where('revokedAt', 'is', null)
        .execute();
    });
    await ctx.app.auth.forget();
    return {};
  },
});

export const createScannerKey = defineAction({
  name: 'create_scanner_key',
  title: 'Give a scanner a sign-in key',
  description:
    'Makes a key for a scanner to sign in with (scope scans:write only): the phone or verifier opens signInUrl (the ' +
    '/scan page; the key travels in the fragment, never sent to a server log) or is given the key. Its scans are the ' +
    "scanner's and reach only the templates the scanner may redeem. Revoke it like any app key; deleting the scanner " +
    'revokes its keys. The key is shown this once.',
  scope: 'scanners:write',
  mutates: true,
  input: Type.Object({ id: Id }),
  output: Type.Object({
    key: Type.String({ description: 'the secret key, shown this once' }),
    keyId: Type.Integer(),
    signInUrl: Type.String({ description: 'the scanner page, signed in with this key' }),
  }),
  async handler(ctx, input) {
    const scanner = await scannerRow(ctx, input.id);
    const { key, info } = await createKey(ctx.app.db, {
      accountId: ctx.grant.accountId,
      name: `scanner ${scanner.id}: ${scanner.name}`,
      scopes: ['scans:write'],
      scannerId: scanner.id,
    });
    const base = ctx.app.config.publicUrl.replace(/\/+$/, '');
    return { key, keyId: info.id, signInUrl: `${base}/scan#key=${encodeURIComponent(key)}` };
  },
});

export const scannerActions = [
  listScanners,
  getScanner,
  createScanner,
  updateScanner,
  deleteScanner,
  createScannerKey,
];
