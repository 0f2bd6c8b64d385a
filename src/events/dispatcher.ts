// The delivery engine shared by webhooks and CRM integrations: claims due deliveries with a lease, sends each through
// the sender of its target kind, and records the attempt. A failure is retried on Standard Webhooks' schedule (about
// three days, with jitter, or later when the receiver sends Retry-After); after the last try the delivery is failed and
// kept for replay. 410 Gone, or a target failing for three days, disables the target with an event.
import { randomUUID } from 'node:crypto';
import type { App } from '../app.js';
import { bumpedVersion } from '../store/db.js';
import {
  type AttemptRecord,
  bringForward,
  claimDeliveries,
  dueTargets,
  failOpenDeliveries,
  recordAttempts,
  type TargetKind,
  type TargetRef,
  tableOf,
} from '../store/deliveries.js';
import { appendEvent, withEvents } from '../store/events.js';
import { releaseExpiredLeases } from '../store/leases.js';
import type { DeliveryRow } from '../store/schema.js';
import { startWorkLoop, type WorkLoop } from '../work-loop.js';
import { targetDisabledEvent } from './payloads.js';

/** An event as stored: data is its JSON text. */
export interface StoredEvent {
  id: string;
  accountId: number;
  type: string;
  created: string;
  passId: number | null;
  data: string;
}

export type Outcome =
  | {
      kind: 'delivered' | 'retry' | 'failed' | 'gone';
      status: number | null;
      latencyMs: number;
      error: string | null;
      excerpt: string | null;
      retryAfterMs?: number;
    }
  | { kind: 'skipped'; reason: string };

/** What the engine reads of a target (a webhook or an integration row). */
export interface TargetRow {
  id: number;
  enabled: number;
  failingSince: string | null;
  lastSuccessAt: string | null;
}

export interface Sender<T extends TargetRow = TargetRow> {
  /** The target as it is now (read once per claim, so a disabled target stops at once). */
  load(id: number): Promise<T | undefined>;
  send(delivery: DeliveryRow, event: StoredEvent, target: T, now: Date): Promise<Outcome>;
  close?(): Promise<void>;
}

/** The delay after each failed attempt (Standard Webhooks' example schedule): 10 attempts over about 75 hours. */
export const RETRY_SCHEDULE_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  14 * 3_600_000,
  20 * 3_600_000,
  24 * 3_600_000,
];
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;
/** A target that has answered nothing but failures for this long is disabled. */
export const DISABLE_AFTER_MS = 72 * 3_600_000;
export const DELIVERY_TIMEOUT_MS = 10_000;
const LEASE_MS = DELIVERY_TIMEOUT_MS + 5_000;
const IN_FLIGHT = 64;
const PER_TARGET = 16;
const POLL_MS = 250;
/** Answers recorded together under load, and how long to wait for them. */
const GATHER = 8;
const GATHER_MS = 2;

/** When attempt n (1-based) failed: the next one after the schedule's delay, with ±10% jitter, or Retry-After. */
export function nextAttemptAt(
  attempt: number,
  now: Date,
  retryAfterMs?: number,
  random = Math.random,
): Date | undefined {
  if (attempt >= MAX_ATTEMPTS) return undefined;
  const base = RETRY_SCHEDULE_MS[attempt - 1]!;
  const jittered = base * (0.9 + 0.2 * random());
  return new Date(now.getTime() + Math.max(jittered, Math.min(retryAfterMs ?? 0, 24 * 3_600_000)));
}

/** A delivery given up without sending it. */
const unsent = (error: string): Outcome => ({
  kind: 'failed',
  status: null,
  latencyMs: 0,
  error,
  excerpt: null,
});

/** Disables a target (410 Gone, failing for days, or by hand): its open deliveries fail, and an event says so. */
export async function disableTarget(app: App, target: TargetRef, reason: string): Promise<void> {
  const now = app.clock.now();
  const row = await app.db
    .selectFrom(tableOf(target.kind))
    .select(['accountId', 'enabled'])
    .where('id', '=', target.id)
    .executeTakeFirst();
  if (!row?.enabled) return;
  await withEvents(app, async (trx) => {
    await trx
      .updateTable(tableOf(target.kind))
      .set({ enabled: 0, disabledReason: reason, version: bumpedVersion, updatedAt: now.toISOString() })
      .where('id', '=', target.id)
      .execute();
    await failOpenDeliveries(trx, target, `${target.kind} disabled: ${reason}`, now);
    await appendEvent(trx, targetDisabledEvent(row.accountId, target.kind, target.id, reason), now);
  });
  app.log.warn({ target, reason }, 'delivery target disabled');
}

export interface Dispatcher {
  /** Runs until no delivery is due (tests). */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

export function startDispatcher(
  app: App,
  senders: Record<TargetKind, Sender>,
  options: { poll?: boolean } = {},
): Dispatcher {
  const workerId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const inflight = new Set<Promise<void>>();
  const perTarget = new Map<string, number>();
  const results: AttemptRecord[] = [];
  /** Targets whose attempts finished since the last flush: whether the last one succeeded. */
  const touched = new Map<string, { ok: boolean; at: Date }>();
  /** The rows of targets as last read. */
  const rows = new Map<string, TargetRow>();
  /** Targets that may have claimable deliveries (found due, or a delivery of theirs just finished). */
  const maybeMore = new Set<string>();
  /** Targets being disabled: none of their deliveries is claimed meanwhile, and a claim under way waits for it. */
  const disabling = new Map<string, Promise<void>>();
  let lastRelease = 0;
  /** Set while the loop waits on deliveries in flight: a wake (new deliveries) or a poll tick ends the wait. */
  let interrupt: (() => void) | undefined;

  const keyOf = (t: TargetRef) => `${t.kind}:${t.id}`;
  const refOf = (key: string): TargetRef => {
    const [kind, id] = key.split(':');
    return { kind: kind as TargetKind, id: Number(id) };
  };

  async function attempt(
    d: DeliveryRow,
    event: StoredEvent | undefined,
    row: TargetRow | undefined,
  ): Promise<void> {
    const now = app.clock.now();
    let outcome: Outcome;
    try {
      outcome = !row?.enabled
        ? unsent(`the ${d.targetKind} is disabled or deleted`)
        : event
          ? await senders[d.targetKind].send(d, event, row, now)
          : unsent('the event no longer exists');
    } catch (err) {
      outcome = { kind: 'retry', status: null, latencyMs: 0, error: (err as Error).message, excerpt: null };
    }
    const at = app.clock.now();
    const target = { kind: d.targetKind, id: d.targetId };
    const key = keyOf(target);
    if (outcome.kind === 'skipped') {
      results.push({
        deliveryId: d.id,
        workerId,
        at,
        statusCode: null,
        latencyMs: 0,
        error: outcome.reason,
        excerpt: null,
        next: { status: 'skipped' },
      });
      touched.set(key, { ok: touched.get(key)?.ok ?? true, at });
      return;
    }
    const retryAt =
      outcome.kind === 'retry' ? nextAttemptAt(d.attempts, at, outcome.retryAfterMs) : undefined;
    results.push({
      deliveryId: d.id,
      workerId,
      at,
      statusCode: outcome.status,
      latencyMs: outcome.latencyMs,
      error: outcome.error,
      excerpt: outcome.excerpt,
      next:
        outcome.kind === 'delivered'
          ? { status: 'delivered' }
          : retryAt
            ? { status: 'pending', retryAt }
            : { status: 'failed' },
    });
    if (row?.enabled) touched.set(key, { ok: outcome.kind === 'delivered', at });
    if (outcome.kind === 'delivered' || retryAt || !row?.enabled) return;
    const work = (async () => {
      await disabling.get(key);
      await flush();
      if (outcome.kind === 'gone') {
        await disableTarget(app, target, `the endpoint answered ${outcome.status} Gone`);
        return;
      }
      const failingSince = rows.get(key)?.failingSince;
      if (failingSince && at.getTime() - Date.parse(failingSince) >= DISABLE_AFTER_MS)
        await disableTarget(
          app,
          target,
          `every delivery failed for ${Math.round(DISABLE_AFTER_MS / 3_600_000)} hours`,
        );
    })();
    disabling.set(key, work);
    try {
      await work;
    } finally {
      if (disabling.get(key) === work) disabling.delete(key);
    }
  }

  /**
   * Writes what finished in one transaction, then whether each target answers: failingSince when it starts failing,
   * lastSuccessAt at most once a minute while it works. A finished delivery may unblock the next of its pass.
   */
  let flushing: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    flushing = flushing
      .then(async () => {
        const batch = results.splice(0);
        const targets = [...touched.entries()];
        touched.clear();
        if (batch.length === 0 && targets.length === 0) return;
        await recordAttempts(app.db, batch);
        for (const [key, t] of targets) {
          maybeMore.add(key);
          const row = rows.get(key);
          const { kind, id } = refOf(key);
          const at = t.at.toISOString();
          // a 2xx from a target that was failing: it is back, so what waits on a retry goes now (in order per pass)
          // rather than at its turn in the schedule, minutes away
          if (t.ok && row?.failingSince) await bringForward(app.db, { kind, id }, t.at);
          if (
            t.ok &&
            (!row ||
              row.failingSince !== null ||
              !row.lastSuccessAt ||
              t.at.getTime() - Date.parse(row.lastSuccessAt) > 60_000)
          ) {
            await app.db
              .updateTable(tableOf(kind))
              .set({ failingSince: null, lastSuccessAt: at })
              .where('id', '=', id)
              .execute();
            if (row) Object.assign(row, { failingSince: null, lastSuccessAt: at });
          } else if (!t.ok && (!row || row.failingSince === null)) {
            await app.db
              .updateTable(tableOf(kind))
              .set({ failingSince: at })
              .where('id', '=', id)
              .where('failingSince', 'is', null)
              .execute();
            if (row) row.failingSince = at;
          }
        }
      })
      .catch((err) => app.log.error({ err }, 'could not record deliveries'));
    return flushing;
  }

  /** Claims what one target can take now and starts sending it. */
  async function claimFor(key: string): Promise<number> {
    const room = Math.min(PER_TARGET - (perTarget.get(key) ?? 0), IN_FLIGHT - inflight.size);
    if (room <= 0 || disabling.has(key)) return 0;
    const target = refOf(key);
    const claimed = await claimDeliveries(
      app.db,
      app.dialect,
      workerId,
      app.clock.now(),
      LEASE_MS,
      target,
      room,
    );
    if (claimed.length < room) maybeMore.delete(key);
    if (claimed.length === 0) return 0;
    // the target is read after the claim, and after a disable that began meanwhile (its failed delivery may have
    // unblocked these): a disabled target's deliveries are recorded as failed, never sent
    await disabling.get(key);
    const row = await senders[target.kind].load(target.id);
    if (row) rows.set(key, row);
    else rows.delete(key);
    const ids = [...new Set(claimed.map((d) => d.eventId))];
    const events = new Map<string, StoredEvent>();
    for (let i = 0; i < ids.length; i += 500)
      for (const e of await app.db
        .selectFrom('events')
        .select(['id', 'accountId', 'type', 'createdAt as created', 'passId', 'data'])
        .where('id', 'in', ids.slice(i, i + 500))
        .execute())
        events.set(e.id, e);
    for (const d of claimed) {
      perTarget.set(key, (perTarget.get(key) ?? 0) + 1);
      const run: Promise<void> = attempt(d, events.get(d.eventId), row).finally(() => {
        inflight.delete(run);
        const n = (perTarget.get(key) ?? 1) - 1;
        if (n <= 0) perTarget.delete(key);
        else perTarget.set(key, n);
      });
      inflight.add(run);
    }
    return claimed.length;
  }

  /** Waits up to GATHER_MS for GATHER answers while deliveries are in flight (returns at once when idle). */
  async function gather(): Promise<void> {
    const until = performance.now() + GATHER_MS;
    while (results.length < GATHER && inflight.size > 0 && !loop.stopped) {
      const left = until - performance.now();
      if (left <= 0) return;
      let t: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        ...inflight,
        new Promise<'timeout'>((resolve) => {
          t = setTimeout(() => resolve('timeout'), left);
        }),
      ]);
      clearTimeout(t);
      if (timedOut === 'timeout') return;
    }
  }

  async function runOnce(): Promise<number> {
    let total = 0;
    let discover = true;
    for (;;) {
      if (!loop.stopped) {
        const now = app.clock.now();
        if (now.getTime() - lastRelease > 1000) {
          lastRelease = now.getTime();
          await releaseExpiredLeases(app.db, 'deliveries', now);
        }
        if (discover) {
          discover = false;
          for (const t of await dueTargets(app.db, now)) maybeMore.add(keyOf(t));
        }
        for (const key of [...maybeMore]) total += await claimFor(key);
      }
      if (inflight.size === 0) {
        await flush();
        // what was just recorded may have unblocked the next event of a pass
        if (loop.stopped || maybeMore.size === 0) return total;
        continue;
      }
      let wait: NodeJS.Timeout | undefined;
      const woken = await Promise.race([
        ...inflight,
        new Promise<'wake'>((resolve) => {
          interrupt = () => resolve('wake');
          if (options.poll !== false) wait = setTimeout(() => resolve('wake'), POLL_MS);
        }),
      ]);
      interrupt = undefined;
      clearTimeout(wait);
      if (woken === 'wake') discover = true;
      // under load, let a few more answers land so they are recorded, and their successors claimed, together
      else await gather();
      await flush();
    }
  }

  const loop: WorkLoop = startWorkLoop({
    log: app.log,
    name: 'delivery',
    run: runOnce,
    pollMs: options.poll !== false ? POLL_MS : undefined,
    onKickWhileRunning: () => interrupt?.(),
  });
  app.onWake((kind) => {
    if (!loop.stopped && kind === 'deliveries') void loop.kick();
  });

  return {
    drain: () => loop.drain(),
    async stop() {
      await loop.stop();
      await Promise.allSettled(inflight);
      await flush();
      for (const s of Object.values(senders)) await s.close?.();
    },
  };
}
