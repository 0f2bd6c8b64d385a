// The Google sync queue, the queueing side of keeping Google Wallet objects current: a pass created or changed in an
// account with Google Wallet queues a sync of the pass in the same transaction, delayed like a push so that quick
// successive changes make one patch (the worker, src/jobs/google.ts, sends the pass as it is then and marks the
// other pending syncs of the pass done).
import type { Config } from '../config.js';
import type { Db } from '../store/db.js';
import { enqueueJob } from '../store/jobs.js';
import { preparedIn } from '../store/prepared.js';

export interface GoogleSyncPayload {
  passId: number;
}

/** The group of the sync jobs of one pass: one sync covers every pending one of the group. */
export const googleGroupKey = (passId: number): string => `google:${passId}`;

export interface GoogleQueueDeps {
  config: Pick<Config, 'pushDebounceMs'>;
  wake(kind: string): void;
}

const issuerOf = preparedIn(1, (db, accountId: number) =>
  db.selectFrom('accounts').select('googleIssuerId').where('id', '=', accountId),
);

/** Whether an account has Google Wallet connected (one prepared query: it runs on every pass change). */
export async function hasGoogleWallet(db: Db, accountId: number): Promise<boolean> {
  const [row] = await issuerOf(db, accountId);
  return !!row?.googleIssuerId;
}

/** Queues the sync of passes to Google Wallet; call it inside the transaction that changes them. */
export async function enqueueGoogleSync(
  deps: GoogleQueueDeps,
  trx: Db,
  accountId: number,
  passIds: number[],
  now: Date,
): Promise<void> {
  const runAt = new Date(now.getTime() + deps.config.pushDebounceMs);
  for (const passId of passIds)
    await enqueueJob(
      trx,
      {
        accountId,
        kind: 'google',
        payload: { passId } satisfies GoogleSyncPayload,
        runAt,
        groupKey: googleGroupKey(passId),
      },
      now,
    );
}

/**
 * Queues the sync of a changed pass when its account has Google Wallet (inside the changing transaction); answers
 * whether it did, so the caller wakes the worker after the commit.
 */
export async function queueGoogleSyncIfConnected(
  deps: GoogleQueueDeps,
  trx: Db,
  pass: { accountId: number; id: number },
  now: Date,
): Promise<boolean> {
  if (!(await hasGoogleWallet(trx, pass.accountId))) return false;
  await enqueueGoogleSync(deps, trx, pass.accountId, [pass.id], now);
  return true;
}

/** After the commit: wakes the sync worker once the debounce has passed (it also polls). */
export function wakeGoogleSync(deps: GoogleQueueDeps): void {
  setTimeout(() => deps.wake('google'), deps.config.pushDebounceMs).unref();
}
