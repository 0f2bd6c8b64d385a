// The background workers: claim durable jobs with a lease, run them, and record success or a retry with exponential
// backoff and jitter. Woken at once when a job is queued, and polling otherwise, so nothing waits on memory alone.
import { randomUUID } from 'node:crypto';
import type { App } from '../app.js';

import { integrationSender } from '../events/crm/index.js';
import { startDispatcher } from '../events/dispatcher.js';
import { webhookSender } from '../events/webhooks.js';
import { createMailer } from '../messaging/email.js';
import { createSmsSender } from '../messaging/sms.js';
import {
  backoffMs,
  claimJobs,
  completeJob,
  failJob,
  MAX_JOB_ATTEMPTS,
  PARKED_UNTIL,
  ParkJobError,
  PermanentJobError,
  RetryLaterError,
} from '../store/jobs.js';
import { releaseExpiredLeases } from '../store/leases.js';
import type { JobRow } from '../store/schema.js';
import { startWorkLoop, type WorkLoop } from '../work-loop.js';
import { bulkJobHandler } from './bulk.js';
import { googleJobHandler } from './google.js';
import { importJobHandler } from './imports.js';
import { messageJobHandler } from './messages.js';
import { passRefreshJobHandler } from './pass-refresh.js';
import { pushJobHandler } from './push.js';
import { pruneOldRows, warnExpiringCertificates } from './retention.js';
import { stripeJobHandler } from './stripe.js';

export type JobHandler = (job: JobRow) => Promise<void>;

export interface Workers {
  /** Runs until every due job and delivery is done (tests); returns how many ran. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

const CONCURRENCY = 16;
const POLL_MS = 1000;

const PRUNE_EVERY_MS = 10 * 60_000;
export function startWorkers(
  app: App,
  options: { poll?: boolean; handlers?: Record<string, JobHandler> } = {},
): Workers {
  const senders = { email: createMailer(app), sms: createSmsSender(app) };
  const sendMessage = messageJobHandler(app, senders);
  const handlers: Record<string, JobHandler> = {
    email: sendMessage,
    sms: sendMessage,
    stripe_event: stripeJobHandler(app),
    push: pushJobHandler(app, app.apns),
    google: googleJobHandler(app),
    template_passes: bulkJobHandler(app),
    bulk_values: bulkJobHandler(app),
    import: importJobHandler(app),
    pass_refresh: passRefreshJobHandler(app),
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
  const leaseMs = app.config.jobLeaseSeconds * 1000;
  async function runJob(job: JobRow): Promise<void> {
    try {
      await handlers[job.kind]!(job);
      await completeJob(app.db, job.id, workerId, app.clock.now());
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const parked = err instanceof ParkJobError;
      const final = !parked && (err instanceof PermanentJobError || job.attempts >= MAX_JOB_ATTEMPTS);
      const now = app.clock.now();
      const retryAt = parked
        ? PARKED_UNTIL
        : final
          ? undefined
          : new Date(
              now.getTime() +
                Math.max(backoffMs(job.attempts), err instanceof RetryLaterError ? (err.afterMs ?? 0) : 0),
            );
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
    // jobs of a process that died are due again once their lease ran out
    await releaseExpiredLeases(app.db, 'jobs', app.clock.now());
    let total = 0;
    const inflight = new Set<Promise<void>>();
    for (;;) {
      const room = loop.stopped ? 0 : CONCURRENCY - inflight.size;
      const jobs =
        room > 0 ? await claimJobs(app.db, app.dialect, kinds, workerId, app.clock.now(), leaseMs, room) : [];
      for (const job of jobs) {
        const run: Promise<void> = runJob(job).finally(() => inflight.delete(run));
        inflight.add(run);
        total++;
      }
      if (inflight.size === 0) return total;
      if (inflight.size >= CONCURRENCY) await Promise.race(inflight);
      // nothing due now: wait for a slot's job to end, or for a wake (work queued meanwhile, such as the pushes a
      // running template job queues, need not wait for that job to end)
      else if (jobs.length === 0) await Promise.race([...inflight, nudged()]);
    }
  }

  let nudge: (() => void) | undefined;
  const nudged = () =>
    new Promise<void>((resolve) => {
      nudge = resolve;
    });
  let lastPrune = 0;
  const loop: WorkLoop = startWorkLoop({
    log: app.log,
    name: 'worker',
    run: runOnce,
    onKickWhileRunning() {
      const wake = nudge;
      nudge = undefined;
      wake?.();
    },
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
      for (const sender of Object.values(senders)) sender.close?.();
    },
  };
}
