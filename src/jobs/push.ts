// The push worker: for a committed pass change, tell every device that installed the pass to fetch it. Pending pushes
// of one pass coalesce into one push per device; dead tokens are unregistered (unregister_device); 429/5xx and network
// failures are retried per device with backoff from durable state; a 403 certificate error marks the pass type
// unhealthy (mark_pass_type_unhealthy) and parks its pushes until the certificate is replaced; devices given up on
// are reported (record_push_failure).
import { markPassTypeUnhealthy } from '../actions/passtypes.js';
import { recordPushFailure } from '../actions/pushes.js';
import { runAction, systemContext } from '../actions/registry.js';
import { unregisterDevice } from '../actions/wallet.js';
import type { App } from '../app.js';
import type { ApnsResult } from '../apple/apns.js';
import type { ApnsPool } from '../apple/apns-pool.js';
import { enqueueRetry, type PushPayload, pushGroupKey, retryGroupKey } from '../apple/push-queue.js';
import { backoffMs, coalesceJobs, oneAtATimePer, PARKED_UNTIL, ParkJobError } from '../store/jobs.js';
import { preparedIn, preparedRows } from '../store/prepared.js';
import type { JobRow } from '../store/schema.js';

const MAX_DEVICE_ATTEMPTS = 12;
const RETRYABLE = new Set([0, 429, 500, 503]);
const DEAD_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);

// The queries of every push job, compiled once (a fan-out runs thousands of jobs a minute).
const jobStatus = preparedIn(1, (db, id: number) =>
  db.selectFrom('jobs').select('status').where('id', '=', id),
);
const passById = preparedIn(1, (db, id: number) => db.selectFrom('passes').selectAll().where('id', '=', id));
const passTypeById = preparedIn(1, (db, id: number) =>
  db.selectFrom('passTypes').selectAll().where('id', '=', id),
);
const devicesOfPass = preparedIn(1, (db, passId: number) =>
  db
    .selectFrom('registrations')
    .innerJoin('devices', 'devices.id', 'registrations.deviceId')
    .select(['devices.deviceLibraryIdentifier', 'devices.pushToken'])
    .where('registrations.passId', '=', passId),
);
const insertPushLog = preparedRows('pushLog', [
  'passId',
  'deviceLibraryIdentifier',
  'pushToken',
  'status',
  'reason',
  'apnsId',
  'createdAt',
]);

export function pushJobHandler(app: App, pool: ApnsPool): (job: JobRow) => Promise<void> {
  // pushes of one pass run one after the other in this process, so the first can absorb the ones queued behind it
  return oneAtATimePer((job) => (JSON.parse(job.payload) as PushPayload).passId, pushOnce(app, pool));
}

function pushOnce(app: App, pool: ApnsPool): (job: JobRow) => Promise<void> {
  return async (job) => {
    // a push merged into another one while it waited
    const [self] = await jobStatus(app.db, job.id);
    if (self?.status !== 'running') return;
    const payload = JSON.parse(job.payload) as PushPayload;
    const [pass] = await passById(app.db, payload.passId);
    if (!pass) return;
    const [passType] = await passTypeById(app.db, pass.passTypeId);
    if (!passType) throw new Error(`no pass type ${pass.passTypeId}`);
    const now = app.clock.now();
    // a full push covers every device: earlier and retrying pushes of this pass are done with it
    if (!payload.devices)
      await coalesceJobs(
        app.db,
        `coalesced into job ${job.id}`,
        now.toISOString(),
        pushGroupKey(passType.id, pass.id),
        retryGroupKey(passType.id, pass.id),
        job.id,
        job.lockedBy ?? '',
      );
    if (passType.unhealthyReason)
      throw new ParkJobError(
        `pass type ${passType.passTypeIdentifier} is unhealthy: ${passType.unhealthyReason}`,
      );
    const only = payload.devices && new Set(payload.devices);
    const devices = (await devicesOfPass(app.db, pass.id)).filter(
      (d) => !only || only.has(d.deviceLibraryIdentifier),
    );
    if (devices.length === 0) return;
    const answers = await pool.send(
      passType,
      devices.map((d) => d.pushToken),
      now,
    );
    const results = devices.map((device, i) => ({ device, result: answers[i]! }));
    const retry: string[] = [];
    let certificateError: ApnsResult | undefined;
    const ctx = systemContext(app, pass.accountId, `job-${job.id}`, 'job');
    // the push log of the job in a few statements
    const at = app.clock.now().toISOString();
    await insertPushLog(
      app.db,
      results.map(({ device, result }) => ({
        passId: pass.id,
        deviceLibraryIdentifier: device.deviceLibraryIdentifier,
        pushToken: device.pushToken,
        status: result.status,
        reason: result.reason ?? null,
        apnsId: result.apnsId ?? null,
        createdAt: at,
      })),
    );
    for (const { device, result } of results) {
      if (result.status === 200) continue;
      if (result.status === 410 || (result.status === 400 && DEAD_TOKEN_REASONS.has(result.reason ?? ''))) {
        await runAction(unregisterDevice, ctx, {
          passTypeIdentifier: passType.passTypeIdentifier,
          serialNumber: pass.serialNumber,
          deviceLibraryIdentifier: device.deviceLibraryIdentifier,
          reason: `apns ${result.status} ${result.reason ?? ''}`.trim(),
        });
      } else if (result.status === 403) {
        certificateError = result;
        retry.push(device.deviceLibraryIdentifier);
      } else if (RETRYABLE.has(result.status)) retry.push(device.deviceLibraryIdentifier);
      else
        app.log.warn({ pass: pass.id, status: result.status, reason: result.reason }, 'APNs refused a push');
    }
    if (certificateError)
      await runAction(markPassTypeUnhealthy, ctx, {
        id: passType.passTypeIdentifier,
        reason: `APNs answered 403 ${certificateError.reason ?? ''}`.trim(),
      });
    if (retry.length === 0) return;
    const attempt = (payload.attempt ?? 1) + 1;
    if (attempt > MAX_DEVICE_ATTEMPTS) {
      await runAction(recordPushFailure, ctx, {
        passTypeIdentifier: passType.passTypeIdentifier,
        serialNumber: pass.serialNumber,
        devices: retry,
        attempts: attempt - 1,
      });
      return;
    }
    await enqueueRetry(
      app.db,
      {
        accountId: pass.accountId,
        passTypeId: passType.id,
        passId: pass.id,
        reason: payload.reason,
        devices: retry,
        attempt,
      },
      // after a certificate error the retry waits, parked, until the certificate changes
      certificateError ? PARKED_UNTIL : new Date(app.clock.now().getTime() + backoffMs(attempt)),
      app.clock.now(),
    );
  };
}
