// The MCP benchmark: a tools/call of get_pass_details over Streamable HTTP (one session, as an agent keeps it) against
// GET /v1/passes/:pt/:sn/details over REST with the same app key, on the same service in the same run. Interleaved
// rounds; medians. (The second ratio of the Agents issue, an OAuth-token read against an app-key read, waits for the
// OAuth server.)
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BIN, freePort, measured, median, runInit, startChild, stopAll } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const GOAL = 0.5;

const dataDir = mkdtempSync(join(tmpdir(), 'passslot-bench-mcp-'));
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
    PASSSLOT_RATE_LIMIT: '1000000',
  };
  const { appKey, templateId } = await runInit(env);
  const base = `http://127.0.0.1:${port}`;
  const service = await startChild([BIN, 'serve'], env, 'Passslot listening');
  const authorization = `Bearer ${appKey}`;
  const created = (await (
    await fetch(`${base}/v1/templates/${templateId}/pass`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({
        firstName: 'Ada',
        lastName: 'L',
        memberSince: '2024',
        points: 1,
        memberId: 'M-1',
      }),
    })
  ).json()) as { serialNumber: string; passTypeIdentifier: string };

  // an MCP session, as a client opens it
  const mcpHeaders = {
    authorization,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  const init = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: mcpHeaders,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    }),
  });
  const session = init.headers.get('mcp-session-id');
  await init.text();
  if (!session) throw new Error(`initialize: ${init.status}, no session`);
  const sessionHeaders = { ...mcpHeaders, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  await (
    await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    })
  ).text();
  const callBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'get_pass_details', arguments: created },
  });
  const check = await (
    await fetch(`${base}/mcp`, { method: 'POST', headers: sessionHeaders, body: callBody })
  ).text();
  if (!check.includes('structuredContent') || check.includes('"isError":true'))
    throw new Error(`tools/call: ${check.slice(0, 300)}`);
  const detailsUrl = `${base}/v1/passes/${encodeURIComponent(created.passTypeIdentifier)}/${created.serialNumber}/details`;

  async function rate(opts: autocannon.Options, seconds = ROUND_S) {
    const res = await autocannon({ ...opts, connections: CONNECTIONS, duration: seconds });
    if (res.non2xx || res.errors) throw new Error(`${opts.url}: ${res.non2xx} non-2xx, ${res.errors} errors`);
    return { count: res['2xx'], seconds: res.duration };
  }
  const mcp = () => rate({ url: `${base}/mcp`, method: 'POST', headers: sessionHeaders, body: callBody });
  const rest = () => rate({ url: detailsUrl, headers: { authorization } });
  await rate({ url: `${base}/mcp`, method: 'POST', headers: sessionHeaders, body: callBody }, 1);
  await rate({ url: detailsUrl, headers: { authorization } }, 1);

  type Sample = { rate: number; cpuUs: number };
  const viaMcp: Sample[] = [];
  const viaRest: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    viaMcp.push(await measured(service.pid, mcp));
    viaRest.push(await measured(service.pid, rest));
  }
  const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  const line = (label: string, xs: Sample[]) =>
    console.log(
      `${label.padEnd(52)}${median(xs.map((x) => x.rate))
        .toFixed(0)
        .padStart(7)} req/s   rounds ` +
        `${list(xs.map((x) => x.rate))}   server CPU ${median(xs.map((x) => x.cpuUs)).toFixed(0)} µs/op`,
    );
  console.log(
    `MCP benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`,
  );
  console.log(
    `medians of ${ROUNDS} interleaved rounds of ${ROUND_S} s, ${CONNECTIONS} connections, one app key`,
  );
  line('(a) MCP tools/call get_pass_details (Streamable HTTP)', viaMcp);
  line('(b) REST GET .../details', viaRest);
  const byRate = median(viaMcp.map((x) => x.rate)) / median(viaRest.map((x) => x.rate));
  const byCpu = median(viaRest.map((x) => x.cpuUs)) / median(viaMcp.map((x) => x.cpuUs));
  console.log(
    `a/b = ${byRate.toFixed(2)}   (goal >= ${GOAL})${byRate >= GOAL ? '' : '  MISSED'}   by server CPU per op: ${byCpu.toFixed(2)}`,
  );
  console.log(
    'token read / key read: not measured (the OAuth 2.1 server of the Agents issue is not built yet)',
  );
}
