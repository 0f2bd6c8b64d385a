// A new version of a pass: every change that alters a pass's pass.json (values, notification, revoke, delete, images,
// template changes) is rendered first (a 422 when Wallet would reject it, nothing saved), then written with its
// Last-Modified, update tag, rendered file, event and push job in one transaction. The push goes out after commit.
import { enqueuePush, wakePushes } from '../apple/push-queue.js';
import { AppError } from '../errors.js';
import { passEvent } from '../events/payloads.js';
import { queueGoogleSyncIfConnected, wakeGoogleSync } from '../google/sync-queue.js';
import { buildOr422, storeRender, templateOf } from '../render/current.js';
import { loadImages } from '../render/renderer.js';
import type { Db } from '../store/db.js';
import { appendEvent, type EventEnvelope, withEvents } from '../store/events.js';
import { preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow } from '../store/schema.js';
import type { ActionContext } from './registry.js';

/** The type of a pass event a change writes. */
export type PassEventType = Parameters<typeof passEvent>[0];

export interface PassChange {
  values?: string;
  status?: string;
  price?: number | null;
  voided?: number;
  notification?: string | null;
  relevance?: string | null;
  deletedAt?: string | null;
}

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
  event: { type: PassEventType; extra?: Record<string, unknown> },
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
      if (options.push !== false) wakePushes(ctx.app);
      if (result.google) wakeGoogleSync(ctx.app);
      return { pass: result.pass, event: result.event };
    } catch (err) {
      if (!(err instanceof VersionConflict)) throw err;
      if (attempt >= 5)
        throw new AppError('conflict', 'the pass is being changed by other requests; try again');
      const fresh = await ctx.app.db
        .selectFrom('passes')
        .selectAll()
        .where('id', '=', pass.id)
        .executeTakeFirst();
      if (!fresh || fresh.deletedAt)
        throw new AppError('not_found', 'the pass was deleted while this request ran');
      pass = fresh;
    }
  }
}

async function writeOnce(
  ctx: ActionContext,
  found: { pass: PassRow; passType: PassTypeRow },
  change: PassChange,
  event: { type: PassEventType; extra?: Record<string, unknown> },
  options: { images?: Record<string, Uint8Array>; push?: boolean },
): Promise<{ pass: PassRow; event: EventEnvelope; google: boolean }> {
  const { app } = ctx;
  const now = app.clock.now();
  const template = await templateOf(app, found.pass);
  const next: PassRow = {
    ...found.pass,
    ...change,
    version: found.pass.version + 1,
    updatedAt: now.toISOString(),
    modifiedAt: lastModifiedAfter(found.pass.modifiedAt, now),
  };
  const images = options.images ?? (await loadImages(app.db, 'pass', found.pass.id));
  const built = await buildOr422(app, next, template, found.passType, images);
  let google = false;
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
      passEvent(event.type, app.config.publicUrl, next, found.passType, event.extra),
      now,
    );
    if (options.push !== false)
      await enqueuePush(
        app,
        trx,
        {
          accountId: next.accountId,
          passTypeId: found.passType.id,
          passId: next.id,
          version: next.version,
          reason: event.type,
        },
        now,
      );
    // the pass's Google Wallet object follows every change, coalesced like the push
    google = await queueGoogleSyncIfConnected(app, trx, next, now);
    return ev;
  });
  return { pass: next, event: envelope, google };
}
