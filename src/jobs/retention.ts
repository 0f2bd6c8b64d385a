// Housekeeping the workers do every few minutes: certificate expiry warnings, and forgetting what no longer matters.
// History (events, execution records, push and Wallet logs, delivery attempts) is kept PASSSLOT_RETENTION_DAYS (90 by
// default) and pruned oldest first in batches of a thousand rows, each its own short transaction, so writers never
// wait long behind it.
import { warnExpiringCertificates as warnAction } from '../actions/passtypes.js';
import { runAction, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { pruneAuditLog } from '../store/audit.js';
import { IDEMPOTENCY_MS } from '../store/idempotency.js';
import { pruneOldest } from '../store/prune.js';

const DAY_MS = 86_400_000;
const KEEP_DONE_JOBS_MS = 7 * DAY_MS;
const KEEP_DELIVERED_MS = 30 * DAY_MS;
/** Stripe retries an event for up to three days: a month of ids is ample to know a repeat. */
const KEEP_STRIPE_EVENTS_MS = 30 * DAY_MS;

/** passtype.certificate_expiring for every certificate with 30 days or less left; returns how many were warned. */
export async function warnExpiringCertificates(app: App): Promise<number> {
  const { warned } = await runAction(warnAction, systemContext(app, 0, 'retention', 'job'), {});
  return warned;
}

/**
 * Forgets what no longer matters: finished jobs after a week, idempotency keys after their 24 hours, delivered and
 * skipped deliveries (and their attempts) and worked-off Stripe events after 30 days; after the retention age, events
 * (but none a delivery still waits on or may replay), execution records (the chain stays verifiable from the first
 * kept record), push and Wallet logs, delivery attempts, failed deliveries and failed jobs. Passes, messages sent to
 * holders and the Checkout Sessions that issued passes stay.
 */
export async function pruneOldRows(app: App): Promise<Record<string, number>> {
  const { db } = app;
  const now = app.clock.now().getTime();
  const iso = (ms: number) => new Date(now - ms).toISOString();
  const cutoff = iso(app.config.retentionDays * DAY_MS);
  const counts: Record<string, number> = {};
  const count = async (name: string, q: { executeTakeFirst(): Promise<{ numDeletedRows: bigint }> }) => {
    counts[name] = (counts[name] ?? 0) + Number((await q.executeTakeFirst()).numDeletedRows);
  };
  await count(
    'deliveries',
    db
      .deleteFrom('deliveries')
      .where((eb) =>
        eb.or([
          eb.and([
            eb('status', 'in', ['delivered', 'skipped']),
            eb('updatedAt', '<', iso(Math.min(KEEP_DELIVERED_MS, app.config.retentionDays * DAY_MS))),
          ]),
          eb.and([eb('status', '=', 'failed'), eb('updatedAt', '<', cutoff)]),
        ]),
      ),
  );
  await count(
    'jobs',
    db
      .deleteFrom('jobs')
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'done'), eb('updatedAt', '<', iso(KEEP_DONE_JOBS_MS))]),
          eb.and([eb('status', '=', 'failed'), eb('updatedAt', '<', cutoff)]),
        ]),
      ),
  );
  await count(
    'stripeEvents',
    db
      .deleteFrom('stripeEvents')
      .where('status', '!=', 'pending')
      .where('createdAt', '<', iso(KEEP_STRIPE_EVENTS_MS)),
  );
  await count(
    'idempotencyKeys',
    db.deleteFrom('idempotencyKeys').where('createdAt', '<', iso(IDEMPOTENCY_MS)),
  );

  // events: never past the oldest one a delivery still holds (pending, running, or failed and so replayable)
  const held = await db
    .selectFrom('deliveries')
    .innerJoin('events', 'events.id', 'deliveries.eventId')
    .select((eb) => eb.fn.min('events.seq').as('seq'))
    .where('deliveries.status', 'in', ['pending', 'running', 'failed'])
    .executeTakeFirst();
  const heldSeq = held?.seq === null || held?.seq === undefined ? undefined : Number(held.seq);
  counts.events = await pruneOldest(
    async (after, limit) =>
      (
        await db
          .selectFrom('events')
          .select(['seq as key', 'createdAt as at'])
          .where('seq', '>', after)
          .$if(heldSeq !== undefined, (q) => q.where('seq', '<', heldSeq!))
          .orderBy('seq')
          .limit(limit)
          .execute()
      ).map((r) => ({ key: Number(r.key), at: r.at })),
    async (after, upTo) => {
      await db.deleteFrom('events').where('seq', '>', after).where('seq', '<=', upTo).execute();
    },
    cutoff,
  );
  counts.auditLog = await pruneAuditLog(db, cutoff);
  for (const [table, at] of [
    ['pushLog', 'createdAt'],
    ['walletLogs', 'createdAt'],
    ['deliveryAttempts', 'attemptedAt'],
  ] as const)
    counts[table] = await pruneOldest(
      async (after, limit) =>
        (
          await db
            .selectFrom(table as 'pushLog')
            .select(['id as key', `${at as 'createdAt'} as at`])
            .where('id', '>', after)
            .orderBy('id')
            .limit(limit)
            .execute()
        ).map((r) => ({ key: r.key, at: r.at })),
      async (after, upTo) => {
        await db
          .deleteFrom(table as 'pushLog')
          .where('id', '>', after)
          .where('id', '<=', upTo)
          .execute();
      },
      cutoff,
    );
  return counts;
}
