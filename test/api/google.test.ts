// Google Wallet through the API: the account's connection (its key sealed, never shown), a template's class with
// its warnings, a pass's save link signed by the service account and carrying the pass's object, the images Google
// fetches, and another account's things not found.
import { generateKeyPairSync, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const serviceAccountKey = {
  type: 'service_account',
  project_id: 'passslot-test',
  client_email: 'wallet@passslot-test.iam.gserviceaccount.com',
  private_key: pem,
};

beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

const api = (path: string, init: RequestInit & { json?: unknown } = {}) => s.api(s.alpha.appKey, path, init);

describe(`Google Wallet on ${TEST_DB}`, () => {
  it('is not there until connected, and refuses a key that is not a service account RSA key', async () => {
    expect((await api('/v1/google-wallet')).status).toBe(404);
    expect((await api(`/v1/templates/${s.alpha.templateId}/google`)).status).toBe(404);
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const bad = await api('/v1/google-wallet', {
      method: 'PUT',
      json: { issuerId: '3388000000012345678', serviceAccountKey: { ...serviceAccountKey, private_key: ec } },
    });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].field).toBe('serviceAccountKey.private_key');
    const noIssuer = await api('/v1/google-wallet', {
      method: 'PUT',
      json: { issuerId: 'abc', serviceAccountKey },
    });
    expect((await noIssuer.json()).errors[0].field).toBe('issuerId');
  });

  it('keeps the key sealed and never shows it', async () => {
    const put = await api('/v1/google-wallet', {
      method: 'PUT',
      json: { issuerId: '3388000000012345678', serviceAccountKey },
    });
    expect(put.status).toBe(200);
    const shown = await (await api('/v1/google-wallet')).text();
    expect(JSON.parse(shown)).toEqual({
      issuerId: '3388000000012345678',
      clientEmail: serviceAccountKey.client_email,
    });
    expect(shown).not.toContain('PRIVATE KEY');
    const row = await s.app.db
      .selectFrom('accounts')
      .select('googleKeyEnc')
      .where('id', '=', s.alpha.accountId)
      .executeTakeFirstOrThrow();
    expect(row.googleKeyEnc).not.toContain('PRIVATE KEY');
    expect(s.app.secrets.decrypt(row.googleKeyEnc!)).toBe(pem);
  });

  it("maps the template to a loyalty class, with its images served where Google fetches them and what won't map", async () => {
    const res = await api(`/v1/templates/${s.alpha.templateId}/google`);
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.type).toBe('loyalty');
    expect(out.class.id).toMatch(new RegExp(`^3388000000012345678\\.t${s.alpha.templateId}$`));
    expect(out.class.programName).toBeTruthy();
    // the test server's PUBLIC_URL is http: Google would refuse the images, and says so
    expect(out.warnings).toContainEqual(expect.stringMatching(/not https/));
    // Apple's logo is far smaller than Google's, and Google says how large it should be
    expect(out.warnings).toContainEqual(
      expect.stringMatching(/image is \d+×\d+ px: Google shows the logo in a circle/),
    );
    const logo = await fetch(out.class.programLogo.sourceUri.uri);
    expect(logo.status).toBe(200);
    expect(logo.headers.get('content-type')).toBe('image/png');
    const bytes = new Uint8Array(await logo.arrayBuffer());
    expect([...bytes.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect((await fetch(`${s.url}/t/not-a-token/google/logo.png`)).status).toBe(404);
  });

  it('gives each pass a save link signed by the service account, carrying its class and object', async () => {
    const p = await createMemberPass(s, s.alpha, memberValues({ points: 321 }));
    const res = await api(`${p.path}/google`);
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.saveUrl.startsWith('https://pay.google.com/gp/v/save/')).toBe(true);
    const [header, claims, signature] = out.saveUrl.split('/').pop().split('.');
    expect(
      verify(
        'RSA-SHA256',
        Buffer.from(`${header}.${claims}`),
        publicKey,
        Buffer.from(signature, 'base64url'),
      ),
    ).toBe(true);
    const jwt = JSON.parse(Buffer.from(claims, 'base64url').toString());
    expect(jwt).toMatchObject({
      iss: serviceAccountKey.client_email,
      aud: 'google',
      typ: 'savetowallet',
      origins: [new URL(s.url).origin],
    });
    expect(jwt.payload.loyaltyObjects).toEqual([out.object]);
    expect(jwt.payload.loyaltyClasses[0].id).toBe(out.object.classId);
    expect(out.object).toMatchObject({
      state: 'ACTIVE',
      accountId: p.serialNumber,
      barcode: { type: 'QR_CODE' },
    });
    // the pass's own values are in its object
    expect(JSON.stringify(out.object)).toContain('321');
    // its translations too, with its values in them
    const put = await api(`/v1/templates/${s.alpha.templateId}/localizations`, {
      method: 'PUT',
      json: { localizations: { de: { POINTS: 'PUNKTE', '321': 'dreihunderteinundzwanzig' } } },
    });
    expect(put.status).toBe(200);
    const translated = await (await api(`${p.path}/google`)).json();
    const points = translated.object.textModulesData.find((m: { id: string }) => m.id === 'points');
    expect(points.localizedHeader.translatedValues).toEqual([{ language: 'de', value: 'PUNKTE' }]);
    expect(points.localizedBody.translatedValues).toEqual([
      { language: 'de', value: 'dreihunderteinundzwanzig' },
    ]);
    // revoked: hidden in Google Wallet
    await api(`${p.path}/revoke`, { method: 'POST', json: { reason: 'refund' } });
    expect((await (await api(`${p.path}/google`)).json()).object.state).toBe('INACTIVE');
  });

  it('gives agents both links: create_pass, batch create and get_pass_details answer the Google Wallet link too', async () => {
    const created = await (
      await api(`/v1/templates/${s.alpha.templateId}/pass`, { method: 'POST', json: memberValues() })
    ).json();
    expect(created.googleUrl).toBe(created.url.replace('?t=', '/google?t='));
    const batch = await (
      await api(`/v1/templates/${s.alpha.templateId}/passes`, {
        method: 'POST',
        json: { passes: [{ values: memberValues() }] },
      })
    ).json();
    expect(batch.created[0].googleUrl).toMatch(/\/google\?t=/);
    const details = await (
      await api(`/v1/passes/${created.passTypeIdentifier}/${created.serialNumber}/details`)
    ).json();
    expect(details.googleUrl).toBe(created.googleUrl);
  });

  it('gives Android and desktops on the pass page a Google Wallet button that leads to the pass as it is now', async () => {
    const p = await createMemberPass(s, s.alpha, memberValues({ points: 55 }));
    const android = await (
      await fetch(p.url, {
        headers: {
          'user-agent': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile',
        },
      })
    ).text();
    expect(android).toContain('Add to Google Wallet');
    expect(android).not.toContain('Google Wallet passes are coming');
    const href = /<a class="button google" href="([^"]+)"/.exec(android)![1]!.replace(/&amp;/g, '&');
    const desktop = await (
      await fetch(p.url, {
        headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120' },
      })
    ).text();
    expect(desktop).toContain('Add to Google Wallet');
    expect(desktop).toContain('<figure class="qr">');
    // the button's link takes the phone to Google with the pass's current values
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 56 } });
    const go = await fetch(href, { redirect: 'manual' });
    expect(go.status).toBe(302);
    const location = go.headers.get('location')!;
    expect(location.startsWith('https://pay.google.com/gp/v/save/')).toBe(true);
    const claims = JSON.parse(Buffer.from(location.split('/').pop()!.split('.')[1]!, 'base64url').toString());
    expect(JSON.stringify(claims.payload.loyaltyObjects[0])).toContain('56');
    // a wrong token finds nothing
    expect((await fetch(href.replace(/t=[^&]+/, 't=wrong'), { redirect: 'manual' })).status).toBe(404);
  });

  it("does not show another account's pass or template, and disconnects", async () => {
    const beta = await s.account(`google-beta-${TEST_DB}`);
    const p = await createMemberPass(s, s.alpha);
    expect((await s.api(beta.appKey, `${p.path}/google`)).status).toBe(404);
    expect((await s.api(beta.appKey, `/v1/templates/${s.alpha.templateId}/google`)).status).toBe(404);
    expect((await s.api(beta.appKey, '/v1/google-wallet')).status).toBe(404);
    expect((await api('/v1/google-wallet', { method: 'DELETE' })).status).toBe(200);
    expect((await api('/v1/google-wallet')).status).toBe(404);
    expect((await api(`${p.path}/google`)).status).toBe(404);
    expect((await (await api(`${p.path}/details`)).json()).googleUrl).toBeNull();
    const plain = await (
      await api(`/v1/templates/${s.alpha.templateId}/pass`, { method: 'POST', json: memberValues() })
    ).json();
    expect(plain.googleUrl).toBeUndefined();
    // without Google Wallet, Android gets the note again
    const android = await (
      await fetch(p.url, { headers: { 'user-agent': 'Mozilla/5.0 (Linux; Android 14) Chrome/120 Mobile' } })
    ).text();
    expect(android).toContain('Google Wallet passes are coming');
  });
});
