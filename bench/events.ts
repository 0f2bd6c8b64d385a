// The events benchmark: webhook deliveries from the real service (SQLite, a fresh data directory) to receivers in this
// process. (1) Latency, from the response to a status change reaching its client to the webhook's arrival, both on
// this process's clock, for BENCH_EVENTS changes sent open loop at BENCH_RATE a second by BENCH_CLIENTS clients.
// (2) Throughput: the same events replayed (POST /v1/webhooks/:id/replay) to one receiver and to ten, timed from the
// replay requests until every receiver has them all. (3) The baseline: a plain keep-alive HTTP client in a child
// process POSTing the same number of event bodies to the same receivers.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { BIN, freePort, measured, median, runInit, startChild, stopAll } from './common.js';
import type { BareBatch } from './events-bare.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const PASSES = Number(process.env.BENCH_PASSES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RECEIVERS = 10;
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 600);
const CPU_PROF = process.env.BENCH_CPU_PROF;
const ONLY = process.env.BENCH_ONLY; // 'latency': skip the throughput rounds; 'recovery': only part (4)
const OUTAGE_S = Number(process.env.BENCH_OUTAGE_S ?? 5);
const RECOVERY_GOAL_S = 10;
// the dispatcher's limits (src/events/dispatcher.ts): 16 deliveries in flight per target, 64 in all
const BARE_CONCURRENCY_ONE = 16;
const BARE_CONCURRENCY_ALL = 64;
const LATENCY_GOAL_MS = 50;
const THROUGHPUT_GOAL = 2000;

// dist/bench/events.js -> dist/bench/events-bare.js
const BARE = fileURLToPath(new URL('./events-bare.js', import.meta.url));

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`, or the error `message()` after TIMEOUT_S. */
async function withTimeout<T>(promise: Promise<T>, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message()} within ${TIMEOUT_S} s`)), TIMEOUT_S * 1000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Envelope {
  id: string;
  type: string;
  created: string;
  data: Record<string, unknown>;
}

/** A webhook endpoint: answers the handshake with its token, and hands every other event to `onEvent`. */
interface Receiver {
  url: string;
  /** Called with each event and the time (performance.now()) its body was read. */
  onEvent: (e: Envelope, at: number) => void;
  /** The secret of the webhook posting here now: its first event is checked (Standard Webhooks signature). */
  secret?: string;
  /** While true, every event is answered 503 (an outage) and not handed on. */
  down?: boolean;
  close(): Promise<void>;
}

/** Signature checks that failed (reported at the end: the engine would retry a refused delivery). */
const badSignatures: string[] = [];

async function startReceiver(path = '/hook'): Promise<Receiver> {
  const port = await freePort();
  let checked: string | undefined; // the secret the last check was made with
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}${path}`,
    onEvent: () => {},
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const e = JSON.parse(body) as Envelope;
      if (e.type === 'webhook.verify') {
        res.end(String(e.data.token));
        return;
      }
      if (receiver.down) {
        res.statusCode = 503;
        res.end();
        return;
      }
      if (receiver.secret && checked !== receiver.secret) {
        checked = receiver.secret;
        try {
          new Webhook(receiver.secret).verify(body, req.headers as Record<string, string>);
        } catch (err) {
          badSignatures.push(`${receiver.url}: ${(err as Error).message}`);
        }
      }
      res.statusCode = 204;
      res.end();
      receiver.onEvent(e, at);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return receiver;
}

const tmp = mkdtempSync(join(tmpdir(), 'passslot-bench-events-'));
const receivers: Receiver[] = [];
try {
  await main();
} finally {
  await stopAll();
  await Promise.all(receivers.map((r) => r.close()));
  rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PASSSLOT_DATA_DIR: tmp,
    PORT: String(port),
    PASSSLOT_LOG_LEVEL: 'warn',
    PASSSLOT_RATE_LIMIT: '1000000',
    PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true',
  };
  const { appKey, templateId } = await runInit(env);
  const service = await startChild(
    [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []), BIN, 'serve'],
    env,
    'Passslot listening',
  );
  const base = `http://127.0.0.1:${port}`;
  const authorization = `Basic ${Buffer.from(`${appKey}:`).toString('base64')}`;

  async function api<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
  async function createWebhook(r: Receiver): Promise<number> {
    const hook = await api<{ id: number; secret: string }>('/v1/webhooks', 'POST', {
      url: r.url,
      events: ['*'],
    });
    r.secret = hook.secret;
    return hook.id;
  }

  // --- passes, created before any webhook exists (their pass.created events go nowhere)
  interface PassState {
    serial: string;
    path: string;
    status: 'valid' | 'redeemed';
    /** Resolves when the last change's webhook has arrived: one change per pass in flight. */
    idle: Promise<void>;
    expect?: { status: string; respondedAt?: number; arrivedAt?: number; done: () => void };
  }
  const passes: PassState[] = [];
  let nextPass = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = nextPass++; i < PASSES; i = nextPass++) {
        const p = await api<{ serialNumber: string; passTypeIdentifier: string }>(
          `/v1/templates/${templateId}/pass`,
          'POST',
          { firstName: 'Ada', lastName: `Lovelace ${i}`, memberSince: '2024', points: i, memberId: `M-${i}` },
        );
        passes.push({
          serial: p.serialNumber,
          path: `/v1/passes/${encodeURIComponent(p.passTypeIdentifier)}/${p.serialNumber}/status`,
          status: 'valid',
          idle: Promise.resolve(),
        });
      }
    }),
  );
  const bySerial = new Map(passes.map((p) => [p.serial, p]));

  const live = await startReceiver();
  receivers.push(live);
  await createWebhook(live);

  // --- (1) latency: status changes open loop; each arrival matched to its pass's change in flight
  let latencies: number[] = [];
  let early = 0; // webhooks that arrived before the response to their change
  let stray = 0;
  let lastEvent: Envelope | undefined; // a real event body, for the baseline to send
  const settle = (p: PassState) => {
    const x = p.expect;
    if (x?.respondedAt === undefined || x.arrivedAt === undefined) return;
    if (x.arrivedAt < x.respondedAt) early++;
    latencies.push(Math.max(0, x.arrivedAt - x.respondedAt));
    p.expect = undefined;
    x.done();
  };
  live.onEvent = (e, at) => {
    lastEvent = e;
    const p = bySerial.get(String(e.data.serialNumber));
    if (e.type !== 'pass.status_changed' || !p?.expect || e.data.newStatus !== p.expect.status) {
      stray++;
      return;
    }
    p.expect.arrivedAt = at;
    settle(p);
  };
  /** Sends `count` changes, waits for their webhooks, and returns the seconds until the last response. */
  async function changes(count: number): Promise<number> {
    let next = 0;
    let lastResponse = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = next++; i < count; i = next++) {
          const wait = t0 + (i * 1000) / RATE - performance.now();
          if (wait > 0) await sleep(wait);
          const p = passes[i % passes.length]!;
          await p.idle;
          const status = p.status === 'valid' ? 'redeemed' : 'valid';
          p.idle = new Promise<void>((done) => {
            p.expect = { status, done };
          });
          await api(p.path, 'PUT', { status });
          p.status = status;
          lastResponse = performance.now();
          p.expect!.respondedAt = lastResponse;
          settle(p);
        }
      }),
    );
    await withTimeout(
      Promise.all(passes.map((p) => p.idle)),
      () => `only ${latencies.length} of ${count} webhooks arrived`,
    );
    return (lastResponse - t0) / 1000;
  }
  if (ONLY === 'recovery') {
    live.onEvent = () => {};
    return report4(await recovery());
  }
  await changes(Math.min(500, EVENTS)); // warm-up (JIT, caches, connections)
  latencies = [];
  early = 0;
  await sleep(5);
  const since = new Date().toISOString();
  await sleep(5);
  const sendS = await changes(EVENTS);
  latencies.sort((a, b) => a - b);
  if (latencies.length !== EVENTS) throw new Error(`${latencies.length} latencies for ${EVENTS} events`);
  if (stray) throw new Error(`${stray} webhooks matched no change in flight`);

  // --- (2) throughput: the same events replayed; (3) the bare client to the same receivers
  /** Resolves with the time the last of `perReceiver` events reached each receiver. */
  const expectAll = (rs: Receiver[], perReceiver: number): Promise<number> => {
    let pending = rs.length;
    let last = 0;
    const got = rs.map(() => 0);
    const done = new Promise<number>((resolve, reject) => {
      rs.forEach((r, k) => {
        r.onEvent = (_e, at) => {
          last = at;
          const n = ++got[k]!;
          if (n > perReceiver) reject(new Error(`receiver ${k} got more than ${perReceiver} events`));
          else if (n === perReceiver && --pending === 0) resolve(last);
        };
      });
    });
    return withTimeout(done, () => `the receivers got ${got.join(', ')} of ${perReceiver} events`);
  };
  type Sample = { rate: number; cpuUs: number };
  /**
   * Replays the measured events to a fresh webhook on each receiver, timed from the replay requests until every
   * receiver has them all. The webhooks are deleted afterwards (with their deliveries), so each round starts alike.
   */
  async function replayRate(rs: Receiver[]): Promise<Sample> {
    const hooks: number[] = [];
    for (const r of rs) hooks.push(await createWebhook(r));
    const sample = await measured(service.pid, async () => {
      const done = expectAll(rs, EVENTS);
      const t0 = performance.now();
      const queued = await Promise.all(
        hooks.map((id) => api<{ queued: number }>(`/v1/webhooks/${id}/replay`, 'POST', { since })),
      );
      for (const q of queued)
        if (q.queued !== EVENTS) throw new Error(`replay queued ${q.queued} events, not ${EVENTS}`);
      const end = await done;
      return { count: EVENTS * rs.length, seconds: (end - t0) / 1000 };
    });
    for (const id of hooks) await api(`/v1/webhooks/${id}`, 'DELETE');
    return sample;
  }
  const bare = await startChild([BARE], process.env, 'ready', true);
  const bareBody = JSON.stringify(lastEvent);
  const bareHeaders = {
    'content-type': 'application/json',
    'user-agent': 'Passslot-Webhooks/1',
    'webhook-id': lastEvent!.id,
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
    'webhook-signature': `v1,${'A'.repeat(44)}`,
  };
  async function bareRate(rs: Receiver[], concurrency: number): Promise<Sample> {
    return measured(bare.pid, async () => {
      const count = EVENTS * rs.length;
      const done = expectAll(rs, EVENTS);
      const t0 = performance.now();
      const batch: BareBatch = {
        urls: rs.map((r) => r.url),
        count,
        concurrency,
        body: bareBody,
        headers: bareHeaders,
      };
      bare.send(batch);
      const end = await done;
      return { count, seconds: (end - t0) / 1000 };
    });
  }

  const many: Receiver[] = [];
  const samples: Record<'one' | 'oneBare' | 'ten' | 'tenBare', Sample[]> = {
    one: [],
    oneBare: [],
    ten: [],
    tenBare: [],
  };
  if (ONLY !== 'latency') {
    for (let k = 0; k < RECEIVERS; k++) many.push(await startReceiver(`/hook/${k}`));
    receivers.push(...many);
    await bareRate(many, BARE_CONCURRENCY_ALL); // warm-up (JIT, connections), before any webhook posts there
    for (let r = 0; r < ROUNDS; r++) {
      samples.one.push(await replayRate(many.slice(0, 1)));
      samples.oneBare.push(await bareRate(many.slice(0, 1), BARE_CONCURRENCY_ONE));
      samples.ten.push(await replayRate(many));
      samples.tenBare.push(await bareRate(many, BARE_CONCURRENCY_ALL));
    }
  }

  live.onEvent = () => {};
  const recovered = ONLY === 'latency' ? undefined : await recovery();
  if (badSignatures.length) throw new Error(`bad webhook signatures: ${badSignatures.join('; ')}`);

  // --- (4) recovery: an endpoint down for OUTAGE_S seconds while changes keep coming, then back
  interface Recovery {
    events: number;
    duringOutage: number;
    afterS: number;
    inOrder: boolean;
  }
  async function recovery(): Promise<Recovery> {
    const down = await startReceiver('/down');
    receivers.push(down);
    await createWebhook(down);
    const sent = new Map<string, string[]>();
    const got = new Map<string, string[]>();
    let arrived = 0;
    let lastArrival = 0;
    down.onEvent = (e, at) => {
      if (e.type !== 'pass.status_changed') return;
      const serial = String(e.data.serialNumber);
      got.set(serial, [...(got.get(serial) ?? []), String(e.data.newStatus)]);
      arrived++;
      lastArrival = at;
    };
    const perSecond = 50;
    const total = (OUTAGE_S + 3) * perSecond;
    down.down = true;
    const t0 = performance.now();
    let upAt = Number.POSITIVE_INFINITY;
    const back = setTimeout(() => {
      down.down = false;
      upAt = performance.now();
    }, OUTAGE_S * 1000);
    let duringOutage = 0;
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / perSecond - performance.now();
      if (wait > 0) await sleep(wait);
      const p = passes[i % passes.length]!;
      const status = p.status === 'valid' ? 'redeemed' : 'valid';
      await api(p.path, 'PUT', { status });
      p.status = status;
      sent.set(p.serial, [...(sent.get(p.serial) ?? []), status]);
      if (down.down) duringOutage++;
    }
    const deadline = performance.now() + 5 * 60_000;
    while (arrived < total) {
      if (performance.now() > deadline) throw new Error(`recovery: ${arrived} of ${total} events arrived`);
      await sleep(20);
    }
    clearTimeout(back);
    const inOrder = [...sent].every(([serial, statuses]) => got.get(serial)?.join() === statuses.join());
    return { events: total, duringOutage, afterS: (lastArrival - upAt) / 1000, inOrder };
  }
  function report4(r: Recovery): void {
    console.log(
      `(4) recovery: a webhook endpoint answering 503 for ${OUTAGE_S} s while ${r.events} status changes came at 50/s ` +
        `(${r.duringOutage} during the outage): the last arrived ${r.afterS.toFixed(1)} s after the endpoint came back ` +
        `(goal <= ${RECOVERY_GOAL_S} s: ${r.afterS <= RECOVERY_GOAL_S ? 'yes' : 'NO  MISSED'}); ` +
        `order per pass kept: ${r.inOrder ? 'yes' : 'NO'}`,
    );
  }

  // --- the report
  const ms = (x: number) => `${x.toFixed(1).padStart(7)} ms`;
  const p99 = quantile(latencies, 0.99);
  console.log(
    `Events benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; ` +
      'SQLite; the service in a child process, receivers (node:http) in this process',
  );
  console.log(
    `(1) latency, response to webhook arrival: ${EVENTS} status changes over ${PASSES} passes, ` +
      `${CLIENTS} clients open loop at ${RATE}/s (sent in ${sendS.toFixed(1)} s = ${(EVENTS / sendS).toFixed(0)}/s)`,
  );
  console.log(
    `    p50 ${ms(quantile(latencies, 0.5))}   p90 ${ms(quantile(latencies, 0.9))}   p99 ${ms(p99)}   ` +
      `max ${ms(latencies[latencies.length - 1]!)}   (${early} arrived before their response, counted as 0)`,
  );
  console.log(`    p99 < ${LATENCY_GOAL_MS} ms: ${p99 < LATENCY_GOAL_MS ? 'yes' : 'NO  MISSED'}`);
  if (ONLY === 'latency') return;
  if (recovered) report4(recovered);
  const f = (x: number): string => x.toFixed(0).padStart(7);
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
  const line = (label: string, who: string, xs: Sample[]) =>
    console.log(
      `${label.padEnd(56)}${f(median(xs.map((x) => x.rate)))} events/s   rounds ${list(xs.map((x) => x.rate))}   ` +
        `${who} CPU ${median(xs.map((x) => x.cpuUs)).toFixed(0)} µs/event`,
    );
  console.log(
    `(2) throughput, medians of ${ROUNDS} interleaved rounds; replay of the ${EVENTS} events, timed from the replay request(s)`,
  );
  line('(2a) delivery engine, 1 receiver', 'server', samples.one);
  line(`(2b) delivery engine, ${RECEIVERS} receivers (${RECEIVERS} webhooks)`, 'server', samples.ten);
  console.log('(3) baseline: plain undici keep-alive POSTs from a child process, same receivers, same count');
  line(`(3a) bare client, 1 receiver (${BARE_CONCURRENCY_ONE} in flight)`, 'client', samples.oneBare);
  line(
    `(3b) bare client, ${RECEIVERS} receivers (${BARE_CONCURRENCY_ALL} in flight)`,
    'client',
    samples.tenBare,
  );
  const rate = (xs: Sample[]) => median(xs.map((x) => x.rate));
  for (const [label, engine, plain] of [
    ['1 receiver ', samples.one, samples.oneBare],
    [`${RECEIVERS} receivers`, samples.ten, samples.tenBare],
  ] as const)
    console.log(
      `${label}: ${rate(engine) >= THROUGHPUT_GOAL ? 'meets' : 'MISSES'} the goal of >= ${THROUGHPUT_GOAL}/s;` +
        `   delivery engine / bare HTTP client = ${(rate(engine) / rate(plain)).toFixed(2)}`,
    );
}
