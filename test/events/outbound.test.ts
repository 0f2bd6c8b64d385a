// The SSRF guard of outgoing requests: address classes, URL checks, the check at connection time (a DNS answer that
// points inside is refused by the socket's own lookup), no redirects, the timeout.

import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPublicAddress,
  Outbound,
  OutboundError,
  retryAfterMs,
  urlProblem,
} from '../../src/events/outbound.js';

describe('outbound requests', () => {
  let server: Server;
  let port: number;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') return res.writeHead(302, { location: '/elsewhere' }).end();
      if (req.url === '/slow') return; // never answers
      res.writeHead(200).end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('tells public addresses from private, loopback, link-local and mapped ones', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '93.184.216.34'])
      expect(isPublicAddress(ip), ip).toBe(true);
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::10.0.0.1',
      '224.0.0.1',
      'not an ip',
    ])
      expect(isPublicAddress(ip), ip).toBe(false);
  });

  it('refuses URLs that are not http(s), carry credentials or name inside addresses unless allowed', () => {
    expect(urlProblem('https://hooks.example.com/x', false)).toBeUndefined();
    expect(urlProblem('ftp://example.com', false)).toMatch(/http or https/);
    expect(urlProblem('not a url', false)).toMatch(/valid URL/);
    expect(urlProblem('https://u:p@example.com', false)).toMatch(/user name/);
    expect(urlProblem('http://127.0.0.1:8080/', false)).toMatch(/PASSSLOT_WEBHOOK_ALLOW_PRIVATE/);
    expect(urlProblem('http://[::ffff:127.0.0.1]/', false)).toMatch(/private/);
    expect(urlProblem('http://169.254.169.254/latest/meta-data', false)).toMatch(/private/);
    expect(urlProblem('http://localhost:3000/', false)).toMatch(/local host name/);
    expect(urlProblem('http://127.0.0.1:8080/', true)).toBeUndefined();
  });

  it('checks the address it connects to: a host name resolving inside is refused and never reached', async () => {
    // DNS (the stand-in resolver) says the public-looking name is 127.0.0.1, as a rebinding attack would
    const resolver = (
      _host: string,
      _opts: unknown,
      cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void,
    ) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const guarded = new Outbound(false, resolver);
    const before = hits;
    const err = await guarded
      .send({ method: 'POST', url: `http://rebind.example:${port}/`, headers: {}, body: '{}' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    expect((err as Error).message).toMatch(/resolves to 127\.0\.0\.1/);
    expect(hits).toBe(before);
    await guarded.close();
  });

  it('does not follow redirects, stops waiting at the timeout, and reads answers when allowed', async () => {
    const open = new Outbound(true);
    const ok = await open.send({ method: 'GET', url: `http://127.0.0.1:${port}/`, headers: {} });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('hello');
    const redirect = await open.send({
      method: 'GET',
      url: `http://127.0.0.1:${port}/redirect`,
      headers: {},
    });
    expect(redirect.status).toBe(302);
    const slow = await open
      .send({ method: 'GET', url: `http://127.0.0.1:${port}/slow`, headers: {}, timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect((slow as Error).message).toMatch(/no answer within 0.3 seconds/);
    await open.close();
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('120', 0)).toBe(120_000);
    expect(retryAfterMs(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(retryAfterMs(undefined, 0)).toBeUndefined();
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });
});
