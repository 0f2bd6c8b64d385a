// The APNs stand-in over real HTTP/2 and TLS: provider authentication (pass type certificate or ES256 token), Apple's
// status codes and reasons, behaviour controls, concurrency on one session, GOAWAY and the device channel.
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApnsStandin, startApnsStandin } from '../../src/dev/apns-standin.js';
import { createDevPki, type DevPki } from '../../src/engine/index.js';
import { tmpDir } from '../helpers.js';

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function request(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  method = 'POST',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, ...headers });
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => resolve({ status, headers: responseHeaders, body: text }));
    req.on('error', reject);
    req.end(body);
  });
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function providerToken(
  key: KeyObject,
  kid: string,
  iss: string,
  iat = Math.floor(Date.now() / 1000),
): string {
  const signingInput = `${b64url({ alg: 'ES256', kid })}.${b64url({ iss, iat })}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

const token = () => randomBytes(32).toString('hex');

describe('APNs stand-in', () => {
  const certsDir = join(tmpDir('passslot-standin-'), 'certs');
  let pki: DevPki;
  let standin: ApnsStandin;
  let certSession: http2.ClientHttp2Session;
  const signingKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const logged: unknown[] = [];

  const connectWithCertificate = () =>
    http2.connect(standin.url, {
      ca: standin.serverCertificatePem,
      cert: pki.certificatePem,
      key: pki.privateKeyPem,
    });
  const connectBare = () => http2.connect(standin.url, { ca: standin.serverCertificatePem });

  beforeAll(async () => {
    pki = createDevPki({ passTypeIdentifier: 'pass.test.passslot.standin' });
    standin = await startApnsStandin({
      certsDir,
      clientCas: [pki.caCertificatePem],
      tokenKeys: { KEY1234567: signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
      log: (record) => logged.push(record),
    });
    certSession = connectWithCertificate();
  });

  afterAll(async () => {
    certSession?.close();
    await standin?.close();
  });

  it('creates its own TLS certificate for localhost, trusted as its own anchor', async () => {
    expect(existsSync(join(certsDir, 'server.pem'))).toBe(true);
    expect(existsSync(join(certsDir, 'server.key'))).toBe(true);
    expect(readFileSync(join(certsDir, 'server.pem'), 'utf8')).toBe(standin.serverCertificatePem);
    expect(standin.url).toBe(`https://127.0.0.1:${standin.port}`);
    // by host name too: the certificate names localhost
    const byName = http2.connect(`https://localhost:${standin.port}`, { ca: standin.serverCertificatePem });
    const r = await request(byName, '/nowhere', {}, undefined, 'GET');
    byName.close();
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ reason: 'BadPath' });
  });

  it('accepts a push authenticated by a pass type certificate: 200, apns-id, and a record', async () => {
    const t = token();
    const apnsId = randomUUID();
    const r = await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier, 'apns-id': apnsId, 'apns-push-type': 'background' },
      '{}',
    );
    expect(r.status).toBe(200);
    expect(r.headers['apns-id']).toBe(apnsId);
    expect(r.body).toBe('');
    const record = standin.received.at(-1)!;
    expect(record).toMatchObject({
      token: t,
      topic: pki.passTypeIdentifier,
      body: '{}',
      status: 200,
      apnsId,
      auth: { kind: 'certificate', authorized: true, uid: pki.passTypeIdentifier },
    });
    expect(record.headers['apns-push-type']).toBe('background');
    expect(logged.at(-1)).toBe(record);
    // without an apns-id the stand-in makes one
    const second = await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier },
      '{}',
    );
    expect(second.status).toBe(200);
    expect(second.headers['apns-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a provider without credentials (403 MissingProviderToken) or with a certificate of another CA', async () => {
    const bare = connectBare();
    const r = await request(bare, `/3/device/${token()}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    bare.close();
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ reason: 'MissingProviderToken' });
    expect(r.headers['apns-id']).toBeTruthy();

    const stranger = createDevPki({ passTypeIdentifier: pki.passTypeIdentifier });
    const other = http2.connect(standin.url, {
      ca: standin.serverCertificatePem,
      cert: stranger.certificatePem,
      key: stranger.privateKeyPem,
    });
    const bad = await request(other, `/3/device/${token()}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    other.close();
    expect(bad.status).toBe(403);
    expect(JSON.parse(bad.body)).toEqual({ reason: 'BadCertificate' });
  });

  it('answers 400 MissingTopic, TopicDisallowed, BadDeviceToken, PayloadEmpty, BadPayload', async () => {
    const t = token();
    const cases: Array<[Record<string, string>, string, string | undefined, string]> = [
      [{}, `/3/device/${t}`, '{}', 'MissingTopic'],
      [{ 'apns-topic': 'pass.some.other.type' }, `/3/device/${t}`, '{}', 'TopicDisallowed'],
      [{ 'apns-topic': pki.passTypeIdentifier }, '/3/device/not-a-hex-token', '{}', 'BadDeviceToken'],
      [{ 'apns-topic': pki.passTypeIdentifier }, `/3/device/${t}`, '', 'PayloadEmpty'],
      [{ 'apns-topic': pki.passTypeIdentifier }, `/3/device/${t}`, 'not json', 'BadPayload'],
      [{ 'apns-topic': pki.passTypeIdentifier }, `/3/device/${t}`, '[]', 'BadPayload'],
      [{ 'apns-topic': pki.passTypeIdentifier, 'apns-id': 'nope' }, `/3/device/${t}`, '{}', 'BadMessageId'],
    ];
    for (const [headers, path, body, reason] of cases) {
      const r = await request(certSession, path, headers, body);
      expect(r.status, reason).toBe(400);
      expect(JSON.parse(r.body), reason).toEqual({ reason });
      expect(standin.received.at(-1)).toMatchObject({ status: 400, reason });
    }
    const big = await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier },
      JSON.stringify({ pad: 'x'.repeat(5000) }),
    );
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toEqual({ reason: 'PayloadTooLarge' });
    const get = await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier },
      undefined,
      'GET',
    );
    expect(get.status).toBe(405);
  });

  it('answers 410 Unregistered with a timestamp for a token marked so, until it is cleared', async () => {
    const t = token();
    standin.setToken(t, { status: 410, reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    const r = await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    expect(r.status).toBe(410);
    expect(JSON.parse(r.body)).toEqual({ reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    standin.setToken(t, { status: 400, reason: 'DeviceTokenNotForTopic' });
    const notForTopic = await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier },
      '{}',
    );
    expect(notForTopic.status).toBe(400);
    expect(JSON.parse(notForTopic.body)).toEqual({ reason: 'DeviceTokenNotForTopic' });
    standin.clearToken(t);
    const ok = await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    expect(ok.status).toBe(200);
  });

  it('throttles the next N requests with 429 TooManyRequests (or 503), then answers 200', async () => {
    const t = token();
    standin.throttle(2);
    const send = () => request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    const first = await send();
    const second = await send();
    const third = await send();
    expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
    expect(JSON.parse(first.body)).toEqual({ reason: 'TooManyRequests' });
    standin.throttle(1, { status: 503 });
    const unavailable = await send();
    expect(unavailable.status).toBe(503);
    expect(JSON.parse(unavailable.body)).toEqual({ reason: 'ServiceUnavailable' });
    expect((await send()).status).toBe(200);
  });

  it('accepts an ES256 provider token and refuses a wrong key or one older than an hour', async () => {
    const bare = connectBare();
    const push = (jwt: string) =>
      request(
        bare,
        `/3/device/${token()}`,
        { 'apns-topic': 'pass.any.type.with.token.auth', authorization: `bearer ${jwt}` },
        '{"aps":{}}',
      );
    const ok = await push(providerToken(signingKey.privateKey, 'KEY1234567', 'TEAM123456'));
    expect(ok.status).toBe(200);
    expect(standin.received.at(-1)).toMatchObject({
      status: 200,
      topic: 'pass.any.type.with.token.auth',
      auth: { kind: 'token', keyId: 'KEY1234567', teamId: 'TEAM123456' },
    });
    expect(standin.received.at(-1)!.headers.authorization).not.toContain(ok.headers['apns-id'] as string);

    const wrongKey = await push(providerToken(otherKey.privateKey, 'KEY1234567', 'TEAM123456'));
    expect(wrongKey.status).toBe(403);
    expect(JSON.parse(wrongKey.body)).toEqual({ reason: 'InvalidProviderToken' });
    const unknownKid = await push(providerToken(signingKey.privateKey, 'UNKNOWNKEY', 'TEAM123456'));
    expect(JSON.parse(unknownKid.body)).toEqual({ reason: 'InvalidProviderToken' });
    const garbage = await push('not.a.jwt');
    expect(JSON.parse(garbage.body)).toEqual({ reason: 'InvalidProviderToken' });
    const old = await push(
      providerToken(signingKey.privateKey, 'KEY1234567', 'TEAM123456', Math.floor(Date.now() / 1000) - 3700),
    );
    expect(old.status).toBe(403);
    expect(JSON.parse(old.body)).toEqual({ reason: 'ExpiredProviderToken' });
    const noTopic = await request(
      bare,
      `/3/device/${token()}`,
      { authorization: `bearer ${providerToken(signingKey.privateKey, 'KEY1234567', 'TEAM123456')}` },
      '{}',
    );
    expect(JSON.parse(noTopic.body)).toEqual({ reason: 'MissingTopic' });
    bare.close();
  });

  it('serves many concurrent streams on one session', async () => {
    const session = connectWithCertificate();
    const before = standin.received.length;
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        request(
          session,
          `/3/device/${token()}`,
          { 'apns-topic': pki.passTypeIdentifier, 'apns-id': randomUUID() },
          JSON.stringify({ i }),
        ),
      ),
    );
    session.close();
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.headers['apns-id'])).size).toBe(300);
    expect(standin.received.length - before).toBe(300);
    const remoteSettings = await new Promise<http2.Settings>((resolve) => {
      const s = connectWithCertificate();
      s.once('remoteSettings', (settings) => {
        resolve(settings);
        s.close();
      });
    });
    expect(remoteSettings.maxConcurrentStreams).toBe(1000);
  });

  it('sends GOAWAY on every open session; clients must reconnect', async () => {
    const a = connectWithCertificate();
    const b = connectWithCertificate();
    for (const s of [a, b])
      expect(
        (await request(s, `/3/device/${token()}`, { 'apns-topic': pki.passTypeIdentifier }, '{}')).status,
      ).toBe(200);
    const ended = [a, b].map(
      (s) =>
        new Promise<{ code: number }>((resolve) => {
          let code = -1;
          s.on('goaway', (errorCode) => {
            code = errorCode;
          });
          s.on('close', () => resolve({ code }));
        }),
    );
    standin.goaway();
    const results = await Promise.all(ended);
    expect(results).toEqual([{ code: 0 }, { code: 0 }]);
    const fresh = connectWithCertificate();
    const r = await request(fresh, `/3/device/${token()}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    fresh.close();
    expect(r.status).toBe(200);
    // the long-lived session of this suite went away too
    certSession = connectWithCertificate();
  });

  it('has HTTP control endpoints for tokens, throttling and GOAWAY', async () => {
    let control = connectBare();
    const t = token();
    const set = await request(
      control,
      `/control/tokens/${t}`,
      { 'content-type': 'application/json' },
      '{"status":410,"reason":"Unregistered"}',
    );
    expect(set.status).toBe(200);
    let r = await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    expect(r.status).toBe(410);
    expect(JSON.parse(r.body)).toMatchObject({ reason: 'Unregistered', timestamp: expect.any(Number) });
    expect((await request(control, `/control/tokens/${t}`, {}, undefined, 'DELETE')).status).toBe(200);
    r = await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    expect(r.status).toBe(200);
    const refused = await request(control, `/control/tokens/${t}`, {}, '{"status":410,"reason":"BadTopic"}');
    expect(refused.status).toBe(400);

    expect(
      (
        await request(
          control,
          '/control/throttle',
          {},
          '{"count":1,"status":503,"reason":"ServiceUnavailable"}',
        )
      ).status,
    ).toBe(200);
    r = await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    expect(r.status).toBe(503);

    const closed = [certSession, control].map(
      (s) => new Promise<void>((resolve) => s.once('close', () => resolve())),
    );
    const goaway = await request(control, '/control/goaway', {}, '');
    expect(goaway.status).toBe(200);
    await Promise.all(closed);
    certSession = connectWithCertificate();
    control = connectBare();
    const received = await request(control, '/control/received', {}, undefined, 'GET');
    control.close();
    expect(JSON.parse(received.body).received.length).toBe(standin.received.length);
  });

  it('wakes a device listening on its channel for each accepted push, and only those', async () => {
    const t = token();
    const device = connectBare();
    const events: unknown[] = [];
    const req = device.request({ ':method': 'GET', ':path': `/device/${t}/pushes` });
    req.setEncoding('utf8');
    const opened = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
    let buffer = '';
    const got = new Promise<void>((resolve) => {
      req.on('data', (chunk: string) => {
        buffer += chunk;
        for (const m of buffer.matchAll(/^data: (.*)$/gm)) events.push(JSON.parse(m[1]!));
        buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
        if (events.length >= 2) resolve();
      });
    });
    const headers = await opened;
    expect(headers[':status']).toBe(200);
    expect(headers['content-type']).toBe('text/event-stream');

    const seen: string[] = [];
    const off = standin.onPush((record) => seen.push(record.apnsId));
    const id1 = randomUUID();
    const id2 = randomUUID();
    await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier, 'apns-id': id1 },
      '{}',
    );
    standin.setToken(t, { status: 410, reason: 'Unregistered' });
    await request(certSession, `/3/device/${t}`, { 'apns-topic': pki.passTypeIdentifier }, '{}');
    standin.clearToken(t);
    await request(
      certSession,
      `/3/device/${t}`,
      { 'apns-topic': pki.passTypeIdentifier, 'apns-id': id2 },
      '{}',
    );
    await got;
    off();
    expect(events).toEqual([
      { topic: pki.passTypeIdentifier, apnsId: id1 },
      { topic: pki.passTypeIdentifier, apnsId: id2 },
    ]);
    expect(seen).toHaveLength(3);
    device.close();
  });

  it('closes promptly with sessions and device channels open', async () => {
    const other = await startApnsStandin({ certsDir, clientCas: [pki.caCertificatePem] });
    expect(other.serverCertificatePem).toBe(standin.serverCertificatePem); // reuses server.pem
    const session = http2.connect(other.url, { ca: other.serverCertificatePem });
    const req = session.request({ ':method': 'GET', ':path': `/device/${token()}/pushes` });
    await new Promise((resolve) => req.on('response', resolve));
    const sessionClosed = new Promise<void>((resolve) => session.on('close', () => resolve()));
    session.on('error', () => {});
    req.on('error', () => {});
    const started = Date.now();
    await other.close();
    await sessionClosed;
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
