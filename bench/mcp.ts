// The MCP benchmark: a tools/call of get_pass_details over Streamable HTTP (one session, as an agent keeps it) against
// GET /v1/passes/:pt/:sn/details over REST with the same app key; and the same REST read with an OAuth access token
// (obtained through the whole flow: registration, sign-in, consent, code exchange) against the app-key read. Same
// service, same run, interleaved rounds; medians.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BIN, freePort, measured, median, runInit, startChild, stopAll } from './common.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const GOAL = 0.5;
const TOKEN_GOAL = 0.9;

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
    PASSSLOT_PUBLIC_URL: `http://127.0.0.1:${port}`,
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
  const accessToken = await oauthAccessToken(base, env);
  const mcp = () => rate({ url: `${base}/mcp`, method: 'POST', headers: sessionHeaders, body: callBody });
  const rest = () => rate({ url: detailsUrl, headers: { authorization } });
  const restToken = () => rate({ url: detailsUrl, headers: { authorization: `Bearer ${accessToken}` } });
  await rate({ url: `${base}/mcp`, method: 'POST', headers: sessionHeaders, body: callBody }, 1);
  await rate({ url: detailsUrl, headers: { authorization } }, 1);
  await rate({ url: detailsUrl, headers: { authorization: `Bearer ${accessToken}` } }, 1);

  type Sample = { rate: number; cpuUs: number };
  const viaMcp: Sample[] = [];
  const viaRest: Sample[] = [];
  const viaToken: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    viaMcp.push(await measured(service.pid, mcp));
    viaRest.push(await measured(service.pid, rest));
    viaToken.push(await measured(service.pid, restToken));
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
  line('(b) REST GET .../details (app key)', viaRest);
  line('(c) REST GET .../details (OAuth access token)', viaToken);
  const byRate = median(viaMcp.map((x) => x.rate)) / median(viaRest.map((x) => x.rate));
  const byCpu = median(viaRest.map((x) => x.cpuUs)) / median(viaMcp.map((x) => x.cpuUs));
  console.log(
    `a/b = ${byRate.toFixed(2)}   (goal >= ${GOAL})${byRate >= GOAL ? '' : '  MISSED'}   by server CPU per op: ${byCpu.toFixed(2)}`,
  );
  const tokenRate = median(viaToken.map((x) => x.rate)) / median(viaRest.map((x) => x.rate));
  console.log(
    `c/b = ${tokenRate.toFixed(2)}   (goal >= ${TOKEN_GOAL})${tokenRate >= TOKEN_GOAL ? '' : '  MISSED'}`,
  );
}

/** An access token for /v1, as a client gets one: a person, registration, sign-in, consent with PKCE, the exchange. */
async function oauthAccessToken(base: string, env: NodeJS.ProcessEnv): Promise<string> {
  const password = randomBytes(12).toString('base64url');
  execFileSync(
    'node',
    [
      BIN,
      'users',
      'create',
      'bench@example.com',
      '--account',
      'demo',
      '--role',
      'developer',
      '--password-stdin',
    ],
    {
      env,
      input: `${password}\n`,
    },
  );
  const redirect = 'http://127.0.0.1:9/callback';
  const reg = await fetch(`${base}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [redirect], client_name: 'bench' }),
  });
  const { client_id } = (await reg.json()) as { client_id: string };
  let cookies = '';
  const keep = (res: Response) => {
    const jar = new Map(
      cookies
        .split('; ')
        .filter(Boolean)
        .map((c) => c.split('=') as [string, string]),
    );
    for (const c of res.headers.getSetCookie()) {
      const [name, value] = c.split(';')[0]!.split('=');
      jar.set(name!, value!);
    }
    cookies = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    return res;
  };
  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    }).then(keep);
  const loginPage = await keep(await fetch(`${base}/login`)).text();
  await form('/login', {
    csrf: /name="csrf" value="([^"]+)"/.exec(loginPage)![1]!,
    next: '/login',
    email: 'bench@example.com',
    password,
  });
  const verifier = randomBytes(32).toString('base64url');
  const params = {
    response_type: 'code',
    client_id,
    redirect_uri: redirect,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    scope: 'passes:read',
    resource: `${base}/v1`,
  };
  const consent = await (
    await fetch(`${base}/oauth/authorize?${new URLSearchParams(params)}`, {
      headers: { cookie: cookies },
      redirect: 'manual',
    })
  ).text();
  const back = await form('/oauth/authorize', {
    ...params,
    csrf: /name="csrf" value="([^"]+)"/.exec(consent)![1]!,
    account: /<option value="(\d+)">/.exec(consent)![1]!,
    'grant:passes:read': '1',
    decision: 'allow',
  });
  const code = new URL(back.headers.get('location')!).searchParams.get('code');
  if (!code) throw new Error(`authorize: ${back.status} ${back.headers.get('location')}`);
  const tokens = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id,
      code,
      code_verifier: verifier,
      redirect_uri: redirect,
    }).toString(),
  });
  const { access_token } = (await tokens.json()) as { access_token?: string };
  if (!access_token) throw new Error(`token: ${tokens.status}`);
  return access_token;
}
