// The push queue, the one owner of push jobs on the queueing side: a pass change queues a push of its new version in
// the changing transaction, delayed a little so quick successive changes coalesce into one push per device (the
// worker, src/jobs/push.ts, merges the pending pushes of a pass); failed devices are retried in a group of their own;
// pushes parked by a certificate error run again when the pass type's credentials change.
import type { Config } from '../config.js';
import type { Db } from '../store/db.js';
import { enqueueJob, PARKED_UNTIL } from '../store/jobs.js';

export interface PushPayload {
  passId: number;
  version?: number;
  reason?: string;
  /** Only these devices (device library identifiers): a retry of the ones that failed. */
  devices?: string[];
  attempt?: number;
}

/** The group of the push jobs of one pass: a full push coalesces every pending push of the group. */
export const pushGroupKey = (passTypeId: number, passId: number): string => `push:${passTypeId}:${passId}`;
/** The group of the retries of the devices of one pass that failed. */
export const retryGroupKey = (passTypeId: number, passId: number): string =>
  `push-retry:${passTypeId}:${passId}`;

/** What queueing needs of the App: the debounce, and the wake-up of the workers. */
export interface PushQueueDeps {
  config: Pick<Config, 'pushDebounceMs'>;
  wake(kind: string): void;
}

/** Queues the push of a pass's new version; call it inside the transaction that writes the version. */
export async function enqueuePush(
  deps: PushQueueDeps,
  trx: Db,
  push: { accountId: number; passTypeId: number; passId: number; version: number; reason: string },
  now: Date,
): Promise<void> {
  await enqueueJob(
    trx,
    {
      accountId: push.accountId,
      kind: 'push',
      payload: { passId: push.passId, version: push.version, reason: push.reason } satisfies PushPayload,
      runAt: new Date(now.getTime() + deps.config.pushDebounceMs),
      groupKey: pushGroupKey(push.passTypeId, push.passId),
    },
    now,
  );
}

/** After the commit: wakes the push worker once the debounce has passed (it also polls). */
export function wakePushes(deps: PushQueueDeps): void {
  setTimeout(() => deps.wake('push'), deps.config.pushDebounceMs).unref();
}

/** Queues a retry of the devices that failed, after `runAt` (PARKED_UNTIL: until the credentials change). */
export async function enqueueRetry(
  db: Db,
  retry: {
    accountId: number;
    passTypeId: number;
    passId: number;
    reason?: string;
    devices: string[];
    attempt: number;
  },
  runAt: Date,
  now: Date,
): Promise<void> {
  await enqueueJob(
    db,
    {
      accountId: retry.accountId,
      kind: 'push',
      payload: {
        passId: retry.passId,
        reason: retry.reason,
        devices: retry.devices,
        attempt: retry.attempt,
      } satisfies PushPayload,
      runAt,
      groupKey: retryGroupKey(retry.passTypeId, retry.passId),
    },
    now,
  );
}

/** Pushes parked while these pass types' credentials were failing run now. */
export async function unparkPushes(
  deps: PushQueueDeps & { db: Db },
  passTypeIds: number[],
  now: Date,
): Promise<void> {
  if (passTypeIds.length === 0) return;
  await deps.db
    .updateTable('jobs')
    .set({ runAt: now.toISOString() })
    .where('kind', '=', 'push')
    .where('status', '=', 'pending')
    .where('runAt', '>=', PARKED_UNTIL.toISOString())
    .where((eb) =>
      eb.or(
        passTypeIds.flatMap((id) => [
          eb('groupKey', 'like', `push:${id}:%`),
          eb('groupKey', 'like', `push-retry:${id}:%`),
        ]),
      ),
    )
    .execute();
  deps.wake('push');
}
