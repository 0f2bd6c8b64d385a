// The background workers: claim durable jobs with a lease, run them, and record success or a retry with exponential
// backoff and jitter. Woken at once when a job is queued, and polling otherwise, so nothing waits on memory alone.
import { randomUUID } from 'node:crypto';
import { bulkJobHandler } from './actions/bulk.js';
import type { App } from './app.js';
import { pushJobHandler } from './apple/push.js';
import { createMailer } from './delivery/email.js';
import { integrationSender } from './events/crm/index.js';
import { startDispatcher } from './events/dispatcher.js';
import { webhookSender } from './events/webhooks.js';
import { appendEvent, withEvents } from './store/events.js';
import {
  backoffMs,
  claimJobs,
  completeJob,
  failJob,
  PARKED_UNTIL,
  ParkJobError,
  PermanentJobError,
} from './store/jobs.js';
import type { JobRow } from './store/schema.js';
import { startWorkLoop, type WorkLoop } from './work-loop.js';

export type JobHandler = (job: JobRow) => Promise<void>;

export interface Workers {
  /** Runs until every due job and delivery is done (tests); returns how many ran. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

const MAX_ATTEMPTS = 25; // with a one-hour cap this spans about a day
const LEASE_MS = 60_000;
const CONCURRENCY = 16;
const POLL_MS = 1000;

const PRUNE_EVERY_MS = 10 * 60_000;
const KEEP_DONE_JOBS_MS = 7 * 86_400_000;
const KEEP_DELIVERIES_MS = 30 * 86_400_000;
const EXPIRY_NOTICE_MS = 30 * 86_400_000;
const EXPIRY_REMIND_MS = 7 * 86_400_000;

/**
 * passtype.certificate_expiring: once a pass type's certificate has 30 days or less left, an event, repeated weekly
 * until the certificate is replaced (pushes and new passes stop working when it expires).
 */
export async function warnExpiringCertificates(app: App): Promise<number> {
  const now = app.clock.now();
  const due = await app.db
    .selectFrom('passTypes')
    .select(['id', 'accountId', 'passTypeIdentifier', 'expiresAt', 'expiryWarnedAt'])
    .where('expiresAt', '<', new Date(now.getTime() + EXPIRY_NOTICE_MS).toISOString())
    .where((eb) =>
      eb.or([
        eb('expiryWarnedAt', 'is', null),
        eb('expiryWarnedAt', '<', new Date(now.getTime() - EXPIRY_REMIND_MS).toISOString()),
      ]),
    )
    .execute();
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
      const msLeft = Date.parse(pt.expiresAt) - now.getTime();
      await appendEvent(
        trx,
        {
          accountId: pt.accountId,
          type: 'passtype.certificate_expiring',
          data: {
            passTypeIdentifier: pt.passTypeIdentifier,
            certificateExpirationDate: pt.expiresAt,
            daysLeft: Math.max(0, Math.floor(msLeft / 86_400_000)),
            expired: msLeft <= 0,
          },
        },
        now,
      );
    });
  return due.length;
}

/**
 * Forgets what no longer matters: finished jobs after a week, idempotency keys after their 24 hours, finished
 * deliveries (and their attempts) after 30 days. Events stay: they are the account's history.
 */
export async function pruneOldRows(app: App): Promise<void> {
  const now = app.clock.now().getTime();
  await app.db
    .deleteFrom('deliveries')
    .where('status', 'in', ['delivered', 'failed', 'skipped'])
    .where('updatedAt', '<', new Date(now - KEEP_DELIVERIES_MS).toISOString())
    .execute();
  await app.db
    .deleteFrom('jobs')
    .where('status', '=', 'done')
    .where('updatedAt', '<', new Date(now - KEEP_DONE_JOBS_MS).toISOString())
    .execute();
  await app.db
    .deleteFrom('idempotencyKeys')
    .where('createdAt', '<', new Date(now - 86_400_000).toISOString())
    .execute();
}

export function startWorkers(
  app: App,
  options: { poll?: boolean; handlers?: Record<string, JobHandler> } = {},
): Workers {
  const mailer = createMailer(app);
  const handlers: Record<string, JobHandler> = {
    email: (job) => mailer.send(job),
    push: pushJobHandler(app, app.apns),
    template_passes: bulkJobHandler(app),
    bulk_values: bulkJobHandler(app),
    ...options.handlers,
  };
  const kinds = Object.keys(handlers);
  const dispatcher = startDispatcher(
    app,
    { webhook: webhookSender(app, app.outbound), integration: integrationSender(app, app.outbound) },
    { poll: options.poll },
  );
  // emails parked while no SMTP server was configured go out now that one is
  const unparked = app.config.smtpUrl
    ? app.db
        .updateTable('jobs')
        .set({ runAt: app.clock.now().toISOString() })
        .where('kind', '=', 'email')
        .where('status', '=', 'pending')
        .where('runAt', '>=', PARKED_UNTIL.toISOString())
        .execute()
        .catch((err) => app.log.warn({ err }, 'could not resume parked emails'))
    : Promise.resolve();
  const workerId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  async function runJob(job: JobRow): Promise<void> {
    try {
      await handlers[job.kind]!(job);
      await completeJob(app.db, job.id, workerId, app.clock.now());
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const parked = err instanceof ParkJobError;
      const final = !parked && (err instanceof PermanentJobError || job.attempts >= MAX_ATTEMPTS);
      const now = app.clock.now();
      const retryAt = parked
        ? PARKED_UNTIL
        : final
          ? undefined
          : new Date(now.getTime() + backoffMs(job.attempts));
      await failJob(app.db, job.id, workerId, message, now, retryAt);
      app.log.warn({ job: job.id, kind: job.kind, attempt: job.attempts, final, err: message }, 'job failed');
    }
  }

  /**
   * Runs due jobs until none is left, up to CONCURRENCY at once: a push waiting for APNs answers does not hold up
   * the next one, and new jobs are claimed as soon as a slot frees.
   */
  async function runOnce(): Promise<number> {
    await unparked;
    let total = 0;
    const inflight = new Set<Promise<void>>();
    for (;;) {
      const room = loop.stopped ? 0 : CONCURRENCY - inflight.size;
      const jobs =
        room > 0
          ? await claimJobs(app.db, app.dialect, kinds, workerId, app.clock.now(), LEASE_MS, room)
          : [];
      for (const job of jobs) {
        const run: Promise<void> = runJob(job).finally(() => inflight.delete(run));
        inflight.add(run);
        total++;
      }
      if (inflight.size === 0) return total;
      if (jobs.length === 0 || inflight.size >= CONCURRENCY) await Promise.race(inflight);
    }
  }

  let lastPrune = 0;
  const loop: WorkLoop = startWorkLoop({
    log: app.log,
    name: 'worker',
    run: runOnce,
    pollMs: options.poll !== false ? POLL_MS : undefined,
    async everyTick() {
      if (Date.now() - lastPrune <= PRUNE_EVERY_MS) return;
      lastPrune = Date.now();
      await pruneOldRows(app);
      await warnExpiringCertificates(app);
    },
  });
  app.onWake((kind) => {
    if (!loop.stopped && kinds.includes(kind)) void loop.kick();
  });

  return {
    async drain() {
      let n = 0;
      for (;;) {
        const ran = (await loop.drain()) + (await dispatcher.drain());
        n += ran;
        if (ran === 0) return n;
      }
    },
    async stop() {
      await loop.stop();
      await dispatcher.stop();
      mailer.close();
    },
  };
}
