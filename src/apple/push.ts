// The push worker: for a committed pass change, tell every device that installed the pass to fetch it. Pending pushes
// of one pass coalesce into one push per device; dead tokens are unregistered; 429/5xx and network failures are
// retried per device with backoff from durable state; a 403 certificate error marks the pass type unhealthy and parks
// its pushes until the certificate is replaced.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pushGroupKey } from '../actions/pass-ops.js';
import type { App } from '../app.js';
import { appendEvent, withEvents } from '../store/events.js';
import { backoffMs, enqueueJob, PARKED_UNTIL, ParkJobError } from '../store/jobs.js';
import { preparedIn, preparedRows } from '../store/prepared.js';
import type { JobRow, PassTypeRow } from '../store/schema.js';
import { ApnsConnection, type ApnsResult } from './apns.js';
import { type ApnsIdentity, PushThread, pushThreadAvailable } from './push-thread.js';
import { passByIdentifiers, unregisterDevice } from './webservice.js';

export interface PushPayload {
  passId: number;
  version?: number;
  reason?: string;
  /** Only these devices (device library identifiers): a retry of the ones that failed. */
  devices?: string[];
  attempt?: number;
}

const MAX_DEVICE_ATTEMPTS = 12;
const RETRYABLE = new Set([0, 429, 500, 503]);
const DEAD_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);

export const retryGroupKey = (passTypeId: number, passId: number): string =>
  `push-retry:${passTypeId}:${passId}`;

// The queries of every push job, compiled once (a fan-out runs thousands of jobs a minute).
const jobStatus = preparedIn(1, (db, id: number) =>
  db.selectFrom('jobs').select('status').where('id', '=', id),
);
const passById = preparedIn(1, (db, id: number) => db.selectFrom('passes').selectAll().where('id', '=', id));
const passTypeById = preparedIn(1, (db, id: number) =>
  db.selectFrom('passTypes').selectAll().where('id', '=', id),
);
const accountApnsKey = preparedIn(1, (db, id: number) =>
  db.selectFrom('accounts').select(['apnsKeyEnc', 'apnsKeyId', 'apnsTeamId']).where('id', '=', id),
);
const devicesOfPass = preparedIn(1, (db, passId: number) =>
  db
    .selectFrom('registrations')
    .innerJoin('devices', 'devices.id', 'registrations.deviceId')
    .select(['devices.deviceLibraryIdentifier', 'devices.pushToken'])
    .where('registrations.passId', '=', passId),
);
/** Earlier and retrying pushes of a pass, pending or held by this worker, are done with a full push. */
const coalescePushes = preparedIn(
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
const insertPushLog = preparedRows('pushLog', [
  'passId',
  'deviceLibraryIdentifier',
  'pushToken',
  'status',
  'reason',
  'apnsId',
  'createdAt',
]);

/**
 * One APNs connection per identity (pass type certificate, or the account's token key): on the push thread when it
 * is there (the compiled service), else on this thread.
 */
export class ApnsPool {
  private readonly connections = new Map<string, ApnsConnection>();
  /** The identity in use for each pass type (certificate) or account (token key). */
  private readonly current = new Map<string, string>();
  /** Started with the first push. */
  private thread: PushThread | undefined;
  readonly threaded: boolean;

  constructor(
    private readonly app: Pick<App, 'db' | 'config' | 'secrets'>,
    options: { thread?: boolean } = {},
  ) {
    this.threaded = options.thread ?? pushThreadAvailable();
  }

  /** Sends the pass-update push to every token with the pass type's identity; never throws (status 0). */
  async send(passType: PassTypeRow, tokens: string[], now: Date): Promise<ApnsResult[]> {
    const [account] = await accountApnsKey(this.app.db, passType.accountId);
    if (!account) throw new Error(`no account ${passType.accountId}`);
    const { apnsKeyEnc, apnsKeyId, apnsTeamId } = account;
    const owner =
      apnsKeyEnc && apnsKeyId && apnsTeamId ? `token:${passType.accountId}` : `cert:${passType.id}`;
    const key = `${owner}:${owner.startsWith('token') ? apnsKeyId : passType.updatedAt}`;
    const previous = this.current.get(owner);
    if (previous !== key) {
      // a replaced certificate or key: its connection closes once its streams end
      this.current.set(owner, key);
      if (previous) this.retire(previous);
    }
    const identity = (): ApnsIdentity => ({
      origin: this.app.config.apnsUrl,
      auth:
        apnsKeyEnc && apnsKeyId && apnsTeamId
          ? {
              kind: 'token',
              keyId: apnsKeyId,
              teamId: apnsTeamId,
              privateKey: createPrivateKey(this.app.secrets.decrypt(apnsKeyEnc)),
            }
          : {
              kind: 'certificate',
              certificatePem: passType.certificatePem,
              privateKeyPem: this.app.secrets.decrypt(passType.privateKeyEnc),
            },
      ca: this.app.config.apnsCaFile ? readFileSync(this.app.config.apnsCaFile, 'utf8') : undefined,
    });
    const topic = passType.passTypeIdentifier;
    if (this.threaded) {
      this.thread ??= new PushThread();
      return this.thread.send(key, identity, tokens, topic, now);
    }
    let connection = this.connections.get(key);
    if (!connection) {
      const { origin, auth, ca } = identity();
      connection = new ApnsConnection(origin, auth, ca);
      this.connections.set(key, connection);
    }
    const c = connection;
    return Promise.all(tokens.map((t) => c.send(t, topic, now)));
  }

  private retire(key: string): void {
    this.thread?.retire(key);
    this.connections.get(key)?.close();
    this.connections.delete(key);
  }

  async close(): Promise<void> {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
    await this.thread?.close();
  }
}

export function pushJobHandler(app: App, pool: ApnsPool): (job: JobRow) => Promise<void> {
  // Pushes of one pass run one after the other in this process, so the first can absorb the ones queued behind it.
  const running = new Map<number, Promise<void>>();
  const push = pushOnce(app, pool);
  return async (job) => {
    const { passId } = JSON.parse(job.payload) as PushPayload;
    const before = running.get(passId) ?? Promise.resolve();
    const mine = before.then(() => push(job));
    const tail = mine.catch(() => undefined);
    running.set(passId, tail);
    try {
      await mine;
    } finally {
      if (running.get(passId) === tail) running.delete(passId);
    }
  };
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
      await coalescePushes(
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
    let found: Awaited<ReturnType<typeof passByIdentifiers>> | null = null; // read when a dead token needs it
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
        found ??= await passByIdentifiers(app, passType.passTypeIdentifier, pass.serialNumber);
        if (found)
          await unregisterDevice(
            app,
            found,
            device.deviceLibraryIdentifier,
            `apns ${result.status} ${result.reason ?? ''}`.trim(),
          );
      } else if (result.status === 403) {
        certificateError = result;
        retry.push(device.deviceLibraryIdentifier);
      } else if (RETRYABLE.has(result.status)) retry.push(device.deviceLibraryIdentifier);
      else
        app.log.warn({ pass: pass.id, status: result.status, reason: result.reason }, 'APNs refused a push');
    }
    if (certificateError) {
      await app.db
        .updateTable('passTypes')
        .set({ unhealthyReason: `APNs answered 403 ${certificateError.reason ?? ''}`.trim() })
        .where('id', '=', passType.id)
        .execute();
    }
    if (retry.length === 0) return;
    const attempt = (payload.attempt ?? 1) + 1;
    if (attempt > MAX_DEVICE_ATTEMPTS) {
      await withEvents(app, (trx) =>
        appendEvent(
          trx,
          {
            accountId: pass.accountId,
            type: 'push.failed',
            passId: pass.id,
            data: {
              serialNumber: pass.serialNumber,
              passTypeIdentifier: passType.passTypeIdentifier,
              devices: retry,
              attempts: attempt - 1,
            },
          },
          app.clock.now(),
        ),
      );
      return;
    }
    await enqueueJob(
      app.db,
      {
        accountId: pass.accountId,
        kind: 'push',
        payload: { passId: pass.id, reason: payload.reason, devices: retry, attempt } satisfies PushPayload,
        // after a certificate error the retry waits, parked, until the certificate changes
        runAt: certificateError ? PARKED_UNTIL : new Date(app.clock.now().getTime() + backoffMs(attempt)),
        groupKey: retryGroupKey(passType.id, pass.id),
      },
      app.clock.now(),
    );
  };
}
