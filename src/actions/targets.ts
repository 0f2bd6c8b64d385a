// What webhooks and integrations share as delivery targets: their deliveries with each attempt, retrying one
// delivery, replaying past events, and finding one of the account's targets.
import { Type } from '@sinclair/typebox';
import { conflict, notFound } from '../errors.js';
import { bringForward, queueReplay, type TargetKind, tableOf } from '../store/deliveries.js';
import { matchesEventType } from '../store/events.js';
import type { DeliveryRow, IntegrationRow, WebhookRow } from '../store/schema.js';
import { requireUnrestricted } from './access.js';
import { Cursor, keyOf, pageOf } from './paging.js';
import type { ActionContext } from './registry.js';
import { Id } from './schemas.js';

export async function findTarget(ctx: ActionContext, kind: 'webhook', id: number): Promise<WebhookRow>;
export async function findTarget(
  ctx: ActionContext,
  kind: 'integration',
  id: number,
): Promise<IntegrationRow>;
export async function findTarget(
  ctx: ActionContext,
  kind: TargetKind,
  id: number,
): Promise<WebhookRow | IntegrationRow> {
  requireUnrestricted(ctx, `manage ${kind}s`);
  const row = await ctx.app.db
    .selectFrom(tableOf(kind))
    .selectAll()
    .where('accountId', '=', ctx.grant.accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound(`${kind} ${id}`);
  return row as WebhookRow | IntegrationRow;
}

/** The account's targets of a kind, oldest first. */
export async function listTargets(ctx: ActionContext, kind: 'webhook'): Promise<WebhookRow[]>;
export async function listTargets(ctx: ActionContext, kind: 'integration'): Promise<IntegrationRow[]>;
export async function listTargets(
  ctx: ActionContext,
  kind: TargetKind,
): Promise<(WebhookRow | IntegrationRow)[]> {
  requireUnrestricted(ctx, `manage ${kind}s`);
  return (await ctx.app.db
    .selectFrom(tableOf(kind))
    .selectAll()
    .where('accountId', '=', ctx.grant.accountId)
    .orderBy('id')
    .execute()) as (WebhookRow | IntegrationRow)[];
}

/** The columns that say whether a target is enabled, after an update that leaves it `enabled`. */
export function enabledColumns(row: WebhookRow | IntegrationRow, enabled: boolean) {
  return {
    enabled: enabled ? 1 : 0,
    // a target enabled again starts afresh; one disabled keeps the reason it was disabled for
    disabledReason: enabled ? null : row.enabled === 0 ? row.disabledReason : 'disabled by the account',
    failingSince: enabled && row.enabled === 0 ? null : row.failingSince,
  };
}

export const TargetIdInput = Type.Object({ id: Id });

/** Removes a target and its deliveries. */
export async function deleteTarget(ctx: ActionContext, kind: TargetKind, id: number): Promise<void> {
  await findTarget(ctx, kind as 'webhook', id);
  await ctx.app.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('deliveries').where('targetKind', '=', kind).where('targetId', '=', id).execute();
    await trx.deleteFrom(tableOf(kind)).where('id', '=', id).execute();
  });
}

export const TargetState = {
  enabled: Type.Boolean(),
  disabledReason: Type.Union([Type.String(), Type.Null()], { description: 'why it was disabled, if it was' }),
  failingSince: Type.Union([Type.String(), Type.Null()], { description: 'since when every delivery failed' }),
  lastSuccessAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
};

export const targetState = (r: WebhookRow | IntegrationRow) => ({
  enabled: r.enabled === 1,
  disabledReason: r.disabledReason,
  failingSince: r.failingSince,
  lastSuccessAt: r.lastSuccessAt,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

export const Attempt = Type.Object({
  at: Type.String(),
  status: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the HTTP status answered, null if none',
  }),
  latencyMs: Type.Number(),
  error: Type.Union([Type.String(), Type.Null()]),
  response: Type.Union([Type.String(), Type.Null()], { description: 'the start of the answer body' }),
});

export const DeliveryOut = Type.Object({
  id: Type.Integer(),
  eventId: Type.String(),
  eventType: Type.String(),
  status: Type.Union(
    ['pending', 'running', 'delivered', 'failed', 'skipped'].map((s) => Type.Literal(s)),
    { description: 'failed deliveries are kept for a retry or a replay' },
  ),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  deliveredAt: Type.Union([Type.String(), Type.Null()]),
  attemptLog: Type.Array(Attempt),
});

export const DeliveryList = Type.Object({
  deliveries: Type.Array(DeliveryOut),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const DeliveryQuery = {
  status: Type.Optional(
    Type.Union(['pending', 'running', 'delivered', 'failed', 'skipped'].map((s) => Type.Literal(s))),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Cursor,
};

async function deliveriesOut(ctx: ActionContext, rows: (DeliveryRow & { eventType: string })[]) {
  const attempts = rows.length
    ? await ctx.app.db
        .selectFrom('deliveryAttempts')
        .selectAll()
        .where(
          'deliveryId',
          'in',
          rows.map((r) => r.id),
        )
        .orderBy('id')
        .execute()
    : [];
  return rows.map((r) => ({
    id: r.id,
    eventId: r.eventId,
    eventType: r.eventType,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt : null,
    lastStatus: r.lastStatus,
    lastError: r.lastError,
    createdAt: r.createdAt,
    deliveredAt: r.deliveredAt,
    attemptLog: attempts
      .filter((a) => a.deliveryId === r.id)
      .map((a) => ({
        at: a.attemptedAt,
        status: a.statusCode,
        latencyMs: a.latencyMs,
        error: a.error,
        response: a.responseExcerpt,
      })),
  }));
}

/** A target's deliveries, newest first, each with its attempts. */
export async function listDeliveries(
  ctx: ActionContext,
  kind: TargetKind,
  input: { id: number; status?: string; limit?: number; cursor?: string },
) {
  await findTarget(ctx, kind as 'webhook', input.id);
  const limit = input.limit ?? 50;
  let q = ctx.app.db
    .selectFrom('deliveries')
    .innerJoin('events', 'events.id', 'deliveries.eventId')
    .selectAll('deliveries')
    .select('events.type as eventType')
    .where('deliveries.targetKind', '=', kind)
    .where('deliveries.targetId', '=', input.id);
  if (input.status) q = q.where('deliveries.status', '=', input.status as DeliveryRow['status']);
  const before = keyOf(input.cursor);
  if (before !== undefined) q = q.where('deliveries.id', '<', before);
  const rows = await q
    .orderBy('deliveries.id', 'desc')
    .limit(limit + 1)
    .execute();
  const { items, nextCursor } = pageOf(rows, limit, (r) => r.id);
  return { deliveries: await deliveriesOut(ctx, items), nextCursor };
}

/** Sends one delivery again now, with a fresh retry schedule. */
export async function retryDelivery(
  ctx: ActionContext,
  kind: TargetKind,
  input: { id: number; deliveryId: number },
) {
  const target = await findTarget(ctx, kind as 'webhook', input.id);
  if (!target.enabled)
    throw conflict(`${kind} ${input.id} is disabled; enable it before retrying deliveries`);
  const now = ctx.app.clock.now().toISOString();
  const r = await ctx.app.db
    .updateTable('deliveries')
    .set({
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      updatedAt: now,
      lockedBy: null,
      lockedUntil: null,
    })
    .where('id', '=', input.deliveryId)
    .where('targetKind', '=', kind)
    .where('targetId', '=', input.id)
    .where('status', 'in', ['failed', 'pending', 'delivered', 'skipped'])
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) {
    const exists = await ctx.app.db
      .selectFrom('deliveries')
      .select('status')
      .where('id', '=', input.deliveryId)
      .where('targetKind', '=', kind)
      .where('targetId', '=', input.id)
      .executeTakeFirst();
    if (!exists) throw notFound(`delivery ${input.deliveryId}`);
    throw conflict(`delivery ${input.deliveryId} is being sent right now`);
  }
  // what waits before it (an earlier event of the same pass) would hold it back: sent now too, in order
  await bringForward(ctx.app.db, { kind, id: input.id }, ctx.app.clock.now());
  ctx.app.wake('deliveries');
  const row = await ctx.app.db
    .selectFrom('deliveries')
    .innerJoin('events', 'events.id', 'deliveries.eventId')
    .selectAll('deliveries')
    .select('events.type as eventType')
    .where('deliveries.id', '=', input.deliveryId)
    .executeTakeFirstOrThrow();
  return (await deliveriesOut(ctx, [row]))[0]!;
}

/** Queues every event since a time again for a target. */
export async function replay(ctx: ActionContext, kind: TargetKind, input: { id: number; since: string }) {
  const target = await findTarget(ctx, kind as 'webhook', input.id);
  if (!target.enabled) throw conflict(`${kind} ${input.id} is disabled; enable it before replaying events`);
  const patterns = JSON.parse(target.events) as string[];
  const queued = await queueReplay(
    ctx.app.db,
    ctx.grant.accountId,
    { kind, id: target.id },
    (type) => matchesEventType(patterns, type),
    new Date(input.since).toISOString(),
    ctx.app.clock.now(),
  );
  // the replayed events queue behind any delivery of their pass waiting on a retry: that goes now too, in order
  await bringForward(ctx.app.db, { kind, id: target.id }, ctx.app.clock.now());
  ctx.app.wake('deliveries');
  return { queued };
}

export const ReplayInput = Type.Object({
  id: Id,
  since: Type.String({ format: 'date-time', description: 'replay the events at or after this time' }),
});
export const ReplayOut = Type.Object({
  queued: Type.Integer({ description: 'how many events were queued again' }),
});
export const RetryInput = Type.Object({
  id: Id,
  deliveryId: Id,
});
