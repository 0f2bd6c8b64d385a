// Self-service forms at a template's link, posted as a browser posts them: fields from the placeholders (inferred or
// declared), the pass issued and the pass page reached, the holder's email kept (and the pass emailed), PassSlot's
// restrictions with clear messages (end date, quantity, password), one pass per email, and the guards: CSRF token,
// honeypot, a per-address limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let formUrl: string;

/** A browser at the form: GET (keeps the form cookie), then POST its fields. */
async function submit(url: string, fields: Record<string, string>, options: { csrf?: string } = {}) {
  const form = await request(url);
  const html = await form.text();
  const cookie = form.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const csrf = options.csrf ?? /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  return request(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, ...fields }).toString(),
  });
}

const member = (email: string, extra: Record<string, string> = {}) => ({
  'v:firstName': 'Ada',
  'v:lastName': 'Lovelace',
  'v:memberSince': '2024-05-01',
  'v:points': '10',
  'v:memberId': 'M-77',
  email,
  ...extra,
});

async function passesOf(email: string) {
  return s.app.db.selectFrom('passes').selectAll().where('ownerEmail', '=', email).execute();
}

describe(`self-service forms on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
    formUrl = (await (await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/url`)).json()).url;
  });
  afterAll(async () => {
    await s?.close();
  });

  it("builds the form from the template's placeholders, with inferred labels and input types", async () => {
    const html = await (await request(formUrl)).text();
    expect(html).toContain('<label for="f-firstName">First name</label><input id="f-firstName" type="text"');
    expect(html).toMatch(/<input id="f-memberSince" type="date"/);
    expect(html).toMatch(/<input id="f-points" type="number"/);
    expect(html).toMatch(/<input id="f-email" type="email" name="email"/);
    expect(html).toMatch(/name="csrf" value="[A-Za-z0-9_-]{32}"/);
    expect(html).toContain('name="website"');
    expect(html).not.toContain('<script');
  });

  it('issues the pass and goes to its page, keeping the email; a second pass for that email is refused', async () => {
    const res = await submit(formUrl, member('ada@example.com'));
    expect(res.status).toBe(303);
    const page = new URL(res.headers.get('location')!);
    expect(page.pathname).toMatch(/^\/p\//);
    const [pass] = await passesOf('ada@example.com');
    expect(JSON.parse(pass!.values)).toEqual({
      firstName: 'Ada',
      lastName: 'Lovelace',
      memberSince: '2024-05-01',
      points: 10,
      memberId: 'M-77',
    });
    expect(
      (
        await request(page.toString(), {
          headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)' },
        })
      ).status,
    ).toBe(200);
    const again = await submit(formUrl, member('ADA@example.com'));
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('already has a pass of this offer');
    expect(await passesOf('ada@example.com')).toHaveLength(1);
  });

  it('answers mistakes field by field and keeps what was typed', async () => {
    const res = await submit(formUrl, member('bob@example.com', { 'v:firstName': '', 'v:points': 'ten' }));
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toMatch(/f-firstName[\s\S]*?<p class="error">is required<\/p>/);
    expect(html).toMatch(/f-points[\s\S]*?<p class="error">is not a number<\/p>/);
    expect(html).toContain('value="Lovelace"');
    expect(await passesOf('bob@example.com')).toHaveLength(0);
  });

  it('follows the declared form: a select, a hidden default, and the pass emailed', async () => {
    const set = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/form`, {
      method: 'PUT',
      json: {
        title: 'Join the club',
        fields: {
          memberId: { label: 'Tier', type: 'select', options: ['Silver', 'Gold'] },
          points: { hidden: true, default: '5' },
        },
        emailPass: true,
      },
    });
    expect(set.status).toBe(200);
    const html = await (await request(formUrl)).text();
    expect(html).toContain('Join the club');
    expect(html).toContain('<option>Gold</option>');
    expect(html).not.toContain('f-points');
    const wrong = await submit(formUrl, member('cy@example.com', { 'v:memberId': 'Platinum' }));
    expect(await wrong.text()).toContain('must be one of Silver, Gold');
    const res = await submit(formUrl, member('cy@example.com', { 'v:memberId': 'Gold' }));
    expect(res.status).toBe(303);
    const [pass] = await passesOf('cy@example.com');
    expect(JSON.parse(pass!.values)).toMatchObject({ memberId: 'Gold', points: '5' });
    const emails = await s.app.db.selectFrom('jobs').select('payload').where('kind', '=', 'email').execute();
    expect(emails.some((j) => JSON.parse(j.payload).email === 'cy@example.com')).toBe(true);
    const bad = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/form`, {
      method: 'PUT',
      json: { fields: { nickname: { label: 'x' } } },
    });
    expect((await bad.json()).errors[0].field).toBe('fields');
  });

  it("enforces the template's password, quantity and end date with clear messages", async () => {
    const restrict = (json: unknown) =>
      s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/restrictions`, { method: 'PUT', json });
    await restrict({ passwordProtection: 'open sesame' });
    expect(await (await request(formUrl)).text()).toContain('type="password"');
    const wrong = await submit(
      formUrl,
      member('dee@example.com', { 'v:memberId': 'Gold', password: 'nope' }),
    );
    expect(wrong.status).toBe(422);
    expect(await wrong.text()).toContain('is not the password of this offer');
    expect(
      (await submit(formUrl, member('dee@example.com', { 'v:memberId': 'Gold', password: 'open sesame' })))
        .status,
    ).toBe(303);
    const issued = (
      await s.app.db.selectFrom('passes').select('id').where('templateId', '=', s.alpha.templateId).execute()
    ).length;
    await restrict({ quantityRestriction: issued });
    const full = await submit(formUrl, member('eve@example.com', { 'v:memberId': 'Gold' }));
    expect(full.status).toBe(403);
    expect(await full.text()).toContain('quantityRestriction');
    await restrict({ dateRestriction: '2020-01-01T00:00:00Z' });
    const ended = await request(formUrl);
    expect(ended.status).toBe(410);
    expect(await ended.text()).toContain('This offer has ended.');
    await restrict({});
  });

  it('refuses a post without the form token, and issues nothing to a bot that fills the honeypot', async () => {
    const forged = await submit(formUrl, member('fay@example.com', { 'v:memberId': 'Gold' }), {
      csrf: 'forged',
    });
    expect(forged.status).toBe(403);
    const bot = await submit(
      formUrl,
      member('fay@example.com', { 'v:memberId': 'Gold', website: 'http://spam.example' }),
    );
    expect(bot.status).toBe(400);
    expect(await passesOf('fay@example.com')).toHaveLength(0);
    expect((await request(formUrl.replace(/\/t\/.+$/, '/t/nope'))).status).toBe(404);
  });
});

describe(`form submissions per address on ${TEST_DB}`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 beyond ten submissions a minute from one address', async () => {
    const url = (await (await t.api(t.alpha.appKey, `/v1/templates/${t.alpha.templateId}/url`)).json()).url;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await submit(url, member(''))).status);
    expect(statuses.slice(0, 10).every((x) => x === 422)).toBe(true);
    expect(statuses[10]).toBe(429);
  });
});

describe(`forms that ask for a phone on ${TEST_DB}`, () => {
  let p: TestServer;
  beforeAll(async () => {
    p = await startServer();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('asks for a mobile number when told to, keeps it in E.164, and allows one pass per number', async () => {
    const url = (await (await p.api(p.alpha.appKey, `/v1/templates/${p.alpha.templateId}/url`)).json()).url;
    const form = (json: unknown) =>
      p.api(p.alpha.appKey, `/v1/templates/${p.alpha.templateId}/form`, { method: 'PUT', json });
    expect(
      (
        await form({
          askEmail: false,
          askPhone: true,
          fields: { memberId: { type: 'select', options: ['Gold'] } },
        })
      ).status,
    ).toBe(200);
    const html = await (await request(url)).text();
    expect(html).toMatch(/<input id="f-phone" type="tel" name="phone"/);
    expect(html).not.toContain('name="email"');
    const fields = { ...member(''), 'v:memberId': 'Gold' };
    const wrong = await submit(url, { ...fields, phone: '0770' });
    expect(wrong.status).toBe(422);
    expect(await wrong.text()).toContain('is not a mobile number with its country code');
    expect((await submit(url, { ...fields, phone: '+44 7700 900123' })).status).toBe(303);
    const rows = await p.app.db
      .selectFrom('passes')
      .select(['ownerPhone', 'ownerEmail'])
      .where('ownerPhone', '=', '+447700900123')
      .execute();
    expect(rows).toEqual([{ ownerPhone: '+447700900123', ownerEmail: null }]);
    expect((await submit(url, { ...fields, phone: '+447700900123' })).status).toBe(409);
  });
});
