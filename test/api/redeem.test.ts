// Redemption against the template's redemptionRestriction (PassSlot's): counted per pass in one atomic update, the
// last allowed use sets the status to redeemed, later ones are refused; a scan.performed event for each attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSetup } from '../../src/actions/accounts.js';
import { createMemberPass, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let gamma: AccountSetup;

const redeem = (path: string, key = s.alpha.appKey, body: unknown = {}) =>
  s.api(key, `${path}/redeem`, { method: 'POST', json: body });

const restrict = async (who: AccountSetup, restrictions: Record<string, unknown>) => {
  const res = await s.api(who.appKey, `/v1/templates/${who.templateId}/restrictions`, {
    method: 'PUT',
    json: restrictions,
  });
  expect(res.status).toBe(200);
};

const eventsOf = async (serialNumber: string, type: string) =>
  (
    await s.app.db
      .selectFrom('events')
      .select('data')
      .where('type', '=', type)
      .orderBy('createdAt')
      .orderBy('id')
      .execute()
  )
    .map((e) => JSON.parse(e.data) as Record<string, unknown>)
    .filter((d) => d.passSerialNumber === serialNumber || d.serialNumber === serialNumber);

describe(`redemption on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
    gamma = await s.account('gamma-redeem');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('allows as many redemptions as the template says, then answers already_redeemed', async () => {
    await restrict(s.alpha, { redemptionRestriction: 2 });
    const p = await createMemberPass(s, s.alpha);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await redeem(p.path, s.alpha.appKey, { scanner: 7 });
      expect(res.status).toBe(200);
      answers.push(await res.json());
    }
    expect(answers).toEqual([
      { outcome: 'redeemed', status: 'valid', redemptions: 1, remaining: 1 },
      { outcome: 'redeemed', status: 'redeemed', redemptions: 2, remaining: 0 },
      { outcome: 'already_redeemed', status: 'redeemed', redemptions: 2, remaining: 0 },
    ]);
    const status = await (await s.api(s.alpha.appKey, `${p.path}/status`)).json();
    expect(status.status).toBe('redeemed');
    const scans = await eventsOf(p.serialNumber, 'scan.performed');
    expect(scans.map((e) => [e.scanner, e.action, e.outcome, e.passTemplateId])).toEqual([
      [7, 'redeem', 'redeemed', s.alpha.templateId],
      [7, 'redeem', 'redeemed', s.alpha.templateId],
      [7, 'redeem', 'already_redeemed', s.alpha.templateId],
    ]);
    const changes = await eventsOf(p.serialNumber, 'pass.status_changed');
    expect(changes.map((e) => [e.oldStatus, e.newStatus])).toEqual([['valid', 'redeemed']]);
  });

  it('gives the last redemption to one of two scanners redeeming at once', async () => {
    await restrict(s.alpha, { redemptionRestriction: 1 });
    for (let round = 0; round < 3; round++) {
      const p = await createMemberPass(s, s.alpha);
      const answers = await Promise.all([redeem(p.path), redeem(p.path), redeem(p.path)]);
      const outcomes = (await Promise.all(answers.map((r) => r.json()))).map((a) => a.outcome).sort();
      expect(outcomes).toEqual(['already_redeemed', 'already_redeemed', 'redeemed']);
    }
  });

  it('counts redemptions without a limit when the template sets none', async () => {
    await restrict(s.alpha, {});
    const p = await createMemberPass(s, s.alpha);
    for (let i = 1; i <= 3; i++)
      expect(await (await redeem(p.path)).json()).toEqual({
        outcome: 'redeemed',
        status: 'valid',
        redemptions: i,
        remaining: null,
      });
  });

  it('refuses a revoked pass and one whose status is not valid', async () => {
    const revoked = await createMemberPass(s, s.alpha);
    await s.api(s.alpha.appKey, `${revoked.path}/revoke`, { method: 'POST', json: { reason: 'refund' } });
    expect(await (await redeem(revoked.path)).json()).toMatchObject({
      outcome: 'not_valid',
      status: 'invalid',
      redemptions: 0,
    });
    const unpaid = await createMemberPass(s, s.alpha);
    await s.api(s.alpha.appKey, `${unpaid.path}/status`, { method: 'PUT', json: { status: 'unpaid' } });
    expect(await (await redeem(unpaid.path)).json()).toMatchObject({
      outcome: 'not_valid',
      status: 'unpaid',
    });
  });

  it("cannot redeem another account's pass, and checks its input", async () => {
    const theirs = await createMemberPass(s, gamma);
    const res = await redeem(theirs.path);
    expect(res.status).toBe(404);
    expect((await s.api(gamma.appKey, `${theirs.path}/status`).then((r) => r.json())).status).toBe('valid');
    const bad = await redeem(theirs.path, gamma.appKey, { scanner: 'front door' });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].field).toBe('scanner');
  });
});
