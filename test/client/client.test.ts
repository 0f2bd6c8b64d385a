// The SDK against stand-in HTTP servers (the real server's part is test/api/run.test.ts): retries with backoff that
// honours Retry-After and RateLimit-Reset, one Idempotency-Key per call on every retry, network errors retried and
// refusals not, pages read lazily, bulk reports, and OAuth tokens refreshed before expiry and on a 401, rotated, one
// refresh at a time. Waits are recorded by an injected sleep, never slept.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type GetPassDetailsOutput,
  PassslotClient,
  type PassslotClientOptions,
  PassslotError,
  type RetryInfo,
  type Tokens,
} from '../../src/client/index.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A local HTTP server answering with `handler`, recording every request. */
async function standIn(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const r = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => server.close() });
  server.closeAllConnections?.();
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** A client that records its waits instead of sleeping. */
function clientFor(url: string, more: Partial<PassslotClientOptions> = {}) {
  const waits: number[] = [];
  const retries: RetryInfo[] = [];
  const client = new PassslotClient({
    baseUrl: url,
    apiKey: 'psk_test',
    sleep: async (ms) => {
      waits.push(ms);
    },
    onRetry: (r) => retries.push(r),
    ...more,
  } as PassslotClientOptions);
  return { client, waits, retries };
}

const ref = { passTypeIdentifier: 'pass.test', serialNumber: 'S-1' };

/** Answers from a script, one per request; the last repeats. */
function scripted(...answers: ((res: ServerResponse) => void)[]): Handler {
  let i = 0;
  return (_req, res) => answers[Math.min(i++, answers.length - 1)]!(res);
}
const ok =
  (body: unknown = { done: true }) =>
  (res: ServerResponse) =>
    json(res, 200, body);
const limited = (headers: Record<string, string>) => (res: ServerResponse) =>
  json(res, 429, { message: 'Rate limit exceeded', code: 'rate_limited' }, headers);
const unavailable = (res: ServerResponse) => json(res, 503, { message: 'busy', code: 'unavailable' });

describe('retries', () => {
  it('waits at least Retry-After (seconds) on a 429 even above maxDelayMs, then succeeds', async () => {
    const s = await standIn(scripted(limited({ 'Retry-After': '7' }), limited({ 'Retry-After': '3' }), ok()));
    const { client, waits, retries } = clientFor(s.url, {
      random: () => 0.999,
      baseDelayMs: 100,
      maxDelayMs: 1000,
    });
    expect(await client.run('get_pass_status', ref)).toEqual({ done: true });
    expect(waits).toEqual([7000, 3000]);
    expect(retries.map((r) => [r.attempt, r.status])).toEqual([
      [1, 429],
      [2, 429],
    ]);
    expect(s.seen).toHaveLength(3);
    expect(s.seen[0]!.url).toBe('/v1/actions/get_pass_status');
    expect(JSON.parse(s.seen[0]!.body)).toEqual(ref);
    expect(s.seen[0]!.headers.authorization).toBe('Bearer psk_test');
  });

  it('reads Retry-After as an HTTP date, and RateLimit-Reset on a 429 without it', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const date = new Date(now + 5000).toUTCString();
    const s = await standIn(
      scripted(limited({ 'Retry-After': date }), limited({ 'RateLimit-Reset': '12' }), ok()),
    );
    const { client, waits } = clientFor(s.url, { random: () => 0, now: () => now });
    await client.run('get_pass_status', ref);
    expect(waits).toEqual([5000, 12_000]);
  });

  it('backs off with full jitter: random(0, min(max, base·2^(n-1))) when the server names no time', async () => {
    const s = await standIn(scripted(unavailable, unavailable, unavailable, unavailable, ok()));
    const randoms = [0.5, 0.25, 1 - 1e-9, 0.5];
    const { client, waits } = clientFor(s.url, {
      random: () => randoms.shift()!,
      baseDelayMs: 100,
      maxDelayMs: 300,
    });
    await client.run('get_pass_status', ref);
    // caps 100, 200, 300 (400 capped), 300
    expect(waits).toEqual([50, 50, 299, 150]);
  });

  it('gives up after maxAttempts with the last answer as a PassslotError', async () => {
    const s = await standIn(scripted(limited({ 'Retry-After': '1' })));
    const { client } = clientFor(s.url, { maxAttempts: 3 });
    const err = await client.run('get_pass_status', ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PassslotError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited', message: 'Rate limit exceeded' });
    expect(s.seen).toHaveLength(3);
  });

  it('sends one Idempotency-Key on every attempt of a mutating call, a new one per call, none for reads', async () => {
    const s = await standIn(scripted(unavailable, limited({ 'Retry-After': '1' }), ok({ points: '2' })));
    const { client } = clientFor(s.url);
    expect(await client.updatePass({ ...ref, values: { points: '2' } })).toEqual({ points: '2' });
    const keys = s.seen.map((r) => r.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
    await client.updatePass({ ...ref, values: { points: '3' } });
    expect(s.seen[3]!.headers['idempotency-key']).not.toBe(keys[0]);
    await client.updatePass({ ...ref, values: { points: '3' } }, { idempotencyKey: 'mine-1' });
    expect(s.seen[4]!.headers['idempotency-key']).toBe('mine-1');
    await client.getPassValues(ref);
    expect(s.seen[5]!.headers['idempotency-key']).toBeUndefined();
  });

  it('retries a network error (the connection dropped), then says network_error when attempts run out', async () => {
    let n = 0;
    const s = await standIn((_req, res) => {
      if (n++ === 0) res.socket!.destroy();
      else json(res, 200, { status: 'valid' });
    });
    const { client, retries } = clientFor(s.url);
    expect(await client.getPassStatus(ref)).toEqual({ status: 'valid' });
    expect(retries).toHaveLength(1);
    expect(retries[0]!.status).toBeUndefined();
    expect(retries[0]!.error).toBeInstanceOf(Error);

    const down = await standIn((_req, res) => res.socket!.destroy());
    const { client: c2 } = clientFor(down.url, { maxAttempts: 2 });
    const err = await c2.getPassStatus(ref).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'PassslotError', status: 0, code: 'network_error' });
    expect(down.seen).toHaveLength(2);
  });

  it('uses the fetch it is given', async () => {
    const calls: string[] = [];
    const { client } = clientFor('https://passes.example', {
      fetch: async (url) => {
        calls.push(String(url));
        if (calls.length === 1) throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') });
        return new Response(JSON.stringify({ status: 'valid' }), {
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    expect(await client.getPassStatus(ref)).toEqual({ status: 'valid' });
    expect(calls).toEqual([
      'https://passes.example/v1/actions/get_pass_status',
      'https://passes.example/v1/actions/get_pass_status',
    ]);
    const { client: down } = clientFor('https://passes.example', {
      maxAttempts: 1,
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') });
      },
    });
    await expect(down.getPassStatus(ref)).rejects.toThrow(
      'cannot reach https://passes.example: fetch failed (ECONNREFUSED)',
    );
  });

  it('throws a refusal (4xx) at once with its code, message, field errors and request id', async () => {
    const s = await standIn((_req, res) =>
      json(
        res,
        422,
        {
          message: 'Validation Failed',
          code: 'validation_failed',
          errors: [{ field: 'values', reasons: ['Expected object'] }],
        },
        { 'x-request-id': 'req-1' },
      ),
    );
    const { client, retries } = clientFor(s.url);
    const err = (await client.updatePass({ ...ref, values: {} }).catch((e: unknown) => e)) as PassslotError;
    expect(err).toBeInstanceOf(PassslotError);
    expect(err).toMatchObject({
      status: 422,
      code: 'validation_failed',
      message: 'Validation Failed',
      errors: [{ field: 'values', reasons: ['Expected object'] }],
      requestId: 'req-1',
    });
    expect(s.seen).toHaveLength(1);
    expect(retries).toEqual([]);
  });

  it('answers a bytes action with the file: content type, name and bytes', async () => {
    const s = await standIn((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/vnd.apple.pkpass',
        'content-disposition': `attachment; filename="${encodeURIComponent('S 1.pkpass')}"`,
      });
      res.end(Buffer.from('PK\x03\x04zip'));
    });
    const { client } = clientFor(s.url);
    const file = await client.downloadPass(ref);
    expect(file.contentType).toBe('application/vnd.apple.pkpass');
    expect(file.filename).toBe('S 1.pkpass');
    expect(Buffer.from(file.data).toString('latin1')).toBe('PK\x03\x04zip');
  });
});

describe('pages and bulk', () => {
  it('paginates lazily with the filters and each nextCursor, until nextCursor is null', async () => {
    const pages: Record<string, { passes: { serialNumber: string }[]; nextCursor: string | null }> = {
      '': { passes: [{ serialNumber: 'a' }, { serialNumber: 'b' }], nextCursor: 'c1' },
      c1: { passes: [{ serialNumber: 'c' }], nextCursor: 'c2' },
      c2: { passes: [{ serialNumber: 'd' }], nextCursor: null },
    };
    const s = await standIn((req, res) => json(res, 200, pages[JSON.parse(req.body).cursor ?? '']));
    const { client } = clientFor(s.url);
    const all: string[] = [];
    for await (const p of client.paginate('get_passes', { status: 'valid', limit: 2 }))
      all.push(p.serialNumber);
    expect(all).toEqual(['a', 'b', 'c', 'd']);
    expect(s.seen.map((r) => JSON.parse(r.body))).toEqual([
      { status: 'valid', limit: 2 },
      { status: 'valid', limit: 2, cursor: 'c1' },
      { status: 'valid', limit: 2, cursor: 'c2' },
    ]);
    // lazily: the first item needs only the first page
    for await (const p of client.paginate('get_passes')) {
      expect(p.serialNumber).toBe('a');
      break;
    }
    expect(s.seen).toHaveLength(4);
  });

  it('runs bulk items a few at a time and reports each success and failure, never rejecting', async () => {
    let inFlight = 0;
    let most = 0;
    const { client } = clientFor('http://127.0.0.1:9');
    const progress: [number, number][] = [];
    const report = await client.bulk(
      [1, 2, 3, 4, 5, 6, 7],
      async (n, c) => {
        expect(c).toBe(client);
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        if (n === 3) throw new PassslotError(404, 'not_found', 'pass 3 not found');
        if (n === 6) throw new Error('boom');
        return n * 10;
      },
      { concurrency: 3, onProgress: (done, total) => progress.push([done, total]) },
    );
    expect(most).toBe(3);
    expect(report.succeeded).toEqual([1, 2, 4, 5, 7].map((n) => ({ item: n, result: n * 10 })));
    expect(report.failed).toEqual([
      { item: 3, status: 404, code: 'not_found', message: 'pass 3 not found' },
      { item: 6, status: 0, code: 'error', message: 'boom' },
    ]);
    expect(progress.map(([d]) => d)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(progress.every(([, t]) => t === 7)).toBe(true);
  });
});

/**
 * The token endpoint as the OAuth server is specified to answer (POST /oauth/token, form-encoded refresh_token grant
 * with client_id and resource; {access_token, token_type, expires_in, refresh_token, scope}; the refresh token rotates
 * and a used one is refused with invalid_grant), and an API that accepts only the current access token.
 */
async function oauthStandIn(options: { expiresIn?: number } = {}) {
  let generation = 0;
  let access = 'at-0';
  let refresh = 'rt-0';
  const grants: Record<string, string>[] = [];
  const s = await standIn((req, res) => {
    if (req.url === '/oauth/token') {
      const form = Object.fromEntries(new URLSearchParams(req.body));
      grants.push(form);
      if (
        req.method !== 'POST' ||
        req.headers['content-type'] !== 'application/x-www-form-urlencoded' ||
        form.grant_type !== 'refresh_token' ||
        form.client_id !== 'agent-1' ||
        !form.resource
      )
        return json(res, 400, { error: 'invalid_request', error_description: 'not a refresh_token grant' });
      if (form.refresh_token !== refresh)
        return json(res, 400, {
          error: 'invalid_grant',
          error_description: 'the refresh token was used already',
        });
      generation++;
      access = `at-${generation}`;
      refresh = `rt-${generation}`;
      const answer = {
        access_token: access,
        token_type: 'Bearer',
        expires_in: options.expiresIn ?? 3600,
        refresh_token: refresh,
        scope: 'passes:read',
      };
      // answered on a later turn, so that calls made meanwhile find the refresh in flight
      setImmediate(() => json(res, 200, answer));
      return;
    }
    if (req.headers.authorization !== `Bearer ${access}`)
      return json(res, 401, { message: 'the access token is not valid', code: 'unauthorized' });
    json(res, 200, { status: 'valid', token: access });
  });
  return {
    ...s,
    grants,
    /** The access token stops working early (revoked, or expired before expiresAt said). */
    expireAccess: () => {
      access = `${access}-expired`;
    },
  };
}

/** Which access token the stand-in API saw (it answers it beside the status). */
const tokenOf = (answer: unknown): string => (answer as { token: string }).token;

function oauthClient(
  url: string,
  more: { expiresAt?: number; now?: () => number; refreshToken?: string } = {},
) {
  const stored: Tokens[] = [];
  const client = new PassslotClient({
    baseUrl: url,
    accessToken: 'at-0',
    refreshToken: 'rt-0',
    clientId: 'agent-1',
    onTokens: (t) => {
      stored.push(t);
    },
    sleep: async () => {},
    ...more,
  });
  return { client, stored };
}

describe('OAuth tokens', () => {
  it('refreshes before a token that expires within 60 s is used, and hands the new tokens to onTokens', async () => {
    const now = 1_000_000;
    const s = await oauthStandIn({ expiresIn: 900 });
    const { client, stored } = oauthClient(s.url, { expiresAt: now + 30_000, now: () => now });
    expect(await client.getPassStatus(ref)).toEqual({ status: 'valid', token: 'at-1' });
    expect(s.grants).toEqual([
      { grant_type: 'refresh_token', refresh_token: 'rt-0', client_id: 'agent-1', resource: s.url },
    ]);
    expect(stored).toEqual([{ accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: now + 900_000 }]);
    expect(client.tokens).toEqual(stored[0]);
    // a token far from expiry is used as it is
    await client.getPassStatus(ref);
    expect(s.grants).toHaveLength(1);
  });

  it('refreshes on a 401 and sends the call again, each time with the newest (rotated) refresh token', async () => {
    const s = await oauthStandIn();
    const { client, stored } = oauthClient(s.url);
    expect(await client.getPassStatus(ref)).toEqual({ status: 'valid', token: 'at-0' });
    for (const round of [1, 2, 3]) {
      s.expireAccess();
      expect(await client.getPassStatus(ref)).toEqual({ status: 'valid', token: `at-${round}` });
    }
    // the stand-in refuses a used refresh token, so each refresh used the one the previous refresh returned
    expect(s.grants.map((g) => g.refresh_token)).toEqual(['rt-0', 'rt-1', 'rt-2']);
    expect(stored.map((t) => t.refreshToken)).toEqual(['rt-1', 'rt-2', 'rt-3']);
  });

  it('runs one refresh at a time: concurrent calls share it (before expiry and after 401s alike)', async () => {
    const now = 5_000_000;
    const s = await oauthStandIn();
    const { client, stored } = oauthClient(s.url, { expiresAt: now - 1, now: () => now });
    const first = await Promise.all(Array.from({ length: 10 }, () => client.getPassStatus(ref)));
    expect(first.map(tokenOf)).toEqual(Array(10).fill('at-1'));
    expect(s.grants).toHaveLength(1);
    s.expireAccess();
    const second = await Promise.all(Array.from({ length: 10 }, () => client.getPassStatus(ref)));
    expect(second.map(tokenOf)).toEqual(Array(10).fill('at-2'));
    expect(s.grants.map((g) => g.refresh_token)).toEqual(['rt-0', 'rt-1']);
    expect(stored).toHaveLength(2);
  });

  it("throws the token endpoint's invalid_grant at once when the refresh token was used already", async () => {
    const s = await oauthStandIn();
    const { client, stored } = oauthClient(s.url, { refreshToken: 'rt-used' });
    s.expireAccess();
    const err = await client.getPassStatus(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PassslotError);
    expect(err).toMatchObject({
      status: 400,
      code: 'invalid_grant',
      message: 'the refresh token was used already',
    });
    expect(s.grants).toHaveLength(1);
    expect(stored).toEqual([]);
  });
});

describe('types', () => {
  it('types run and the methods by the generated Actions map', () => {
    const { client } = clientFor('http://127.0.0.1:9');
    expectTypeOf(client.getPassDetails).returns.resolves.toEqualTypeOf<GetPassDetailsOutput>();
    expectTypeOf(client.run<'get_pass_status'>).returns.resolves.toEqualTypeOf<{ status: string }>();
    // @ts-expect-error: update_pass needs values
    void (() => client.updatePass({ passTypeIdentifier: 'p', serialNumber: 's' }));
    // @ts-expect-error: no such action
    void (() => client.run('make_coffee', {}));
  });
});
