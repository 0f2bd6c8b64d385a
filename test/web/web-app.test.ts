// The web app in headless Chromium against the real service: a person signs in, designs a template watching the
// preview follow their typing and the rule check flag a field, saves it, issues a pass from the template's form link,
// finds it by email, revokes it and reads its timeline; a phone signed in as a scanner films passes with a fake camera
// (valid → checked in, the same again → already, revoked, forged). axe-core checks every screen; screenshots of the
// designer and the scanner are kept in test-artifacts/.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction, systemContext } from '../../src/actions/registry.js';
import { createUser } from '../../src/actions/users.js';
import { createMemberPass, memberValues, startServer, type TestServer } from '../api/harness.js';
import { barcodeVideo, launch, screenshot, seriousViolations } from './browser.js';

const EMAIL = 'door.manager@example.com';
const PASSWORD = 'correct horse battery staple';
let s: TestServer;
let browser: Browser;
const videos = mkdtempSync(join(tmpdir(), 'passslot-camera-'));

beforeAll(async () => {
  s = await startServer({ poll: true });
  await runAction(createUser, systemContext(s.app, s.alpha.accountId, 'test', 'cli'), {
    email: EMAIL,
    password: PASSWORD,
    role: 'owner',
  });
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/** A page that fails the test on any uncaught script error or console error (a CSP refusal among them). */
async function newPage(
  b = browser,
  viewport = { width: 1280, height: 900 },
): Promise<{ page: Page; errors: string[] }> {
  const context = await b.newContext({ viewport });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  page.on('dialog', (d) => void d.accept());
  return { page, errors };
}

async function signIn(page: Page, path: string): Promise<void> {
  await page.goto(`${s.url}${path}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(new RegExp(`${path.replace(/[?]/g, '\\?')}`));
}

async function expectAccessible(page: Page, screen: string): Promise<void> {
  const violations = await seriousViolations(page);
  expect(violations, `axe on ${screen}`).toEqual([]);
}

/** The page's record of keystroke-to-preview times (web/src/designer.tsx). */
type Timed = { passslotPreviewTimings?: number[] };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

describe('the dashboard', () => {
  let page: Page;
  let errors: string[];
  let templateId: number;
  let formLink: string;

  beforeAll(async () => {
    ({ page, errors } = await newPage());
  });

  it('sends a signed-out visitor to sign in, and back to the screen they asked for', async () => {
    await signIn(page, '/app/templates');
    await page.getByRole('heading', { name: 'Templates', level: 1 }).waitFor();
    await page.getByRole('table').waitFor();
    expect(await page.getByRole('link', { name: 'Member Card' }).count()).toBe(1);
    await expectAccessible(page, 'templates');
  });

  it('designs a template: the preview follows each keystroke and the rule check flags the field', async () => {
    await page.getByRole('link', { name: 'Store card' }).click();
    await page.waitForURL(/\/app\/templates\/new\?style=storeCard/);
    await page.getByLabel('Name', { exact: true }).fill('Gold members');
    const logo = page.getByLabel('Logo text');
    await logo.fill('');
    await page.evaluate(() => {
      (globalThis as Timed).passslotPreviewTimings = [];
    });
    await logo.pressSequentially('Gold Club', { delay: 60 });
    await page.getByTestId('preview-logo-text').filter({ hasText: 'Gold Club' }).waitFor();
    const timings = await page.evaluate(() => (globalThis as Timed).passslotPreviewTimings ?? []);
    expect(timings.length).toBeGreaterThan(0);
    console.log(
      `designer preview: keystroke → preview drawn, median ${median(timings).toFixed(1)} ms, max ${Math.max(...timings).toFixed(1)} ms over ${timings.length} renders`,
    );

    // a sample value shows in the preview
    await page.getByLabel('name', { exact: true }).fill('Ada Lovelace');
    await page.getByTestId('pass-preview').filter({ hasText: 'Ada Lovelace' }).waitFor();

    // a wrong relevant date: the engine's rule shows at the field, and goes when it is mended
    const date = page.getByLabel('Relevant date');
    await date.fill('next friday');
    await page.getByTestId('rule-check').filter({ hasText: 'relevantDate' }).waitFor();
    const field = page.locator('.field.has-problem', { has: date });
    expect(await field.count()).toBe(1);
    expect(await field.locator('.problem', { hasText: /^Error: .*ISO 8601/ }).count()).toBe(1);
    await expectAccessible(page, 'designer with a problem');
    await date.fill('');
    await page.getByTestId('rule-check').filter({ hasText: 'no problems' }).waitFor();

    // contrast warning
    await page.getByLabel('foreground colour').fill('#2a4a8a');
    await page.getByText(/Low contrast/).waitFor();
    await page.getByLabel('foreground colour').fill('#ffffff');

    await page.getByRole('button', { name: 'Create template' }).click();
    await page.waitForURL(/\/app\/templates\/\d+$/);
    templateId = Number(new URL(page.url()).pathname.split('/').pop());
    const saved = await s.api(s.alpha.appKey, `/v1/templates/${templateId}`);
    const body = (await saved.json()) as { name: string; description: { logoText: string } };
    expect(body).toMatchObject({ name: 'Gold members', description: { logoText: 'Gold Club' } });
    await page.getByTestId('preview-logo-text').filter({ hasText: 'Gold Club' }).waitFor();
    // a saved template's images are checked too: it has no icon yet, so no pass could be issued
    await page.getByTestId('rule-check').filter({ hasText: 'every pass needs an icon' }).waitFor();
    for (const [res, px] of [
      ['@1x', 29],
      ['@2x', 58],
      ['@3x', 87],
    ] as const) {
      const file = join(videos, `icon${res}.png`);
      await sharp({ create: { width: px, height: px, channels: 4, background: '#1d3f7a' } })
        .png()
        .toFile(file);
      await page.getByLabel(`icon ${res}`).setInputFiles(file);
      await page.getByText(`${px} × ${px}`, { exact: true }).waitFor();
    }
    await page.getByTestId('rule-check').filter({ hasText: 'no problems' }).waitFor();
    await screenshot(page, 'designer');
    await expectAccessible(page, 'designer');
  });

  it('starts each of the five styles from a body Apple accepts, and duplicates a template', async () => {
    for (const style of ['storeCard', 'eventTicket', 'coupon', 'boardingPass', 'generic']) {
      await page.goto(`${s.url}/app/templates/new?style=${style}`);
      await page.locator(`.pv-card.pv-${style}`).waitFor();
      await page.getByTestId('rule-check').filter({ hasText: 'no problems' }).waitFor();
    }
    await page.goto(`${s.url}/app/templates/new?from=${templateId}`);
    await expect
      .poll(() => page.getByLabel('Name', { exact: true }).inputValue())
      .toBe('Copy of Gold members');
    await page.getByRole('button', { name: 'Create template' }).click();
    await page.waitForURL(
      (u) => /\/app\/templates\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/${templateId}`),
    );
    const copy = (await (
      await s.api(s.alpha.appKey, `/v1/templates/${page.url().split('/').pop()}`)
    ).json()) as {
      name: string;
      description: { logoText: string };
    };
    expect(copy).toMatchObject({ name: 'Copy of Gold members', description: { logoText: 'Gold Club' } });
    await page.goto(`${s.url}/app/templates/${templateId}`);
    await page.getByTestId('preview-logo-text').filter({ hasText: 'Gold Club' }).waitFor();
  });

  it('saves a new version and follows the job that updates the issued passes', async () => {
    await page.getByLabel('Logo text').fill('Gold Club+');
    await page.getByRole('button', { name: 'Save (new version)' }).click();
    await page.getByTestId('job').filter({ hasText: 'done' }).waitFor({ timeout: 20_000 });
    const t = (await (await s.api(s.alpha.appKey, `/v1/templates/${templateId}`)).json()) as {
      description: { logoText: string };
    };
    expect(t.description.logoText).toBe('Gold Club+');
  });

  it('shows the funnel and the form link, and a pass issued from the link is found by email', async () => {
    await page.getByRole('link', { name: 'Analytics and link' }).click();
    await page.getByTestId('funnel').waitFor();
    formLink = (await page.locator('section.share a').getAttribute('href'))!;
    expect(formLink).toMatch(/\/t\//);
    expect(
      await page
        .locator('section.share img')
        .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
    ).toBeGreaterThan(0);
    await expectAccessible(page, 'analytics');

    // someone opens the link and gets a pass
    const visitor = await newPage();
    await visitor.page.goto(formLink);
    for (const [name, value] of Object.entries({
      points: '10',
      balance: '5',
      name: 'Grace Hopper',
      code: 'GOLD-0001',
    }))
      await visitor.page.locator(`[name="v:${name}"]`).fill(value);
    await visitor.page.locator('[name="email"]').fill('grace@example.com');
    await visitor.page.getByRole('button', { name: 'Get my pass' }).click();
    await visitor.page.waitForURL((u) => !u.pathname.startsWith('/t/'));
    await visitor.page.context().close();

    const issuedBefore = ((await page.getByTestId('funnel').locator('title').textContent()) ?? '').match(
      /issued (\d+)/,
    )![1];
    await page.reload();
    await page.getByTestId('funnel').waitFor();
    const issued = ((await page.getByTestId('funnel').locator('title').textContent()) ?? '').match(
      /issued (\d+)/,
    )![1];
    expect(Number(issued)).toBe(Number(issuedBefore) + 1);

    await page.getByRole('link', { name: 'Passes', exact: true }).click();
    await page.getByLabel('Owner email').fill('grace@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/app\/passes\?email=grace/);
    await page.getByRole('table').waitFor();
    expect(await page.getByRole('row').count()).toBe(2); // the header and the one pass
    await expectAccessible(page, 'passes');
  });

  it('opens the pass, revokes it, and shows the revocation on its timeline', async () => {
    await page.getByRole('row').nth(1).getByRole('link').click();
    await page.waitForURL(/\/app\/passes\/[^/]+\/[^/]+$/);
    expect(await page.getByTestId('pass-status').innerText()).toBe('valid');
    await page.getByTestId('timeline').filter({ hasText: 'pass.created' }).waitFor();
    await expectAccessible(page, 'pass');
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Pass revoked.').waitFor();
    await page.getByTestId('timeline').filter({ hasText: 'pass.revoked' }).waitFor();
    expect(await page.getByTestId('pass-status').innerText()).not.toBe('valid');
    // the URL of the view is shareable: a fresh load shows the same pass
    const url = page.url();
    await page.goto(url);
    await page.getByTestId('timeline').filter({ hasText: 'pass.revoked' }).waitFor();
  });

  it('shows integrations, pass types with their certificate, and the execution log', async () => {
    for (const [tab, shown] of [
      ['webhooks', /No webhooks/],
      ['crm', /No connectors/],
      ['passtypes', /Pass types and their certificates/],
      ['scanners', /No scanners yet/],
      ['keys', /App keys/],
      ['grants', /No OAuth grants/],
      ['log', /Every action run/],
    ] as const) {
      await page.goto(`${s.url}/app/integrations/${tab}`);
      await page.getByText(shown).first().waitFor();
      await expectAccessible(page, `integrations/${tab}`);
    }
    await page.getByRole('button', { name: 'Verify the audit trail' }).click();
    await page.getByText(/The audit trail is intact: \d+ records/).waitFor();
    // the log names the person who revoked the pass from the dashboard
    expect(
      await page
        .getByRole('row', { name: /revoke_pass/ })
        .first()
        .innerText(),
    ).toContain(EMAIL);
  });

  it('shows a viewer what their role allows: templates to look at, no save, no keys', async () => {
    await runAction(createUser, systemContext(s.app, s.alpha.accountId, 'test', 'cli'), {
      email: 'viewer@example.com',
      password: PASSWORD,
      role: 'viewer',
    });
    const viewer = await newPage();
    await viewer.page.goto(`${s.url}/app/templates/${templateId}`);
    await viewer.page.waitForURL(/\/login/);
    await viewer.page.getByLabel('Email').fill('viewer@example.com');
    await viewer.page.getByLabel('Password').fill(PASSWORD);
    await viewer.page.getByRole('button', { name: 'Sign in' }).click();
    await viewer.page.getByTestId('preview-logo-text').filter({ hasText: 'Gold Club+' }).waitFor();
    await viewer.page.getByText('Your role can look at templates, not change them.').waitFor();
    expect(await viewer.page.getByRole('button', { name: /Save/ }).count()).toBe(0);
    await viewer.page.goto(`${s.url}/app/integrations`);
    await viewer.page.getByRole('link', { name: 'Webhooks' }).waitFor();
    expect(await viewer.page.getByRole('link', { name: 'App keys' }).count()).toBe(0);
    expect(viewer.errors).toEqual([]);
    await viewer.page.context().close();
  });

  it("fits a phone's width: no screen scrolls sideways at 390 px", async () => {
    const phone = await newPage(browser, { width: 390, height: 844 });
    await signIn(phone.page, '/app/templates');
    for (const path of [
      '/app/templates',
      `/app/templates/${templateId}`,
      '/app/passes?email=grace%40example.com',
    ]) {
      await phone.page.goto(`${s.url}${path}`);
      await phone.page.locator('main h1').waitFor();
      await phone.page.waitForLoadState('networkidle');
      const overflow = await phone.page.evaluate(() => {
        const root = (
          globalThis as unknown as {
            document: { documentElement: { scrollWidth: number; clientWidth: number } };
          }
        ).document.documentElement;
        return root.scrollWidth - root.clientWidth;
      });
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    await screenshot(phone.page, 'passes-phone');
    expect(phone.errors).toEqual([]);
    await phone.page.context().close();
  });

  it('has no script errors and no refused resources', () => {
    expect(errors).toEqual([]);
  });
});

describe('the scanner', () => {
  let signInUrl: string;
  let dashboard: Page;

  beforeAll(async () => {
    ({ page: dashboard } = await newPage());
    await signIn(dashboard, '/app/integrations/scanners');
    await dashboard.getByLabel('New scanner name').fill('Front door');
    await dashboard.getByRole('button', { name: 'Add scanner' }).click();
    await dashboard.getByRole('cell', { name: 'Front door' }).waitFor();
    await dashboard.getByRole('button', { name: 'Sign a phone in' }).click();
    signInUrl = (await dashboard.locator('[role=status] a').getAttribute('href'))!;
    expect(signInUrl).toMatch(/\/scan#key=psk_/);
  });

  /** A phone filming `code`, signed in with the scanner's link. */
  async function phoneFilming(code: string, name: string) {
    const phone = await launch({ fakeVideo: barcodeVideo(videos, name, code) });
    const { page, errors } = await newPage(phone, { width: 390, height: 844 });
    await page.context().grantPermissions(['camera'], { origin: s.url });
    await page.goto(signInUrl);
    return { phone, page, errors };
  }
  const verdict = (page: Page, result: string) =>
    page.locator(`[data-testid=verdict][data-result=${result}]`).waitFor({ timeout: 20_000 });

  it('checks a valid pass in, then says it is already checked in when filmed again', async () => {
    // one entry per ticket
    await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { redemptionRestriction: 1 },
    });
    const pass = await createMemberPass(
      s,
      s.alpha,
      memberValues({ memberId: 'DOOR-1', firstName: 'Katherine' }),
    );
    const { phone, page, errors } = await phoneFilming('member-DOOR-1', 'valid');
    try {
      await verdict(page, 'redeemed');
      expect(await page.getByTestId('verdict').innerText()).toContain('Katherine');
      expect(await page.getByTestId('checkins').innerText()).toContain('1');
      await screenshot(page, 'scanner');
      await expectAccessible(page, 'scanner');
      await page.getByRole('button', { name: 'Scan next' }).click();
      await verdict(page, 'already_redeemed');
      expect(await page.getByTestId('verdict').innerText()).toMatch(/by scanner \d+/);
      const details = await (await s.api(s.alpha.appKey, `${pass.path}/details`)).json();
      expect(details.status).toBe('redeemed');
      expect(errors).toEqual([]);
      // the sign-in link's key was moved out of the address bar into the device's storage
      expect(new URL(page.url()).hash).toBe('');
    } finally {
      await phone.close();
    }
  });

  it('refuses a revoked pass and a forged signed code', async () => {
    const revoked = await createMemberPass(s, s.alpha, memberValues({ memberId: 'DOOR-2' }));
    await s.api(s.alpha.appKey, `${revoked.path}/revoke`, { method: 'POST', json: {} });
    const a = await phoneFilming('member-DOOR-2', 'revoked');
    try {
      await verdict(a.page, 'revoked');
    } finally {
      await a.phone.close();
    }
    const b = await phoneFilming('PS1:DOOR-3:AAAAAAAAAAAAAAAA', 'forged');
    try {
      await verdict(b.page, 'forged');
      // typed by hand when the camera cannot read a code (while the red answer stays, the camera waits)
      await b.page.getByLabel('Type a code').fill('no-such-code');
      await b.page.getByRole('button', { name: 'Check' }).click();
      await verdict(b.page, 'unknown');
    } finally {
      await b.phone.close();
    }
  });
});
