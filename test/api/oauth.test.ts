// People and OAuth 2.1, over HTTP as a client and a browser would run them: discovery from the 401, dynamic
// registration, sign-in, authorize with PKCE and the consent form posted as a browser posts it, the code exchange, a
// tool call and a REST call with the token, rotation of refresh tokens with reuse detection, revocation, grants; and
// the refusals: wrong verifier, wrong redirect URI, expired or reused code, wrong audience, unknown client.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PassslotClient, PassslotError } from 'passslot/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { createMemberPass, request, startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;
const REDIRECT = 'http://127.0.0.1:8976/callback';
const PASSWORD = 'correct horse battery';

let s: TestServer;
let offsetMs = 0;
const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
let clientId: string;
let pass: { passTypeIdentifier: string; serialNumber: string };

/** A browser: keeps cookies, follows nothing by itself. */
class Browser {
  private readonly jar = new Map<string, string>();
  async go(path: string, init: { method?: string; form?: Record<string, string> } = {}) {
    const headers = new Headers();
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (init.form) headers.set('content-type', 'application/x-www-form-urlencoded');
    const res = await request(path.startsWith('http') ? path : `${s.url}${path}`, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers,
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
      redirect: 'manual',
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [name, value] = pair!.split('=');
      if (value) this.jar.set(name!, value);
      else this.jar.delete(name!);
    }
    return res;
  }
  async signIn(email: string, password: string, next = '/login') {
    const form = await this.go(`/login?next=${encodeURIComponent(next)}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    return this.go('/login', { form: { csrf, next, email, password } });
  }
}

/** Hidden and visible fields of the first form of a page. */
function formOf(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    out[m[1]!] = m[2]!
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  return out;
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function authorizeUrl(challenge: string, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st-123',
    scope: 'passes:read passes:write templates:read',
    resource: `${s.url}/mcp`,
    ...extra,
  });
  return `/oauth/authorize?${q}`;
}

/** Signs in (if needed), opens the consent page, ticks `tick`, posts it; returns the redirect back to the client. */
async function consent(
  browser: Browser,
  challenge: string,
  tick: string[],
  options: { decision?: string; extra?: Record<string, string>; email?: string } = {},
) {
  let page = await browser.go(authorizeUrl(challenge, options.extra));
  if (page.status === 302 && page.headers.get('location')!.startsWith('/login')) {
    const signedIn = await browser.signIn(
      options.email ?? 'ada@example.com',
      PASSWORD,
      authorizeUrl(challenge, options.extra),
    );
    expect(signedIn.status).toBe(303);
    page = await browser.go(signedIn.headers.get('location')!);
  }
  expect(page.status).toBe(200);
  const html = await page.text();
  const form = formOf(html);
  const account = /<option value="(\d+)">/.exec(html)![1]!;
  const ticks = Object.fromEntries(tick.map((t) => [`grant:${t}`, '1']));
  const res = await browser.go('/oauth/authorize', {
    form: { ...form, account, ...ticks, decision: options.decision ?? 'allow' },
  });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

async function token(form: Record<string, string>) {
  const res = await request(`${s.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, ...form }).toString(),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function codeFor(browser: Browser, tick = ['passes:read', 'passes:write']) {
  const { verifier, challenge } = pkce();
  const back = await consent(browser, challenge, tick);
  return { code: back.searchParams.get('code')!, verifier, back };
}

const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
  token({
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    resource: `${s.url}/mcp`,
    ...extra,
  });

const bearer = (accessToken: string, path: string, init: RequestInit = {}) =>
  request(`${s.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${accessToken}`, ...init.headers },
  });

/** An MCP request with a token (initialize): its status tells whether the token is accepted at /mcp. */
const mcpStatus = async (accessToken: string) =>
  (
    await bearer(accessToken, '/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'probe', version: '1' },
        },
      }),
    })
  ).status;

describe(`OAuth 2.1 and people (${TEST_DB})`, () => {
  beforeAll(async () => {
    s = await startServer({ clock });
    const created = await createMemberPass(s, s.alpha);
    pass = { passTypeIdentifier: created.passTypeIdentifier, serialNumber: created.serialNumber };
    // the operator adds people from the CLI, as the first start says
    const env = {
      ...process.env,
      PASSSLOT_DATA_DIR: s.dataDir,
      ...(s.app.config.databaseUrl ? { DATABASE_URL: s.app.config.databaseUrl } : {}),
      PASSSLOT_LOG_LEVEL: 'silent',
    };
    const run = promisify(execFile);
    const cli = (args: string[], input?: string) => {
      const child = run('node', [BIN, ...args], { env });
      if (input !== undefined) child.child.stdin!.end(input);
      return child;
    };
    const ada = await cli(
      [
        'users',
        'create',
        'Ada@Example.com',
        '--account',
        'alpha',
        '--role',
        'developer',
        '--password-stdin',
        '--json',
      ],
      `${PASSWORD}\n`,
    );
    expect(JSON.parse(ada.stdout)).toMatchObject({
      email: 'ada@example.com',
      role: 'developer',
      created: true,
    });
    await cli(
      ['users', 'create', 'vic@example.com', '--account', 'alpha', '--role', 'viewer', '--password-stdin'],
      `${PASSWORD}\n`,
    );
    // a generated password is shown once
    const gen = await cli([
      'users',
      'create',
      'gen@example.com',
      '--account',
      'alpha',
      '--role',
      'viewer',
      '--json',
    ]);
    expect(JSON.parse(gen.stdout).password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    // and usage mistakes are exit 2
    await expect(
      cli(['users', 'create', 'x@example.com', '--account', 'alpha', '--role', 'king']),
    ).rejects.toMatchObject({ code: 2 });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  it('points a client without a token at the metadata, and publishes it (RFC 9728, RFC 8414)', async () => {
    const res = await request(`${s.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain(
      `Bearer resource_metadata="${s.url}/.well-known/oauth-protected-resource/mcp"`,
    );
    const v1 = await request(`${s.url}/v1/passes`);
    expect(v1.headers.get('www-authenticate')).toContain(`/.well-known/oauth-protected-resource/v1"`);
    const prm = await (await request(`${s.url}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm).toMatchObject({ resource: `${s.url}/mcp`, authorization_servers: [s.url] });
    expect((await (await request(`${s.url}/.well-known/oauth-protected-resource`)).json()).resource).toBe(
      s.url,
    );
    const as = await (await request(`${s.url}/.well-known/oauth-authorization-server`)).json();
    expect(as).toMatchObject({
      issuer: s.url,
      authorization_endpoint: `${s.url}/oauth/authorize`,
      token_endpoint: `${s.url}/oauth/token`,
      registration_endpoint: `${s.url}/oauth/register`,
      revocation_endpoint: `${s.url}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(as.scopes_supported).toContain('passes:write');
    expect(as.scopes_supported).not.toContain('*');
  });

  it('registers clients (RFC 7591) and refuses bad redirect URIs', async () => {
    const reg = await request(`${s.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [REDIRECT],
        client_name: 'Test <agent>',
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(reg.status).toBe(201);
    const body = await reg.json();
    expect(body.client_secret).toBeUndefined();
    clientId = body.client_id;
    const bad = await request(`${s.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://evil.example/cb'] }),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBe('invalid_redirect_uri');
  });

  it('signs people in with a cookie session and refuses a wrong password or a forged form', async () => {
    const b = new Browser();
    expect((await b.signIn('ada@example.com', 'wrong password!')).status).toBe(401);
    const forged = await new Browser().go('/login', {
      form: { csrf: 'x', email: 'ada@example.com', password: PASSWORD, next: '/login' },
    });
    expect(forged.status).toBe(403);
    const ok = await b.signIn('ada@example.com', PASSWORD, '/login');
    expect(ok.status).toBe(303);
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('passslot_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(await (await b.go('/login')).text()).toContain('ada@example.com');
    // sign out needs the session's form token
    const out = await b.go('/logout');
    const csrf = formOf(await out.text()).csrf!;
    expect((await b.go('/logout', { form: { csrf } })).status).toBe(303);
    expect((await b.go('/logout')).headers.get('location')).toBe('/login');
  });

  it('runs the whole flow: consent, code with PKCE, a tool call, refresh rotation, reuse revoking the grant', async () => {
    const b = new Browser();
    const { verifier, challenge } = pkce();
    // consent page: read scopes ticked, write unticked, the client named (escaped)
    let page = await b.go(authorizeUrl(challenge));
    expect(page.status).toBe(302);
    await b.signIn('ada@example.com', PASSWORD);
    page = await b.go(authorizeUrl(challenge));
    const html = await page.text();
    expect(html).toContain('Test &lt;agent&gt;');
    expect(html).toMatch(/name="grant:passes:read" value="1" checked/);
    expect(html).toMatch(/name="grant:passes:write" value="1">/);
    const back = await consent(b, challenge, ['passes:read', 'passes:write']);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('iss')).toBe(s.url);
    const code = back.searchParams.get('code')!;

    const t1 = await exchange(code, verifier);
    expect(t1.status).toBe(200);
    expect(t1.headers.get('cache-control')).toBe('no-store');
    expect(t1.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'passes:read passes:write',
    });

    // the token drives MCP (a tool call) and is refused at /v1: it was issued for /mcp
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${t1.body.access_token}` } },
      }),
    );
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('update_pass');
    expect(tools).not.toContain('create_template');
    const details = await client.callTool({ name: 'get_pass_details', arguments: pass });
    expect(details.isError).toBeFalsy();
    expect(details.structuredContent).toMatchObject({ serialNumber: pass.serialNumber });
    await client.close();
    // the execution log says who: the OAuth client and grant, on behalf of the person who consented
    await s.app.audit.close();
    const log = await (await s.api(s.alpha.appKey, '/v1/executions?edge=mcp&user=ada@example.com')).json();
    expect(log.executions[0]).toMatchObject({
      action: 'get_pass_details',
      keyId: null,
      credential: expect.stringMatching(new RegExp(`^oauth:${clientId}/grant:\\d+$`)),
      onBehalfOf: 'ada@example.com',
    });
    const wrongAudience = await bearer(t1.body.access_token, '/v1/passes');
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.headers.get('www-authenticate')).toContain('error="invalid_token"');

    // the code is single-use: a second exchange fails and revokes what the first obtained
    // (checked on another code below); rotation: a refresh gives new tokens
    const t2 = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token });
    expect(t2.status).toBe(200);
    expect(t2.body.refresh_token).not.toBe(t1.body.refresh_token);
    expect(await mcpStatus(t2.body.access_token)).toBe(200);
    // the old refresh token presented again: reuse, the grant is revoked with every token of it
    const reused = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    expect(await mcpStatus(t2.body.access_token)).toBe(401);
    const t3 = await token({ grant_type: 'refresh_token', refresh_token: t2.body.refresh_token });
    expect(t3.body.error).toBe('invalid_grant');
  });

  it('refuses a wrong verifier, a wrong redirect URI, an expired code and a reused code', async () => {
    const b = new Browser();
    await b.signIn('ada@example.com', PASSWORD);
    const a = await codeFor(b);
    expect((await exchange(a.code, pkce().verifier)).body.error).toBe('invalid_grant');
    const c = await codeFor(b);
    expect(
      (await exchange(c.code, c.verifier, { redirect_uri: 'http://127.0.0.1:8976/other' })).body.error,
    ).toBe('invalid_grant');
    const d = await codeFor(b);
    offsetMs += 10 * 60_000;
    expect((await exchange(d.code, d.verifier)).body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('expired'),
    });
    const e = await codeFor(b);
    const first = await exchange(e.code, e.verifier);
    expect(first.status).toBe(200);
    expect(await mcpStatus(first.body.access_token)).toBe(200);
    expect((await exchange(e.code, e.verifier)).body.error).toBe('invalid_grant');
    expect(await mcpStatus(first.body.access_token)).toBe(401);
    // a resource of another server is refused at the authorize step, back at the client
    const other = await b.go(authorizeUrl(pkce().challenge, { resource: 'https://elsewhere.example/mcp' }));
    expect(new URL(other.headers.get('location')!).searchParams.get('error')).toBe('invalid_target');
    // no PKCE: refused
    const plain = await b.go(authorizeUrl('x'.repeat(43), { code_challenge_method: 'plain' }));
    expect(new URL(plain.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('never redirects to an unknown client or an unregistered redirect URI', async () => {
    const b = new Browser();
    const unknown = await b.go(authorizeUrl(pkce().challenge, { client_id: 'psc_nobody' }));
    expect(unknown.status).toBe(400);
    const elsewhere = await b.go(
      authorizeUrl(pkce().challenge, { redirect_uri: 'https://attacker.example/cb' }),
    );
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.headers.get('location')).toBeNull();
  });

  it('sends a denial back to the client, and grants a viewer no more than reading', async () => {
    const b = new Browser();
    await b.signIn('ada@example.com', PASSWORD);
    const denied = await consent(b, pkce().challenge, ['passes:read'], { decision: 'deny' });
    expect(denied.searchParams.get('error')).toBe('access_denied');
    const v = new Browser();
    const { verifier, challenge } = pkce();
    const back = await consent(v, challenge, ['passes:read', 'passes:write'], {
      email: 'vic@example.com',
      extra: { resource: `${s.url}/v1` },
    });
    const t = await exchange(back.searchParams.get('code')!, verifier, { resource: `${s.url}/v1` });
    expect(t.body.scope).toBe('passes:read');
    // a /v1 token reads over REST and may not write
    const read = await bearer(
      t.body.access_token,
      `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/values`,
    );
    expect(read.status).toBe(200);
    const write = await bearer(
      t.body.access_token,
      `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/values`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ points: 1 }),
      },
    );
    expect(write.status).toBe(403);
    expect((await write.json()).code).toBe('missing_scope');
  });

  it('lets a person list their grants and an admin revoke any; revocation counts on the next request', async () => {
    const b = new Browser();
    await b.signIn('ada@example.com', PASSWORD);
    const { verifier, challenge } = pkce();
    const back = await consent(b, challenge, ['passes:read'], { extra: { resource: `${s.url}/v1` } });
    const t = await exchange(back.searchParams.get('code')!, verifier, { resource: `${s.url}/v1` });
    const mine = await (await bearer(t.body.access_token, '/v1/oauth/grants')).json();
    expect(mine.grants.length).toBeGreaterThan(0);
    expect(mine.grants.every((g: { user: string }) => g.user === 'ada@example.com')).toBe(true);
    const id = mine.grants[0].id;
    expect(mine.grants[0]).toMatchObject({ clientId, revokedAt: null, resource: `${s.url}/v1` });
    // the admin key of the account sees them all and revokes this one
    const all = await (await s.api(s.alpha.appKey, '/v1/oauth/grants')).json();
    expect(all.grants.some((g: { user: string }) => g.user === 'vic@example.com')).toBe(true);
    expect((await s.api(s.alpha.appKey, `/v1/oauth/grants/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await bearer(t.body.access_token, '/v1/oauth/grants')).status).toBe(401);
    // another account's admin cannot see or revoke it
    const beta = await s.account('beta-oauth');
    expect((await (await s.api(beta.appKey, '/v1/oauth/grants')).json()).grants).toEqual([]);
    expect((await s.api(beta.appKey, `/v1/oauth/grants/${id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('revokes a grant when the client revokes its refresh token (RFC 7009)', async () => {
    const b = new Browser();
    await b.signIn('ada@example.com', PASSWORD);
    const { code, verifier } = await codeFor(b, ['passes:read']);
    const t = await exchange(code, verifier);
    expect(await mcpStatus(t.body.access_token)).toBe(200);
    const res = await request(`${s.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, token: t.body.refresh_token }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await mcpStatus(t.body.access_token)).toBe(401);
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t.body.refresh_token })).body.error,
    ).toBe('invalid_grant');
  });

  it('drives the SDK with OAuth tokens: refreshed before expiry once for concurrent calls, rotated, and stopped by reuse', async () => {
    const b = new Browser();
    await b.signIn('ada@example.com', PASSWORD);
    const { verifier, challenge } = pkce();
    const back = await consent(b, challenge, ['passes:read'], { extra: { resource: s.url } });
    const t = await exchange(back.searchParams.get('code')!, verifier, { resource: s.url });
    expect(t.status).toBe(200);
    const seen: { accessToken: string; refreshToken: string }[] = [];
    const client = new PassslotClient({
      baseUrl: s.url,
      accessToken: t.body.access_token,
      refreshToken: t.body.refresh_token,
      clientId,
      // about to expire: the client refreshes first, once for all the calls waiting
      expiresAt: Date.now() + 5_000,
      onTokens: (tokens) => void seen.push(tokens),
    });
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.getPassDetails(pass)));
    expect(answers.every((a) => a.serialNumber === pass.serialNumber)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.refreshToken).not.toBe(t.body.refresh_token);
    expect(client.tokens?.refreshToken).toBe(seen[0]!.refreshToken);
    // someone presents the first refresh token again: the grant is revoked, the client's next call fails clearly
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: t.body.refresh_token })).body.error,
    ).toBe('invalid_grant');
    const failed = await client.getPassDetails(pass).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(PassslotError);
    expect((failed as PassslotError).code).toBe('invalid_grant');
  });

  it('makes app keys that act on behalf of a person, within their role', async () => {
    const make = (json: Record<string, unknown>) =>
      s.api(s.alpha.appKey, '/v1/keys', { method: 'POST', json });
    const beyond = await make({ name: 'too much', scopes: ['*'], user: 'vic@example.com' });
    expect(beyond.status).toBe(422);
    expect((await beyond.json()).errors[0]).toMatchObject({ field: 'scopes' });
    const stranger = await make({ name: 'nobody', scopes: ['passes:read'], user: 'nobody@example.com' });
    expect((await stranger.json()).errors[0]).toMatchObject({ field: 'user' });
    const made = await make({
      name: "ada's script",
      scopes: ['passes:read', 'passes:write'],
      user: 'ada@example.com',
    });
    expect(made.status).toBe(201);
    const key = await made.json();
    expect(key.userId).toEqual(expect.any(Number));
    const path = `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/values`;
    expect((await s.api(key.key, path, { method: 'PUT', json: { points: 7 } })).status).toBe(200);
    const [run] = (
      await (await s.api(s.alpha.appKey, `/v1/executions?user=ada@example.com&edge=rest`)).json()
    ).executions;
    expect(run).toMatchObject({
      action: 'update_pass',
      credential: `key:${key.id}`,
      onBehalfOf: 'ada@example.com',
    });
    // once the person leaves the account, their key stops working
    await s.app.db.deleteFrom('memberships').where('userId', '=', key.userId).execute();
    s.app.auth.forget();
    expect((await s.api(key.key, path)).status).toBe(401);
  });
});
