// Pass updates end to end: a simulated iPhone installs a pass and registers with the web service; a change pushes
// through the APNs stand-in (HTTP/2, TLS, client certificate or token); the device asks what changed and fetches
// the new version. Dead tokens, retries across a restart, certificate errors, coalescing and GOAWAY included.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import {
  type ApnsStandin,
  ensureServerCertificate,
  type StandinRecord,
  startApnsStandin,
} from '../../src/dev/apns-standin.js';
import { type PassUpdate, SimulatedDevice } from '../../src/dev/device.js';
import { startWorkers } from '../../src/jobs/runner.js';
import { tmpDir, until } from '../helpers.js';
import {
  createMemberPass,
  freePort,
  memberValues,
  startServer,
  TEST_DB,
  type TestServer,
} from './harness.js';

let s: TestServer;
let apns: ApnsStandin;
let certsDir: string;
let apnsPort: number;
const devices: SimulatedDevice[] = [];

/** The APNs token key gamma configures (the stand-in always knows its public half). */
const tokenKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

async function standin(clientCas: string[]): Promise<ApnsStandin> {
  return startApnsStandin({
    port: apnsPort,
    certsDir,
    clientCas,
    tokenKeys: { KEYID12345: tokenKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
  });
}

beforeAll(async () => {
  certsDir = tmpDir('passslot-apns-');
  ensureServerCertificate(certsDir);
  apnsPort = await freePort();
  s = await startServer({
    poll: true,
    env: {
      PASSSLOT_APNS_URL: `https://127.0.0.1:${apnsPort}`,
      PASSSLOT_APNS_CA: join(certsDir, 'server.pem'),
      PASSSLOT_PUSH_DEBOUNCE_MS: '150',
    },
  });
  apns = await standin([readFileSync(s.alpha.devCaPath, 'utf8')]);
});

afterAll(async () => {
  for (const d of devices) await d.close();
  await s?.close();
  await apns?.close();
});

async function phone(): Promise<SimulatedDevice> {
  const d = new SimulatedDevice({ apnsUrl: apns.url, apnsCa: apns.serverCertificatePem });
  devices.push(d);
  await d.listen();
  return d;
}

function nextUpdate(
  d: SimulatedDevice,
  serialNumber: string,
  predicate: (u: PassUpdate) => boolean = () => true,
  ms = 15_000,
): Promise<PassUpdate> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no update of ${serialNumber} within ${ms} ms`)), ms);
    const off = d.on('update', (u) => {
      if (u.serialNumber === serialNumber && u.status === 200 && predicate(u)) {
        clearTimeout(timer);
        off();
        resolve(u);
      }
    });
  });
}

const recordsFor = (token: string): StandinRecord[] => apns.received.filter((r) => r.token === token);
const key = () => s.alpha.appKey;

describe(`pushes on ${TEST_DB}`, () => {
  it('updates an installed pass: push over HTTP/2 with the pass certificate, serials since the tag, the new version', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const d = await phone();
    expect(await d.addPass(pass.url)).toBe(201);
    const update = nextUpdate(d, pass.serialNumber);
    await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 4321 } });
    const u = await update;
    expect(u.changes).toContainEqual(expect.objectContaining({ to: 4321 }));
    const [record] = recordsFor(d.pushToken);
    expect(record).toMatchObject({
      method: 'POST',
      path: `/3/device/${d.pushToken}`,
      topic: pass.passTypeIdentifier,
      body: '{}',
      status: 200,
    });
    expect(record!.auth).toMatchObject({
      kind: 'certificate',
      authorized: true,
      uid: pass.passTypeIdentifier,
    });
    const details = await (await s.api(key(), `${pass.path}/details`)).json();
    expect(details.pushes).toEqual([
      expect.objectContaining({
        deviceLibraryIdentifier: d.deviceLibraryIdentifier,
        status: 200,
        apnsId: record!.apnsId,
      }),
    ]);
    expect(details.devices).toHaveLength(1);
  });

  it('pushes on notify (the message in the %@ field), revoke and sync, but not on a status change', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const d = await phone();
    await d.addPass(pass.url);
    const notified = nextUpdate(d, pass.serialNumber);
    await s.api(key(), `${pass.path}/notify`, { method: 'POST', json: { message: 'Doors open at 7' } });
    expect((await notified).changes).toContainEqual(expect.objectContaining({ to: 'Doors open at 7' }));
    const before = recordsFor(d.pushToken).length;
    await s.api(key(), `${pass.path}/status`, { method: 'PUT', json: { status: 'redeemed' } });
    await new Promise((r) => setTimeout(r, 600));
    expect(recordsFor(d.pushToken).length).toBe(before);
    const synced = new Promise<PassUpdate>((resolve) =>
      d.on('update', (u) => u.serialNumber === pass.serialNumber && resolve(u)),
    );
    await s.api(key(), `${pass.path}/push`, { method: 'POST' });
    expect((await synced).status).toBe(200);
    const revoked = nextUpdate(d, pass.serialNumber, (u) => u.changes.some((c) => c.path === 'voided'));
    await s.api(key(), `${pass.path}/revoke`, { method: 'POST', json: {} });
    expect((await revoked).changes).toContainEqual({ path: 'voided', from: undefined, to: true });
  });

  it('coalesces quick successive changes into one push per device', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const [d1, d2] = [await phone(), await phone()];
    await d1.addPass(pass.url);
    await d2.addPass(pass.url);
    const final = nextUpdate(d1, pass.serialNumber, (u) => u.changes.some((c) => c.to === 3));
    for (const points of [1, 2, 3])
      await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points } });
    await final;
    await new Promise((r) => setTimeout(r, 800));
    expect(recordsFor(d1.pushToken)).toHaveLength(1);
    expect(recordsFor(d2.pushToken)).toHaveLength(1);
  });

  it('removes the registration when APNs says the token is dead (410 Unregistered, 400 BadDeviceToken)', async () => {
    for (const state of [
      { status: 410, reason: 'Unregistered' },
      { status: 400, reason: 'BadDeviceToken' },
    ] as const) {
      const pass = await createMemberPass(s, s.alpha);
      const d = await phone();
      await d.addPass(pass.url);
      apns.setToken(d.pushToken, state);
      await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 5 } });
      await until(
        'the registration to go',
        async () => (await (await s.api(key(), `${pass.path}/details`)).json()).devices.length === 0,
      );
      const device = await s.app.db
        .selectFrom('devices')
        .select('id')
        .where('deviceLibraryIdentifier', '=', d.deviceLibraryIdentifier)
        .executeTakeFirst();
      expect(device).toBeUndefined();
      const events = await s.app.db
        .selectFrom('events')
        .select('data')
        .where('type', '=', 'registration.deleted')
        .execute();
      expect(
        events
          .map((e) => JSON.parse(e.data))
          .find((e) => e.deviceLibraryIdentifier === d.deviceLibraryIdentifier),
      ).toMatchObject({
        reason: `apns ${state.status} ${state.reason}`,
      });
    }
  });

  it('retries a 503 from durable state, across a restart, and delivers', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const d = await phone();
    await d.addPass(pass.url);
    await s.workers.stop(); // this process will "die" after the first attempt
    const local = startWorkers(s.app, { poll: false });
    apns.throttle(1, { status: 503, reason: 'ServiceUnavailable' });
    await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 503 } });
    await new Promise((r) => setTimeout(r, 300));
    await local.drain();
    await local.stop();
    expect(recordsFor(d.pushToken).map((r) => r.status)).toEqual([503]);
    const retry = await s.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('kind', '=', 'push')
      .where('groupKey', 'like', 'push-retry:%')
      .where('status', '=', 'pending')
      .execute();
    expect(retry).toHaveLength(1);
    expect(JSON.parse(retry[0]!.payload)).toMatchObject({ devices: [d.deviceLibraryIdentifier], attempt: 2 });
    // a new process on the same database picks it up when it is due
    const app2 = await createApp(s.app.config);
    const workers2 = startWorkers(app2, { poll: false });
    try {
      await app2.db
        .updateTable('jobs')
        .set({ runAt: new Date(0).toISOString() })
        .where('id', '=', retry[0]!.id)
        .execute();
      const update = nextUpdate(d, pass.serialNumber);
      await workers2.drain();
      await update;
      expect(recordsFor(d.pushToken).map((r) => r.status)).toEqual([503, 200]);
    } finally {
      await workers2.stop();
      await app2.close();
      s.workers = startWorkers(s.app, { poll: true });
    }
  });

  it('reconnects after GOAWAY', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const d = await phone();
    await d.addPass(pass.url);
    let update = nextUpdate(d, pass.serialNumber);
    await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 1 } });
    await update;
    apns.goaway();
    await new Promise((r) => setTimeout(r, 100));
    update = nextUpdate(d, pass.serialNumber, (u) => u.changes.some((c) => c.to === 2));
    await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 2 } });
    await update;
    expect(recordsFor(d.pushToken).map((r) => r.status)).toEqual([200, 200]);
  });

  it('pushes to many devices of one pass over concurrent streams', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const many = await Promise.all(Array.from({ length: 40 }, () => phone()));
    for (const d of many) expect(await d.addPass(pass.url)).toBe(201);
    const updates = many.map((d) => nextUpdate(d, pass.serialNumber));
    await s.api(key(), `${pass.path}/values`, { method: 'PUT', json: { points: 40 } });
    await Promise.all(updates);
    expect(
      many.every((d) => recordsFor(d.pushToken).length === 1 && recordsFor(d.pushToken)[0]!.status === 200),
    ).toBe(true);
  });

  it('marks a pass type unhealthy on a 403 certificate error, holds its pushes, and resumes when the certificate changes', async () => {
    // beta's development CA is not one the stand-in trusts: its pushes are refused with 403
    const beta = await s.account(`beta-${TEST_DB}`);
    const pass = await createMemberPass(s, beta);
    const d = await phone();
    await d.addPass(pass.url);
    await s.api(beta.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 403 } });
    const passType = await until('the pass type to turn unhealthy', async () => {
      const pt = await (await s.api(beta.appKey, `/v1/passtypes/${beta.passTypeIdentifier}`)).json();
      return pt.healthy === false ? pt : undefined;
    });
    expect(passType.unhealthyReason).toMatch(/403/);
    expect(recordsFor(d.pushToken).map((r) => r.status)).toEqual([403]);
    // the job marks the pass type, then parks its push: wait for both
    const parked = await until('the push to be parked', async () => {
      const jobs = await s.app.db
        .selectFrom('jobs')
        .selectAll()
        .where('kind', '=', 'push')
        .where('status', '=', 'pending')
        .where('groupKey', 'like', 'push-retry:%')
        .execute();
      return jobs.some((j) => j.runAt.startsWith('9999')) ? jobs : undefined;
    });
    expect(parked.length).toBeGreaterThan(0);
    // the stand-in now trusts beta's CA, and the certificate is uploaded again: the held push goes out
    await apns.close();
    apns = await standin([readFileSync(s.alpha.devCaPath, 'utf8'), readFileSync(beta.devCaPath, 'utf8')]);
    await d.listen().catch(() => undefined);
    const row = await s.app.db
      .selectFrom('passTypes')
      .selectAll()
      .where('passTypeIdentifier', '=', beta.passTypeIdentifier)
      .executeTakeFirstOrThrow();
    const update = nextUpdate(d, pass.serialNumber);
    const put = await s.api(beta.appKey, `/v1/passtypes/${beta.passTypeIdentifier}`, {
      method: 'PUT',
      json: {
        certificate: row.certificatePem,
        privateKey: s.app.secrets.decrypt(row.privateKeyEnc),
        wwdrCertificate: row.wwdrPem,
      },
    });
    const putBody = await put.json();
    expect(putBody, JSON.stringify(putBody)).toMatchObject({ healthy: true });
    await update;
    expect(recordsFor(d.pushToken).map((r) => r.status)).toEqual([200]);
  });

  it('authenticates with an APNs token key (ES256 JWT) when the account configures one', async () => {
    const gamma = await s.account(`gamma-${TEST_DB}`);
    const set = await s.api(gamma.appKey, '/v1/apns-key', {
      method: 'PUT',
      json: {
        keyId: 'KEYID12345',
        teamId: 'TEAMGAMMA1',
        p8: tokenKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    });
    expect(set.status).toBe(200);
    const pass = await createMemberPass(s, gamma, memberValues());
    const d = await phone();
    await d.addPass(pass.url);
    const update = nextUpdate(d, pass.serialNumber);
    await s.api(gamma.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 77 } });
    await update;
    const [record] = recordsFor(d.pushToken);
    expect(record).toMatchObject({
      status: 200,
      topic: gamma.passTypeIdentifier,
      auth: { kind: 'token', keyId: 'KEYID12345', teamId: 'TEAMGAMMA1' },
    });
  });
});
