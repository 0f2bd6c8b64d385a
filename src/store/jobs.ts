// Durable work (emails, pushes, template re-renders): rows claimed with a lease (store/leases.ts), so two processes
// never run the same job and a dead process's job is picked up again when its lease runs out.
import type { Db, Dialect } from './db.js';
import { claimLeased } from './leases.js';
import { preparedIn } from './prepared.js';
import type { JobRow } from './schema.js';

export interface EnqueueInput {
  accountId: number;
  kind: string;
  payload: unknown;
  runAt?: Date;
  groupKey?: string;
  /** A large input (an import's CSV), stored beside the job, read with jobInput. */
  input?: string;
}

export async function enqueueJob(db: Db, input: EnqueueInput, now: Date): Promise<number> {
  if (input.input !== undefined && !db.isTransaction)
    return db.transaction().execute((trx) => enqueueJob(trx, input, now));
  const row = await db
    .insertInto('jobs')
    .values({
      accountId: input.accountId,
      kind: input.kind,
      payload: JSON.stringify(input.payload),
      status: 'pending',
      attempts: 0,
      runAt: (input.runAt ?? now).toISOString(),
      groupKey: input.groupKey ?? null,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (input.input !== undefined)
    await db.insertInto('jobInputs').values({ jobId: row.id, data: input.input }).execute();
  return row.id;
}

/** The input stored with a job by enqueueJob. */
export async function jobInput(db: Db, jobId: number): Promise<string> {
  const row = await db
    .selectFrom('jobInputs')
    .select('data')
    .where('jobId', '=', jobId)
    .executeTakeFirstOrThrow();
  return row.data;
}

/**
 * Claims up to `limit` due jobs of the given kinds for `workerId`, leased for `leaseMs` (store/leases.ts). Jobs of a
 * dead process come back once releaseExpiredLeases(db, 'jobs', now) has run.
 */
export async function claimJobs(
  db: Db,
  dialect: Dialect,
  kinds: string[],
  workerId: string,
  now: Date,
  leaseMs: number,
  limit: number,
): Promise<JobRow[]> {
  const due = db
    .selectFrom('jobs')
    .select('id')
    .where('status', '=', 'pending')
    .where('runAt', '<=', now.toISOString())
    .where('kind', 'in', kinds)
    .orderBy('runAt')
    .orderBy('id')
    .limit(limit);
  return claimLeased(db, dialect, 'jobs', due, { workerId, now, leaseMs });
}

const finishJob = preparedIn(3, (db, updatedAt: string, id: number, workerId: string) =>
  db
    .updateTable('jobs')
    .set({ status: 'done', lockedUntil: null, lastError: null, updatedAt })
    .where('id', '=', id)
    .where('lockedBy', '=', workerId),
);

export async function completeJob(db: Db, id: number, workerId: string, now: Date): Promise<void> {
  await finishJob(db, now.toISOString(), id, workerId);
}

/** Records a failure: retried at `retryAt`, or failed for good when it is undefined. */
export async function failJob(
  db: Db,
  id: number,
  workerId: string,
  error: string,
  now: Date,
  retryAt?: Date,
): Promise<void> {
  await db
    .updateTable('jobs')
    .set({
      status: retryAt ? 'pending' : 'failed',
      runAt: (retryAt ?? now).toISOString(),
      lockedUntil: null,
      lastError: error.slice(0, 2000),
      updatedAt: now.toISOString(),
    })
    .where('id', '=', id)
    .where('lockedBy', '=', workerId)
    .execute();
}

/** Exponential backoff with full jitter: base * 2^(attempt-1), capped, times a random factor in [0.5, 1]. */
export function backoffMs(
  attempt: number,
  baseMs = 1000,
  capMs = 3_600_000,
  random: () => number = Math.random,
): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/** Attempts before a job is failed for good: with backoff capped at an hour, about a day. */
export const MAX_JOB_ATTEMPTS = 25;

/** A job to try again, not before `afterMs` (a Retry-After) nor before its backoff. */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly afterMs?: number,
  ) {
    super(message);
  }
}

/** A job that cannot succeed by retrying: it is marked failed at once. */
export class PermanentJobError extends Error {}

/** A job that must wait for something outside it (a certificate to be replaced): kept pending, not retried. */
export class ParkJobError extends Error {}

/** Far future: parked jobs run when something sets their run_at again. */
export const PARKED_UNTIL = new Date('9999-12-31T00:00:00.000Z');

/**
 * Marks done the other jobs of two groups (a group and its retries; the same key twice for one group) that are pending
 * or held by this worker, and not parked: the job running now covers them (a push of the whole pass, a sync of it as
 * it is now).
 */
export const coalesceJobs = preparedIn(
  6,
  (
    db,
    lastError: string,
    updatedAt: string,
    groupKey: string,
    retryKey: string,
    id: number,
    lockedBy: string,
  ) =>
    db
      .updateTable('jobs')
      .set({ status: 'done', lastError, updatedAt })
      .where('groupKey', 'in', [groupKey, retryKey])
      .where('id', '!=', id)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb.and([eb('status', '=', 'running'), eb('lockedBy', '=', lockedBy)]),
        ]),
      )
      .where('runAt', '<', PARKED_UNTIL.toISOString()),
);

/**
 * Runs a job handler one job at a time per key (a pass) in this process, in the order claimed, so an older job never
 * finishes after a newer one and the first can absorb those queued behind it.
 */
export function oneAtATimePer<K>(keyOf: (job: JobRow) => K, handler: (job: JobRow) => Promise<void>) {
  const running = new Map<K, Promise<void>>();
  return async (job: JobRow): Promise<void> => {
    const key = keyOf(job);
    const before = running.get(key) ?? Promise.resolve();
    const mine = before.then(() => handler(job));
    const tail = mine.catch(() => undefined);
    running.set(key, tail);
    try {
      await mine;
    } finally {
      if (running.get(key) === tail) running.delete(key);
    }
  };
}

/** What a long job saves after each batch: its counts and cursor, and how many items failed so far. */
export interface JobProgress {
  failedCount: number;
}

/**
 * Saves a long job's progress on its row with the items of the batch that failed (kept apart, in their order), in one
 * transaction, and extends its lease (the job keeps working): a restarted process continues from the last saved
 * progress. `progress.failedCount` counts the failures saved before; it is advanced here.
 */
export async function saveJobProgress(
  db: Db,
  jobId: number,
  progress: JobProgress,
  now: Date,
  failures: readonly unknown[] = [],
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (failures.length > 0)
      await trx
        .insertInto('jobFailures')
        .values(failures.map((f, i) => ({ jobId, seq: progress.failedCount + i, data: JSON.stringify(f) })))
        .execute();
    await trx
      .updateTable('jobs')
      .set({
        result: JSON.stringify({ ...progress, failedCount: progress.failedCount + failures.length }),
        lockedUntil: new Date(now.getTime() + 60_000).toISOString(),
        updatedAt: now.toISOString(),
      })
      .where('id', '=', jobId)
      .execute();
  });
  progress.failedCount += failures.length;
}

/** A job's saved progress with the items it failed, in order, as `failed` (null before its first save). */
export async function jobReport(db: Db, job: { id: number; result: string | null }): Promise<unknown> {
  if (!job.result) return null;
  const progress = JSON.parse(job.result) as { failedCount?: number; failed?: unknown[] };
  if (progress.failedCount === undefined) return progress;
  const rows = await db
    .selectFrom('jobFailures')
    .select('data')
    .where('jobId', '=', job.id)
    .orderBy('seq')
    .execute();
  // (a job saved before its failures were kept apart has them in its progress)
  const { failedCount: _count, failed = [], ...rest } = progress;
  return { ...rest, failed: [...failed, ...rows.map((r) => JSON.parse(r.data) as unknown)] };
}
