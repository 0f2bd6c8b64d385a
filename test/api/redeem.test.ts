// Redemption against the template's redemptionRestriction (PassSlot's): counted per pass in one atomic update, the
// last allowed use sets the status to redeemed, later ones are refused; a scan.performed event for each attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountSetup, demoTemplate } from '../../src/actions/accounts.js';
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

/** A scanner of the account: its id. */
const scanner = async (who: AccountSetup, access: { fullAccess: boolean; allowedTemplates?: number[] }) => {
  const res = await s.api(who.appKey, '/v1/scanners', {
    method: 'POST',
    json: { name: `door-${Math.random()}`, type: 'Browser', ...access },
  });
  expect(res.status).toBe(201);
  return (await res.json()).id as number;
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
    const door = await scanner(s.alpha, { fullAccess: true });
    const p = await createMemberPass(s, s.alpha);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await redeem(p.path, s.alpha.appKey, { scanner: door });
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
      [door, 'redeem', 'redeemed', s.alpha.templateId],
      [door, 'redeem', 'redeemed', s.alpha.templateId],
      [door, 'redeem', 'already_redeemed', s.alpha.templateId],
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
    // a scanner of another account, and one not given this pass's template, cannot redeem it
    const alphaDoor = await scanner(s.alpha, { fullAccess: true });
    expect((await redeem(theirs.path, gamma.appKey, { scanner: alphaDoor })).status).toBe(404);
    const other = await s.api(gamma.appKey, '/v1/templates', {
      method: 'POST',
      json: { name: 'Other', passType: gamma.passTypeIdentifier, description: demoTemplate('Other') },
    });
    expect(other.status).toBe(201);
    const elsewhere = await scanner(gamma, {
      fullAccess: false,
      allowedTemplates: [(await other.json()).id],
    });
    const refused = await redeem(theirs.path, gamma.appKey, { scanner: elsewhere });
    expect(refused.status).toBe(403);
    expect((await refused.json()).message).toContain(`template ${gamma.templateId}`);
    const allowed = await scanner(gamma, { fullAccess: false, allowedTemplates: [gamma.templateId] });
    expect((await (await redeem(theirs.path, gamma.appKey, { scanner: allowed })).json()).outcome).toBe(
      'redeemed',
    );
    expect((await s.api(gamma.appKey, `${theirs.path}/status`).then((r) => r.json())).status).toBe('valid');
  });
});
