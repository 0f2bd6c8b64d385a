// Three `passslot serve` processes on one PostgreSQL behind a round-robin load balancer (no sticky sessions), driven
// as a business would: passes created and updated, phones holding them (Wallet's web service), a webhook endpoint. One
// process is killed with SIGKILL in the middle of a fan-out and started again. Then: every phone has every change, every
// event reached the endpoint, nothing was sent twice except what the dead process held when it died (the documented
// at-least-once retry), a change answered by one process is what the next process answers, and a revoked key is refused
// by every process at once.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApnsStandin, ensureServerCertificate, startApnsStandin } from '../../src/dev/apns-standin.js';
import { SimulatedDevice } from '../../src/dev/device.js';
import { tmpDir, until } from '../helpers.js';
import { freePort, freshPostgres, memberValues, request, TEST_DB } from './harness.js';
import { type Receiver, startReceiver } from './receiver.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'passslot.js');
const PASSES = 40;
const PHONES = 3;

/** The value of the pass field `key` in a pass.json. */
function fieldValue(json: unknown, key: string): unknown {
  if (Array.isArray(json)) {
    for (const item of json) {
      const v = fieldValue(item, key);
      if (v !== undefined) return v;
    }
  } else if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (o.key === key && 'value' in o) return o.value;
    for (const v of Object.values(o)) {
      const found = fieldValue(v, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

interface Node {
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

/**
 * A round-robin HTTP load balancer: each request to the next process; a process that refuses or drops the connection
 * is skipped and the request sent to the next one (so a request the dead process had already applied may be applied
 * again: `retried` counts those).
 */
async function startBalancer(
  ports: () => number[],
): Promise<{ url: string; server: Server; retried: () => number }> {
  let next = 0;
  let retried = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const tries = ports();
      const attempt = (left: number) => {
        const port = tries[next++ % tries.length]!;
        const out = httpRequest(
          { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', () => {
          if (left <= 1) return void res.writeHead(502).end();
          retried++;
          attempt(left - 1);
        });
        out.end(body);
      };
      attempt(tries.length * 2);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    retried: () => retried,
  };
}

describe.skipIf(TEST_DB !== 'postgres')('three processes on one PostgreSQL, one killed mid-fan-out', () => {
  let db: Awaited<ReturnType<typeof freshPostgres>>;
  let apns: ApnsStandin;
  let receiver: Receiver;
  let balancer: Awaited<ReturnType<typeof startBalancer>>;
  const nodes: (Node | undefined)[] = [];
  const phones: SimulatedDevice[] = [];
  let env: Record<string, string>;
  let setup: { appKey: string; templateId: number; devCaPath: string };

  async function startNode(i: number, port?: number, extra: Record<string, string> = {}): Promise<Node> {
    const p = port ?? (await freePort());
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, ...env, ...extra, PORT: String(p) },
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await until(`process ${i} listening`, () => {
      if (child.exitCode !== null) throw new Error(`process ${i} exited: ${out}`);
      return out.includes('Passslot listening');
    });
    const node = { port: p, child, exited };
    if (i >= 0) nodes[i] = node;
    return node;
  }

  const api = (path: string, init: RequestInit & { json?: unknown } = {}, key = setup.appKey) =>
    request(`${balancer.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });

  beforeAll(async () => {
    db = await freshPostgres();
    const dataDir = tmpDir('passslot-cluster-');
    const certsDir = tmpDir('passslot-cluster-apns-');
    ensureServerCertificate(certsDir);
    receiver = await startReceiver();
    // the endpoint is slow, so that deliveries are in flight when a process dies
    receiver.answer(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return { status: 200, body: 'ok' };
    });
    balancer = await startBalancer(() => nodes.filter((n): n is Node => !!n).map((n) => n.port));
    env = {
      DATABASE_URL: db.url,
      PASSSLOT_DATA_DIR: dataDir,
      PASSSLOT_PUBLIC_URL: balancer.url,
      PASSSLOT_LOG_LEVEL: 'warn',
      PASSSLOT_PUSH_DEBOUNCE_MS: '50',
      PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true',
      PASSSLOT_JOB_LEASE_SECONDS: '5',
      PASSSLOT_RENDER_THREADS: '0',
      PASSSLOT_DRAIN_SECONDS: '2',
    };
    const init = spawnSync(process.execPath, [BIN, 'init', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    expect(init.status, init.stderr).toBe(0);
    setup = JSON.parse(init.stdout);
    apns = await startApnsStandin({
      certsDir,
      clientCas: [readFileSync(setup.devCaPath, 'utf8')],
    });
    env.PASSSLOT_APNS_URL = apns.url;
    env.PASSSLOT_APNS_CA = apns.serverCertificatePath;
    await Promise.all([0, 1, 2].map((i) => startNode(i)));
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) n?.child.kill('SIGKILL');
    for (const p of phones) await p.close();
    await apns?.close();
    await receiver?.close();
    await new Promise((r) => balancer?.server.close(r));
    await db?.drop();
  });

  it('loses nothing and repeats only what the dead process held; every process answers every change at once', async () => {
    const hook = await api('/v1/webhooks', { method: 'POST', json: { url: receiver.url, events: ['*'] } });
    expect(hook.status).toBe(201);

    // passes created round-robin, each added by every phone (Wallet's registrations, round-robin too)
    const passes: { path: string; url: string }[] = [];
    for (let i = 0; i < PASSES; i++) {
      const res = await api(`/v1/templates/${setup.templateId}/pass`, {
        method: 'POST',
        json: { ...memberValues(), memberId: `C-${i}`, points: 0 },
      });
      expect(res.status).toBe(201);
      const p = await res.json();
      passes.push({ path: `/v1/passes/${p.passTypeIdentifier}/${p.serialNumber}`, url: p.url });
    }
    for (let i = 0; i < PHONES; i++) {
      const phone = new SimulatedDevice({ apnsUrl: apns.url, apnsCa: apns.serverCertificatePem });
      phones.push(phone);
      await phone.listen();
      for (const p of passes) expect(await phone.addPass(p.url)).toBe(201);
    }

    // a change answered by one process is what the next one (the balancer's next) answers
    for (const p of passes.slice(0, 6)) {
      const put = await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 1 } });
      expect(put.status).toBe(200);
      for (let n = 0; n < 3; n++) expect((await (await api(`${p.path}/values`)).json()).points).toBe(1);
    }

    // the fan-out: every pass changes (pushes to three phones each, webhooks), and process 1 dies in the middle
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const victim = nodes[1]!;
      const pid = victim.child.pid!;
      const updates = passes.map((p) =>
        api(`${p.path}/values/points`, { method: 'PUT', json: { value: 2 } }),
      );
      const heldBy = async () => {
        const { rows } = await admin.query<{ jobs: string; deliveries: string }>(
          `select (select count(*) from jobs where status = 'running' and locked_by like $1) as jobs,
                  (select count(*) from deliveries where status = 'running' and locked_by like $1) as deliveries`,
          [`${pid}-%`],
        );
        return { jobs: Number(rows[0]!.jobs), deliveries: Number(rows[0]!.deliveries) };
      };
      // frozen (SIGSTOP) while it holds deliveries, so what it holds cannot finish between the look and the kill
      await until('process 1 frozen holding deliveries', async () => {
        if ((await heldBy()).deliveries === 0) return false;
        victim.child.kill('SIGSTOP');
        if ((await heldBy()).deliveries > 0) return true;
        victim.child.kill('SIGCONT');
        return false;
      });
      victim.child.kill('SIGKILL');
      await victim.exited;
      nodes[1] = undefined;
      // what it held when it died: its leases run out and another process does that work again
      const held = await heldBy();
      expect(held.jobs + held.deliveries).toBeGreaterThan(0);
      const answers = await Promise.all(updates);
      // requests the dead process was answering are lost to their clients (the balancer says 502): send them again
      let resent = 0;
      for (const [i, res] of answers.entries())
        if (res.status !== 200) {
          resent++;
          const again = await api(`${passes[i]!.path}/values/points`, { method: 'PUT', json: { value: 2 } });
          expect(again.status).toBe(200);
        }
      await startNode(1, victim.port);

      // every phone gets every change
      await until(
        'every phone holding every pass at 2 points',
        () =>
          phones.every((phone) =>
            phone.heldPasses.every((h) => String(fieldValue(h.passJson, 'points')) === '2'),
          ),
        60_000,
      );

      // every event reaches the endpoint; a repeat (same webhook-id) only for deliveries the dead process held
      const { rows: events } = await admin.query<{ id: string }>(
        "select e.id from events e join deliveries d on d.event_id = e.id where d.target_kind = 'webhook'",
      );
      await until(
        'every delivery made',
        async () => {
          const { rows } = await admin.query<{ n: string }>(
            "select count(*) as n from deliveries where status <> 'delivered'",
          );
          return Number(rows[0]!.n) === 0;
        },
        60_000,
      );
      const ids = receiver.delivered().map((r) => String(r.headers['webhook-id']));
      expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
      expect(ids.length - new Set(ids).size).toBeLessThanOrEqual(held.deliveries);

      // pushes: one per change per phone (changes of one pass close together may share one), more only from the
      // push jobs the dead process held and the changes applied twice (the balancer sent again a request whose
      // connection the dead process dropped, which it may have applied)
      const changes = 6 + PASSES + resent + balancer.retried();
      for (const phone of phones) {
        const pushes = apns.received.filter((r) => r.token === phone.pushToken && r.status === 200).length;
        expect(pushes).toBeGreaterThanOrEqual(PASSES);
        expect(pushes).toBeLessThanOrEqual(changes + held.jobs);
      }
    } finally {
      await admin.end();
    }

    // a key revoked through one process is refused by all three in the next requests
    const made = await api('/v1/keys', { method: 'POST', json: { name: 'cluster', scopes: ['*'] } });
    const { id, key } = await made.json();
    for (let n = 0; n < 3; n++) expect((await api('/v1/templates', {}, key)).status).toBe(200);
    expect((await api(`/v1/keys/${id}`, { method: 'DELETE' })).status).toBe(200);
    for (let n = 0; n < 3; n++) expect((await api('/v1/templates', {}, key)).status).toBe(401);

    // every process knows the others; /readyz fails while a process drains (SIGTERM), /healthz does not
    const base = `http://127.0.0.1:${nodes[2]!.port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({
      status: 'ok',
      role: 'all',
      nodes: 3,
    });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    nodes[2]!.child.kill('SIGTERM');
    await until('process 2 draining', async () => (await fetch(`${base}/readyz`)).status === 503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await api('/v1/templates')).status).toBe(200); // still answering meanwhile
    await nodes[2]!.exited;
    expect(nodes[2]!.child.exitCode).toBe(0);
    nodes[2] = undefined;
  }, 180_000);

  it('runs API processes and worker processes apart (PASSSLOT_ROLE)', async () => {
    for (const [i, n] of nodes.entries()) {
      if (!n) continue;
      n.child.kill('SIGTERM');
      await n.exited;
      nodes[i] = undefined;
    }
    const apiNode = await startNode(0, undefined, { PASSSLOT_ROLE: 'api' });
    const worker = await startNode(-1, undefined, { PASSSLOT_ROLE: 'worker' });
    try {
      const at = (n: Node, path: string) => request(`http://127.0.0.1:${n.port}${path}`);
      expect(await (await at(apiNode, '/healthz')).json()).toMatchObject({ role: 'api', nodes: 2 });
      expect(await (await at(worker, '/healthz')).json()).toMatchObject({ role: 'worker', nodes: 2 });
      expect((await at(worker, '/readyz')).status).toBe(200);
      // a worker serves no API
      expect((await at(worker, '/v1/templates')).status).toBe(404);
      // a change through the API process is pushed to the phones and delivered by the worker process
      const before = receiver.delivered().length;
      const phone = phones[0]!;
      const held = phone.heldPasses[0]!;
      const path = `/v1/passes/${held.passTypeIdentifier}/${held.serialNumber}`;
      expect((await api(`${path}/values/points`, { method: 'PUT', json: { value: 3 } })).status).toBe(200);
      await until('the phone holding the change', () =>
        phones.every(
          (p) =>
            String(fieldValue(p.pass(held.passTypeIdentifier, held.serialNumber)?.passJson, 'points')) ===
            '3',
        ),
      );
      await until('the change delivered', () => receiver.delivered().length > before);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  }, 120_000);
});
