// The event feed and the live stream: PassSlot's envelope, filters, cursor pages, access rules, and Server-Sent
// Events read by a real EventSource client, resumed with Last-Event-ID.
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOldRows, warnExpiringCertificates } from '../../src/jobs/retention.js';
import { createMemberPass, startServer, type TestServer } from './harness.js';

interface Envelope {
  id: string;
  type: string;
  created: string;
  data: Record<string, unknown>;
}

function stream(s: TestServer, key: string, query = '', lastEventId?: string) {
  const received: { id: string; type: string; data: Envelope }[] = [];
  const source = new EventSource(`${s.url}/v1/events/stream${query}`, {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...(init?.headers as Record<string, string>),
          authorization: `Bearer ${key}`,
          ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
        },
      }),
  });
  const opened = new Promise<void>((resolve, reject) => {
    source.onopen = () => resolve();
    source.onerror = (e) => reject(new Error(`stream error ${e.code ?? ''} ${e.message ?? ''}`));
  });
  const listen = (type: string) =>
    source.addEventListener(type, (m) =>
      received.push({ id: m.lastEventId, type: m.type, data: JSON.parse(m.data) }),
    );
  for (const t of ['pass.created', 'pass.status_changed', 'pass.updated', 'registration.created']) listen(t);
  return {
    source,
    opened,
    received,
    async waitFor(n: number) {
      const deadline = Date.now() + 10_000;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`stream got ${received.length} events, expected ${n}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return received;
    },
  };
}

describe('events', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer({ poll: true });
  });
  afterAll(async () => {
    await s.close();
  });

  it('lists events oldest first with filters and cursor pages', async () => {
    const k = s.alpha.appKey;
    const pass = await createMemberPass(s, s.alpha, undefined, '?email=grace@example.com');
    for (const status of ['redeemed', 'valid', 'redeemed'])
      expect((await s.api(k, `${pass.path}/status`, { method: 'PUT', json: { status } })).status).toBe(200);
    const mine = `passTypeIdentifier=${pass.passTypeIdentifier}&serialNumber=${pass.serialNumber}`;
    const all: Envelope[] = await (await s.api(k, `/v1/events?${mine}`)).json();
    expect(all.map((e) => e.type)).toEqual([
      'pass.created',
      'pass.status_changed',
      'pass.status_changed',
      'pass.status_changed',
    ]);
    expect(all[1]!.data).toMatchObject({
      serialNumber: pass.serialNumber,
      oldStatus: expect.any(String),
      status: 'redeemed',
      email: 'grace@example.com',
    });
    expect(all.map((e) => e.created)).toEqual(all.map((e) => e.created).toSorted());
    const changed: Envelope[] = await (await s.api(k, `/v1/events?${mine}&type=pass.status_changed`)).json();
    expect(changed).toHaveLength(3);
    const family: Envelope[] = await (await s.api(k, `/v1/events?${mine}&type=pass.*,registration.*`)).json();
    expect(family).toHaveLength(4);
    // pages of two, the next one in a Link header
    const first = await s.api(k, `/v1/events?${mine}&limit=2`);
    const link = first.headers.get('link')!;
    expect(link).toMatch(/rel="next"/);
    const next = new URL(/<([^>]+)>/.exec(link)![1]!);
    const second: Envelope[] = await (await s.api(k, next.pathname + next.search)).json();
    expect([...(await first.json()), ...second].map((e: Envelope) => e.id)).toEqual(all.map((e) => e.id));
    // one by id
    expect(await (await s.api(k, `/v1/events/${all[2]!.id}`)).json()).toEqual(all[2]);
  });

  it('refuses bad filters with field errors, unknown ids with 404, and keys without access', async () => {
    const k = s.alpha.appKey;
    const field = async (path: string) => {
      const res = await s.api(k, path);
      expect(res.status, path).toBe(422);
      return (await res.json()).errors[0].field;
    };
    expect(await field('/v1/events?type=pass.exploded')).toBe('type');
    expect(await field('/v1/events?type=DROP TABLE')).toBe('type');
    expect(await field('/v1/events?limit=0')).toBe('limit');
    expect(await field('/v1/events?serialNumber=x')).toBe('serialNumber');
    expect(await field('/v1/events?since=yesterday')).toBe('since');
    expect((await s.api(k, '/v1/events/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await s.api(k, '/v1/events?passTypeIdentifier=pass.nope&serialNumber=x')).status).toBe(404);
    const narrow = await (
      await s.api(k, '/v1/keys', { method: 'POST', json: { name: 'passes only', scopes: ['passes:read'] } })
    ).json();
    const res = await s.api(narrow.key, '/v1/events');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      code: 'missing_scope',
      message: expect.stringMatching(/events:read/),
    });
    expect((await s.api(narrow.key, '/v1/events/stream')).status).toBe(403);
    const restricted = await (
      await s.api(k, '/v1/keys', {
        method: 'POST',
        json: { name: 'one template', scopes: ['*'], templateIds: [s.alpha.templateId] },
      })
    ).json();
    expect((await s.api(restricted.key, '/v1/events')).status).toBe(403);
    expect((await s.api(restricted.key, '/v1/webhooks')).status).toBe(403);
  });

  it('streams new events live to an EventSource, only the account’s own and only the types asked for', async () => {
    const beta = await s.account('beta-stream');
    const all = stream(s, s.alpha.appKey);
    const created = stream(s, s.alpha.appKey, '?type=pass.created');
    const betas = stream(s, beta.appKey);
    try {
      await Promise.all([all.opened, created.opened, betas.opened]);
      const pass = await createMemberPass(s, s.alpha);
      await s.api(s.alpha.appKey, `${pass.path}/status`, { method: 'PUT', json: { status: 'redeemed' } });
      const got = await all.waitFor(2);
      expect(got.map((m) => m.type)).toEqual(['pass.created', 'pass.status_changed']);
      for (const m of got) {
        expect(m.data.id).toBe(m.id);
        expect(m.data.type).toBe(m.type);
        expect(m.data.data.serialNumber).toBe(pass.serialNumber);
      }
      const listed: Envelope[] = await (
        await s.api(
          s.alpha.appKey,
          `/v1/events?passTypeIdentifier=${pass.passTypeIdentifier}&serialNumber=${pass.serialNumber}`,
        )
      ).json();
      expect(got.map((m) => m.data)).toEqual(listed);
      expect((await created.waitFor(1)).map((m) => m.type)).toEqual(['pass.created']);
      // beta's stream saw none of alpha's events; beta's own pass does reach it
      await createMemberPass(s, beta);
      const betaGot = await betas.waitFor(1);
      expect(betaGot.map((m) => m.type)).toEqual(['pass.created']);
      expect(betaGot[0]!.data.data.serialNumber).not.toBe(pass.serialNumber);
      expect(created.received).toHaveLength(1);
    } finally {
      for (const x of [all, created, betas]) x.source.close();
    }
  });

  it('resumes after Last-Event-ID with the events missed while away', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const events: Envelope[] = await (
      await s.api(
        s.alpha.appKey,
        `/v1/events?passTypeIdentifier=${pass.passTypeIdentifier}&serialNumber=${pass.serialNumber}`,
      )
    ).json();
    const lastSeen = events.at(-1)!.id;
    // while the client is away
    for (const status of ['redeemed', 'valid'])
      await s.api(s.alpha.appKey, `${pass.path}/status`, { method: 'PUT', json: { status } });
    const back = stream(
      s,
      s.alpha.appKey,
      `?serialNumber=${pass.serialNumber}&passTypeIdentifier=${pass.passTypeIdentifier}`,
      lastSeen,
    );
    try {
      const got = await back.waitFor(2);
      expect(got.map((m) => m.type)).toEqual(['pass.status_changed', 'pass.status_changed']);
      expect(got.map((m) => m.data.data.status)).toEqual(['redeemed', 'valid']);
    } finally {
      back.source.close();
    }
    const unknown = await s.api(s.alpha.appKey, '/v1/events/stream?lastEventId=nope');
    expect(unknown.status).toBe(422);
  });

  it('warns once (then weekly) when a pass type certificate has 30 days or less left', async () => {
    const k = s.alpha.appKey;
    expect(await warnExpiringCertificates(s.app)).toBe(0);
    const expiresAt = new Date(Date.now() + 10 * 86_400_000 + 3_600_000).toISOString();
    await s.app.db
      .updateTable('passTypes')
      .set({ expiresAt })
      .where('passTypeIdentifier', '=', s.alpha.passTypeIdentifier)
      .execute();
    expect(await warnExpiringCertificates(s.app)).toBe(1);
    expect(await warnExpiringCertificates(s.app)).toBe(0);
    const events: Envelope[] = await (await s.api(k, '/v1/events?type=passtype.certificate_expiring')).json();
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({
      passTypeIdentifier: s.alpha.passTypeIdentifier,
      certificateExpirationDate: expiresAt,
      daysLeft: 10,
      expired: false,
    });
  });

  it('forgets delivered deliveries after 30 days and failed ones after the retention age, and keeps open ones and the events', async () => {
    const [event] = await (await s.api(s.alpha.appKey, '/v1/events?limit=1')).json();
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString();
    const delivery = async (status: 'delivered' | 'failed' | 'pending', daysAgo: number) =>
      (
        await s.app.db
          .insertInto('deliveries')
          .values({
            accountId: s.alpha.accountId,
            targetKind: 'webhook',
            targetId: 999_999,
            eventId: event.id,
            passId: null,
            status,
            attempts: 1,
            nextAttemptAt: status === 'pending' ? at(-1) : at(daysAgo),
            createdAt: at(daysAgo),
            updatedAt: at(daysAgo),
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    // failed deliveries are kept for replay until the retention age (90 days by default)
    const old = [await delivery('delivered', 31), await delivery('failed', 91)];
    const kept = [
      await delivery('delivered', 29),
      await delivery('pending', 31),
      await delivery('failed', 40),
    ];
    await s.app.db
      .insertInto('deliveryAttempts')
      .values({
        deliveryId: old[0]!,
        attemptedAt: at(31),
        statusCode: 200,
        latencyMs: 1,
        error: null,
        responseExcerpt: null,
      })
      .execute();
    await pruneOldRows(s.app);
    const left = (
      await s.app.db.selectFrom('deliveries').select('id').where('targetId', '=', 999_999).execute()
    ).map((r) => r.id);
    expect(left.toSorted()).toEqual(kept.toSorted());
    expect(
      await s.app.db.selectFrom('deliveryAttempts').selectAll().where('deliveryId', '=', old[0]!).execute(),
    ).toEqual([]);
    expect((await s.api(s.alpha.appKey, `/v1/events/${event.id}`)).status).toBe(200);
    await s.app.db.deleteFrom('deliveries').where('targetId', '=', 999_999).execute();
  });
});
