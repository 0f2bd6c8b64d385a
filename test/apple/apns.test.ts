// The APNs client against the stand-in: real HTTP/2 over TLS, client certificates and provider tokens.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApnsConnection } from '../../src/apple/apns.js';
import { type ApnsStandin, startApnsStandin } from '../../src/dev/apns-standin.js';
import { createDevPki } from '../../src/engine/index.js';
import { freePort } from '../api/harness.js';
import { tmpDir } from '../helpers.js';

const pki = createDevPki({ passTypeIdentifier: 'pass.test.passslot.apns', teamIdentifier: 'APNSTEAM01' });
const tokenKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const token = (n: number) => n.toString(16).padStart(64, '0');
let standin: ApnsStandin;

beforeAll(async () => {
  standin = await startApnsStandin({
    certsDir: tmpDir('passslot-apns-client-'),
    clientCas: [pki.caCertificatePem],
    tokenKeys: { TOKENKEY01: tokenKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    maxConcurrentStreams: 4,
  });
});
afterAll(async () => {
  await standin?.close();
});

const certificateClient = () =>
  new ApnsConnection(
    standin.url,
    { kind: 'certificate', certificatePem: pki.certificatePem, privateKeyPem: pki.privateKeyPem },
    standin.serverCertificatePem,
  );

describe('the APNs client', () => {
  it('sends {} with apns-topic, authenticated by the pass type certificate', async () => {
    const client = certificateClient();
    const result = await client.send(token(1), 'pass.test.passslot.apns');
    client.close();
    expect(result).toMatchObject({ status: 200, apnsId: expect.stringMatching(/^[0-9a-f-]{36}$/i) });
    const record = standin.received.at(-1)!;
    expect(record).toMatchObject({
      path: `/3/device/${token(1)}`,
      topic: 'pass.test.passslot.apns',
      body: '{}',
      auth: { kind: 'certificate', authorized: true, uid: 'pass.test.passslot.apns' },
    });
  });

  it('authenticates with an ES256 provider token, reused across requests', async () => {
    const client = new ApnsConnection(
      standin.url,
      { kind: 'token', keyId: 'TOKENKEY01', teamId: 'TEAMAPNS01', privateKey: tokenKey.privateKey },
      standin.serverCertificatePem,
    );
    const now = new Date();
    expect((await client.send(token(2), 'pass.test.passslot.apns', now)).status).toBe(200);
    expect(
      (await client.send(token(3), 'pass.test.passslot.apns', new Date(now.getTime() + 10 * 60_000))).status,
    ).toBe(200);
    client.close();
    const [a, b] = standin.received.slice(-2);
    expect(a!.auth).toEqual({ kind: 'token', keyId: 'TOKENKEY01', teamId: 'TEAMAPNS01' });
    expect(b!.auth).toEqual(a!.auth);
  });

  it("reports Apple's reasons: 410 with its timestamp, 400 BadDeviceToken, 429", async () => {
    const client = certificateClient();
    standin.setToken(token(4), { status: 410, reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    expect(await client.send(token(4), 'pass.test.passslot.apns')).toMatchObject({
      status: 410,
      reason: 'Unregistered',
      timestamp: 1_700_000_000_000,
    });
    expect(await client.send('not-hex', 'pass.test.passslot.apns')).toMatchObject({
      status: 400,
      reason: 'BadDeviceToken',
    });
    standin.throttle(1);
    expect(await client.send(token(5), 'pass.test.passslot.apns')).toMatchObject({
      status: 429,
      reason: 'TooManyRequests',
    });
    client.close();
  });

  it("keeps within the server's concurrent stream limit on one connection", async () => {
    const client = certificateClient();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => client.send(token(100 + i), 'pass.test.passslot.apns')),
    );
    client.close();
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
  });

  it('reconnects after GOAWAY', async () => {
    const client = certificateClient();
    expect((await client.send(token(6), 'pass.test.passslot.apns')).status).toBe(200);
    standin.goaway();
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.send(token(7), 'pass.test.passslot.apns')).status).toBe(200);
    client.close();
  });

  it('answers status 0, not an exception, when no server is there', async () => {
    const port = await freePort();
    const client = new ApnsConnection(`https://127.0.0.1:${port}`, {
      kind: 'certificate',
      certificatePem: pki.certificatePem,
      privateKeyPem: pki.privateKeyPem,
    });
    const result = await client.send(token(8), 'pass.test.passslot.apns');
    client.close();
    expect(result.status).toBe(0);
    expect(result.reason).toBeTruthy();
  });
});
