// The funnel from the events: issued, page opened, downloaded, added to Wallet, removed and redeemed, counted as
// distinct passes, per template and for the account, in total and per day, with conversion against issued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedDevice } from '../../src/dev/device.js';
import { createMemberPass, request, startServer, TEST_DB, type TestServer } from './harness.js';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148';
let s: TestServer;

describe(`funnel on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('counts each stage once per pass, and shares of the issued', async () => {
    const passes = [];
    for (let i = 0; i < 4; i++) passes.push(await createMemberPass(s, s.alpha));
    // three pages opened (one twice), two downloads, one added to Wallet then removed, one redeemed
    for (const p of [passes[0]!, passes[0]!, passes[1]!, passes[2]!])
      await request(p.url, { headers: { 'user-agent': IPHONE } });
    for (const p of [passes[0]!, passes[1]!])
      await request(`${p.url}&download=1`, { headers: { 'user-agent': IPHONE } });
    const phone = new SimulatedDevice();
    expect(await phone.addPass(passes[0]!.url)).toBe(201);
    expect(await phone.removePass(passes[0]!.serialNumber)).toBe(200);
    await s.api(s.alpha.appKey, `${passes[3]!.path}/status`, { method: 'PUT', json: { status: 'redeemed' } });
    await s.api(s.alpha.appKey, `${passes[2]!.path}/status`, { method: 'PUT', json: { status: 'invalid' } });

    const res = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/stats?interval=day`);
    expect(res.status).toBe(200);
    const stats = await res.json();
    // (the device's add counted an open and a download of pass 0 again: still one pass each)
    expect(stats.counts).toEqual({
      issued: 4,
      opened: 3,
      downloaded: 2,
      installed: 1,
      removed: 1,
      redeemed: 1,
    });
    expect(stats.conversion).toEqual({ opened: 0.75, downloaded: 0.5, installed: 0.25, redeemed: 0.25 });
    expect(stats.series).toHaveLength(31);
    const today = new Date().toISOString().slice(0, 10);
    expect(stats.series.at(-1)).toEqual({ date: today, ...stats.counts });
    expect(stats.series[0]).toMatchObject({ issued: 0, opened: 0 });
    // the account's funnel holds the same passes (one template here), and a month interval one step
    const account = await (
      await s.api(s.alpha.appKey, `/v1/stats?from=${today}T00:00:00Z&interval=month`)
    ).json();
    expect(account.counts).toEqual(stats.counts);
    expect(account.series).toEqual([{ date: today.slice(0, 7), ...stats.counts }]);
  });

  it('counts only what happened in the window, and refuses a window that ends before it starts', async () => {
    const past = await (
      await s.api(
        s.alpha.appKey,
        `/v1/templates/${s.alpha.templateId}/stats?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z`,
      )
    ).json();
    expect(past.counts.issued).toBe(0);
    const wrong = await s.api(s.alpha.appKey, `/v1/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`);
    expect(wrong.status).toBe(422);
    expect((await wrong.json()).errors[0].field).toBe('from');
    const bad = await s.api(s.alpha.appKey, `/v1/stats?interval=week`);
    expect((await bad.json()).errors[0].field).toBe('interval');
  });
});
