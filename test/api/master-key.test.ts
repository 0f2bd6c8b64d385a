// passslot rotate-master-key against a running service with the data directory's key file: every secret is sealed
// again under a new key while the service keeps opening them (it reads the key files again) and sealing new ones;
// --retire-previous forgets the old key, and a fresh start opens everything with the new one alone.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { keyId } from '../../src/store/secrets.js';
import { createMemberPass, startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;
const exec = promisify(execFile);
let s: TestServer;

const keyOf = (dataDir: string) =>
  Buffer.from(readFileSync(join(dataDir, 'master.key'), 'utf8').trim(), 'base64');

/** Every sealed value of the database, by column. */
async function sealed(app: TestServer['app']): Promise<string[]> {
  const { db } = app;
  return [
    ...(await db.selectFrom('passTypes').select('privateKeyEnc as v').execute()),
    ...(await db
      .selectFrom('accounts')
      .select('apnsKeyEnc as v')
      .where('apnsKeyEnc', 'is not', null)
      .execute()),
    ...(await db.selectFrom('webhooks').select('secretEnc as v').execute()),
    ...(await db.selectFrom('integrations').select('credentialsEnc as v').execute()),
  ].map((r) => r.v!);
}

describe(`master key rotation on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('seals every secret under a new key while the service runs, then forgets the old key', async () => {
    const k = s.alpha.appKey;
    const ok = async (res: Response, status: number) => {
      expect(res.status, await res.clone().text()).toBe(status);
      return res.json();
    };
    await ok(
      await s.api(k, '/v1/webhooks', {
        method: 'POST',
        json: { url: 'https://hooks.example/rotate', events: ['*'], enabled: false },
      }),
      201,
    );
    await ok(
      await s.api(k, '/v1/integrations', {
        method: 'POST',
        json: { type: 'hubspot', credentials: { accessToken: 'pat-rotate' }, events: ['pass.created'] },
      }),
      201,
    );
    const p8 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await ok(
      await s.api(k, '/v1/apns-key', {
        method: 'PUT',
        json: { keyId: 'ROTATE1234', teamId: 'TEAMROTATE', p8 },
      }),
      200,
    );
    const oldKey = keyOf(s.dataDir);
    const before = await sealed(s.app);
    const plain = before.map((v) => s.app.secrets.decrypt(v));
    expect(before.every((v) => v.startsWith(`v2.${keyId(oldKey)}.`))).toBe(true);

    const db = TEST_DB === 'postgres' ? { DATABASE_URL: s.app.config.databaseUrl! } : {};
    const env = { ...process.env, PASSSLOT_DATA_DIR: s.dataDir, ...db };
    const rotated = await exec('node', [BIN, 'rotate-master-key'], { env });
    const newKey = keyOf(s.dataDir);
    expect(newKey.equals(oldKey)).toBe(false);
    expect(rotated.stdout).toContain(`new master key ${keyId(newKey)}`);
    expect(rotated.stdout).toMatch(new RegExp(`sealed ${before.length} secrets again`));
    const after = await sealed(s.app);
    expect(after.every((v) => v.startsWith(`v2.${keyId(newKey)}.`))).toBe(true);
    // the running service opens them (it reads the key files again) and seals new secrets under the new key
    expect(after.map((v) => s.app.secrets.decrypt(v))).toEqual(plain);
    await ok(
      await s.api(k, '/v1/webhooks', {
        method: 'POST',
        json: { url: 'https://hooks.example/after', events: ['*'], enabled: false },
      }),
      201,
    );
    const newest = await s.app.db
      .selectFrom('webhooks')
      .select('secretEnc')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(newest.secretEnc.startsWith(`v2.${keyId(newKey)}.`)).toBe(true);
    expect((await createMemberPass(s, s.alpha)).serialNumber).toBeTruthy();

    const retired = await exec('node', [BIN, 'rotate-master-key', '--retire-previous'], { env });
    expect(retired.stdout).toContain('previous master keys are forgotten');
    expect(readFileSync(join(s.dataDir, 'master.key.previous'), 'utf8')).toBe('');
    // a fresh start has the new key alone, and opens everything
    const fresh = await createApp(
      loadConfig({
        PASSSLOT_DATA_DIR: s.dataDir,
        PASSSLOT_LOG_LEVEL: 'silent',
        ...db,
      }),
    );
    try {
      const all = await sealed(fresh as TestServer['app']);
      expect(all.length).toBe(before.length + 1);
      expect(all.map((v) => fresh.secrets.decrypt(v))).toEqual(expect.arrayContaining(plain));
    } finally {
      await fresh.close();
    }
  }, 60_000);
});
