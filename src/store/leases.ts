// Leases, the one way durable work (jobs, webhook and CRM deliveries) is taken by a process: a claim marks due rows
// running, leased to one worker until a time (FOR UPDATE SKIP LOCKED on PostgreSQL, so processes never take the same
// row; SQLite has one writer), counting the attempt; a lease that runs out (its process died) is released back to
// pending, where the next claim finds it. Nothing is held only in memory.
import { type SelectQueryBuilder, sql } from 'kysely';
import type { Db, Dialect } from './db.js';
import type { Database, DeliveryRow, JobRow } from './schema.js';

/** The tables whose rows are claimed with a lease, and their rows. */
interface Leased {
  jobs: JobRow;
  deliveries: DeliveryRow;
}

export interface Lease {
  workerId: string;
  now: Date;
  leaseMs: number;
}

// a literal, not a bound parameter, so that SQLite and PostgreSQL use the partial indexes on the status
const RUNNING = sql.lit<'running'>('running');

/**
 * Claims the rows `due` selects (their ids, in claim order, at most as many as wanted), leased to the worker.
 * The rows come back updated.
 */
export async function claimLeased<T extends keyof Leased>(
  db: Db,
  dialect: Dialect,
  table: T,
  due: SelectQueryBuilder<Database, never, { id: number }>,
  lease: Lease,
): Promise<Leased[T][]> {
  const nowIso = lease.now.toISOString();
  // one statement for either table: Kysely types it for one of them
  const rows = await db
    .updateTable(table as 'jobs')
    .set((eb) => ({
      status: 'running',
      lockedBy: lease.workerId,
      lockedUntil: new Date(lease.now.getTime() + lease.leaseMs).toISOString(),
      attempts: eb('attempts', '+', 1),
      updatedAt: nowIso,
    }))
    .where('id', 'in', dialect === 'postgres' ? due.modifyEnd(sql`for update skip locked`) : due)
    .returningAll()
    .execute();
  return rows as unknown as Leased[T][];
}

/** The column saying when a row is due. */
const DUE = { jobs: 'runAt', deliveries: 'nextAttemptAt' } as const;

/** Rows whose process died mid-work (their lease ran out) are pending and due again; returns how many. */
export async function releaseExpiredLeases(db: Db, table: keyof Leased, now: Date): Promise<number> {
  const nowIso = now.toISOString();
  const r = await db
    .updateTable(table as 'jobs')
    .set({
      status: 'pending',
      lockedBy: null,
      lockedUntil: null,
      [DUE[table] as 'runAt']: nowIso,
      updatedAt: nowIso,
    })
    .where('status', '=', RUNNING)
    .where('lockedUntil', '<', now.toISOString())
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}
