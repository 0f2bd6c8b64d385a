// Deliveries: one row per event and target (webhook or integration), written with the event (store/events.ts). They
// are claimed with a lease like jobs (store/leases.ts), but only the oldest open delivery of a pass to a target can be claimed, so a
// pass's events reach each target in order even across retries.
import { sql } from 'kysely';
import type { Db, Dialect } from './db.js';
import { claimLeased } from './leases.js';
import { preparedIn } from './prepared.js';
import type { DeliveryRow } from './schema.js';

export type TargetKind = 'webhook' | 'integration';

/** The table a target kind lives in. */
export const tableOf = (kind: TargetKind) => (kind === 'webhook' ? 'webhooks' : 'integrations');

export interface TargetRef {
  kind: TargetKind;
  id: number;
}

// Status tests are literals (not bound parameters) so that SQLite and PostgreSQL use the partial indexes on them.
const PENDING = sql.lit<DeliveryRow['status']>('pending');
const RUNNING = sql.lit<DeliveryRow['status']>('running');

/** The targets that have deliveries due now. */
export async function dueTargets(db: Db, now: Date): Promise<TargetRef[]> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['targetKind', 'targetId'])
    .distinct()
    .where('status', '=', PENDING)
    .where('nextAttemptAt', '<=', now.toISOString())
    .execute();
  return rows.map((r) => ({ kind: r.targetKind, id: r.targetId }));
}

/**
 * Claims up to `limit` due deliveries of one target whose earlier deliveries of the same pass are all finished,
 * oldest first, leased to `workerId` for `leaseMs`.
 */
export async function claimDeliveries(
  db: Db,
  dialect: Dialect,
  workerId: string,
  now: Date,
  leaseMs: number,
  target: TargetRef,
  limit: number,
): Promise<DeliveryRow[]> {
  const nowIso = now.toISOString();
  const ids = db
    .selectFrom('deliveries as d')
    .select('d.id')
    .where('d.targetKind', '=', target.kind)
    .where('d.targetId', '=', target.id)
    .where('d.status', '=', PENDING)
    .where('d.nextAttemptAt', '<=', nowIso)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('deliveries as p')
            .select('p.id')
            .where('p.targetKind', '=', target.kind)
            .where('p.targetId', '=', target.id)
            .whereRef('p.passId', '=', 'd.passId')
            .whereRef('p.id', '<', 'd.id')
            .where('p.status', 'in', [PENDING, RUNNING]),
        ),
      ),
    )
    .orderBy('d.nextAttemptAt')
    .orderBy('d.id')
    .limit(limit);
  return claimLeased(db, dialect, 'deliveries', ids, { workerId, now, leaseMs });
}

export interface AttemptRecord {
  deliveryId: number;
  workerId: string;
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  excerpt: string | null;
  /** What the delivery becomes: finished (delivered, failed, skipped) or pending again at retryAt. */
  next: { status: 'delivered' | 'failed' | 'skipped' } | { status: 'pending'; retryAt: Date };
}

const finishDelivery = preparedIn(
  8,
  (
    db,
    status: DeliveryRow['status'],
    nextAttemptAt: string,
    deliveredAt: string | null,
    lastStatus: number | null,
    lastError: string | null,
    updatedAt: string,
    id: number,
    workerId: string,
  ) =>
    db
      .updateTable('deliveries')
      .set({
        status,
        nextAttemptAt,
        deliveredAt,
        lastStatus,
        lastError,
        updatedAt,
        lockedBy: null,
        lockedUntil: null,
      })
      .where('id', '=', id)
      .where('lockedBy', '=', workerId)
      .returning('id'),
);

/** Records attempts and their outcome (one transaction for many, to keep up with fast receivers). */
export async function recordAttempts(db: Db, records: readonly AttemptRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.transaction().execute(async (trx) => {
    const attempts = [];
    for (const r of records) {
      const at = r.at.toISOString();
      const updated = await finishDelivery(
        trx,
        r.next.status,
        r.next.status === 'pending' ? r.next.retryAt.toISOString() : at,
        r.next.status === 'delivered' ? at : null,
        r.statusCode,
        r.error,
        at,
        r.deliveryId,
        r.workerId,
      );
      // a delivery whose lease ran out and was taken by another process is that process's to record
      if (updated.length === 0) continue;
      if (r.next.status === 'skipped' && r.statusCode === null) continue;
      attempts.push({
        deliveryId: r.deliveryId,
        attemptedAt: at,
        statusCode: r.statusCode,
        latencyMs: Math.round(r.latencyMs * 100) / 100,
        error: r.error,
        responseExcerpt: r.excerpt,
      });
    }
    for (let i = 0; i < attempts.length; i += 100)
      await trx
        .insertInto('deliveryAttempts')
        .values(attempts.slice(i, i + 100))
        .execute();
  });
}

/**
 * Makes a target's deliveries that wait on a retry due now: the endpoint answered again after failing, or someone
 * asked to send now (a retry, a replay). Order per pass holds, as only the oldest open delivery of a pass is claimed.
 * Returns how many were brought forward.
 */
export async function bringForward(db: Db, target: TargetRef, now: Date): Promise<number> {
  const nowIso = now.toISOString();
  const r = await db
    .updateTable('deliveries')
    .set({ nextAttemptAt: nowIso })
    .where('targetKind', '=', target.kind)
    .where('targetId', '=', target.id)
    .where('status', '=', PENDING)
    .where('nextAttemptAt', '>', nowIso)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Gives up the open deliveries of a target that was disabled: failed, kept for replay. */
export async function failOpenDeliveries(
  db: Db,
  target: TargetRef,
  reason: string,
  now: Date,
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({
      status: 'failed',
      lastError: reason,
      lockedBy: null,
      lockedUntil: null,
      updatedAt: now.toISOString(),
    })
    .where('targetKind', '=', target.kind)
    .where('targetId', '=', target.id)
    .where('status', 'in', ['pending', 'running'])
    .execute();
}

/** Queues the events of an account since a time again for one target (replay): returns how many. */
export async function queueReplay(
  db: Db,
  accountId: number,
  target: TargetRef,
  patterns: (type: string) => boolean,
  since: string,
  now: Date,
): Promise<number> {
  const nowIso = now.toISOString();
  let queued = 0;
  let after = 0;
  for (;;) {
    const events = await db
      .selectFrom('events')
      .select(['seq', 'id', 'type', 'passId'])
      .where('accountId', '=', accountId)
      .where('createdAt', '>=', since)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(1000)
      .execute();
    if (events.length === 0) return queued;
    after = events[events.length - 1]!.seq;
    const rows = events
      .filter((e) => patterns(e.type))
      .map((e) => ({
        accountId,
        targetKind: target.kind,
        targetId: target.id,
        eventId: e.id,
        passId: e.passId,
        status: 'pending' as const,
        attempts: 0,
        nextAttemptAt: nowIso,
        createdAt: nowIso,
        updatedAt: nowIso,
      }));
    for (let i = 0; i < rows.length; i += 200)
      await db
        .insertInto('deliveries')
        .values(rows.slice(i, i + 200))
        .execute();
    queued += rows.length;
  }
}
