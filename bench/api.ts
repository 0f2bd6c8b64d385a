import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import {
  createDevPki,
  createPassFactory,
  type JsonObject,
  loadIdentityFromPem,
} from '../src/engine/index.js';
import { BIN, freePort, measured, median, runInit, startChild, stopAll } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 4);
const READ_CONNECTIONS = Number(process.env.BENCH_READ_CONNECTIONS ?? 10);
const ISSUE_CONNECTIONS = Number(process.env.BENCH_ISSUE_CONNECTIONS ?? 8);
const CPU_PROF = process.env.BENCH_CPU_PROF;
const ONLY = process.env.BENCH_ONLY; // 'read', 'issue' or 'batch': only that part
const BATCH = 1000;

// dist/bench/api.js -> the repository root
const BARE = fileURLToPath(new URL('./api-bare.js', import.meta.url));

const dataDir = mkdtempSync(join(tmpdir(), 'passslot-bench-api-'));
try {
  await main();
} finally {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PASSSLOT_DATA_DIR: dataDir,
    PORT: String(port),
    PASSSLOT_LOG_LEVEL: 'warn',
    // the highest the configuration accepts (1,000,000 a minute per key): far above what one run sends
    PASSSLOT_RATE_LIMIT: '1000000',
  };
  const { appKey, templateId } = await runInit(env);
  const base = `http://127.0.0.1:${port}`;
  const service = await startChild(
    [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : []), BIN, 'serve'],
    env,
    'Passslot listening',
  );
  const authorization = `Basic ${Buffer.from(`${appKey}:`).toString('base64')}`;

  async function api(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization, 'content-type': 'application/json', ...init.headers },
    });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return res;
  }

  const valuesFor = (i: number) => ({
    firstName: 'Ada',
    lastName: `Lovelace ${i}`,
    memberSince: '2024',
    points: i % 1000,
    memberId: `M-${i}`,
  });
  const created = (await (
    await api(`/v1/templates/${templateId}/pass`, { method: 'POST', body: JSON.stringify(valuesFor(0)) })
  ).json()) as { serialNumber: string; passTypeIdentifier: string };
  const passPath = `/v1/passes/${encodeURIComponent(created.passTypeIdentifier)}/${created.serialNumber}`;
  const valuesBody = await (await api(`${passPath}/values`)).text();
  const apiPkpassSize = (await (await api(passPath)).arrayBuffer()).byteLength;

  // the bare baseline, in a child process of its own like the service
  const barePort = await freePort();
  const bare = await startChild(
    [BARE],
    { ...process.env, PORT: String(barePort), BENCH_BODY: valuesBody },
    'listening',
  );
  const bareBody = await (await fetch(`http://127.0.0.1:${barePort}${passPath}/values`)).text();
  if (bareBody !== valuesBody) throw new Error(`bare body ${bareBody} differs from ${valuesBody}`);

  // the engine alone on the same template: pass.json body, images, the overrides the service sets
  const template = (await (await api(`/v1/templates/${templateId}`)).json()) as { description: JsonObject };
  const passJson = (await (await api(`${passPath}/passjson`)).json()) as JsonObject;
  const imageList = (await (await api(`/v1/templates/${templateId}/images`)).json()) as {
    type: string;
    resolution: 'normal' | 'high' | 'ultra';
  }[];
  const suffix = { normal: '', high: '@2x', ultra: '@3x' } as const;
  const images: Record<string, Uint8Array> = {};
  for (const img of imageList)
    images[`${img.type}${suffix[img.resolution]}.png`] = new Uint8Array(
      await (await api(`/v1/templates/${templateId}/images/${img.type}/${img.resolution}`)).arrayBuffer(),
    );
  const pki = createDevPki({
    passTypeIdentifier: passJson.passTypeIdentifier as string,
    teamIdentifier: passJson.teamIdentifier as string,
  });
  const identity = loadIdentityFromPem(
    { certificate: pki.certificatePem, privateKey: pki.privateKeyPem },
    { wwdr: pki.caCertificatePem },
  );
  const factory = createPassFactory({
    identity,
    template: template.description,
    assets: { images },
    allowHttpWebService: true,
  });
  const webServiceURL = passJson.webServiceURL as string;
  const engineBuild = (i: number) =>
    factory.build({
      values: valuesFor(i),
      overrides: {
        serialNumber: randomUUID(),
        webServiceURL,
        authenticationToken: randomBytes(32).toString('base64url'),
      },
    });
  const enginePkpassSize = engineBuild(0).pkpass.length;

  // --- the measurements
  async function readRate(url: string, headers: Record<string, string>, seconds = ROUND_S) {
    const res = await autocannon({ url, headers, connections: READ_CONNECTIONS, duration: seconds });
    if (res.non2xx || res.errors)
      throw new Error(`${url}: ${res.non2xx} non-2xx responses, ${res.errors} errors`);
    return { count: res['2xx'], seconds: res.duration };
  }

  let serial = 1;
  async function issueRate(seconds = ROUND_S) {
    let downloads = 0;
    let failures = 0;
    let lastStatus = 0;
    const res = await autocannon({
      url: base,
      connections: ISSUE_CONNECTIONS,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          path: `/v1/templates/${templateId}/pass`,
          headers: { authorization, 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: JSON.stringify(valuesFor(serial++)) }),
          onResponse: (status, body, context) => {
            const ctx = context as { path?: string };
            ctx.path = undefined;
            if (status === 201) {
              const out = JSON.parse(body) as { serialNumber: string; passTypeIdentifier: string };
              ctx.path = `/v1/passes/${encodeURIComponent(out.passTypeIdentifier)}/${out.serialNumber}`;
            } else {
              failures++;
              lastStatus = status;
            }
          },
        },
        {
          method: 'GET',
          headers: { authorization },
          // no serial number (the create failed): start the sequence again
          setupRequest: (req, context) => {
            const path = (context as { path?: string }).path;
            return (path ? { ...req, path } : undefined) as unknown as typeof req;
          },
          onResponse: (status, body) => {
            if (status === 200 && body.length > 1000) downloads++;
            else {
              failures++;
              lastStatus = status;
            }
          },
        },
      ],
    });
    if (failures || res.errors)
      throw new Error(`issuing: ${failures} failed responses (last ${lastStatus}), ${res.errors} errors`);
    return { count: downloads, seconds: res.duration };
  }

  /** Door scans: POST /v1/scans of the first pass's barcode, each redeeming it (no redemptionRestriction). */
  async function scanRate(seconds = ROUND_S) {
    const res = await autocannon({
      url: `${base}/v1/scans`,
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ barcode: `member-${valuesFor(0).memberId}` }),
      connections: READ_CONNECTIONS,
      duration: seconds,
    });
    if (res.non2xx || res.errors)
      throw new Error(`scans: ${res.non2xx} non-2xx responses, ${res.errors} errors`);
    return { count: res['2xx'], seconds: res.duration };
  }

  /** Batch create: BATCH passes per POST /v1/templates/:id/passes, two calls a round, one after the other. */
  async function batchRate(calls = 2) {
    let count = 0;
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) {
      const res = await api(`/v1/templates/${templateId}/passes`, {
        method: 'POST',
        body: JSON.stringify({
          passes: Array.from({ length: BATCH }, () => ({ values: valuesFor(serial++) })),
        }),
      });
      const out = (await res.json()) as { created: unknown[]; failed: unknown[] };
      if (out.failed.length) throw new Error(`batch create: ${out.failed.length} failed`);
      count += out.created.length;
    }
    return { count, seconds: (performance.now() - t0) / 1000 };
  }

  // in this process, like bench/pkpass.ts (CPU from process.cpuUsage: this process is otherwise idle then)
  function engineRate(ms = Math.min(ROUND_S * 1000, 2000)): { rate: number; cpuUs: number } {
    for (let i = 0; i < 20; i++) engineBuild(i); // warm up
    let n = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    const end = start + ms;
    while (performance.now() < end) engineBuild(n++);
    const elapsed = performance.now() - start;
    const used = process.cpuUsage(cpu);
    return { rate: (n * 1000) / elapsed, cpuUs: (used.user + used.system) / n };
  }

  const apiUrl = `${base}${passPath}/values`;
  const bareUrl = `http://127.0.0.1:${barePort}${passPath}/values`;
  const doRead = ONLY === undefined || ONLY === 'read';
  const doScan = ONLY === undefined || ONLY === 'read' || ONLY === 'scan';
  const doIssue = ONLY === undefined || ONLY === 'issue';
  // warm up both servers (JIT, caches) before the timed rounds
  if (doRead) {
    await readRate(apiUrl, { authorization }, 1);
    await readRate(bareUrl, {}, 1);
  }
  if (doScan) await scanRate(1);
  if (doIssue) await issueRate(1);
  const doBatch = ONLY === undefined || ONLY === 'batch';
  if (doBatch) await batchRate(1);

  type Sample = { rate: number; cpuUs: number };
  const readApi: Sample[] = [];
  const readBare: Sample[] = [];
  const issueApi: Sample[] = [];
  const issueEngine: Sample[] = [];
  const batchApi: Sample[] = [];
  const scans: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (doBatch) {
      batchApi.push(await measured(service.pid, () => batchRate()));
      if (!doIssue) issueEngine.push(engineRate());
    }
    if (doRead) {
      readApi.push(await measured(service.pid, () => readRate(apiUrl, { authorization })));
      readBare.push(await measured(bare.pid, () => readRate(bareUrl, {})));
    }
    if (doScan) scans.push(await measured(service.pid, () => scanRate()));
    if (doIssue) {
      issueApi.push(await measured(service.pid, () => issueRate()));
      issueEngine.push(engineRate());
    }
  }

  const rateOf = (xs: Sample[]) => xs.map((x) => x.rate);
  const cpuOf = (xs: Sample[]) => xs.map((x) => x.cpuUs);
  const f = (x: number): string => x.toFixed(0).padStart(7);
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');
  const line = (label: string, unit: string, xs: Sample[]) => {
    if (!xs.length) return;
    console.log(
      `${label.padEnd(48)}${f(median(rateOf(xs)))} ${unit.padEnd(9)} rounds ${list(rateOf(xs))}   ` +
        `server CPU ${median(cpuOf(xs)).toFixed(0)} µs/op (${list(cpuOf(xs))})`,
    );
  };
  console.log(
    `API benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`,
  );
  console.log(
    `medians of ${ROUNDS} interleaved rounds of ${ROUND_S} s; autocannon in this process, servers in child processes`,
  );
  line(`(1a) GET values, service (auth, ${READ_CONNECTIONS} conns)`, 'req/s', readApi);
  line('(1b) GET values, bare Fastify route', 'req/s', readBare);
  line(`(4) POST /v1/scans, each redeeming (${READ_CONNECTIONS} conns)`, 'scans/s', scans);
  line(`(2a) create + download via API (${ISSUE_CONNECTIONS} conns)`, 'passes/s', issueApi);
  line('(2b) engine alone, in-process, same pass', 'passes/s', issueEngine);
  line(`(3) batch create via API, ${BATCH} passes a call`, 'passes/s', batchApi);
  console.log(`.pkpass sizes: API ${apiPkpassSize} B, engine ${enginePkpassSize} B`);
  const ratio = (label: string, a: Sample[], b: Sample[], goal: number) => {
    if (!a.length) return;
    const byRate = median(rateOf(a)) / median(rateOf(b));
    const byCpu = median(cpuOf(b)) / median(cpuOf(a));
    console.log(
      `${label} = ${byRate.toFixed(2)}   (goal >= ${goal})${byRate >= goal ? '' : '  MISSED'}` +
        `   by server CPU per op: ${byCpu.toFixed(2)}`,
    );
  };
  ratio('1a/1b', readApi, readBare, 0.5);
  ratio('2a/2b', issueApi, issueEngine, 0.5);
  ratio('3/2b', batchApi, issueEngine, 0.8);
  ratio('4/1a', scans, readApi, 0.5);
}
