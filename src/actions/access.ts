// Finding an account's resources by their public names, with the app key's restrictions applied. Another account's
// resources are "not found", never "forbidden", so their existence does not leak.
import { forbidden, invalid, notFound } from '../errors.js';
import type { Db } from '../store/db.js';
import { hotQueries, preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import { type ActionContext, touch } from './registry.js';

/**
 * Account-wide things (app keys, the event feed, webhooks, integrations) are for unrestricted keys: a key restricted
 * to some templates or pass types could otherwise mint wider access or read about passes it may not see.
 */
export function requireUnrestricted(ctx: ActionContext, what: string): void {
  if (ctx.grant.templateIds || ctx.grant.passTypeIds)
    throw forbidden(`a key restricted to templates or pass types cannot ${what}`, 'restricted_key');
}

/**
 * Refuses (422 on `field`) references to templates, or pass types, that are not the account's: another account's
 * are "unknown" like those that do not exist.
 */
export async function requireOwnTemplates(ctx: ActionContext, field: string, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  const found = await ctx.app.db
    .selectFrom('templates')
    .select('id')
    .where('accountId', '=', ctx.grant.accountId)
    .where('id', 'in', ids)
    .execute();
  const missing = ids.filter((t) => !found.some((f) => f.id === t));
  if (missing.length) throw invalid([{ field, reasons: [`unknown templates: ${missing.join(', ')}`] }]);
}

export async function requireOwnPassTypes(ctx: ActionContext, field: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const found = await ctx.app.db
    .selectFrom('passTypes')
    .select('passTypeIdentifier')
    .where('accountId', '=', ctx.grant.accountId)
    .where('passTypeIdentifier', 'in', ids)
    .execute();
  const missing = ids.filter((t) => !found.some((f) => f.passTypeIdentifier === t));
  if (missing.length) throw invalid([{ field, reasons: [`unknown pass types: ${missing.join(', ')}`] }]);
}

export function checkPassTypeAllowed(ctx: ActionContext, passTypeIdentifier: string): void {
  const allowed = ctx.grant.passTypeIds;
  if (allowed && !allowed.includes(passTypeIdentifier))
    throw forbidden(
      `this app key is restricted to the pass types ${allowed.join(', ')}; ${passTypeIdentifier} is not one of them`,
      'restricted_key',
    );
}

export function checkTemplateAllowed(ctx: ActionContext, templateId: number): void {
  const allowed = ctx.grant.templateIds;
  if (allowed && !allowed.includes(templateId))
    throw forbidden(
      `this app key is restricted to the templates ${allowed.join(', ')}; template ${templateId} is not one of them`,
      'restricted_key',
    );
}

export async function findPassType(ctx: ActionContext, passTypeIdentifier: string): Promise<PassTypeRow> {
  const row = await ctx.app.db
    .selectFrom('passTypes')
    .selectAll()
    .where('accountId', '=', ctx.grant.accountId)
    .where('passTypeIdentifier', '=', passTypeIdentifier)
    .executeTakeFirst();
  if (!row) throw notFound(`pass type ${passTypeIdentifier}`);
  checkPassTypeAllowed(ctx, row.passTypeIdentifier);
  return row;
}

export async function passTypeById(ctx: ActionContext, id: number): Promise<PassTypeRow> {
  const row = await ctx.app.rows.passType(ctx.app.db, id);
  if (row.accountId !== ctx.grant.accountId) throw notFound(`pass type ${id}`);
  return row;
}

export async function findTemplate(
  ctx: ActionContext,
  ref: { id: number } | { name: string },
): Promise<TemplateRow> {
  return (await findTemplateAndPassType(ctx, ref)).template;
}

const templateQuery = (db: Db, accountId: number) =>
  db
    .selectFrom('templates')
    .innerJoin('passTypes', 'passTypes.id', 'templates.passTypeId')
    .innerJoin('accounts', 'accounts.id', 'templates.accountId')
    .selectAll('templates')
    .select(['passTypes.updatedAt as passTypeUpdatedAt', 'accounts.googleIssuerId as googleIssuerId'])
    .where('templates.accountId', '=', accountId);
const templateById = preparedIn(2, (db, accountId: number, id: number) =>
  templateQuery(db, accountId).where('templates.id', '=', id),
);
const templateByName = preparedIn(2, (db, accountId: number, name: string) =>
  templateQuery(db, accountId).where('templates.name', '=', name),
);

/**
 * A template of the account with its pass type (the pass type row from the cache, by its version), and whether the
 * account has Google Wallet (read with them: a create answers the Google link too).
 */
export async function findTemplateAndPassType(
  ctx: ActionContext,
  ref: { id: number } | { name: string },
): Promise<{ template: TemplateRow; passType: PassTypeRow; googleWallet: boolean }> {
  const [row] =
    'id' in ref
      ? await templateById(ctx.app.db, ctx.grant.accountId, ref.id)
      : await templateByName(ctx.app.db, ctx.grant.accountId, ref.name);
  if (!row) throw notFound('id' in ref ? `template ${ref.id}` : `template named "${ref.name}"`);
  checkTemplateAllowed(ctx, row.id);
  touch(ctx, { template: row.id });
  const { passTypeUpdatedAt, googleIssuerId, ...template } = row;
  return {
    template,
    googleWallet: googleIssuerId !== null,
    passType: await ctx.app.rows.passType(ctx.app.db, template.passTypeId, passTypeUpdatedAt),
  };
}

export interface FoundPass {
  pass: PassRow;
  passType: PassTypeRow;
}

/** A pass row found by reference is the account's and within the key's restrictions, else 404/403. */
function checkPassAccess<R extends { accountId: number; templateId: number }>(
  ctx: ActionContext,
  row: R | undefined,
  passTypeIdentifier: string,
  serialNumber: string,
): asserts row is R {
  if (!row || row.accountId !== ctx.grant.accountId)
    throw notFound(`pass ${passTypeIdentifier}/${serialNumber}`);
  checkPassTypeAllowed(ctx, passTypeIdentifier);
  checkTemplateAllowed(ctx, row.templateId);
  touch(ctx, { pass: `${passTypeIdentifier}/${serialNumber}` });
}

/** Only the values of a live pass: the most frequent read, from the cache of hot passes where it can be. */
export async function findPassValues(
  ctx: ActionContext,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<string> {
  const hot = await ctx.app.hotPasses.read(ctx.app.db, passTypeIdentifier, serialNumber);
  const row = hot?.deletedAt === null ? hot : undefined;
  checkPassAccess(ctx, row, passTypeIdentifier, serialNumber);
  return row.values;
}

/**
 * A pass of the account, deleted ones too, by its identifiers: for Wallet's web service, which serves deleted passes
 * voided and still hears from the devices that hold them.
 */
export async function findAnyPass(
  ctx: ActionContext,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<FoundPass> {
  const [row] = await hotQueries(ctx.app.db).anyPassByRef(passTypeIdentifier, serialNumber);
  checkPassAccess(ctx, row, passTypeIdentifier, serialNumber);
  const { passTypeUpdatedAt, ...pass } = row;
  return { pass, passType: await ctx.app.rows.passType(ctx.app.db, pass.passTypeId, passTypeUpdatedAt) };
}

/** A live (not deleted) pass of the account by pass type identifier and serial number: one query, the pass type
 * row from the cache. */
export async function findPass(
  ctx: ActionContext,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<FoundPass> {
  const [row] = await hotQueries(ctx.app.db).passByRef(passTypeIdentifier, serialNumber);
  checkPassAccess(ctx, row, passTypeIdentifier, serialNumber);
  const { passTypeUpdatedAt, ...pass } = row;
  return { pass, passType: await ctx.app.rows.passType(ctx.app.db, pass.passTypeId, passTypeUpdatedAt) };
}
