import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import { createSecrets, loadKeyring } from '../src/store/secrets.js';
import { BIN, cpuMs, freePort, median, runInit, startChild, stopAll, stopChild } from './common.js';
import type { BarePushes } from './wallet-apns-bare.js';
import type { StandinStats } from './wallet-standin.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 3);
const GET_CONNECTIONS = Number(process.env.BENCH_GET_CONNECTIONS ?? 10);
const PASSES = Number(process.env.BENCH_PASSES ?? 1000);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const FETCH_SAMPLE = Math.min(DEVICES, Number(process.env.BENCH_FETCH_SAMPLE ?? DEVICES));
const FETCH_CONCURRENCY = Number(process.env.BENCH_FETCH_CONCURRENCY ?? 32);
const FANOUT_TIMEOUT_S = Number(process.env.BENCH_FANOUT_TIMEOUT_S ?? 200);
const CREATE_CONCURRENCY = 8;
const CPU_PROF = process.env.BENCH_CPU_PROF;
const NODE_ARGS = process.env.BENCH_NODE_ARGS;
const ONLY = process.env.BENCH_ONLY;
const DEVICES_PER_PASS = Math.ceil(DEVICES / PASSES);

// dist/bench/wallet.js -> the repository root
const BARE = fileURLToPath(new URL('./wallet-bare.js', import.meta.url));
const STANDIN = fileURLToPath(new URL('./wallet-standin.js', import.meta.url));
const APNS_BARE = fileURLToPath(new URL('./wallet-apns-bare.js', import.meta.url));
/** The stand-in's concurrent stream limit (wallet-standin.ts), which the service's client also keeps to. */
const APNS_STREAMS = Number(process.env.BENCH_APNS_STREAMS ?? 1000);

const now = (): number => performance.timeOrigin + performance.now();
const quantile = (sorted: Float64Array | number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;

const tmp = mkdtempSync(join(tmpdir(), 'passslot-bench-wallet-'));
try {
  await main();
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const dataDir = join(tmp, 'data');
  const certsDir = join(tmp, 'apns-standin');
  const port = await freePort();
  const apnsPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PASSSLOT_DATA_DIR: dataDir,
    PORT: String(port),
    PASSSLOT_LOG_LEVEL: 'warn',
    PASSSLOT_RATE_LIMIT: '1000000000',
    PASSSLOT_APNS_URL: `https://127.0.0.1:${apnsPort}`,
    PASSSLOT_APNS_CA: join(certsDir, 'server.pem'),
  };
  const setup = await runInit(env);
  const pt = setup.passTypeIdentifier;
  // the stand-in creates its server certificate (certsDir/server.pem) before the service first connects
  const standin = await startChild(
    [STANDIN],
    {
      ...process.env,
      PORT: String(apnsPort),
      BENCH_CERTS_DIR: certsDir,
      BENCH_CLIENT_CA: setup.devCaPath,
    },
    'listening',
    true,
  );
  const service = await startChild(
    [
      ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []),
      ...(NODE_ARGS ? NODE_ARGS.split(' ') : []),
      BIN,
      'serve',
    ],
    env,
    'Passslot listening',
  );
  const base = `http://127.0.0.1:${port}`;
  const authorization = `Basic ${Buffer.from(`${setup.appKey}:`).toString('base64')}`;

  async function api(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization, 'content-type': 'application/json', ...init.headers },
    });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return res;
  }

  // --- real passes, created through the API (rendered, signed, cached)
  const createStart = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      for (let i = next++; i < PASSES; i = next++)
        await api(`/v1/templates/${setup.templateId}/pass`, {
          method: 'POST',
          body: JSON.stringify({
            firstName: 'Ada',
            lastName: `Lovelace ${i}`,
            memberSince: '2024',
            points: i % 1000,
            memberId: `M-${i}`,
          }),
        }).then((r) => r.arrayBuffer());
    }),
  );
  const createS = (now() - createStart) / 1000;

  const dbPath = join(dataDir, 'passslot.db');
  const passes = (() => {
    const db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare(
          'select id, serial_number as serial, auth_token as token, modified_at as modifiedAt, updated_at as updatedAt from passes where template_id = ? order by id',
        )
        .all(setup.templateId) as {
        id: number;
        serial: string;
        token: string;
        modifiedAt: string | null;
        updatedAt: string;
      }[];
    } finally {
      db.close();
    }
  })();
  if (passes.length !== PASSES) throw new Error(`expected ${PASSES} passes, found ${passes.length}`);
  // as the web service computes Last-Modified (lastModifiedOf)
  const lastModifiedOf = (p: { modifiedAt: string | null; updatedAt: string }): string =>
    new Date(p.modifiedAt ?? Math.floor(Date.parse(p.updatedAt) / 1000) * 1000).toUTCString();

  const out: string[] = [];
  const print = (line = '') => {
    out.push(line);
  };

  // --- (1) the latest-pass GET against a bare route
  if (ONLY !== 'fanout') {
    const p = passes[0]!;
    const walletPath = `/wallet/v1/passes/${encodeURIComponent(pt)}/${encodeURIComponent(p.serial)}`;
    const first = await fetch(`${base}${walletPath}`, { headers: { authorization: `ApplePass ${p.token}` } });
    if (first.status !== 200) throw new Error(`GET ${walletPath}: ${first.status}`);
    const bytes = Buffer.from(await first.arrayBuffer());
    const lastModified = first.headers.get('last-modified')!;
    const pkpassFile = join(tmp, 'pass.pkpass');
    writeFileSync(pkpassFile, bytes);
    const barePort = await freePort();
    const bare = await startChild(
      [BARE],
      { ...process.env, PORT: String(barePort), BENCH_PKPASS: pkpassFile, BENCH_LAST_MODIFIED: lastModified },
      'listening',
    );
    const bareUrl = `http://127.0.0.1:${barePort}${walletPath}`;
    const bareBytes = Buffer.from(await (await fetch(bareUrl)).arrayBuffer());
    if (!bareBytes.equals(bytes)) throw new Error('the bare route answers other bytes than the service');

    type Sample = { rate: number; cpuUs: number };
    async function getRate(
      pid: number | undefined,
      url: string,
      headers: Record<string, string>,
      status: 200 | 304,
      seconds = ROUND_S,
    ): Promise<Sample> {
      const before = cpuMs(pid);
      const res = await autocannon({ url, headers, connections: GET_CONNECTIONS, duration: seconds });
      const after = cpuMs(pid);
      const count = res.statusCodeStats?.[`${status}`]?.count ?? 0;
      const total = res.requests.total;
      if (res.errors || count !== total)
        throw new Error(`${url}: ${total - count} answers other than ${status}, ${res.errors} errors`);
      const cpuUs =
        before === undefined || after === undefined ? Number.NaN : ((after - before) * 1000) / count;
      return { rate: count / res.duration, cpuUs };
    }
    const svcUrl = `${base}${walletPath}`;
    const auth = { authorization: `ApplePass ${p.token}` };
    const ims = { 'if-modified-since': lastModified };
    const runs = {
      svc304: () => getRate(service.pid, svcUrl, { ...auth, ...ims }, 304),
      bare304: () => getRate(bare.pid, bareUrl, ims, 304),
      svc200: () => getRate(service.pid, svcUrl, auth, 200),
      bare200: () => getRate(bare.pid, bareUrl, {}, 200),
    };
    // warm up both servers (JIT, caches) before the timed rounds
    await getRate(service.pid, svcUrl, { ...auth, ...ims }, 304, 1);
    await getRate(bare.pid, bareUrl, ims, 304, 1);
    await getRate(service.pid, svcUrl, auth, 200, 1);
    await getRate(bare.pid, bareUrl, {}, 200, 1);
    const samples: Record<keyof typeof runs, Sample[]> = { svc304: [], bare304: [], svc200: [], bare200: [] };
    for (let r = 0; r < ROUNDS; r++)
      for (const k of Object.keys(runs) as (keyof typeof runs)[]) samples[k].push(await runs[k]());
    await stopChild(bare);

    const f = (x: number): string => x.toFixed(0).padStart(7);
    const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
    const line = (label: string, xs: Sample[]) => {
      const rates = xs.map((x) => x.rate);
      const cpu = xs.map((x) => x.cpuUs);
      print(
        `${label.padEnd(52)}${f(median(rates))} req/s  rounds ${list(rates)}   ` +
          `server CPU ${median(cpu).toFixed(0)} µs/op (${list(cpu)})`,
      );
    };
    print(
      `(1) latest-pass GET, ${bytes.length} B .pkpass; medians of ${ROUNDS} interleaved rounds of ${ROUND_S} s, ` +
        `autocannon (${GET_CONNECTIONS} conns) in the bench process`,
    );
    line('(1a) 304, service (ApplePass auth, If-Modified-Since)', samples.svc304);
    line('(1b) 304, bare Fastify route', samples.bare304);
    line('(1c) 200 cached, service (ApplePass auth)', samples.svc200);
    line('(1d) 200, bare Fastify route (same bytes)', samples.bare200);
    const ratio = (label: string, a: Sample[], b: Sample[], goal?: number) => {
      const byRate = median(a.map((x) => x.rate)) / median(b.map((x) => x.rate));
      const byCpu = median(b.map((x) => x.cpuUs)) / median(a.map((x) => x.cpuUs));
      print(
        `${label} = ${byRate.toFixed(2)}   ${goal === undefined ? '(no goal)' : `(goal >= ${goal})${byRate >= goal ? '' : '  MISSED'}`}` +
          `   by server CPU per op: ${byCpu.toFixed(2)}`,
      );
    };
    ratio('1a/1b (304)', samples.svc304, samples.bare304, 0.5);
    ratio('1c/1d (200)', samples.svc200, samples.bare200);
    print();
  }

  // --- (2) fan-out of one template change
  if (ONLY !== 'get') {
    // devices and registrations straight into the service's database (WAL: the running service just sees them)
    const insertStart = now();
    const tokenOf = (i: number): string => `${i.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`;
    const dliOf = (i: number): string => `benchdevice${i.toString().padStart(8, '0')}`;
    {
      const db = new SQLite(dbPath);
      db.pragma('busy_timeout = 5000');
      const createdAt = new Date().toISOString();
      const insertDevice = db.prepare(
        'insert into devices (device_library_identifier, push_token, created_at, updated_at) values (?, ?, ?, ?)',
      );
      const insertRegistration = db.prepare(
        'insert into registrations (device_id, pass_id, created_at) values (?, ?, ?)',
      );
      const insertBatch = db.transaction((from: number, to: number) => {
        for (let i = from; i < to; i++) {
          const { lastInsertRowid } = insertDevice.run(dliOf(i), tokenOf(i), createdAt, createdAt);
          insertRegistration.run(lastInsertRowid, passes[Math.floor(i / DEVICES_PER_PASS)]!.id, createdAt);
        }
      });
      for (let i = 0; i < DEVICES; i += 10_000) insertBatch(i, Math.min(DEVICES, i + 10_000));
      db.close();
    }
    const insertS = (now() - insertStart) / 1000;

    /** The stand-in's summary of the pushes it answered since its last reset. */
    const standinStats = () =>
      new Promise<StandinStats>((resolve) => {
        const onStats = (m: StandinStats) => {
          if (m.type !== 'stats') return;
          standin.off('message', onStats);
          resolve(m);
        };
        standin.on('message', onStats);
        standin.send({ type: 'stats' });
      });

    /**
     * One template change fanned out to every device: pushes/s at the stand-in and, when devices fetch (every
     * `step`-th, as Wallet does on a push), the time until they all have the new version.
     */
    async function fanOut(title: string, fetchSample: number): Promise<number> {
      // where this fan-out starts: the update tag, and each pass's Last-Modified as devices hold it
      let tag: string;
      let lastModifiedBefore: string[];
      {
        const db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
        tag = String(
          (
            db
              .prepare(
                'select update_tags.tag from update_tags join pass_types on pass_types.id = update_tags.pass_type_id where pass_type_identifier = ?',
              )
              .get(pt) as { tag: number }
          ).tag,
        );
        const current = db.prepare(
          'select modified_at as modifiedAt, updated_at as updatedAt from passes where id = ?',
        );
        lastModifiedBefore = passes.map((p) =>
          lastModifiedOf(current.get(p.id) as { modifiedAt: string | null; updatedAt: string }),
        );
        db.close();
      }
      standin.send({ type: 'reset' });
      // the simulated devices: every `step`-th device fetches on its push, as Wallet does
      const step = fetchSample > 0 ? DEVICES / fetchSample : Number.POSITIVE_INFINITY;
      const fetches = (i: number): boolean => fetchSample > 0 && Math.floor(i % step) === 0;
      let sampled = 0;
      for (let i = 0; i < DEVICES; i++) if (fetches(i)) sampled++;
      const agent = new http.Agent({ keepAlive: true, maxSockets: FETCH_CONCURRENCY });
      function get(
        path: string,
        headers: http.OutgoingHttpHeaders,
      ): Promise<{ status: number; body: Buffer; lm?: string }> {
        return new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                body: Buffer.concat(chunks),
                lm: res.headers['last-modified'],
              }),
            );
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end();
        });
      }
      const failures = new Map<string, number>();
      const fail = (why: string): void => {
        failures.set(why, (failures.get(why) ?? 0) + 1);
      };
      let fetched = 0;
      let lastFetchAt = 0;
      const latencies: number[] = [];
      async function device(i: number, pushedAt: number): Promise<void> {
        const p = passes[Math.floor(i / DEVICES_PER_PASS)]!;
        try {
          const serials = await get(
            `/wallet/v1/devices/${dliOf(i)}/registrations/${encodeURIComponent(pt)}?passesUpdatedSince=${tag}`,
            {},
          );
          if (serials.status !== 200) return fail(`serials ${serials.status}`);
          const body = JSON.parse(serials.body.toString('utf8')) as { serialNumbers: string[] };
          if (!body.serialNumbers.includes(p.serial)) return fail('serials without the pass');
          const pass = await get(
            `/wallet/v1/passes/${encodeURIComponent(pt)}/${encodeURIComponent(p.serial)}`,
            {
              authorization: `ApplePass ${p.token}`,
              'if-modified-since': lastModifiedBefore[Math.floor(i / DEVICES_PER_PASS)],
            },
          );
          if (pass.status !== 200) return fail(`pass ${pass.status}`);
          if (pass.body.length < 1000 || pass.lm === lastModifiedBefore[Math.floor(i / DEVICES_PER_PASS)])
            return fail('pass not the new version');
          fetched++;
          lastFetchAt = now();
          latencies.push(lastFetchAt - pushedAt);
        } catch (err) {
          fail((err as Error).message);
        }
      }
      // a FIFO of devices woken by a push, run with at most FETCH_CONCURRENCY at once
      const queue: [number, number][] = [];
      let head = 0;
      let active = 0;
      let saturatedMs = 0;
      let saturatedSince: number | undefined;
      const pump = () => {
        while (active < FETCH_CONCURRENCY && head < queue.length) {
          const [i, at] = queue[head++]!;
          active++;
          void device(i, at).finally(() => {
            active--;
            pump();
          });
        }
        const saturated = head < queue.length;
        if (saturated && saturatedSince === undefined) saturatedSince = now();
        if (!saturated && saturatedSince !== undefined) {
          saturatedMs += now() - saturatedSince;
          saturatedSince = undefined;
        }
      };
      let pushes = 0;
      let firstPushAt = 0;
      let lastPushAt = 0;
      const onPushes = (m: { type: string; tokens?: string[] }) => {
        if (m.type !== 'pushes' || !m.tokens) return;
        const at = now();
        if (!firstPushAt) firstPushAt = at;
        lastPushAt = at;
        pushes += m.tokens.length;
        for (const t of m.tokens) {
          const i = Number.parseInt(t.slice(0, 8), 16);
          if (fetches(i)) queue.push([i, at]);
        }
        pump();
      };
      standin.on('message', onPushes);

      // phases from the service's database, read-only, every 250 ms
      const watch = new SQLite(dbPath, { readonly: true, fileMustExist: true });
      // (jobs of this fan-out only: created since t0)
      const jobCounts = watch.prepare(
        'select kind, status, count(*) as n from jobs where created_at >= ? group by kind, status',
      );
      let templateDoneAt = 0;
      let pushJobsSeenAt = 0;

      // the template change: the terms on the back of every pass
      const template = (await (await api(`/v1/templates/${setup.templateId}`)).json()) as {
        description: { storeCard: { backFields: { value: string }[] } };
      };
      template.description.storeCard.backFields[0]!.value =
        `Show this card at the counter. New terms: ${title}.`;
      const cpuBefore = {
        service: cpuMs(service.pid),
        standin: cpuMs(standin.pid),
        client: process.cpuUsage(),
      };
      const t0 = now();
      const t0Iso = new Date(t0).toISOString();
      await api(`/v1/templates/${setup.templateId}`, {
        method: 'PUT',
        body: JSON.stringify({ description: template.description }),
      });
      const deadline = t0 + FANOUT_TIMEOUT_S * 1000;
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        const rows = jobCounts.all(t0Iso) as { kind: string; status: string; n: number }[];
        if (!templateDoneAt && rows.some((r) => r.kind === 'template_passes' && r.status === 'done'))
          templateDoneAt = now();
        if (!pushJobsSeenAt && rows.some((r) => r.kind === 'push')) pushJobsSeenAt = now();
        const fetchesDone = fetched + [...failures.values()].reduce((a, b) => a + b, 0);
        if ((pushes >= DEVICES && fetchesDone >= sampled && active === 0) || now() > deadline) break;
      }
      const cpuAfter = {
        service: cpuMs(service.pid),
        standin: cpuMs(standin.pid),
        client: process.cpuUsage(cpuBefore.client),
      };
      standin.off('message', onPushes);
      const elapsedMs = Math.max(lastPushAt, lastFetchAt) - t0;
      const stats = await standinStats();
      // job timings as the service recorded them
      const jobs = watch
        .prepare(
          `select kind, status, count(*) as n, min(created_at) as firstCreated, max(created_at) as lastCreated,
                  min(updated_at) as firstUpdated, max(updated_at) as lastUpdated,
                  sum(last_error like 'coalesced%') as coalesced
           from jobs where created_at >= ? group by kind, status`,
        )
        .all(t0Iso) as {
        kind: string;
        status: string;
        n: number;
        firstCreated: string;
        lastCreated: string;
        firstUpdated: string;
        lastUpdated: string;
        coalesced: number;
      }[];
      const pushLog = watch
        .prepare('select status, count(*) as n from push_log where created_at >= ? group by status')
        .all(t0Iso) as {
        status: number;
        n: number;
      }[];
      watch.close();
      agent.destroy();

      const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
      const at = (iso: string | undefined) => (iso ? Date.parse(iso) - t0 : Number.NaN);
      const tmplJob = jobs.find((j) => j.kind === 'template_passes' && j.status === 'done');
      const pushDone = jobs.filter((j) => j.kind === 'push' && j.status === 'done');
      const pushJobsN = pushDone.reduce((a, j) => a + j.n, 0);
      const rate = stats.count > 1 ? ((stats.count - 1) * 1000) / (stats.last - stats.first) : 0;
      print(
        `${title} of one template change: ${PASSES} passes (created through the API in ${createS.toFixed(1)} s, ` +
          `${(PASSES / createS).toFixed(0)}/s) x ${DEVICES_PER_PASS} devices = ${DEVICES} registrations ` +
          `(inserted with SQL in ${insertS.toFixed(1)} s)`,
      );
      const renderRate = tmplJob
        ? (PASSES * 1000) / (at(tmplJob.lastUpdated) - at(tmplJob.firstCreated))
        : Number.NaN;
      print(
        `    why ${PASSES} x ${DEVICES_PER_PASS}: every pass is re-rendered and signed by the template job ` +
          `(${renderRate.toFixed(0)} passes/s here, so 100,000 passes would take ` +
          `${(100_000 / renderRate).toFixed(0)} s before the last push); a push job sends to all devices of its pass at once`,
      );
      print(`    times from PUT /v1/templates/:id (t0):`);
      if (tmplJob)
        print(
          `    template job (re-render ${PASSES} passes, enqueue push jobs)  done at ${s(at(tmplJob.lastUpdated))}` +
            `  (${((PASSES * 1000) / (at(tmplJob.lastUpdated) - at(tmplJob.firstCreated))).toFixed(0)} passes/s; ` +
            `push jobs enqueued ${s(at(jobs.find((j) => j.kind === 'push')?.firstCreated))}..` +
            `${s(Math.max(...jobs.filter((j) => j.kind === 'push').map((j) => at(j.lastCreated))))})`,
        );
      else
        print(
          `    template job NOT done (${JSON.stringify(jobs.filter((j) => j.kind === 'template_passes'))})`,
        );
      print(`    first push at the stand-in                                  ${s(stats.first - t0)}`);
      print(
        `    last push at the stand-in (all ${DEVICES} pushes arrived)      ${stats.count >= DEVICES ? s(stats.last - t0) : `NOT ALL: ${stats.count} of ${DEVICES}`}`,
      );
      print(
        `    pushes/s delivered (200), first to last push               ${rate.toFixed(0).padStart(7)} /s   ` +
          (fetchSample > 0
            ? '(the goal is for pushes only)'
            : `(goal >= 10000)${rate >= 10_000 ? '' : '  MISSED'}`),
      );
      print(
        `    pushes/s by second: ${stats.perSecond.join(' ')}; stand-in answers ${JSON.stringify(stats.statuses)}; ` +
          `push_log ${JSON.stringify(Object.fromEntries(pushLog.map((r) => [r.status, r.n])))}`,
      );
      print(
        `    arrivals come in ${stats.bursts} bursts (runs with < 1 ms between pushes): median ${stats.medianBurst} ` +
          `pushes, median gap ${stats.medianGapMs.toFixed(1)} ms`,
      );
      print(
        `    push jobs: ${pushJobsN} done (${pushDone.reduce((a, j) => a + Number(j.coalesced ?? 0), 0)} coalesced), ` +
          `${JSON.stringify(jobs.filter((j) => j.kind === 'push' && j.status !== 'done').map((j) => [j.status, j.n]))} not done; ` +
          `${((stats.last - stats.first) / Math.max(1, pushJobsN)).toFixed(1)} ms per job of ${DEVICES_PER_PASS} pushes`,
      );
      if (fetchSample > 0) {
        const lat = Float64Array.from(latencies).sort();
        const sampleNote =
          fetchSample === DEVICES ? 'every device' : `a sample of ${sampled} devices (every ${step}th)`;
        print(
          `    ${sampleNote} fetched the new version (serials since tag ${tag}, then the pass with If-Modified-Since):`,
        );
        print(
          `    all fetched at                                              ` +
            `${fetched >= sampled ? s(lastFetchAt - t0) : `NOT ALL: ${fetched} of ${sampled} at ${s(elapsedMs)}`}` +
            `   (${((fetched * 1000) / (lastFetchAt - stats.first)).toFixed(0)} devices/s = ` +
            `${((2 * fetched * 1000) / (lastFetchAt - stats.first)).toFixed(0)} requests/s after the first push; ` +
            `push -> fetched p50 ${s(quantile(lat, 0.5))}, p99 ${s(quantile(lat, 0.99))})`,
        );
        if (failures.size) print(`    failed fetches: ${JSON.stringify(Object.fromEntries(failures))}`);
      } else print('    no device fetches: pushes only');
      const wall = elapsedMs;
      const pct = (ms: number | undefined) =>
        ms === undefined ? 'n/a' : `${((ms * 100) / wall).toFixed(0)}%`;
      const svcCpu =
        cpuAfter.service !== undefined && cpuBefore.service !== undefined
          ? cpuAfter.service - cpuBefore.service
          : undefined;
      const sbCpu =
        cpuAfter.standin !== undefined && cpuBefore.standin !== undefined
          ? cpuAfter.standin - cpuBefore.standin
          : undefined;
      const clCpu = (cpuAfter.client.user + cpuAfter.client.system) / 1000;
      print(
        `    CPU over the ${s(wall)} from t0 (% of one core): service ${pct(svcCpu)}, stand-in ${pct(sbCpu)}, ` +
          `device client (this process) ${pct(clCpu)}; ${cpus().length} cores shared by the three`,
      );
      if (fetchSample > 0)
        print(
          `    device client: ${FETCH_CONCURRENCY} devices at once over keep-alive HTTP/1.1; it had devices waiting ` +
            `for a slot ${pct(saturatedMs)} of the time: what limits it is the service answering, ` +
            `not the client, when that is high and its own CPU is well below a core`,
        );
      return rate;
    }

    /** The bare client's pushes/s, first to last push at the stand-in, as the fan-out's rate is measured. */
    async function barePushRate(): Promise<number> {
      const db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
      const row = db
        .prepare(
          'select certificate_pem as cert, private_key_enc as key from pass_types where pass_type_identifier = ?',
        )
        .get(pt) as { cert: string; key: string };
      db.close();
      const secrets = createSecrets(loadKeyring({ extra: [] }, dataDir).keyring);
      const client = await startChild([APNS_BARE], process.env, 'ready', true);
      standin.send({ type: 'reset' });
      const job: BarePushes = {
        url: `https://127.0.0.1:${apnsPort}`,
        certificatePem: row.cert,
        privateKeyPem: secrets.decrypt(row.key),
        caPem: readFileSync(join(certsDir, 'server.pem'), 'utf8'),
        topic: pt,
        tokens: Array.from({ length: DEVICES }, (_, i) => tokenOf(i)),
        concurrency: APNS_STREAMS,
      };
      const done = new Promise<{ failed: number }>((resolve) => client.once('message', resolve));
      client.send(job);
      const { failed } = await done;
      if (failed) throw new Error(`bare client: ${failed} pushes failed`);
      const stats = await standinStats();
      await stopChild(client);
      return stats.count > 1 ? ((stats.count - 1) * 1000) / (stats.last - stats.first) : 0;
    }

    if (process.env.BENCH_FETCH_SAMPLE !== undefined)
      await fanOut(
        `(2) fan-out, ${FETCH_SAMPLE === 0 ? 'pushes only' : `${FETCH_SAMPLE} devices fetching`}`,
        FETCH_SAMPLE,
      );
    else {
      // the goal is pushes from the service; the devices simulated here share its two cores, so they fetch in a
      // second fan-out of their own
      const serviceRate = await fanOut('(2) fan-out, pushes only', 0);
      await fanOut('(3) fan-out, every device fetching the new version', DEVICES);
      const bareRates = [await barePushRate(), await barePushRate()];
      const bareRate = median(bareRates);
      print(
        `(4) baseline: a bare HTTP/2 client (child process, one connection, ${APNS_STREAMS} streams) sending the same ` +
          `${DEVICES} pushes to the same stand-in: ${bareRate.toFixed(0)} pushes/s (runs ${bareRates.map((r) => r.toFixed(0)).join(', ')})`,
      );
      print(
        `    fan-out (2) / bare client = ${(serviceRate / bareRate).toFixed(2)}   (goal >= 0.5)` +
          `${serviceRate / bareRate >= 0.5 ? '' : '  MISSED'}`,
      );
    }
  }

  console.log(
    `Wallet benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, SQLite`,
  );
  for (const l of out) console.log(l);
}
