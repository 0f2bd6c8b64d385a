// What the web app stands on, over HTTP: a signed-in person's session is a credential for /v1 only with its CSRF token,
// in the accounts they belong to, within their role; the designer's preview renders a draft and checks it (and a
// saved template's images); a sample .pkpass is signed and issues nothing; scanners sign in with keys of their own,
// which scan as that scanner and do nothing else; the app's pages are served with a strict CSP.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction, systemContext } from '../../src/actions/registry.js';
import { createUser } from '../../src/actions/users.js';
import { until, verifyPkpass } from '../helpers.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
const PASSWORD = 'a long enough password';

/** Signs in through /login and returns the session cookie and the CSRF token the app would send. */
async function signIn(email: string): Promise<{ cookie: string; csrf: string }> {
  const form = await request(`${s.url}/login`);
  const formCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
  const token = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const res = await request(`${s.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ csrf: token, next: '/app', email, password: PASSWORD }).toString(),
  });
  expect(res.status).toBe(303);
  const cookie = res.headers
    .getSetCookie()
    .find((c) => c.startsWith('passslot_session='))!
    .split(';')[0]!;
  const session = await request(`${s.url}/app-session`, { headers: { cookie } });
  expect(session.status).toBe(200);
  const info = (await session.json()) as { csrf: string; email: string };
  expect(info.email).toBe(email);
  return { cookie, csrf: info.csrf };
}

const asPerson = (
  who: { cookie: string; csrf?: string },
  path: string,
  init: RequestInit & { json?: unknown } = {},
) =>
  request(`${s.url}${path}`, {
    ...init,
    method: init.method ?? (init.json ? 'POST' : 'GET'),
    headers: {
      cookie: who.cookie,
      ...(who.csrf ? { 'x-csrf-token': who.csrf } : {}),
      ...(init.json ? { 'content-type': 'application/json' } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
    body: init.json ? JSON.stringify(init.json) : init.body,
  });

beforeAll(async () => {
  s = await startServer();
  for (const [email, role] of [
    ['owner@example.com', 'owner'],
    ['viewer@example.com', 'viewer'],
  ] as const)
    await runAction(createUser, systemContext(s.app, s.alpha.accountId, 'test', 'cli'), {
      email,
      password: PASSWORD,
      role,
    });
});
afterAll(async () => {
  await s?.close();
});

describe(`the web app's credentials and actions (${TEST_DB})`, () => {
  it("acts with a session only with its CSRF token, in the person's account, within their role", async () => {
    const owner = await signIn('owner@example.com');
    const ok = await asPerson(owner, '/v1/actions/list_pass_templates', { json: {} });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { id: number }[]).map((t) => t.id)).toContain(s.alpha.templateId);
    // the cookie alone (what another site's form would send) is refused
    const noCsrf = await asPerson({ cookie: owner.cookie }, '/v1/actions/list_pass_templates', { json: {} });
    expect(noCsrf.status).toBe(401);
    const wrong = await asPerson({ cookie: owner.cookie, csrf: 'x'.repeat(32) }, '/v1/templates');
    expect(wrong.status).toBe(401);
    // another account's id is refused, not served
    const beta = await s.account('beta-web');
    const other = await asPerson(owner, '/v1/templates', {
      headers: { 'x-passslot-account': String(beta.accountId) },
    });
    expect(other.status).toBe(401);
    // the execution log and the audit trail name the person
    const made = await asPerson(owner, '/v1/scanners', {
      json: { name: 'made in the app', type: 'Browser', fullAccess: true },
    });
    expect(made.status).toBe(201);
    const runs = await until('the execution record', async () => {
      const log = await s.api(s.alpha.appKey, '/v1/executions?action=create_scanner&limit=5');
      const found = ((await log.json()) as { executions: { onBehalfOf: string; credential: string }[] })
        .executions;
      return found.length ? found : undefined;
    });
    expect(runs[0]).toMatchObject({
      onBehalfOf: 'owner@example.com',
      credential: expect.stringMatching(/^session:\d+$/),
    });

    const viewer = await signIn('viewer@example.com');
    expect((await asPerson(viewer, `/v1/templates/${s.alpha.templateId}`)).status).toBe(200);
    const write = await asPerson(viewer, `/v1/templates/${s.alpha.templateId}`, {
      method: 'PUT',
      json: { name: 'renamed by a viewer' },
    });
    expect(write.status).toBe(403);
    expect(((await write.json()) as { code: string }).code).toBe('missing_scope');
  });

  it('previews a draft as the phone would get it, with each rule broken at its field', async () => {
    const owner = await signIn('owner@example.com');
    const draft = {
      formatVersion: 1,
      organizationName: 'Example',
      description: 'Gold card',
      relevantDate: 'next friday',
      storeCard: { primaryFields: [{ key: 'name', label: 'Name', value: 'Hello ${name}' }] },
    };
    const res = await asPerson(owner, '/v1/templates/preview', {
      json: { passType: s.alpha.passTypeIdentifier, description: draft, values: { name: 'Ada' } },
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as {
      pass: { storeCard: { primaryFields: { value: string }[] }; passTypeIdentifier: string };
      placeholders: string[];
      problems: { field: string; severity: string; message: string }[];
    };
    expect(out.pass.storeCard.primaryFields[0]!.value).toBe('Hello Ada');
    expect(out.pass.passTypeIdentifier).toBe(s.alpha.passTypeIdentifier);
    expect(out.placeholders).toEqual(['name']);
    expect(out.problems).toContainEqual(
      expect.objectContaining({ field: 'description.relevantDate', severity: 'error' }),
    );
    // a saved template's images: the demo template has its icon; a new one has none
    const withImages = await s.api(s.alpha.appKey, '/v1/templates/preview', {
      method: 'POST',
      json: { passType: s.alpha.passTypeIdentifier, description: draft, templateId: s.alpha.templateId },
    });
    const checked = (await withImages.json()) as { problems: { field: string }[] };
    expect(checked.problems.filter((p) => p.field.startsWith('images.icon.png'))).toEqual([]);
    const created = await s.api(s.alpha.appKey, '/v1/templates', {
      method: 'POST',
      json: {
        name: 'no icon yet',
        passType: s.alpha.passTypeIdentifier,
        description: { ...draft, relevantDate: undefined },
      },
    });
    const id = ((await created.json()) as { id: number }).id;
    const bare = await s.api(s.alpha.appKey, '/v1/templates/preview', {
      method: 'POST',
      json: { passType: s.alpha.passTypeIdentifier, description: draft, templateId: id },
    });
    expect(
      ((await bare.json()) as { problems: { field: string; severity: string }[] }).problems,
    ).toContainEqual(expect.objectContaining({ field: 'images.icon.png', severity: 'error' }));
  });

  it("downloads a signed sample of a template's current version and issues nothing", async () => {
    const before = await s.app.db
      .selectFrom('passes')
      .select(s.app.db.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const res = await s.api(s.alpha.appKey, '/v1/actions/get_template_sample', {
      method: 'POST',
      json: { id: s.alpha.templateId, values: { firstName: 'Sam' } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    const pass = verifyPkpass(new Uint8Array(await res.arrayBuffer()), s.alpha.devCaPath);
    expect(pass.passJson.serialNumber).toBe(`sample-${s.alpha.templateId}`);
    expect(JSON.stringify(pass.passJson)).toContain('Sam');
    const after = await s.app.db
      .selectFrom('passes')
      .select(s.app.db.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('signs a scanner in with a key that scans as that scanner and does nothing else, until the scanner goes', async () => {
    const scanner = (await (
      await s.api(s.alpha.appKey, '/v1/scanners', {
        method: 'POST',
        json: { name: 'gate 2', type: 'Browser', fullAccess: true },
      })
    ).json()) as { id: number };
    const made = await s.api(s.alpha.appKey, `/v1/scanners/${scanner.id}/keys`, { method: 'POST' });
    expect(made.status).toBe(201);
    const { key, signInUrl } = (await made.json()) as { key: string; signInUrl: string };
    expect(signInUrl).toBe(
      `${s.app.config.publicUrl.replace(/\/+$/, '')}/scan#key=${encodeURIComponent(key)}`,
    );

    await createMemberPass(s, s.alpha, memberValues({ memberId: 'GATE-1' }));
    const scan = await s.api(key, '/v1/scans', {
      method: 'POST',
      json: { barcode: 'member-GATE-1', scanner: 999 },
    });
    expect(scan.status).toBe(200);
    expect(((await scan.json()) as { result: string }).result).toBe('redeemed');
    const events = (await (
      await s.api(s.alpha.appKey, '/v1/events?type=scan.performed&limit=1000')
    ).json()) as { data: { scanner: number | null; outcome: string } }[];
    const mine = events.filter((e) => e.data.scanner === scanner.id);
    expect(mine.map((e) => e.data.outcome)).toEqual(['redeemed']);
    // nothing else
    expect((await s.api(key, '/v1/templates')).status).toBe(403);
    expect((await s.api(key, '/v1/scanners')).status).toBe(403);
    // deleting the scanner revokes its key at once
    await s.api(s.alpha.appKey, `/v1/scanners/${scanner.id}`, { method: 'DELETE' });
    expect(
      (await s.api(key, '/v1/scans', { method: 'POST', json: { barcode: 'member-GATE-1' } })).status,
    ).toBe(401);
  });

  it('serves the app and the scanner under a strict Content-Security-Policy, and the manifest', async () => {
    for (const path of ['/app', '/app/templates/1', '/scan']) {
      const res = await request(`${s.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const csp = res.headers.get('content-security-policy')!;
      // no inline script may run (styles may: Preact sets style attributes)
      expect(csp).toMatch(/(^|; )script-src 'self' 'wasm-unsafe-eval'(;|$)/);
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      const script = /src="(\/web\/assets\/[^"]+\.js)"/.exec(html)![1]!;
      const js = await request(`${s.url}${script}`);
      expect(js.status).toBe(200);
      expect(js.headers.get('cache-control')).toContain('immutable');
    }
    // the dashboard's first load stays within its budget: 300 KB of JavaScript, compressed
    const html = await (await request(`${s.url}/app`)).text();
    let compressed = 0;
    for (const [, path] of html.matchAll(/(?:src|href)="(\/web\/assets\/[^"]+\.js)"/g))
      compressed += gzipSync(Buffer.from(await (await request(`${s.url}${path}`)).arrayBuffer())).length;
    expect(compressed).toBeGreaterThan(5_000);
    expect(compressed).toBeLessThan(300_000);
    const manifest = await request(`${s.url}/web/scan.webmanifest`);
    expect(manifest.headers.get('content-type')).toContain('application/manifest+json');
    expect(((await manifest.json()) as { start_url: string }).start_url).toBe('/scan');
    expect((await request(`${s.url}/web/..%2Fpackage.json`)).status).toBe(404);
  });
});
