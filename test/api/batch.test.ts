// POST /v1/templates/:id/passes: up to 1,000 passes from one template in one call, every valid item issued in one
// transaction, the others reported by index with their field errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPkpass } from '../helpers.js';
import { memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

const batch = (body: unknown, templateId = s.alpha.templateId, key = s.alpha.appKey) =>
  s.api(key, `/v1/templates/${templateId}/passes`, { method: 'POST', json: body });

describe(`batch create on ${TEST_DB}`, () => {
  it('issues every valid item and reports the others by index, with their fields', async () => {
    const res = await batch({
      passes: [
        { values: memberValues({ memberId: 'B-0' }), email: 'b0@example.com' },
        { values: memberValues({ memberId: 'B-1' }), externalId: 'crm-1' },
        { values: { firstName: 'No', lastName: 'Id', memberSince: '2024', points: 1 } },
        { values: memberValues({ memberId: 'B-3' }) },
        { values: { firstName: 'No', lastName: 'Points', memberSince: '2024', memberId: 'B-4' } },
      ],
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const out = JSON.parse(text);
    expect(out.created.map((c: { index: number }) => c.index)).toEqual([0, 1, 3]);
    expect(out.failed.map((f: { index: number }) => f.index)).toEqual([2, 4]);
    expect(out.failed[0].errors.map((e: { field: string }) => e.field)).toContain(
      'passes[2].values.memberId',
    );
    expect(out.failed[1].errors.map((e: { field: string }) => e.field)).toContain('passes[4].values.points');
    // the created passes are real: listed with their holders, and each serves a pass that verifies
    const first = out.created[0];
    const details = await (
      await s.api(s.alpha.appKey, `/v1/passes/${first.passTypeIdentifier}/${first.serialNumber}/details`)
    ).json();
    expect(details.owner).toMatchObject({ email: 'b0@example.com' });
    const pkpass = await s.api(
      s.alpha.appKey,
      `/v1/passes/${first.passTypeIdentifier}/${first.serialNumber}`,
    );
    expect(pkpass.status).toBe(200);
    verifyPkpass(new Uint8Array(await pkpass.arrayBuffer()), s.alpha.devCaPath);
    const byExternal = await s.api(s.alpha.appKey, '/v1/passes?externalId=crm-1');
    expect((await byExternal.json()).map((p: { serialNumber: string }) => p.serialNumber)).toEqual([
      out.created[1].serialNumber,
    ]);
    // one pass.created event per created pass
    const events = (await (await s.api(s.alpha.appKey, '/v1/events?type=pass.created')).json()) as {
      data: { serialNumber: string };
    }[];
    for (const c of out.created)
      expect(
        events.some((e) => e.data.serialNumber === c.serialNumber),
        c.serialNumber,
      ).toBe(true);
  });

  it('stops at the template quantityRestriction: the rest are reported, none over the limit issued', async () => {
    const made = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/pass`, {
      method: 'POST',
      json: memberValues(),
    });
    expect(made.status).toBe(201);
    const template = await s.api(s.alpha.appKey, '/v1/templates');
    const issued = ((await template.json()) as { id: number }[]).length; // just to use the API once more
    expect(issued).toBeGreaterThan(0);
    const other = await s.account(`quota-${TEST_DB}`);
    const restrict = await s.api(other.appKey, `/v1/templates/${other.templateId}/restrictions`, {
      method: 'PUT',
      json: { quantityRestriction: 2 },
    });
    expect(restrict.status).toBe(200);
    const res = await batch(
      { passes: [0, 1, 2, 3].map((i) => ({ values: memberValues({ memberId: `Q-${i}` }) })) },
      other.templateId,
      other.appKey,
    );
    const out = await res.json();
    expect(out.created.map((c: { index: number }) => c.index)).toEqual([0, 1]);
    expect(out.failed.map((f: { index: number; message: string }) => [f.index, f.message])).toEqual([
      [2, expect.stringContaining('quantityRestriction')],
      [3, expect.stringContaining('quantityRestriction')],
    ]);
    const again = await batch({ passes: [{ values: memberValues() }] }, other.templateId, other.appKey);
    expect(again.status).toBe(403);
    expect((await again.json()).code).toBe('template_closed');
  });

  it('refuses the whole call when an item breaks the schema, naming the item', async () => {
    const res = await batch({
      passes: [{ values: memberValues() }, { values: { points: { not: 'a value' } } }],
    });
    expect(res.status).toBe(422);
    expect((await res.json()).errors[0].field).toBe('passes[1].values.points');
  });

  it('refuses more than 1,000 items, an empty list, and another account’s template', async () => {
    const tooMany = await batch({ passes: Array.from({ length: 1001 }, () => ({ values: memberValues() })) });
    expect(tooMany.status).toBe(422);
    expect((await tooMany.json()).errors[0].field).toBe('passes');
    expect((await batch({ passes: [] })).status).toBe(422);
    const beta = await s.account(`beta-${TEST_DB}`);
    const theirs = await batch({ passes: [{ values: memberValues() }] }, beta.templateId);
    expect(theirs.status).toBe(404);
  });

  it('issues 1,000 passes in one call', async () => {
    const res = await batch({
      passes: Array.from({ length: 1000 }, (_, i) => ({ values: memberValues({ memberId: `K-${i}` }) })),
    });
    const out = await res.json();
    expect(out.failed).toEqual([]);
    expect(out.created).toHaveLength(1000);
    expect(new Set(out.created.map((c: { serialNumber: string }) => c.serialNumber)).size).toBe(1000);
  }, 120_000);
});
