// Webhook deliveries survive a crash: `passslot serve` is killed (SIGKILL) while the receiver holds its requests in
// flight; the restarted process, on the same data directory or database, takes the deliveries over once their lease
// runs out. Every event arrives, under one id with one body, and each pass's events arrive in order.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers.js';
import { apiAt, freePort, freshPostgres, memberValues, TEST_DB } from './harness.js';
import { type Answer, type Received, type Receiver, startReceiver } from './receiver.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'passslot.js');
const PASSES = 5;
/** Each pass goes through these after it is created: five status changes, all different, so 30 events in all. */
const STATUSES = ['redeemed', 'invalid', 'locked', 'unpaid', 'valid'];

interface Server {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

const children: ChildProcess[] = [];

async function serve(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const deadline = Date.now() + 20_000;
  while (!out.includes('Passslot listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}

type Envelope = Received['json'];

describe(`passslot serve killed mid-delivery (${TEST_DB})`, () => {
  let env: Record<string, string>;
  let base: string;
  let appKey: string;
  let templateId: number;
  let dropDb: (() => Promise<void>) | undefined;
  let rx: Receiver;
  let server: Server;
  /** Requests the receiver holds unanswered, and how to answer them at last. */
  const held: { body: string; at: number; answer: (a: Answer) => void }[] = [];
  let holding = false;

  const api = (path: string, init: RequestInit & { json?: unknown } = {}) => apiAt(base)(appKey, path, init);

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      PASSSLOT_DATA_DIR: tmpDir('passslot-crash-'),
      PASSSLOT_PUBLIC_URL: base,
      PASSSLOT_LOG_LEVEL: 'warn',
      PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    if (TEST_DB === 'postgres') {
      const db = await freshPostgres();
      dropDb = db.drop;
      env.DATABASE_URL = db.url;
    }
    const init = spawnSync(process.execPath, [BIN, 'init', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
    ({ appKey, templateId } = JSON.parse(init.stdout) as { appKey: string; templateId: number });
    rx = await startReceiver();
    rx.answer((r) => {
      if (!holding) return { status: 200, body: 'ok' };
      return new Promise<Answer>((answer) => held.push({ body: r.body, at: r.at, answer }));
    });
    server = await serve(env);
  });

  afterAll(async () => {
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await gone;
      }
    for (const h of held.splice(0)) h.answer({ status: 503 });
    await rx?.close();
    await dropDb?.();
  });

  it('delivers every event after a restart: none lost, one id and one body each, in order per pass', async () => {
    const hook = await api('/v1/webhooks', { method: 'POST', json: { url: rx.url, events: ['*'] } });
    expect(hook.status, await hook.clone().text()).toBe(201);

    // the receiver answers nothing from now on; the events are written meanwhile
    holding = true;
    await Promise.all(
      Array.from({ length: PASSES }, async (_, i) => {
        const created = await api(`/v1/templates/${templateId}/pass`, {
          method: 'POST',
          json: memberValues({ memberId: `CRASH-${i}`, points: i }),
        });
        expect(created.status, await created.clone().text()).toBe(201);
        const { passTypeIdentifier, serialNumber } = await created.json();
        for (const status of STATUSES) {
          const res = await api(`/v1/passes/${passTypeIdentifier}/${serialNumber}/status`, {
            method: 'PUT',
            json: { status },
          });
          expect(res.status, await res.clone().text()).toBe(200);
        }
      }),
    );
    // in flight: held for less than the sender's 10 s timeout. (Up to 10 s may pass before more than the first one
    // arrives: the delivery loop waits on what it has in flight before it claims what was queued since.)
    const inFlight = () => held.filter((h) => performance.now() - h.at < 8_000).length;
    const heldBy = Date.now() + 4_000;
    while (inFlight() < 3) {
      if (Date.now() > heldBy) throw new Error(`only ${inFlight()} requests in flight at the receiver`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const inFlightAtKill = inFlight();
    server.child.kill('SIGKILL');
    await server.exited;
    expect(server.child.signalCode).toBe('SIGKILL');
    expect(rx.delivered()).toHaveLength(0);

    // answered now, but to a process that is gone: not a delivery
    holding = false;
    const heldBodies = held.map((h) => h.body);
    for (const h of held.splice(0)) h.answer({ status: 503 });
    server = await serve(env);

    const list = await api('/v1/events?limit=1000');
    expect(list.status).toBe(200);
    expect(list.headers.get('link'), 'a second page of events').toBeNull();
    const events = (await list.json()) as Envelope[];
    expect(events).toHaveLength(PASSES * (1 + STATUSES.length));
    const byId = new Map(events.map((e) => [e.id, e]));
    expect(byId.size).toBe(events.length);

    const deadline = Date.now() + 60_000;
    const missing = () => {
      const got = new Set(rx.delivered().map((r) => r.json.id));
      return events.filter((e) => !got.has(e.id));
    };
    while (missing().length > 0) {
      if (Date.now() > deadline)
        throw new Error(
          `${missing().length} of ${events.length} events never delivered: ${missing()
            .map((e) => `${e.type} ${e.data.serialNumber}`)
            .join(', ')}\n${server.output()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    // a moment for any late duplicate to show up in the checks below
    await new Promise((r) => setTimeout(r, 500));

    // none lost, nothing unknown delivered
    const delivered = rx.delivered();
    expect(new Set(delivered.map((r) => r.json.id))).toEqual(new Set(byId.keys()));
    for (const r of rx.received) expect(byId.has(r.json.id), `unknown event ${r.body}`).toBe(true);

    // one body per id, across every attempt (held ones included), and it is the event the API lists
    const bodies = new Map<string, Set<string>>();
    for (const body of [...heldBodies, ...rx.received.map((r) => r.body)]) {
      const id = (JSON.parse(body) as Envelope).id;
      bodies.set(id, (bodies.get(id) ?? new Set()).add(body));
    }
    for (const [id, set] of bodies) {
      expect(set.size, `event ${id} sent with ${set.size} different bodies`).toBe(1);
      expect(JSON.parse([...set][0]!)).toEqual(byId.get(id));
    }
    // the held ones were sent again by the restarted process
    const resent = new Set(delivered.map((r) => r.body));
    for (const body of heldBodies) expect(resent.has(body), `held ${body} not delivered again`).toBe(true);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(3);

    // no event content under two ids
    const idsOf = new Map<string, Set<string>>();
    for (const r of rx.received) {
      const { id: _id, ...content } = r.json;
      const key = JSON.stringify(content);
      idsOf.set(key, (idsOf.get(key) ?? new Set()).add(r.json.id));
    }
    for (const [key, ids] of idsOf) expect(ids.size, `${key} delivered under ${[...ids].join(', ')}`).toBe(1);

    // per pass, first successful arrivals follow the order of GET /v1/events
    const serials = [...new Set(events.map((e) => e.data.serialNumber as string))];
    expect(serials).toHaveLength(PASSES);
    const firstArrivals: string[] = [];
    for (const r of [...delivered].sort((a, b) => a.at - b.at))
      if (!firstArrivals.includes(r.json.id)) firstArrivals.push(r.json.id);
    for (const serial of serials) {
      const expected = events.filter((e) => e.data.serialNumber === serial).map((e) => e.type);
      expect(expected).toEqual(['pass.created', ...STATUSES.map(() => 'pass.status_changed')]);
      const want = events.filter((e) => e.data.serialNumber === serial).map((e) => e.id);
      const got = firstArrivals.filter((id) => byId.get(id)!.data.serialNumber === serial);
      expect(got, `order of pass ${serial}`).toEqual(want);
    }
  }, 90_000);
});
