// Pass pages over HTTP as an iPhone, an Android phone and a desktop browser see them: the Add to Apple Wallet button,
// the note for Android, the QR code of the page for desktops (decoded back to the link), the pass's look, the
// language of the browser, revoked and removed passes, wrong tokens; and the funnel's events with the device class.
import * as jsqr from 'jsqr';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeStringsText, readZip } from '../../src/engine/index.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1';
const ANDROID =
  'Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36';
const DESKTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36';
const MAC_SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.0 Safari/605.1.15';

// jsQR is CommonJS: its function is the default export, or that export's own default, by loader
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const loaded = jsqr as unknown as { default: Decode | { default: Decode } };
const jsQR: Decode = typeof loaded.default === 'function' ? loaded.default : loaded.default.default;

let s: TestServer;
let p: Awaited<ReturnType<typeof createMemberPass>>;

const open = (url: string, userAgent: string, lang?: string) =>
  request(url, { headers: { 'user-agent': userAgent, ...(lang ? { 'accept-language': lang } : {}) } });

async function events(type: string, serialNumber: string) {
  const rows = await s.app.db
    .selectFrom('events')
    .selectAll()
    .where('type', '=', type)
    .orderBy('seq')
    .execute();
  return rows.map((r) => JSON.parse(r.data)).filter((d) => d.serialNumber === serialNumber);
}

/** The text a QR code in a PNG holds. */
async function decodeQr(png: Buffer): Promise<string | undefined> {
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return jsQR(new Uint8ClampedArray(data), info.width, info.height)?.data;
}

describe(`pass pages on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
    p = await createMemberPass(s, s.alpha);
  });
  afterAll(async () => {
    await s?.close();
  });

  it("shows an iPhone the Add to Apple Wallet button with the pass's name, logo and colours, without JavaScript", async () => {
    const res = await open(p.url, IPHONE);
    expect(res.status).toBe(200);
    expect(res.headers.get('vary')).toContain('User-Agent');
    const html = await res.text();
    expect(html).toMatch(/<a class="button" href="\/p\/[^"]+download=1">Add to Apple Wallet<\/a>/);
    expect(html).toContain('background:rgb(32, 96, 200)'); // the demo template's colours
    expect(html).toContain('<div class="org">alpha</div>');
    expect(html).toMatch(/<img class="logo" src="data:image\/png;base64,[A-Za-z0-9+/=]+"/);
    expect(html).not.toContain('<svg');
    expect(html).not.toContain('<script');
    // Safari on a Mac adds passes too
    expect(await (await open(p.url, MAC_SAFARI)).text()).toContain('Add to Apple Wallet');
  });

  it('shows Android the pass with a note and the file, and a desktop the QR code of the page', async () => {
    const android = await (await open(p.url, ANDROID)).text();
    expect(android).toContain('Google Wallet passes are coming');
    expect(android).toContain('Download the pass file (.pkpass)');
    expect(android).not.toContain('class="button"');
    const desktop = await (await open(p.url, DESKTOP)).text();
    expect(desktop).toMatch(/<figure class="qr"><svg[\s\S]*<\/svg><figcaption>Scan with your phone/);
    expect(desktop).not.toContain('class="button"');
  });

  it('serves the QR code as SVG and PNG for embedding, and it opens the pass page', async () => {
    const png = await request(p.url.replace('?t=', '/qr.png?t='));
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(await decodeQr(Buffer.from(await png.arrayBuffer()))).toBe(p.url);
    const svg = await request(p.url.replace('?t=', '/qr.svg?t='));
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(await svg.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect((await request(p.url.replace('?t=', '/qr.png?t=x'))).status).toBe(404);
  });

  it("speaks the browser's language when the page has it, English otherwise", async () => {
    const fr = await (await open(p.url, IPHONE, 'fr-CH, fr;q=0.9, en;q=0.8')).text();
    expect(fr).toContain('<html lang="fr">');
    expect(fr).toContain('Ajouter à Apple Wallet');
    const de = await (await open(p.url, DESKTOP, 'ja;q=1, de;q=0.7')).text();
    expect(de).toContain('Pass-Datei herunterladen');
    const ja = await (await open(p.url, IPHONE, 'ja')).text();
    expect(ja).toContain('<html lang="en">');
  });

  it("shows the pass in the template's language and carries its translations in the pass", async () => {
    const loc = await s.account('pages-localized');
    const put = (body: unknown) =>
      s.api(loc.appKey, `/v1/templates/${loc.templateId}/localizations`, { method: 'PUT', json: body });
    const set = await put({
      localizations: {
        fr: { 'Membership card': 'Carte de membre de ${firstName}' },
        it: { 'Membership card': 'Tessera' },
        'pt-BR': { 'Membership card': 'Cartão de sócio' },
      },
    });
    expect(set.status).toBe(200);
    await s.workers.drain(); // the template's passes are re-rendered with them
    const got = await (await s.api(loc.appKey, `/v1/templates/${loc.templateId}/localizations`)).json();
    expect(Object.keys(got.localizations).sort()).toEqual(['fr', 'it', 'pt-BR']);
    const q = await createMemberPass(s, loc, memberValues({ firstName: 'Zoé' }));
    const fr = await (await open(q.url, IPHONE, 'fr-FR, en;q=0.5')).text();
    expect(fr).toContain('<html lang="fr">');
    expect(fr).toContain('Carte de membre de Zoé');
    expect(fr).toContain('Ajouter à Apple Wallet');
    // Italian: the template has it, the page's own words do not (English)
    const it_ = await (await open(q.url, IPHONE, 'it')).text();
    expect(it_).toContain('<html lang="it">');
    expect(it_).toContain('Tessera');
    expect(it_).toContain('Add to Apple Wallet');
    expect(await (await open(q.url, IPHONE, 'pt')).text()).toContain('Cartão de sócio');
    expect(await (await open(q.url, IPHONE, 'de')).text()).toContain('Membership card');
    // the .pkpass carries each language's pass.strings, rendered with the pass's values
    const files = readZip(new Uint8Array(await (await open(`${q.url}&download=1`, IPHONE)).arrayBuffer()));
    expect([...files.keys()].filter((n) => n.endsWith('.strings')).sort()).toEqual([
      'fr.lproj/pass.strings',
      'it.lproj/pass.strings',
      'pt-BR.lproj/pass.strings',
    ]);
    expect(decodeStringsText(files.get('fr.lproj/pass.strings')!).text).toContain(
      '"Membership card" = "Carte de membre de Zoé";',
    );
    // mistakes, by field
    const badLang = await put({ localizations: { French: { a: 'b' } } });
    expect(badLang.status).toBe(422);
    expect((await badLang.json()).errors[0].field).toContain('localizations');
    const badPlaceholder = await put({ localizations: { fr: { Points: '${pointz} points' } } });
    expect(badPlaceholder.status).toBe(422);
    const body = await badPlaceholder.json();
    expect(body.errors[0]).toMatchObject({ field: 'localizations.fr.Points' });
    expect(body.errors[0].reasons[0]).toContain('${pointz}');
  });

  it('records each visit and download with the device class and nothing personal', async () => {
    const q = await createMemberPass(s, s.alpha);
    await open(q.url, IPHONE);
    await open(q.url, ANDROID);
    await open(q.url, DESKTOP);
    await open(`${q.url}&download=1`, IPHONE);
    const opened = await events('pass.link_opened', q.serialNumber);
    expect(opened.map((e) => e.deviceClass)).toEqual(['ios', 'android', 'desktop']);
    const downloaded = await events('pass.downloaded', q.serialNumber);
    expect(downloaded.map((e) => e.deviceClass)).toEqual(['ios']);
    for (const e of [...opened, ...downloaded]) {
      expect(e).not.toHaveProperty('userAgent');
      expect(JSON.stringify(e)).not.toContain('Mozilla');
    }
  });

  it('says a revoked pass is no longer valid (and serves no file), a removed one is gone, a wrong token nothing', async () => {
    const r = await createMemberPass(s, s.alpha);
    await s.api(s.alpha.appKey, `${r.path}/revoke`, { method: 'POST', json: { reason: 'refund' } });
    const page = await open(r.url, IPHONE);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('This pass is no longer valid.');
    expect(html).not.toContain('Add to Apple Wallet');
    const file = await open(`${r.url}&download=1`, IPHONE);
    expect(file.headers.get('content-type')).toContain('text/html');
    const d = await createMemberPass(s, s.alpha);
    await s.api(s.alpha.appKey, d.path, { method: 'DELETE' });
    expect((await open(d.url, IPHONE)).status).toBe(410);
    const wrong = await open(p.url.replace(/t=[^&]+/, 't=wrong'), IPHONE);
    expect(wrong.status).toBe(404);
    expect(await wrong.text()).not.toContain('alpha');
  });
});
