// Two processes on one PostgreSQL, each with its caches (hot passes, verified keys): a change answered by one is what
// the other answers right after, a revoked key is refused by both, and a process whose notification channel drops
// stops using its caches and starts again from empty ones.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstStart } from '../../src/actions/accounts.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { passRef } from '../../src/store/cache.js';
import { tmpDir, until } from '../helpers.js';
import {
  createMemberPass,
  freshPostgres,
  memberValues,
  startPeer,
  startServer,
  TEST_DB,
  type TestServer,
} from './harness.js';

describe.skipIf(TEST_DB !== 'postgres')('many processes on one PostgreSQL', () => {
  let a: TestServer;
  let b: TestServer;
  let key: string;
  let passType: string;
  let serial: string;

  beforeAll(async () => {
    a = await startServer();
    b = await startPeer(a);
    key = a.alpha.appKey;
    passType = a.alpha.passTypeIdentifier;
    serial = (await createMemberPass(a, a.alpha, { ...memberValues(), points: 0 })).serialNumber;
    // a process caches only once it has been heard on the bus for a few seconds
    await until('both processes caching', () => a.app.bus.fresh() && b.app.bus.fresh());
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const valuesOn = async (s: TestServer) => {
    const res = await s.api(key, `/v1/passes/${passType}/${serial}/values`);
    expect(res.status).toBe(200);
    return (await res.json()).points as number;
  };

  it('each process sees the other: the bus lists both, and its health says so', async () => {
    expect(a.app.bus.nodes()).toContain(b.app.bus.nodeId);
    expect(b.app.bus.nodes()).toContain(a.app.bus.nodeId);
    const health = await (await fetch(`${b.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', nodes: 2, caching: true });
  });

  it('a pass updated through one process is read new through the other right after the answer, every time', async () => {
    for (let round = 1; round <= 20; round++) {
      expect(await valuesOn(b)).toBe(round - 1);
      // the read was answered from b's cache of hot passes (else this test would prove nothing)
      expect(b.app.hotPasses.get(passRef(passType, serial))).toBeDefined();
      const put = await a.api(key, `/v1/passes/${passType}/${serial}/values/points`, {
        method: 'PUT',
        json: { value: round },
      });
      expect(put.status).toBe(200);
      expect(await valuesOn(b)).toBe(round);
    }
  });

  it('an app key revoked through one process is refused by the other in the very next request', async () => {
    const made = await a.api(key, '/v1/keys', {
      method: 'POST',
      json: { name: 'short-lived', scopes: ['*'] },
    });
    expect(made.status).toBe(201);
    const { id, key: other } = await made.json();
    expect((await b.api(other, '/v1/templates')).status).toBe(200); // verified and cached by b
    expect((await a.api(key, `/v1/keys/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await b.api(other, '/v1/templates')).status).toBe(401);
  });

  it('a process whose channel drops answers from the database, and caches again only from empty', async () => {
    expect(await valuesOn(b)).toBe(20); // cached by b
    const admin = new pg.Client({ connectionString: a.app.config.databaseUrl });
    await admin.connect();
    try {
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
        [`passslot-bus:${b.app.bus.nodeId}`],
      );
    } finally {
      await admin.end();
    }
    await until('b noticing its channel dropped', () => !b.app.bus.fresh());
    expect(b.app.hotPasses.get(passRef(passType, serial))).toBeUndefined();
    // the change's notice cannot reach b: its answer still waits no more than a second
    const started = Date.now();
    const put = await a.api(key, `/v1/passes/${passType}/${serial}/values/points`, {
      method: 'PUT',
      json: { value: 21 },
    });
    expect(put.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await valuesOn(b)).toBe(21);
    await until('b caching again', () => b.app.bus.fresh(), 20_000);
    expect(await valuesOn(b)).toBe(21);
    expect(b.app.hotPasses.get(passRef(passType, serial))).toBeDefined();
    const again = await a.api(key, `/v1/passes/${passType}/${serial}/values/points`, {
      method: 'PUT',
      json: { value: 22 },
    });
    expect(again.status).toBe(200);
    expect(await valuesOn(b)).toBe(22);
  }, 60_000);

  it('makes the demo account once when processes start together on an empty database', async () => {
    const db = await freshPostgres();
    const dataDir = tmpDir('passslot-first-start-');
    const env = { DATABASE_URL: db.url, PASSSLOT_DATA_DIR: dataDir, PASSSLOT_LOG_LEVEL: 'silent' };
    const apps = await Promise.all([createApp(loadConfig(env)), createApp(loadConfig(env))]);
    try {
      const setups = await Promise.all(apps.map((app) => firstStart(app)));
      expect(setups.filter((x) => x !== undefined)).toHaveLength(1);
      const accounts = await apps[0]!.db.selectFrom('accounts').select('name').execute();
      expect(accounts).toEqual([{ name: 'demo' }]);
    } finally {
      for (const app of apps) await app.close();
      await db.drop();
    }
  }, 60_000);
});
