// Scanning at the door (POST /v1/scans): a barcode in, what the door person needs out. The pass is found by what its
// current version's barcode says; the answer says valid, redeemed, already redeemed (when and by which scanner),
// revoked, expired, not yet valid or unknown, with the pass's name and key fields; redemption is atomic across
// scanners scanning at once; each scan is a scan.performed event; another account's codes are unknown.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let n = 0;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

const scan = (body: unknown, key = s.alpha.appKey) => s.api(key, '/v1/scans', { method: 'POST', json: body });
/** A pass with a code of its own (the demo template's barcode is member-<memberId>). */
async function ticket(values: Record<string, unknown> = {}) {
  const memberId = `T-${TEST_DB}-${++n}`;
  const p = await createMemberPass(s, s.alpha, memberValues({ memberId, ...values }));
  return { ...p, code: `member-${memberId}` };
}
async function doorScanner(): Promise<number> {
  const res = await s.api(s.alpha.appKey, '/v1/scanners', {
    method: 'POST',
    json: { name: `door-${++n}`, type: 'Browser', fullAccess: true },
  });
  return (await res.json()).id as number;
}

describe(`scanning on ${TEST_DB}`, () => {
  it('redeems a valid pass once, then says when and by which scanner it was redeemed', async () => {
    await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { redemptionRestriction: 1 },
    });
    const t = await ticket({ firstName: 'Grace' });
    const door = await doorScanner();
    const first = await scan({ barcode: t.code, scanner: door });
    expect(first.status).toBe(200);
    const out = await first.json();
    expect(out).toMatchObject({
      result: 'redeemed',
      message: 'Redeemed now.',
      pass: { serialNumber: t.serialNumber, status: 'redeemed', redemptions: 1, remaining: 0 },
      lastRedemption: null,
    });
    expect(out.pass.fields).toContainEqual(
      expect.objectContaining({ value: expect.stringContaining('Grace') }),
    );
    const again = await (await scan({ barcode: t.code })).json();
    expect(again.result).toBe('already_redeemed');
    expect(again.lastRedemption).toEqual({ at: expect.any(String), scanner: door });
    // each scan is a scan.performed event
    const events = (await (
      await s.api(s.alpha.appKey, '/v1/events?type=scan.performed&limit=1000')
    ).json()) as {
      data: { passSerialNumber?: string; outcome: string; scanner: number | null };
    }[];
    const mine = events.filter((e) => e.data.passSerialNumber === t.serialNumber).map((e) => e.data);
    expect(mine.map((e) => e.outcome)).toEqual(['redeemed', 'already_redeemed']);
    expect(mine[0]!.scanner).toBe(door);
  });

  it('gives one redeemed and one already_redeemed to two scanners scanning the same pass at once', async () => {
    const t = await ticket();
    const results = await Promise.all([scan({ barcode: t.code }), scan({ barcode: t.code })]);
    const outcomes = (await Promise.all(results.map((r) => r.json()))).map((o) => o.result).sort();
    expect(outcomes).toEqual(['already_redeemed', 'redeemed']);
  });

  it('checks without redeeming, and refuses revoked, expired, unpaid and unknown codes', async () => {
    const t = await ticket();
    expect((await (await scan({ barcode: t.code, redeem: false })).json()).result).toBe('valid');
    expect((await (await scan({ barcode: t.code, redeem: false })).json()).pass.redemptions).toBe(0);

    const revoked = await ticket();
    await s.api(s.alpha.appKey, `${revoked.path}/revoke`, { method: 'POST', json: { reason: 'refund' } });
    expect((await (await scan({ barcode: revoked.code })).json()).result).toBe('revoked');

    const invalid = await ticket();
    await s.api(s.alpha.appKey, `${invalid.path}/status`, { method: 'PUT', json: { status: 'invalid' } });
    expect((await (await scan({ barcode: invalid.code })).json()).result).toBe('expired');

    const unpaid = await ticket();
    await s.api(s.alpha.appKey, `${unpaid.path}/price`, { method: 'PUT', json: { price: 10 } });
    const waiting = await (await scan({ barcode: unpaid.code })).json();
    expect(waiting).toMatchObject({ result: 'not_yet_valid', pass: { status: 'unpaid', redemptions: 0 } });

    const unknown = await (await scan({ barcode: 'member-nobody' })).json();
    expect(unknown).toEqual({
      result: 'unknown',
      message: expect.any(String),
      pass: null,
      lastRedemption: null,
    });
    // a code changes with the pass: the old one is unknown, the new one finds it
    const changed = await ticket();
    await s.api(s.alpha.appKey, `${changed.path}/values`, {
      method: 'PUT',
      json: { memberId: `${changed.code}-2` },
    });
    expect((await (await scan({ barcode: changed.code, redeem: false })).json()).result).toBe('unknown');
    expect((await (await scan({ barcode: `member-${changed.code}-2`, redeem: false })).json()).result).toBe(
      'valid',
    );
  });

  it("finds nothing of another account's, and needs scans:write", async () => {
    const t = await ticket();
    const beta = await s.account(`scan-beta-${TEST_DB}`);
    expect((await (await scan({ barcode: t.code }, beta.appKey)).json()).result).toBe('unknown');
    const readOnly = await s.api(s.alpha.appKey, '/v1/keys', {
      method: 'POST',
      json: { name: 'reader', scopes: ['passes:read'] },
    });
    const { key } = await readOnly.json();
    const refused = await scan({ barcode: t.code }, key);
    expect(refused.status).toBe(403);
    const door = await s.api(s.alpha.appKey, '/v1/keys', {
      method: 'POST',
      json: { name: 'door', scopes: ['scans:write'] },
    });
    expect(
      (await (await scan({ barcode: t.code, redeem: false }, (await door.json()).key)).json()).result,
    ).toBe('valid');
    // bad input says what is wrong and where
    const bad = await scan({ barcode: '' });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].field).toBe('barcode');
  });

  it('gives passes signed codes when the template asks, and refuses a forged or edited one before any lookup', async () => {
    const beta = await s.account(`signed-${TEST_DB}`);
    const set = await s.api(beta.appKey, `/v1/templates/${beta.templateId}/restrictions`, {
      method: 'PUT',
      json: { signedBarcodes: true },
    });
    expect(set.status).toBe(200);
    const p = await createMemberPass(s, beta, memberValues({ memberId: 'S-1' }));
    const json = await (await s.api(beta.appKey, `${p.path}/passjson`)).json();
    const code: string = json.barcodes[0].message;
    expect(code).toMatch(new RegExp(`^PS1:${p.serialNumber}:[A-Za-z0-9_-]{16}$`));
    expect(json.barcodes[0].altText).toBe(p.serialNumber);
    const ok = await (await scan({ barcode: code, redeem: false }, beta.appKey)).json();
    expect(ok).toMatchObject({ result: 'valid', pass: { serialNumber: p.serialNumber } });
    // another serial number with the same signature, or the signature edited: forged
    const edited = code.replace(p.serialNumber, `${p.serialNumber.slice(0, -1)}x`);
    const forged = await (await scan({ barcode: edited }, beta.appKey)).json();
    expect(forged).toEqual({
      result: 'forged',
      message: expect.any(String),
      pass: null,
      lastRedemption: null,
    });
    const flipped = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
    expect((await (await scan({ barcode: flipped }, beta.appKey)).json()).result).toBe('forged');
    // another account's key does not sign this account's codes
    expect((await (await scan({ barcode: code }, s.alpha.appKey)).json()).result).toBe('forged');
  });

  it('voids the pass on the phone when its last use is redeemed: a new version, pushed, committed with the scan', async () => {
    await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { redemptionRestriction: 1 },
    });
    const t = await ticket();
    const before = (await (await s.api(s.alpha.appKey, `${t.path}/passjson`)).json()) as { voided?: boolean };
    expect(before.voided).toBeUndefined();
    const pushesBefore = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'push').execute();
    expect((await (await scan({ barcode: t.code })).json()).result).toBe('redeemed');
    await s.workers.drain();
    const after = (await (await s.api(s.alpha.appKey, `${t.path}/passjson`)).json()) as { voided?: boolean };
    expect(after.voided).toBe(true);
    const pushesAfter = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'push').execute();
    expect(pushesAfter.length - pushesBefore.length).toBe(1);
    // scanned again it is already redeemed (not revoked, not expired), and its status stays redeemed
    const again = await (await scan({ barcode: t.code })).json();
    expect(again).toMatchObject({ result: 'already_redeemed', pass: { status: 'redeemed' } });
  });
});
