// The service as a newcomer runs it: `passslot serve` (what npm start runs) spawned on a fresh data directory, the
// printed curl run as printed, the pass it makes verified; init, accounts and keys commands; graceful SIGTERM.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureServerCertificate, startApnsStandin } from '../src/dev/apns-standin.js';
import { type PassUpdate, SimulatedDevice } from '../src/dev/device.js';
import { freePort } from './api/harness.js';
import { tmpDir, verifyPkpass } from './helpers.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'passslot.js');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function cli(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function serve(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, PASSSLOT_LOG_LEVEL: 'warn', ...env },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!out.includes('Passslot listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}

describe('passslot serve', () => {
  it('on first start prints a key and a curl that makes a pass which verifies; later starts print none; SIGTERM exits cleanly', async () => {
    const port = await freePort();
    const env = { PASSSLOT_DATA_DIR: tmpDir('passslot-serve-'), PORT: String(port) };
    const first = await serve(env);
    const text = first.output();
    expect(text).toMatch(/Your app key, shown only this once:\s+psk_/);
    const curl = /(curl -s -u [\s\S]+?\/pass)\n/.exec(text)![1]!;
    const created = JSON.parse(execFileSync('sh', ['-c', curl], { encoding: 'utf8' }));
    expect(created).toMatchObject({
      serialNumber: expect.any(String),
      passTypeIdentifier: expect.stringMatching(/^pass\.dev\.passslot\.demo/),
    });
    const caPath = /verify against (\S+)/.exec(text)![1]!;
    const pkpass = await fetch(created.url.replace('localhost', '127.0.0.1'), {
      headers: { 'user-agent': 'iPhone Wallet' },
    });
    expect(pkpass.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    verifyPkpass(Buffer.from(await pkpass.arrayBuffer()), caPath);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await serve(env);
    expect(second.output()).not.toContain('psk_');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 60_000);
});

describe('passslot init, accounts and keys', () => {
  it('init --json sets up once; accounts create and keys create make working, scoped keys', async () => {
    const env = { PASSSLOT_DATA_DIR: tmpDir('passslot-init-'), PASSSLOT_LOG_LEVEL: 'silent' };
    const init = cli(env, 'init', '--json');
    expect(init.code, init.stderr).toBe(0);
    const setup = JSON.parse(init.stdout);
    expect(setup).toEqual({
      appKey: expect.stringMatching(/^psk_/),
      accountId: 1,
      passTypeIdentifier: expect.stringMatching(/^pass\./),
      templateId: 1,
      devCaPath: expect.any(String),
    });
    const again = cli(env, 'init', '--json');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already set up');
    const beta = cli(env, 'accounts', 'create', 'beta', '--rate-limit', '3', '--json');
    expect(beta.code, beta.stderr).toBe(0);
    expect(JSON.parse(beta.stdout)).toMatchObject({ accountId: 2, templateId: 2 });
    const readOnly = cli(env, 'keys', 'create', '--account', 'beta', '--scope', 'passes:read', '--json');
    expect(readOnly.code, readOnly.stderr).toBe(0);
    const key = JSON.parse(readOnly.stdout);
    expect(key.scopes).toEqual(['passes:read']);
    expect(cli(env, 'keys', 'create', '--account', 'beta', '--scope', 'bogus').code).toBe(2);
    expect(cli(env, 'keys', 'create', '--account', 'nobody').code).toBe(1);

    const port = await freePort();
    const server = await serve({ ...env, PORT: String(port) });
    const auth = { authorization: `Bearer ${key.appKey}` };
    expect((await fetch(`http://127.0.0.1:${port}/v1/passes`, { headers: auth })).status).toBe(200);
    const write = await fetch(`http://127.0.0.1:${port}/v1/templates/2/pass`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { message: string }).message).toContain('passes:write');
    // the account's own tier: 3 requests a minute
    const third = await fetch(`http://127.0.0.1:${port}/v1/passes`, { headers: auth });
    expect(third.headers.get('ratelimit-limit')).toBe('3');
    const fourth = await fetch(`http://127.0.0.1:${port}/v1/passes`, { headers: auth });
    expect(fourth.status).toBe(429);
    expect(fourth.headers.get('retry-after')).toBeTruthy();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(cli(env, 'keys', 'revoke', '--account', 'beta', String(key.id)).code).toBe(0);
    const list = JSON.parse(cli(env, 'keys', 'list', '--account', 'beta').stdout);
    expect(list.find((k: { id: number }) => k.id === key.id).revokedAt).not.toBeNull();
    expect(cli(env, 'migrate').stdout).toContain('up to date');
    expect(cli(env, 'accounts', 'rate-limit', 'beta', '0').stdout).toContain('600 requests a minute');
    expect(cli(env, 'accounts', 'rate-limit', 'nobody', '5').code).toBe(1);
    // the commands ran actions: each change is in beta's audit log, from the CLI edge, by no app key
    const db = new Database(join(env.PASSSLOT_DATA_DIR, 'passslot.db'), { readonly: true });
    const audit = db
      .prepare(
        'SELECT action, edge, key_id AS keyId, outcome FROM audit_log WHERE account_id = 2 AND key_id IS NULL ORDER BY id',
      )
      .all();
    db.close();
    expect(audit).toEqual([
      { action: 'create_account', edge: 'cli', keyId: null, outcome: 200 },
      { action: 'create_app_key', edge: 'cli', keyId: null, outcome: 200 },
      { action: 'create_app_key', edge: 'cli', keyId: null, outcome: 422 },
      { action: 'revoke_app_key', edge: 'cli', keyId: null, outcome: 200 },
      { action: 'set_account_rate_limit', edge: 'cli', keyId: null, outcome: 200 },
    ]);
  }, 120_000);
});

describe('passslot serve with render threads', () => {
  it('builds passes on worker threads: valid signatures, field errors, notifications, template refreshes', async () => {
    const env = {
      PASSSLOT_DATA_DIR: tmpDir('passslot-threads-'),
      PASSSLOT_LOG_LEVEL: 'silent',
      PASSSLOT_RENDER_THREADS: '2',
    };
    const setup = JSON.parse(cli(env, 'init', '--json').stdout);
    const port = await freePort();
    const server = await serve({ ...env, PORT: String(port) });
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({
      status: 'ok',
      role: 'all',
      renderThreads: 2,
      pushThread: true,
    });
    const auth = { authorization: `Bearer ${setup.appKey}`, 'content-type': 'application/json' };
    const values = {
      firstName: 'Ada',
      lastName: 'Lovelace',
      memberSince: '2024',
      points: 1,
      memberId: 'T-1',
    };
    const created = (await (
      await fetch(`${base}/v1/templates/${setup.templateId}/pass`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(values),
      })
    ).json()) as {
      passTypeIdentifier: string;
      serialNumber: string;
    };
    const path = `${base}/v1/passes/${created.passTypeIdentifier}/${created.serialNumber}`;
    const many = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        fetch(`${base}/v1/templates/${setup.templateId}/pass`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ ...values, memberId: `T-${i + 2}` }),
        }),
      ),
    );
    expect(many.map((r) => r.status)).toEqual(Array(6).fill(201));
    verifyPkpass(Buffer.from(await (await fetch(path, { headers: auth })).arrayBuffer()), setup.devCaPath);
    const missing = await fetch(`${base}/v1/templates/${setup.templateId}/pass`, {
      method: 'POST',
      headers: auth,
      body: '{"firstName":"x"}',
    });
    expect(missing.status).toBe(422);
    expect(((await missing.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(
      'values.memberId',
    );
    await fetch(`${path}/notify`, { method: 'POST', headers: auth, body: '{"message":"from a thread"}' });
    const passJson = (await (await fetch(`${path}/passjson`, { headers: auth })).json()) as {
      storeCard: { backFields: { value: string }[] };
    };
    expect(passJson.storeCard.backFields.map((f) => f.value)).toContain('from a thread');
    // a template change re-renders every pass in the background, a few at a time on the threads
    const template = (await (
      await fetch(`${base}/v1/templates/${setup.templateId}`, { headers: auth })
    ).json()) as { description: Record<string, unknown> };
    await fetch(`${base}/v1/templates/${setup.templateId}`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ description: { ...template.description, backgroundColor: 'rgb(1, 2, 3)' } }),
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const json = (await (await fetch(`${path}/passjson`, { headers: auth })).json()) as {
        backgroundColor: string;
      };
      if (json.backgroundColor === 'rgb(1, 2, 3)') break;
      if (Date.now() > deadline) throw new Error('the template change never reached the pass');
      await new Promise((r) => setTimeout(r, 100));
    }
    verifyPkpass(Buffer.from(await (await fetch(path, { headers: auth })).arrayBuffer()), setup.devCaPath);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 90_000);

  it('sends pushes from the push thread: the pass certificate and topic, the new version fetched, dead tokens dropped, token auth', async () => {
    const env = { PASSSLOT_DATA_DIR: tmpDir('passslot-push-thread-'), PASSSLOT_LOG_LEVEL: 'silent' };
    const setup = JSON.parse(cli(env, 'init', '--json').stdout);
    const certsDir = tmpDir('passslot-push-thread-apns-');
    ensureServerCertificate(certsDir);
    const tokenKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const apns = await startApnsStandin({
      certsDir,
      clientCas: [readFileSync(setup.devCaPath, 'utf8')],
      tokenKeys: { THREADKEY1: tokenKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
    const phones: SimulatedDevice[] = [];
    try {
      const port = await freePort();
      const server = await serve({
        ...env,
        PORT: String(port),
        PASSSLOT_PUBLIC_URL: `http://127.0.0.1:${port}`,
        PASSSLOT_APNS_URL: apns.url,
        PASSSLOT_APNS_CA: apns.serverCertificatePath,
        PASSSLOT_PUSH_DEBOUNCE_MS: '50',
      });
      const base = `http://127.0.0.1:${port}`;
      expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ pushThread: true });
      const auth = { authorization: `Bearer ${setup.appKey}`, 'content-type': 'application/json' };
      const created = (await (
        await fetch(`${base}/v1/templates/${setup.templateId}/pass`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({
            firstName: 'Ada',
            lastName: 'L',
            memberSince: '2024',
            points: 1,
            memberId: 'P-1',
          }),
        })
      ).json()) as { passTypeIdentifier: string; serialNumber: string; url: string };
      const path = `${base}/v1/passes/${created.passTypeIdentifier}/${created.serialNumber}`;
      for (let i = 0; i < 3; i++) {
        const d = new SimulatedDevice({ apnsUrl: apns.url, apnsCa: apns.serverCertificatePem });
        phones.push(d);
        await d.listen();
        expect(await d.addPass(created.url)).toBe(201);
      }
      const [alive, other, dead] = phones as [SimulatedDevice, SimulatedDevice, SimulatedDevice];
      apns.setToken(dead.pushToken, { status: 410, reason: 'Unregistered' });
      const updated = (d: SimulatedDevice) =>
        new Promise<PassUpdate>((resolve) => {
          const off = d.on('update', (u) => {
            if (u.status === 200) {
              off();
              resolve(u);
            }
          });
        });
      const both = Promise.all([updated(alive), updated(other)]);
      await fetch(`${path}/values`, { method: 'PUT', headers: auth, body: '{"points": 2024}' });
      for (const u of await both) expect(u.changes).toContainEqual(expect.objectContaining({ to: 2024 }));
      for (const d of phones)
        expect(apns.received.find((r) => r.token === d.pushToken)).toMatchObject({
          path: `/3/device/${d.pushToken}`,
          topic: created.passTypeIdentifier,
          body: '{}',
          auth: { kind: 'certificate', authorized: true, uid: created.passTypeIdentifier },
        });
      // the 410 removed the dead device's registration; the push log has all three answers
      const deadline = Date.now() + 15_000;
      for (;;) {
        const details = (await (await fetch(`${path}/details`, { headers: auth })).json()) as {
          devices: { deviceLibraryIdentifier: string }[];
          pushes: { deviceLibraryIdentifier: string; status: number }[];
        };
        if (details.devices.length === 2) {
          expect(details.devices.map((d) => d.deviceLibraryIdentifier).sort()).toEqual(
            [alive.deviceLibraryIdentifier, other.deviceLibraryIdentifier].sort(),
          );
          expect(details.pushes.map((p) => p.status).sort()).toEqual([200, 200, 410]);
          break;
        }
        if (Date.now() > deadline) throw new Error('the dead token was never unregistered');
        await new Promise((r) => setTimeout(r, 100));
      }
      // with an APNs auth key the thread signs its provider token (the key crosses to the thread as a KeyObject)
      const setKey = await fetch(`${base}/v1/apns-key`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({
          keyId: 'THREADKEY1',
          teamId: 'TEAMTHREAD',
          p8: tokenKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        }),
      });
      expect(setKey.status).toBe(200);
      const again = updated(alive);
      await fetch(`${path}/values`, { method: 'PUT', headers: auth, body: '{"points": 2025}' });
      expect((await again).changes).toContainEqual(expect.objectContaining({ to: 2025 }));
      expect(apns.received.filter((r) => r.token === alive.pushToken).at(-1)).toMatchObject({
        status: 200,
        topic: created.passTypeIdentifier,
        auth: { kind: 'token', keyId: 'THREADKEY1', teamId: 'TEAMTHREAD' },
      });
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      for (const d of phones) await d.close();
      await apns.close();
    }
  }, 90_000);
});
