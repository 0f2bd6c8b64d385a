import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opensslVerify, verifyPkpass } from '../helpers.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

interface Installed {
  serialNumber: string;
  passTypeIdentifier: string;
  path: string;
  token: string;
  webServiceURL: string;
}

/** Creates a pass and reads its web service URL and authentication token from its pass.json, as Wallet does. */
async function installable(values = memberValues()): Promise<Installed> {
  const p = await createMemberPass(s, s.alpha, values);
  const res = await request(p.url, { headers: { 'user-agent': 'iPhone Wallet' } });
  const { passJson } = verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath);
  return {
    ...p,
    token: passJson.authenticationToken as string,
    webServiceURL: passJson.webServiceURL as string,
  };
}

const device = () => randomBytes(16).toString('hex');
const pushToken = () => randomBytes(32).toString('hex');

function wallet(
  pass: Installed,
  path: string,
  init: RequestInit & { json?: unknown; token?: string | null } = {},
) {
  const { json, token, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set('authorization', `ApplePass ${token ?? pass.token}`);
  if (json !== undefined) headers.set('content-type', 'application/json');
  return request(`${pass.webServiceURL}${path}`, {
    ...rest,
    headers,
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
}

const registration = (dli: string, pass: Installed) =>
  `/v1/devices/${dli}/registrations/${pass.passTypeIdentifier}/${pass.serialNumber}`;
const serials = (dli: string, pass: Installed, since?: string) =>
  `/v1/devices/${dli}/registrations/${pass.passTypeIdentifier}${since !== undefined ? `?passesUpdatedSince=${since}` : ''}`;

async function eventsOf(type: string, serialNumber: string) {
  const rows = await s.app.db
    .selectFrom('events')
    .select('data')
    .where('type', '=', type)
    .orderBy('seq')
    .execute();
  return rows
    .map((r) => JSON.parse(r.data))
    .filter((d) => (d.passSerialNumber ?? d.serialNumber) === serialNumber);
}

describe(`the pass web service on ${TEST_DB}`, () => {
  it('is the webServiceURL of every pass, with a per-pass token of 32+ characters', async () => {
    const a = await installable();
    const b = await installable();
    expect(a.webServiceURL).toBe(`${s.url}/wallet`);
    expect(a.token.length).toBeGreaterThanOrEqual(32);
    expect(a.token).not.toBe(b.token);
  });

  it('registers: 201 new, 200 again (the push token updated), 401 with a wrong or missing token; events', async () => {
    const pass = await installable();
    const dli = device();
    const first = await wallet(pass, registration(dli, pass), {
      method: 'POST',
      json: { pushToken: pushToken() },
    });
    expect(first.status).toBe(201);
    const newToken = pushToken();
    const again = await wallet(pass, registration(dli, pass), {
      method: 'POST',
      json: { pushToken: newToken },
    });
    expect(again.status).toBe(200);
    const row = await s.app.db
      .selectFrom('devices')
      .selectAll()
      .where('deviceLibraryIdentifier', '=', dli)
      .executeTakeFirstOrThrow();
    expect(row.pushToken).toBe(newToken);
    expect(
      (
        await wallet(pass, registration(dli, pass), {
          method: 'POST',
          json: { pushToken: newToken },
          token: 'x'.repeat(43),
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await wallet(pass, registration(dli, pass), {
          method: 'POST',
          json: { pushToken: newToken },
          token: null,
        })
      ).status,
    ).toBe(401);
    expect((await wallet(pass, registration(dli, pass), { method: 'POST', json: {} })).status).toBe(400);
    const created = await eventsOf('registration.created', pass.serialNumber);
    expect(created).toEqual([
      expect.objectContaining({
        deviceLibraryIdentifier: dli,
        passSerialNumber: pass.serialNumber,
        passTypeIdentifier: pass.passTypeIdentifier,
        passTemplateId: s.alpha.templateId,
        devicesInstalled: 1,
      }),
    ]);
  });

  it('links passes and devices many to many, and removes a device left with no registration', async () => {
    const [p1, p2] = [await installable(), await installable()];
    const [d1, d2] = [device(), device()];
    for (const [d, p] of [
      [d1, p1],
      [d1, p2],
      [d2, p1],
    ] as const)
      expect(
        (await wallet(p, registration(d, p), { method: 'POST', json: { pushToken: pushToken() } })).status,
      ).toBe(201);
    expect((await wallet(p1, registration(d1, p1), { method: 'DELETE' })).status).toBe(200);
    expect(
      (await wallet(p2, registration(d1, p2), { method: 'DELETE', token: 'wrong-token-wrong-token' })).status,
    ).toBe(401);
    expect(
      await s.app.db
        .selectFrom('devices')
        .select('id')
        .where('deviceLibraryIdentifier', '=', d1)
        .executeTakeFirst(),
    ).toBeDefined();
    expect((await wallet(p2, registration(d1, p2), { method: 'DELETE' })).status).toBe(200);
    expect(
      await s.app.db
        .selectFrom('devices')
        .select('id')
        .where('deviceLibraryIdentifier', '=', d1)
        .executeTakeFirst(),
    ).toBeUndefined();
    const deleted = await eventsOf('registration.deleted', p1.serialNumber);
    expect(deleted).toEqual([
      expect.objectContaining({ deviceLibraryIdentifier: d1, reason: 'unregistered', devicesInstalled: 1 }),
    ]);
  });

  it('lists the serials updated since a tag, lastUpdated a string; 204 when none; never passes not registered', async () => {
    const [p1, p2, other] = [await installable(), await installable(), await installable()];
    const dli = device();
    for (const p of [p1, p2])
      await wallet(p, registration(dli, p), { method: 'POST', json: { pushToken: pushToken() } });
    const all = await wallet(p1, serials(dli, p1), { token: null });
    expect(all.status).toBe(200);
    const body = await all.json();
    expect(body.serialNumbers.sort()).toEqual([p1.serialNumber, p2.serialNumber].sort());
    expect(typeof body.lastUpdated).toBe('string');
    expect((await wallet(p1, serials(dli, p1, body.lastUpdated), { token: null })).status).toBe(204);
    // a change to p2 and to an unregistered pass: only p2 comes back, with a later tag
    await s.api(s.alpha.appKey, `${p2.path}/values`, { method: 'PUT', json: { points: 999 } });
    await s.api(s.alpha.appKey, `${other.path}/values`, { method: 'PUT', json: { points: 1 } });
    const changed = await (await wallet(p1, serials(dli, p1, body.lastUpdated), { token: null })).json();
    expect(changed.serialNumbers).toEqual([p2.serialNumber]);
    expect(Number(changed.lastUpdated)).toBeGreaterThan(Number(body.lastUpdated));
    expect((await wallet(p1, serials(device(), p1), { token: null })).status).toBe(204);
  });

  it('gives strictly increasing tags with no lost update under concurrent changes', async () => {
    const passes = await Promise.all(Array.from({ length: 6 }, () => installable()));
    const dli = device();
    for (const p of passes)
      await wallet(p, registration(dli, p), { method: 'POST', json: { pushToken: pushToken() } });
    let tag = (await (await wallet(passes[0]!, serials(dli, passes[0]!), { token: null })).json())
      .lastUpdated as string;
    const seen = new Set<string>();
    // 30 concurrent changes while the device keeps asking what changed since its last tag
    const changes = Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        s.api(s.alpha.appKey, `${passes[i % 6]!.path}/values`, { method: 'PUT', json: { points: i } }),
      ),
    );
    const polls = (async () => {
      for (let i = 0; i < 20; i++) {
        const res = await wallet(passes[0]!, serials(dli, passes[0]!, tag), { token: null });
        if (res.status === 200) {
          const b = await res.json();
          expect(Number(b.lastUpdated)).toBeGreaterThan(Number(tag));
          tag = b.lastUpdated;
          for (const sn of b.serialNumbers) seen.add(sn);
        }
      }
    })();
    const answers = await changes;
    await polls;
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const final = await wallet(passes[0]!, serials(dli, passes[0]!, tag), { token: null });
    if (final.status === 200) for (const sn of (await final.json()).serialNumbers) seen.add(sn);
    expect([...seen].sort()).toEqual(passes.map((p) => p.serialNumber).sort());
    const tags = await s.app.db
      .selectFrom('passes')
      .select('updateTag')
      .where(
        'passTypeId',
        '=',
        (
          await s.app.db
            .selectFrom('passTypes')
            .select('id')
            .where('passTypeIdentifier', '=', s.alpha.passTypeIdentifier)
            .executeTakeFirstOrThrow()
        ).id,
      )
      .execute();
    expect(new Set(tags.map((t) => t.updateTag)).size).toBe(tags.length); // no ties
  });

  it('serves the latest pass with Last-Modified, 304 when If-Modified-Since is not older, 401 without the token', async () => {
    const pass = await installable();
    const path = `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}`;
    const res = await wallet(pass, path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    const lastModified = res.headers.get('last-modified')!;
    expect(new Date(lastModified).toUTCString()).toBe(lastModified);
    verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath);
    expect((await wallet(pass, path, { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
    const older = new Date(Date.parse(lastModified) - 1000).toUTCString();
    expect((await wallet(pass, path, { headers: { 'if-modified-since': older } })).status).toBe(200);
    expect((await wallet(pass, path, { token: 'nope-nope-nope-nope' })).status).toBe(401);
    // a wrong token with If-Modified-Since (which the fast path in the HTTP server sees first) is still 401
    const wrong = await wallet(pass, path, {
      token: 'nope-nope-nope-nope',
      headers: { 'if-modified-since': lastModified },
    });
    expect(wrong.status).toBe(401);
    // the answer of the fast path over HTTP and of Fastify's route (inject skips the server's listener) agree
    const viaHttp = await wallet(pass, path, { headers: { 'if-modified-since': lastModified } });
    const viaRoute = await s.server.inject({
      method: 'GET',
      url: `/wallet${path}`,
      headers: { authorization: `ApplePass ${pass.token}`, 'if-modified-since': lastModified },
    });
    expect([viaHttp.status, viaRoute.statusCode]).toEqual([304, 304]);
    expect(viaHttp.headers.get('last-modified')).toBe(lastModified);
    expect(viaRoute.headers['last-modified']).toBe(lastModified);
    expect(await viaHttp.text()).toBe('');
    // an encoded serial number is decoded as the router would
    const encoded = `/v1/passes/${encodeURIComponent(pass.passTypeIdentifier)}/${encodeURIComponent(pass.serialNumber)}`;
    expect((await wallet(pass, encoded, { headers: { 'if-modified-since': lastModified } })).status).toBe(
      304,
    );
    // two changes within one second still give the device a newer Last-Modified each time
    await s.api(s.alpha.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 1 } });
    const v2 = await wallet(pass, path, { headers: { 'if-modified-since': lastModified } });
    expect(v2.status).toBe(200);
    const lm2 = v2.headers.get('last-modified')!;
    await s.api(s.alpha.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 2 } });
    const v3 = await wallet(pass, path, { headers: { 'if-modified-since': lm2 } });
    expect(v3.status).toBe(200);
    const { passJson } = verifyPkpass(Buffer.from(await v3.arrayBuffer()), s.alpha.devCaPath);
    expect((passJson.storeCard as any).headerFields[0].value).toBe(2);
  });

  it('serves the same .pkpass to every device of a pass, and the new one as soon as the pass changes', async () => {
    const pass = await installable();
    const path = `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}`;
    const fetchPass = async () => {
      const res = await wallet(pass, path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
      return { bytes: Buffer.from(await res.arrayBuffer()), lastModified: res.headers.get('last-modified') };
    };
    const first = await fetchPass(); // through the route, which keeps the file with the pass's cached token
    // on SQLite the second fetch is answered from that cache, before Fastify: a stored render changed behind the
    // service's back is not read (PostgreSQL has no cache and reads it, so there it stays as it is)
    const render = s.app.db
      .updateTable('passRenders')
      .where('passId', '=', (eb) =>
        eb.selectFrom('passes').select('id').where('serialNumber', '=', pass.serialNumber),
      );
    if (TEST_DB === 'sqlite') await render.set({ pkpass: Buffer.from('not the cached file') }).execute();
    const second = await fetchPass(); // from that cache, before Fastify
    if (TEST_DB === 'sqlite') await render.set({ pkpass: first.bytes }).execute();
    expect(second.bytes.equals(first.bytes)).toBe(true);
    expect(second.lastModified).toBe(first.lastModified);
    const viaRoute = await s.server.inject({
      method: 'GET',
      url: `/wallet${path}`,
      headers: { authorization: `ApplePass ${pass.token}` },
    });
    expect(viaRoute.rawPayload.equals(second.bytes)).toBe(true);
    expect(viaRoute.headers['last-modified']).toBe(second.lastModified);
    verifyPkpass(second.bytes, s.alpha.devCaPath);
    // a wrong token is refused even when the file is cached
    expect((await wallet(pass, path, { token: 'nope-nope-nope-nope' })).status).toBe(401);
    await s.api(s.alpha.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 4242 } });
    const third = await fetchPass();
    expect(third.bytes.equals(first.bytes)).toBe(false);
    const { passJson } = verifyPkpass(third.bytes, s.alpha.devCaPath);
    expect((passJson.storeCard as any).headerFields[0].value).toBe(4242);
    expect(Date.parse(third.lastModified!)).toBeGreaterThan(Date.parse(first.lastModified!));
    expect((await fetchPass()).bytes.equals(third.bytes)).toBe(true);
  });

  it('serves a revoked pass and a deleted pass voided', async () => {
    for (const action of ['revoke', 'delete'] as const) {
      const pass = await installable();
      if (action === 'revoke')
        await s.api(s.alpha.appKey, `${pass.path}/revoke`, { method: 'POST', json: { reason: 'test' } });
      else await s.api(s.alpha.appKey, pass.path, { method: 'DELETE' });
      const res = await wallet(pass, `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}`);
      expect(res.status).toBe(200);
      expect(verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath).passJson.voided).toBe(
        true,
      );
    }
  });

  it("stores Wallet's log messages, linked to the pass they name", async () => {
    const pass = await installable();
    const message = `[2026-11-30 10:00:00 +0000] Web service error for ${pass.passTypeIdentifier} (${pass.webServiceURL}): Response to 'What changed?' request included 1 serial numbers but the lastUpdated tag (3) remained the same. Serial ${pass.serialNumber}`;
    const res = await wallet(pass, '/v1/log', {
      method: 'POST',
      json: { logs: [message, 'unrelated message'] },
      token: null,
    });
    expect(res.status).toBe(200);
    const rows = await s.app.db.selectFrom('walletLogs').selectAll().orderBy('id').execute();
    const linked = rows.find((r) => r.message === message);
    const row = await s.app.db
      .selectFrom('passes')
      .select('id')
      .where('serialNumber', '=', pass.serialNumber)
      .executeTakeFirstOrThrow();
    expect(linked?.passId).toBe(row.id);
    expect(rows.find((r) => r.message === 'unrelated message')?.passId).toBeNull();
    // the pass details show them, with its devices and downloads
    const dli = device();
    await wallet(pass, registration(dli, pass), { method: 'POST', json: { pushToken: pushToken() } });
    const details = await (await s.api(s.alpha.appKey, `${pass.path}/details`)).json();
    expect(details.logs).toEqual([{ message, at: expect.any(String) }]);
    expect(details.devices).toEqual([{ deviceLibraryIdentifier: dli, registeredAt: expect.any(String) }]);
    expect(details.downloads).toBe(1);
    expect(details.pushes).toEqual([]);
  });

  it('personalizes: stores the data as the owner, signs the token (openssl verifies it), emits an event', async () => {
    const pass = await installable();
    const personalizationToken = randomBytes(16).toString('hex');
    const res = await wallet(pass, `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/personalize`, {
      method: 'POST',
      token: null,
      json: {
        personalizationToken,
        requiredPersonalizationInfo: {
          emailAddress: 'rewards@example.com',
          givenName: 'Ada',
          familyName: 'Lovelace',
        },
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    // throws unless openssl verifies the signed token against the pass type's CA
    opensslVerify(Buffer.from(await res.arrayBuffer()), personalizationToken, s.alpha.devCaPath);
    const details = await (await s.api(s.alpha.appKey, `${pass.path}/details`)).json();
    expect(details.owner.email).toBe('rewards@example.com');
    expect(await eventsOf('pass.personalized', pass.serialNumber)).toEqual([
      expect.objectContaining({
        personalization: { emailAddress: 'rewards@example.com', givenName: 'Ada', familyName: 'Lovelace' },
      }),
    ]);
    const bad = await wallet(pass, `/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/personalize`, {
      method: 'POST',
      token: null,
      json: {},
    });
    expect(bad.status).toBe(400);
  });
});
