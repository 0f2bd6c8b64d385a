// Retention (PASSSLOT_RETENTION_DAYS): events, execution records, push and Wallet logs, delivery attempts and failed
// deliveries older than the age go, oldest first in batches; an event a delivery still holds stays, with everything
// after it; the audit chain stays verifiable from the first kept record; what is younger stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOldRows } from '../../src/jobs/retention.js';
import { PRUNE_BATCH } from '../../src/store/prune.js';
import { createMemberPass, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString();

describe(`retention on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer({ env: { PASSSLOT_RETENTION_DAYS: '30' } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('prunes history older than the retention age, keeps what a delivery holds, and keeps the audit chain verifiable', async () => {
    const { db } = s.app;
    // eight passes: their events and execution records, the first five made 40 days old
    const passes = [];
    for (let i = 0; i < 8; i++) passes.push(await createMemberPass(s, s.alpha));
    await s.app.audit.settled();
    const events = await db.selectFrom('events').select(['seq', 'id']).orderBy('seq').execute();
    const audit = await db
      .selectFrom('auditLog')
      .select(['id', 'seq'])
      .where('accountId', '=', s.alpha.accountId)
      .orderBy('id')
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(8);
    const oldEvents = events.slice(0, Math.floor(events.length / 2));
    const oldAudit = audit.slice(0, 5);
    await db
      .updateTable('events')
      .set({ createdAt: daysAgo(40) })
      .where(
        'seq',
        'in',
        oldEvents.map((e) => e.seq),
      )
      .execute();
    await db
      .updateTable('auditLog')
      .set({ createdAt: daysAgo(40) })
      .where(
        'id',
        'in',
        oldAudit.map((a) => a.id),
      )
      .execute();
    // a failed delivery (kept for replay) of the last old event, attempted 40 days ago, holds that event
    const held = oldEvents[oldEvents.length - 1]!;
    const [failed] = await db
      .insertInto('deliveries')
      .values({
        accountId: s.alpha.accountId,
        targetKind: 'webhook',
        targetId: 999,
        eventId: held.id,
        passId: null,
        status: 'failed',
        attempts: 10,
        nextAttemptAt: daysAgo(20),
        createdAt: daysAgo(20),
        updatedAt: daysAgo(20),
      })
      .returning('id')
      .execute();
    // logs: more old rows than one batch, and a few young ones
    const pass = await db.selectFrom('passes').select('id').orderBy('id').executeTakeFirstOrThrow();
    const logRows = (n: number, at: string) =>
      Array.from({ length: n }, (_, i) => ({
        passId: pass.id,
        deviceLibraryIdentifier: `dev-${i}`,
        pushToken: `tok-${i}`,
        status: 200,
        reason: null,
        apnsId: null,
        createdAt: at,
      }));
    const old = logRows(PRUNE_BATCH * 2 + 17, daysAgo(45));
    for (let i = 0; i < old.length; i += 500)
      await db
        .insertInto('pushLog')
        .values(old.slice(i, i + 500))
        .execute();
    await db
      .insertInto('pushLog')
      .values(logRows(3, daysAgo(1)))
      .execute();
    await db
      .insertInto('walletLogs')
      .values([
        { passId: pass.id, message: 'old', createdAt: daysAgo(31) },
        { passId: pass.id, message: 'young', createdAt: daysAgo(29) },
      ])
      .execute();
    await db
      .insertInto('deliveryAttempts')
      .values([
        {
          deliveryId: failed!.id,
          attemptedAt: daysAgo(40),
          statusCode: 500,
          latencyMs: 1,
          error: null,
          responseExcerpt: null,
        },
        {
          deliveryId: failed!.id,
          attemptedAt: daysAgo(20),
          statusCode: 500,
          latencyMs: 1,
          error: null,
          responseExcerpt: null,
        },
      ])
      .execute();

    const counts = await pruneOldRows(s.app);

    // the old events before the held one went; the held one and everything after it stayed
    const left = (await db.selectFrom('events').select('seq').orderBy('seq').execute()).map((e) => e.seq);
    expect(left[0]).toBe(held.seq);
    expect(left).toEqual(events.filter((e) => e.seq >= held.seq).map((e) => e.seq));
    expect(counts.events).toBe(oldEvents.length - 1);
    // execution records: the five old ones went, the chain verifies from the first kept one
    const kept = await db
      .selectFrom('auditLog')
      .select('id')
      .where('accountId', '=', s.alpha.accountId)
      .orderBy('id')
      .execute();
    expect(kept.map((k) => k.id)).toEqual(audit.slice(5).map((a) => a.id));
    const verify = await (await s.api(s.alpha.appKey, '/v1/audit/verify')).json();
    expect(verify).toMatchObject({ ok: true });
    // logs: every old push log row across batches, the old Wallet log and delivery attempt; the young ones stay
    expect(counts.pushLog).toBe(old.length);
    expect(
      await db.selectFrom('pushLog').select('id').where('createdAt', '<', daysAgo(30)).execute(),
    ).toEqual([]);
    expect(
      (await db.selectFrom('pushLog').select('id').where('createdAt', '>', daysAgo(2)).execute()).length,
    ).toBe(3);
    expect((await db.selectFrom('walletLogs').select('message').execute()).map((r) => r.message)).toEqual([
      'young',
    ]);
    expect(
      (
        await db
          .selectFrom('deliveryAttempts')
          .select('attemptedAt')
          .where('deliveryId', '=', failed!.id)
          .execute()
      ).length,
    ).toBe(1);
    // the failed delivery is younger than the age: kept for replay; once older, it goes, and its event after it
    expect(
      await db.selectFrom('deliveries').select('id').where('id', '=', failed!.id).execute(),
    ).toHaveLength(1);
    await db
      .updateTable('deliveries')
      .set({ updatedAt: daysAgo(31) })
      .where('id', '=', failed!.id)
      .execute();
    await pruneOldRows(s.app);
    expect(
      await db.selectFrom('deliveries').select('id').where('id', '=', failed!.id).execute(),
    ).toHaveLength(0);
    expect(await db.selectFrom('events').select('seq').where('seq', '=', held.seq).execute()).toHaveLength(0);
    // a record removed otherwise than by retention still shows
    await db.deleteFrom('auditLog').where('id', '=', audit[6]!.id).execute();
    const broken = await (await s.api(s.alpha.appKey, '/v1/audit/verify')).json();
    expect(broken.ok).toBe(false);
  });

  it('refuses a retention age that is not a whole number of days', async () => {
    const { loadConfig, ConfigError } = await import('../../src/config.js');
    expect(() => loadConfig({ PASSSLOT_RETENTION_DAYS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ PASSSLOT_RETENTION_DAYS: 'ninety' })).toThrow(/PASSSLOT_RETENTION_DAYS/);
    expect(loadConfig({}).retentionDays).toBe(90);
  });
});
