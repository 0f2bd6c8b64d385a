// What the pass actions share: tokens, links, image normalization, rendering with clear 422s, the write of a new pass
// version (render, store, event, push job in one transaction), the render cache and list items.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import {
  type BuiltPass,
  MissingValuesError,
  PassProblemsError,
  readImageHeader,
  ValueTypeError,
} from '../engine/index.js';
import { AppError, fieldErrors, invalid } from '../errors.js';
import type { Db } from '../store/db.js';
import { appendEvent, type EventEnvelope, withEvents } from '../store/events.js';
import { enqueueJob } from '../store/jobs.js';
import { hotQueries, preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import type { ActionContext } from './registry.js';
import { loadImages, type RenderContext } from './render.js';
import { type ImageInput, type PassListItem, RESOLUTIONS } from './schemas.js';

export const token = (bytes: number): string => randomBytes(bytes).toString('base64url');

export const renderContext = (ctx: ActionContext): RenderContext => ({
  db: ctx.app.db,
  secrets: ctx.app.secrets,
  publicUrl: ctx.app.config.publicUrl,
  now: ctx.app.clock.now(),
});

export const passUrl = (ctx: ActionContext, pass: Pick<PassRow, 'publicId' | 'linkToken'>): string =>
  `${ctx.app.config.publicUrl}/p/${pass.publicId}?t=${pass.linkToken}`;

export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;

export interface NormalizedImage {
  type: string;
  scale: number;
  data: Buffer;
  width: number;
  height: number;
}

/** Accepts PNG, JPEG or GIF and returns PNG (Wallet reads only PNG). */
export async function normalizeImage(
  field: string,
  type: string,
  scale: number,
  bytes: Buffer,
): Promise<NormalizedImage> {
  if (bytes.length > MAX_IMAGE_BYTES)
    throw invalid([
      { field, reasons: [`the image is ${bytes.length} bytes; the limit is ${MAX_IMAGE_BYTES}`] },
    ]);
  const header = readImageHeader(bytes);
  if (!header) throw invalid([{ field, reasons: ['is not a PNG, JPEG or GIF image'] }]);
  if (header.format === 'png')
    return { type, scale, data: bytes, width: header.width, height: header.height };
  try {
    const png = await sharp(bytes).png().toBuffer();
    return { type, scale, data: png, width: header.width, height: header.height };
  } catch (err) {
    throw invalid([
      { field, reasons: [`cannot read the ${header.format.toUpperCase()} image: ${(err as Error).message}`] },
    ]);
  }
}

export async function decodeImages(images: ImageInput[] | undefined): Promise<NormalizedImage[]> {
  const out: NormalizedImage[] = [];
  for (const [i, img] of (images ?? []).entries())
    out.push(
      await normalizeImage(
        `images[${i}]`,
        img.type,
        RESOLUTIONS[img.resolution],
        Buffer.from(img.data, 'base64'),
      ),
    );
  return out;
}

export const imageFiles = (images: NormalizedImage[]): Record<string, Uint8Array> =>
  Object.fromEntries(images.map((i) => [`${i.type}${i.scale === 1 ? '' : `@${i.scale}x`}.png`, i.data]));

/** Maps engine failures to PassSlot's 422 with field errors. */
export function toValidationError(err: unknown): never {
  if (err instanceof MissingValuesError)
    throw invalid(
      err.names.map((n) => ({ field: `values.${n}`, reasons: ['is required by the template'] })),
      err.message,
    );
  if (err instanceof ValueTypeError)
    throw invalid([{ field: `values.${err.placeholder}`, reasons: [err.message] }]);
  if (err instanceof PassProblemsError)
    throw invalid(
      fieldErrors(
        err.problems
          .filter((p) => p.severity === 'error')
          .map((p) => ({ field: p.path || 'pass.json', reason: p.message })),
      ),
      'The rendered pass.json would be rejected by Wallet',
    );
  throw err;
}

export async function buildOr422(
  ctx: ActionContext,
  pass: Parameters<ActionContext['app']['renderer']['build']>[1],
  template: TemplateRow,
  passType: PassTypeRow,
  images?: Record<string, Uint8Array>,
): Promise<BuiltPass> {
  try {
    return await ctx.app.renderer.build(renderContext(ctx), pass, template, passType, images);
  } catch (err) {
    return toValidationError(err);
  }
}

export async function templateOf(ctx: ActionContext, pass: PassRow): Promise<TemplateRow> {
  return ctx.app.rows.template(ctx.app.db, pass.templateId);
}

export async function storeRender(
  db: Db,
  passId: number,
  version: number,
  built: BuiltPass,
  now: Date,
): Promise<void> {
  await upsertRender(db, passId, version, built.pkpass, JSON.stringify(built.passJson), now.toISOString());
}

const upsertRender = preparedIn(
  5,
  (db, passId: number, version: number, pkpass: Uint8Array, passJson: string, createdAt: string) =>
    db
      .insertInto('passRenders')
      .values({ passId, version, pkpass, passJson, createdAt })
      .onConflict((oc) => oc.column('passId').doUpdateSet({ version, pkpass, passJson, createdAt })),
);

/** The event data of a pass: PassSlot's fields, then ours. */
export function passEventData(
  ctx: ActionContext,
  pass: PassRow,
  passType: PassTypeRow,
  extra: Record<string, unknown> = {},
) {
  return {
    pid: pass.publicId,
    serialNumber: pass.serialNumber,
    passTypeIdentifier: passType.passTypeIdentifier,
    templateId: pass.templateId,
    url: passUrl(ctx, pass),
    status: pass.status,
    email: pass.ownerEmail,
    userId: pass.ownerUserId,
    externalId: pass.ownerExternalId,
    ...extra,
  };
}

export interface PassChange {
  values?: string;
  status?: string;
  price?: number | null;
  voided?: number;
  notification?: string | null;
  deletedAt?: string | null;
}

/** The group of the push jobs of one pass: a full push coalesces every pending push of the group. */
export const pushGroupKey = (passTypeId: number, passId: number): string => `push:${passTypeId}:${passId}`;

class VersionConflict extends Error {}

/**
 * The Last-Modified of a new version: now in whole seconds, and at least one second after the previous version's, so
 * that a device comparing If-Modified-Since at one-second granularity never mistakes a new version for the old.
 */
export function lastModifiedAfter(previous: string | null, now: Date): string {
  const floor = Math.floor(now.getTime() / 1000) * 1000;
  const after = previous ? Date.parse(previous) + 1000 : 0;
  return new Date(Math.max(floor, after)).toISOString();
}

/**
 * The next update tag of a pass type, taken inside the transaction that changes the pass. Bumping the pass type's
 * counter row locks it until commit (PostgreSQL; SQLite has one writer), so tags are handed out in commit order: a
 * device that saw tag N can never miss a change committed later with a smaller tag.
 */
const bumpUpdateTag = preparedIn(1, (db, passTypeId: number) =>
  db
    .insertInto('updateTags')
    .values({ passTypeId, tag: 1 })
    .onConflict((oc) => oc.column('passTypeId').doUpdateSet((eb) => ({ tag: eb('updateTags.tag', '+', 1) })))
    .returning('tag'),
);

export async function nextUpdateTag(db: Db, passTypeId: number): Promise<number> {
  const [row] = await bumpUpdateTag(db, passTypeId);
  if (!row) throw new Error(`no update tag for pass type ${passTypeId}`);
  return row.tag;
}

/**
 * Writes a change to a pass that changes its pass.json: the new version is rendered (422 when Wallet would reject
 * it, nothing saved), then stored with its event and a push job in one transaction. The push goes out after commit.
 * When another request changed the pass meanwhile, the change is computed again on the fresh row and retried.
 */
export async function writePassVersion(
  ctx: ActionContext,
  found: { pass: PassRow; passType: PassTypeRow },
  change: PassChange | ((pass: PassRow) => PassChange),
  event: { type: string; extra?: Record<string, unknown> },
  options: { images?: Record<string, Uint8Array>; push?: boolean } = {},
): Promise<{ pass: PassRow; event: EventEnvelope }> {
  let pass = found.pass;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await writeOnce(
        ctx,
        { pass, passType: found.passType },
        typeof change === 'function' ? change(pass) : change,
        event,
        options,
      );
      if (options.push !== false)
        setTimeout(() => ctx.app.wake('push'), ctx.app.config.pushDebounceMs).unref();
      return result;
    } catch (err) {
      if (!(err instanceof VersionConflict)) throw err;
      if (attempt >= 5) throw new AppError(409, 'the pass is being changed by other requests; try again');
      const fresh = await ctx.app.db
        .selectFrom('passes')
        .selectAll()
        .where('id', '=', pass.id)
        .executeTakeFirst();
      if (!fresh || fresh.deletedAt) throw new AppError(404, 'the pass was deleted while this request ran');
      pass = fresh;
    }
  }
}

async function writeOnce(
  ctx: ActionContext,
  found: { pass: PassRow; passType: PassTypeRow },
  change: PassChange,
  event: { type: string; extra?: Record<string, unknown> },
  options: { images?: Record<string, Uint8Array>; push?: boolean },
): Promise<{ pass: PassRow; event: EventEnvelope }> {
  const { app } = ctx;
  const now = app.clock.now();
  const template = await templateOf(ctx, found.pass);
  const next: PassRow = {
    ...found.pass,
    ...change,
    version: found.pass.version + 1,
    updatedAt: now.toISOString(),
    modifiedAt: lastModifiedAfter(found.pass.modifiedAt, now),
  };
  const images = options.images ?? (await loadImages(app.db, 'pass', found.pass.id));
  const built = await buildOr422(ctx, next, template, found.passType, images);
  const envelope = await withEvents(app, async (trx) => {
    next.updateTag = await nextUpdateTag(trx, found.passType.id);
    const updated = await trx
      .updateTable('passes')
      .set({
        ...change,
        version: next.version,
        updatedAt: next.updatedAt,
        updateTag: next.updateTag,
        modifiedAt: next.modifiedAt,
      })
      .where('id', '=', found.pass.id)
      .where('version', '=', found.pass.version)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) throw new VersionConflict();
    await storeRender(trx, next.id, next.version, built, now);
    const ev = await appendEvent(
      trx,
      {
        accountId: next.accountId,
        type: event.type,
        passId: next.id,
        data: passEventData(ctx, next, found.passType, event.extra),
      },
      now,
    );
    if (options.push !== false)
      await enqueueJob(
        trx,
        {
          accountId: next.accountId,
          kind: 'push',
          payload: { passId: next.id, version: next.version, reason: event.type },
          // a short delay lets quick successive changes coalesce into one push per device
          runAt: new Date(now.getTime() + app.config.pushDebounceMs),
          groupKey: pushGroupKey(found.passType.id, next.id),
        },
        now,
      );
    return ev;
  });
  return { pass: next, event: envelope };
}

/** The .pkpass of a pass's current version, from the cache or rendered now (and cached). */
export async function currentPkpass(
  ctx: ActionContext,
  pass: PassRow,
  passType: PassTypeRow,
): Promise<Uint8Array> {
  const [cached] = await hotQueries(ctx.app.db).renderOf(pass.id);
  if (cached && cached.version === pass.version) return cached.pkpass;
  const template = await templateOf(ctx, pass);
  const built = await buildOr422(ctx, pass, template, passType);
  await storeRender(ctx.app.db, pass.id, pass.version, built, ctx.app.clock.now());
  return built.pkpass;
}

export function listItem(ctx: ActionContext, pass: PassRow, passTypeIdentifier: string): PassListItem {
  return {
    serialNumber: pass.serialNumber,
    passType: passTypeIdentifier,
    passTypeIdentifier,
    templateId: pass.templateId,
    status: pass.status,
    email: pass.ownerEmail,
    userId: pass.ownerUserId,
    externalId: pass.ownerExternalId,
    createdAt: pass.createdAt,
    updatedAt: pass.updatedAt,
    url: passUrl(ctx, pass),
  };
}
