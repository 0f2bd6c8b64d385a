// Webhooks end to end over real HTTP: PassSlot's handshake, Standard Webhooks signatures checked with the
// standardwebhooks package, order per pass across retries, the retry schedule (the service's clock is moved), 410 and
// long failure disabling an endpoint, secret rotation, the delivery log, retry and replay, and the SSRF guard.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { until, verifyPkpass } from '../helpers.js';
import { createMemberPass, startServer, type TestServer } from './harness.js';
import { type Receiver, startReceiver } from './receiver.js';

const ALLOW = { PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true', PASSSLOT_RATE_LIMIT: '1000000' };

/** A clock the test moves forward. */
function movableClock() {
  const c = { offset: 0, now: () => new Date(Date.now() + c.offset) };
  return c;
}

async function createHook(s: TestServer, url: string, events: string[] = ['*'], extra: object = {}) {
  const res = await s.api(s.alpha.appKey, '/v1/webhooks', {
    method: 'POST',
    json: { url, events, ...extra },
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`webhook create: ${res.status} ${JSON.stringify(body)}`);
  return body as { id: number; secret: string; enabled: boolean };
}

/** Alternates a pass's status n times: n pass.status_changed events. */
async function statusChanges(s: TestServer, path: string, n: number) {
  for (let i = 0; i < n; i++) {
    const res = await s.api(s.alpha.appKey, `${path}/status`, {
      method: 'PUT',
      json: { status: i % 2 === 0 ? 'redeemed' : 'valid' },
    });
    expect(res.status).toBe(200);
  }
}

/** The event ids of the account, in order, by pass serial. */
async function eventsByPass(s: TestServer, types = 'pass.*') {
  const events: { id: string; data: { serialNumber: string } }[] = [];
  for (let path: string | undefined = `/v1/events?limit=1000&type=${types}`; path; ) {
    const res = await s.api(s.alpha.appKey, path);
    events.push(...(await res.json()));
    const next = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
    path = next ? new URL(next).pathname + new URL(next).search : undefined;
  }
  const out = new Map<string, string[]>();
  for (const e of events) out.set(e.data.serialNumber, [...(out.get(e.data.serialNumber) ?? []), e.id]);
  return { events, byPass: out };
}

/** First successful arrival of each event id, grouped by pass serial. */
function arrivalsByPass(rx: Receiver) {
  const seen = new Set<string>();
  const out = new Map<string, string[]>();
  for (const r of rx.delivered()) {
    if (seen.has(r.json.id)) continue;
    seen.add(r.json.id);
    const serial = r.json.data.serialNumber as string;
    out.set(serial, [...(out.get(serial) ?? []), r.json.id]);
  }
  return out;
}

describe('webhooks: handshake, signatures, management', () => {
  let s: TestServer;
  let rx: Receiver;
  beforeAll(async () => {
    s = await startServer({ env: ALLOW, poll: true });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await s.close();
    await rx.close();
  });

  it('delivers signed events that the standardwebhooks library verifies, with PassSlot fields and ours', async () => {
    const hook = await createHook(s, rx.url, ['pass.*'], { description: 'CRM' });
    expect(hook.secret).toMatch(/^whsec_/);
    expect(hook.enabled).toBe(true);
    const pass = await createMemberPass(s, s.alpha, undefined, '?email=ada@example.com&externalId=crm-1');
    const [got] = await rx.waitFor(1);
    const payload = new Webhook(hook.secret).verify(got!.body, got!.headers as Record<string, string>) as {
      id: string;
      type: string;
      created: string;
      data: Record<string, unknown>;
    };
    expect(payload.type).toBe('pass.created');
    expect(got!.headers['webhook-id']).toBe(payload.id);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(Object.keys(payload).toSorted()).toEqual(['created', 'data', 'id', 'type']);
    expect(payload.data).toMatchObject({
      pid: expect.any(String),
      serialNumber: pass.serialNumber,
      passTypeIdentifier: pass.passTypeIdentifier,
      templateId: s.alpha.templateId,
      url: pass.url,
      email: 'ada@example.com',
      externalId: 'crm-1',
      templateName: expect.any(String),
      devicesInstalled: 0,
    });
    // the same event from the API
    const again = await (await s.api(s.alpha.appKey, `/v1/events/${payload.id}`)).json();
    expect(again).toEqual(payload);
    // another key does not verify
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(
        got!.body,
        got!.headers as Record<string, string>,
      ),
    ).toThrow();
    // the delivery log shows the attempt (recorded once the receiver's answer is in: wait for it)
    const log = await until('the delivery recorded as delivered', async () => {
      const rows = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries`)).json();
      return rows[0]?.status === 'running' ? undefined : rows;
    });
    expect(log[0]).toMatchObject({
      eventId: payload.id,
      eventType: 'pass.created',
      status: 'delivered',
      attempts: 1,
    });
    expect(log[0].attemptLog[0]).toMatchObject({ status: 200, response: 'ok', error: null });
    expect(log[0].attemptLog[0].latencyMs).toBeGreaterThan(0);
    await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`, { method: 'DELETE' });
  });

  it("follows a pass's life in Wallet: downloaded, added, removed (PassSlot's registration fields)", async () => {
    const life = await startReceiver();
    try {
      const hook = await createHook(s, life.url, ['pass.downloaded', 'registration.*']);
      const pass = await createMemberPass(s, s.alpha, undefined, '?email=lin@example.com');
      const res = await fetch(pass.url, { headers: { 'user-agent': 'iPhone Wallet' } });
      const { passJson } = verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath);
      const device = randomBytes(16).toString('hex');
      const registration = `${passJson.webServiceURL}/v1/devices/${device}/registrations/${pass.passTypeIdentifier}/${pass.serialNumber}`;
      const auth = { authorization: `ApplePass ${passJson.authenticationToken}` };
      const added = await fetch(registration, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ pushToken: randomBytes(32).toString('hex') }),
      });
      expect(added.status).toBe(201);
      expect((await fetch(registration, { method: 'DELETE', headers: auth })).status).toBe(200);
      const got = await life.waitFor(3);
      expect(got.map((r) => r.json.type)).toEqual([
        'pass.downloaded',
        'registration.created',
        'registration.deleted',
      ]);
      const common = {
        deviceLibraryIdentifier: device,
        passSerialNumber: pass.serialNumber,
        passTypeIdentifier: pass.passTypeIdentifier,
        passTemplateId: s.alpha.templateId,
        passPid: expect.any(String),
        email: 'lin@example.com',
      };
      expect(got[1]!.json.data).toMatchObject({ ...common, devicesInstalled: 1 });
      expect(got[2]!.json.data).toMatchObject({ ...common, devicesInstalled: 0 });
      expect(got[0]!.json.data).toMatchObject({
        serialNumber: pass.serialNumber,
        deviceClass: 'wallet',
      });
      await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`, { method: 'DELETE' });
    } finally {
      await life.close();
    }
  });

  it('refuses an endpoint that fails the handshake, and keeps nothing', async () => {
    const wrong = await startReceiver({ verify: 'wrong' });
    const down = await startReceiver({ verify: 500 });
    try {
      for (const url of [wrong.url, down.url, 'http://127.0.0.1:9/closed']) {
        const res = await s.api(s.alpha.appKey, '/v1/webhooks', {
          method: 'POST',
          json: { url, events: ['*'] },
        });
        expect(res.status).toBe(422);
        const body = await res.json();
        expect(body.message).toMatch(/did not pass verification/);
        expect(body.errors[0].field).toBe('url');
      }
      expect(await (await s.api(s.alpha.appKey, '/v1/webhooks')).json()).toEqual([]);
      // created disabled: no handshake until it is enabled, which then checks
      const off = await createHook(s, wrong.url, ['*'], { enabled: false });
      expect(off.enabled).toBe(false);
      const enable = await s.api(s.alpha.appKey, `/v1/webhooks/${off.id}`, {
        method: 'PUT',
        json: { enabled: true },
      });
      expect(enable.status).toBe(422);
      expect((await (await s.api(s.alpha.appKey, `/v1/webhooks/${off.id}`)).json()).enabled).toBe(false);
      const moved = await s.api(s.alpha.appKey, `/v1/webhooks/${off.id}`, {
        method: 'PUT',
        json: { enabled: true, url: rx.url },
      });
      expect(moved.status).toBe(200);
      expect(await moved.json()).toMatchObject({ enabled: true, url: rx.url, disabledReason: null });
      await s.api(s.alpha.appKey, `/v1/webhooks/${off.id}`, { method: 'DELETE' });
    } finally {
      await wrong.close();
      await down.close();
    }
  });

  it('validates its input with field errors', async () => {
    const bad = async (json: unknown) => {
      const res = await s.api(s.alpha.appKey, '/v1/webhooks', { method: 'POST', json });
      expect(res.status).toBe(422);
      return ((await res.json()).errors as { field: string }[]).map((e) => e.field);
    };
    expect(await bad({ url: 'ftp://x.example', events: ['*'] })).toEqual(['url']);
    expect(await bad({ url: rx.url, events: ['pass.exploded'] })).toEqual(['events']);
    expect(await bad({ url: rx.url, events: [] })).toEqual(['events']);
    expect(await bad({ url: rx.url, events: ['PASS CREATED'] })).toEqual(['events[0]']);
    expect(await bad({ events: ['*'] })).toContain('url');
  });

  it('rotates the secret: both signatures for 24 hours, each verifies', async () => {
    const hook = await createHook(s, rx.url, ['pass.updated']);
    const rotated = await (
      await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/rotate-secret`, { method: 'POST' })
    ).json();
    expect(rotated.secret).not.toBe(hook.secret);
    expect(Date.parse(rotated.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
    const pass = await createMemberPass(s, s.alpha);
    const n = rx.delivered().length;
    await s.api(s.alpha.appKey, `${pass.path}/values`, { method: 'PUT', json: { points: 7 } });
    const got = (await rx.waitFor(n + 1)).at(-1)!;
    expect(got.json.type).toBe('pass.updated');
    expect((got.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    for (const secret of [hook.secret, rotated.secret])
      expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({
        type: 'pass.updated',
      });
    // the secret is stored encrypted
    const row = await s.app.db
      .selectFrom('webhooks')
      .selectAll()
      .where('id', '=', hook.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(rotated.secret.slice(6));
    expect(JSON.stringify(row)).not.toContain(hook.secret.slice(6));
    // and never shown again
    const shown = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`)).text();
    expect(shown).not.toContain('whsec_');
    await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`, { method: 'DELETE' });
  });

  it('sends only the events an endpoint subscribed to', async () => {
    const other = await startReceiver();
    try {
      const hook = await createHook(s, other.url, ['registration.*', 'pass.status_changed']);
      const pass = await createMemberPass(s, s.alpha);
      await statusChanges(s, pass.path, 1);
      await other.waitFor(1);
      await s.workers.drain();
      expect(other.delivered().map((r) => r.json.type)).toEqual(['pass.status_changed']);
      await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`, { method: 'DELETE' });
    } finally {
      await other.close();
    }
  });
});

describe('webhooks: reliability', () => {
  let s: TestServer;
  let rx: Receiver;
  const clock = movableClock();
  beforeAll(async () => {
    s = await startServer({ env: ALLOW, poll: true, clock });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await s.close();
    await rx.close();
  });
  afterEach(async () => {
    for (const h of await (await s.api(s.alpha.appKey, '/v1/webhooks')).json())
      await s.api(s.alpha.appKey, `/v1/webhooks/${h.id}`, { method: 'DELETE' });
  });

  it('receiver down, then up: every event arrives once per id, in order per pass', async () => {
    const hook = await createHook(s, rx.url, ['pass.*']);
    let down = true;
    rx.answer(() => (down ? { status: 503 } : { status: 200, body: 'ok' }));
    const passes = [];
    for (let i = 0; i < 3; i++) passes.push(await createMemberPass(s, s.alpha));
    for (const p of passes) await statusChanges(s, p.path, 4);
    // the first attempts fail; only the head of each pass was tried
    await until('first failures', async () => rx.received.length >= 3);
    await s.workers.drain();
    const log = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries?limit=500`)).json();
    expect(log.filter((d: { attempts: number }) => d.attempts > 0)).toHaveLength(3);
    expect(log.every((d: { status: string }) => d.status === 'pending')).toBe(true);
    expect(log.find((d: { attempts: number }) => d.attempts === 1).attemptLog[0]).toMatchObject({
      status: 503,
    });
    // the receiver comes back; the schedule's next attempt (5 s later) finds it
    down = false;
    clock.offset += 6_000;
    const { events, byPass } = await eventsByPass(s);
    expect(events).toHaveLength(15);
    await rx.waitFor(15);
    await s.workers.drain();
    expect(arrivalsByPass(rx)).toEqual(byPass);
    // every event under its own id, never one event under two ids
    const bodies = new Map<string, string>();
    for (const r of rx.received) {
      const seen = bodies.get(r.json.id);
      if (seen) expect(r.body).toBe(seen);
      bodies.set(r.json.id, r.body);
    }
    expect(new Set([...bodies.values()]).size).toBe(bodies.size);
    rx.answer(() => ({ status: 200, body: 'ok' }));
  });

  it('an endpoint back after an outage gets what waits on a retry at once, in order, not minutes later', async () => {
    const hook = await createHook(s, rx.url, ['pass.status_changed']);
    let down = true;
    rx.answer(() => (down ? { status: 503 } : { status: 200, body: 'ok' }));
    const a = await createMemberPass(s, s.alpha);
    const b = await createMemberPass(s, s.alpha);
    const seen = rx.received.length;
    await statusChanges(s, a.path, 3);
    await statusChanges(s, b.path, 3);
    await until('first failures', async () => rx.received.length >= seen + 2);
    await s.workers.drain();
    // the second attempts, 5 s later, fail too: the next ones are minutes away
    clock.offset += 6_000;
    await until('second failures', async () => rx.received.length >= seen + 4);
    await s.workers.drain();
    const waiting = await s.app.db
      .selectFrom('deliveries')
      .select(['nextAttemptAt', 'attempts'])
      .where('targetKind', '=', 'webhook')
      .where('targetId', '=', hook.id)
      .where('status', '=', 'pending')
      .where('attempts', '=', 2)
      .execute();
    expect(waiting).toHaveLength(2);
    for (const w of waiting)
      expect(Date.parse(w.nextAttemptAt) - clock.now().getTime()).toBeGreaterThan(4 * 60_000);
    // the endpoint is back: the next event (another pass's) is answered 2xx, and everything that waited goes at once,
    // in order per pass, with the clock where it is
    down = false;
    const c = await createMemberPass(s, s.alpha);
    const delivered = rx.delivered().length;
    await statusChanges(s, c.path, 1);
    await rx.waitFor(delivered + 7, 10_000);
    const { byPass } = await eventsByPass(s, 'pass.status_changed');
    const arrived = arrivalsByPass(rx);
    for (const p of [a, b, c]) expect(arrived.get(p.serialNumber)).toEqual(byPass.get(p.serialNumber));
    rx.answer(() => ({ status: 200, body: 'ok' }));
  });

  it('a manual replay sends now, behind nothing: a delivery of the same pass waiting on a retry goes first', async () => {
    const hook = await createHook(s, rx.url, ['pass.status_changed']);
    let down = true;
    rx.answer(() => (down ? { status: 503 } : { status: 200, body: 'ok' }));
    const since = clock.now().toISOString();
    const p = await createMemberPass(s, s.alpha);
    const seen = rx.received.length;
    await statusChanges(s, p.path, 2);
    await until('first failure', async () => rx.received.length >= seen + 1);
    await s.workers.drain();
    clock.offset += 6_000;
    await until('second failure', async () => rx.received.length >= seen + 2);
    await s.workers.drain();
    // back up, but nothing new is sent to it: the replay alone must not wait the 5 minutes of the schedule
    down = false;
    const delivered = rx.delivered().length;
    const res = await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/replay`, {
      method: 'POST',
      json: { since },
    });
    expect(res.status).toBe(200);
    expect((await res.json()).queued).toBe(2);
    // the two waiting deliveries, then the two replayed: four arrivals, each pair in the pass's order
    const got = await rx.waitFor(delivered + 4, 10_000);
    const ids = got.slice(delivered).map((r) => r.json.id);
    const { byPass } = await eventsByPass(s, 'pass.status_changed');
    const order = byPass.get(p.serialNumber)!;
    expect(ids).toEqual([...order, ...order]);
    rx.answer(() => ({ status: 200, body: 'ok' }));
  });

  it('1,000 events while the receiver answers 500 for a while and then 200: all delivered', async () => {
    const before = rx.delivered().length;
    const hook = await createHook(s, rx.url, ['pass.status_changed']);
    let failing = true;
    rx.answer(() => (failing ? { status: 500, body: 'boom' } : { status: 204 }));
    const passes = [];
    for (let i = 0; i < 20; i++) passes.push(await createMemberPass(s, s.alpha));
    await Promise.all(passes.map((p) => statusChanges(s, p.path, 50)));
    await s.workers.drain();
    failing = false;
    // each pass's head failed a few times; move through the schedule until everything went out
    for (const step of [6_000, 6 * 60_000, 31 * 60_000]) {
      clock.offset += step;
      await s.workers.drain();
    }
    const delivered = await until(
      '1,000 deliveries',
      async () => {
        await s.workers.drain();
        const got = rx
          .delivered()
          .slice(before)
          .filter((r) => r.json.type === 'pass.status_changed');
        return new Set(got.map((r) => r.json.id)).size >= 1000 && got;
      },
      60_000,
    );
    const { byPass } = await eventsByPass(s, 'pass.status_changed');
    const firsts = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const r of delivered) {
      if (seen.has(r.json.id)) continue;
      seen.add(r.json.id);
      const serial = r.json.data.serialNumber as string;
      firsts.set(serial, [...(firsts.get(serial) ?? []), r.json.id]);
    }
    for (const p of passes) expect(firsts.get(p.serialNumber)).toEqual(byPass.get(p.serialNumber));
    const failed = await (
      await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries?status=failed`)
    ).json();
    expect(failed).toEqual([]);
    rx.answer(() => ({ status: 200, body: 'ok' }));
  }, 120_000);

  it('410 Gone disables the endpoint with an event; its open deliveries are kept as failed for a replay', async () => {
    const gone = await startReceiver();
    const watcher = await startReceiver();
    try {
      const hook = await createHook(s, gone.url, ['pass.*']);
      await createHook(s, watcher.url, ['webhook.disabled']);
      gone.answer(() => ({ status: 410 }));
      const t0 = clock.now().toISOString();
      const pass = await createMemberPass(s, s.alpha);
      await statusChanges(s, pass.path, 2);
      const [note] = await watcher.waitFor(1);
      expect(note!.json).toMatchObject({
        type: 'webhook.disabled',
        data: { id: hook.id, reason: expect.stringMatching(/410/) },
      });
      const after = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`)).json();
      expect(after).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/410 Gone/) });
      // the event that got 410, and any queued before the endpoint was disabled: failed, none sent again
      // (an event committed while the endpoint was being disabled may have queued one more: it fails unsent)
      const log = await until('every delivery failed', async () => {
        const l = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries`)).json();
        return l.every((d: { status: string }) => d.status === 'failed') && l;
      });
      expect(log.length).toBeGreaterThanOrEqual(1);
      expect(gone.received).toHaveLength(1);
      const oldest = log.at(-1);
      expect(oldest.eventType).toBe('pass.created');
      // replay and retry need it enabled
      const replay = await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/replay`, {
        method: 'POST',
        json: { since: t0 },
      });
      expect(replay.status).toBe(409);
      // once the endpoint is back and enabled, a retry of one delivery and a replay send the events again
      gone.answer(() => ({ status: 200, body: 'ok' }));
      const enabled = await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`, {
        method: 'PUT',
        json: { enabled: true },
      });
      expect(enabled.status).toBe(200);
      const retried = await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries/${oldest.id}/retry`, {
        method: 'POST',
      });
      expect(retried.status).toBe(200);
      const [first] = await gone.waitFor(1);
      expect(first!.json.id).toBe(oldest.eventId);
      const again = await (
        await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/replay`, { method: 'POST', json: { since: t0 } })
      ).json();
      const { byPass } = await eventsByPass(s);
      const ids = byPass.get(pass.serialNumber)!;
      expect(ids).toHaveLength(3);
      expect(again.queued).toBe(3);
      const all = await gone.waitFor(1 + again.queued);
      expect(all.slice(1).map((r) => r.json.id)).toEqual(ids);
    } finally {
      await gone.close();
      await watcher.close();
    }
  });

  it('gives a delivery up after the last try and disables an endpoint that failed for three days', async () => {
    const dead = await startReceiver();
    try {
      const hook = await createHook(s, dead.url, ['pass.created']);
      dead.answer(() => ({ status: 500 }));
      await createMemberPass(s, s.alpha);
      await until('first attempt', async () => dead.received.length >= 1);
      for (let i = 0; i < 10; i++) {
        clock.offset += 25 * 3_600_000;
        await s.workers.drain();
      }
      expect(dead.received).toHaveLength(10);
      const log = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}/deliveries`)).json();
      expect(log[0]).toMatchObject({ status: 'failed', attempts: 10 });
      expect(log[0].attemptLog).toHaveLength(10);
      const after = await (await s.api(s.alpha.appKey, `/v1/webhooks/${hook.id}`)).json();
      expect(after).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/72 hours/) });
    } finally {
      await dead.close();
    }
  });
});

describe('webhooks: SSRF guard', () => {
  it('refuses private and loopback endpoints unless PASSSLOT_WEBHOOK_ALLOW_PRIVATE is set', async () => {
    const s = await startServer();
    try {
      for (const url of [
        'http://127.0.0.1:8080/hook',
        'http://169.254.169.254/latest',
        'http://[::1]/x',
        'http://localhost/x',
      ]) {
        const res = await s.api(s.alpha.appKey, '/v1/webhooks', {
          method: 'POST',
          json: { url, events: ['*'] },
        });
        expect(res.status, url).toBe(422);
        const body = await res.json();
        expect(body.errors[0]).toMatchObject({
          field: 'url',
          reasons: [expect.stringMatching(/PASSSLOT_WEBHOOK_ALLOW_PRIVATE/)],
        });
      }
    } finally {
      await s.close();
    }
  });
});
