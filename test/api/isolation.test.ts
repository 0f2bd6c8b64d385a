// Tenant isolation, route by route: another account (beta) calling every v1 route with alpha's identifiers gets 404,
// never 200 or 403 and never alpha's data, and alpha's data is unchanged afterwards. The route table is read from the
// running server, so a route added to v1.ts without a case here fails the coverage test. Every case is made again
// through POST /v1/actions/:name (the input its route gives the action), with the same answers.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSetup } from '../../src/actions/accounts.js';
import { createDevPki } from '../../src/engine/index.js';
import { encodePng } from '../../src/engine/png.js';
import { v1RouteSpecs } from '../../src/http/routes/v1/index.js';
import { RUN_ROUTE } from '../../src/http/routes/v1/run.js';
import {
  createMemberPass,
  failedDelivery,
  memberValues,
  paramsOf,
  registeredRoutes,
  routeInput,
  startServer,
  TEST_DB,
  type TestServer,
} from './harness.js';

const tag = randomBytes(4).toString('hex');
/** Values only alpha has: none of them may show up in an answer to beta. */
const ALPHA_SECRETS = {
  lastName: `Lovelace-${tag}`,
  memberId: `ALPHA-${tag}`,
  email: `ada-${tag}@alpha.example`,
  userId: `alpha-user-${tag}`,
  externalId: `alpha-crm-${tag}`,
  onlyTemplate: `Alpha Only ${tag}`,
  scannerName: `alpha scanner ${tag}`,
  keyName: `alpha second key ${tag}`,
  webhookUrl: `https://hooks.alpha.example/${tag}`,
  crmToken: `pat-alpha-${tag}`,
};

const png = (w: number, h: number) => encodePng(w, h, () => [200, 40, 40, 255]);

function imageForm(bytes: Buffer): FormData {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'image.png');
  return form;
}

/** One call beta makes that names one of alpha's resources. `route` is the Fastify route it exercises. */
interface Case {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  route: string;
  path: string;
  json?: unknown;
  form?: () => FormData;
  /** Default 404. */
  status?: number;
}

let s: TestServer;
let alpha: AccountSetup;
let beta: AccountSetup;

const a = {
  pass: { serialNumber: '', passTypeIdentifier: '', path: '' },
  onlyTemplateId: 0,
  scannerId: 0,
  key2: { id: 0, key: '' },
  initialKeyId: 0,
  jobId: 0,
  webhookId: 0,
  integrationId: 0,
  eventId: '',
  deliveryId: 0,
  grantId: 0,
};
const b = { scannerId: 0, passSerial: '', keyIds: [] as number[] };

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function ok(res: Response, status = 200): Promise<any> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** Everything of alpha's that beta's calls could change, read with alpha's key. */
async function alphaSnapshot() {
  const k = alpha.appKey;
  const p = a.pass.path;
  const t = alpha.templateId;
  const get = async (path: string) => ok(await s.api(k, path));
  const details = await get(`${p}/details`);
  return {
    details,
    values: await get(`${p}/values`),
    status: await get(`${p}/status`),
    price: await get(`${p}/price`),
    passJson: await get(`${p}/passjson`),
    url: await get(`${p}/url`),
    passImages: await get(`${p}/images`),
    template: await get(`/v1/templates/${t}`),
    templateImages: await get(`/v1/templates/${t}/images`),
    templateUrl: await get(`/v1/templates/${t}/url`),
    restrictions: await get(`/v1/templates/${t}/restrictions`),
    onlyTemplate: await get(`/v1/templates/${a.onlyTemplateId}`),
    templates: await get('/v1/templates'),
    passTypes: await get('/v1/passtypes'),
    passType: await get(`/v1/passtypes/${alpha.passTypeIdentifier}`),
    passes: await get('/v1/passes'),
    scanner: await get(`/v1/scanners/${a.scannerId}`),
    scanners: await get('/v1/scanners'),
    keys: (await get('/v1/keys')).map((key: any) => ({ ...key, lastUsedAt: undefined })),
    webhook: await get(`/v1/webhooks/${a.webhookId}`),
    webhookDeliveries: await get(`/v1/webhooks/${a.webhookId}/deliveries`),
    integration: await get(`/v1/integrations/${a.integrationId}`),
    event: await get(`/v1/events/${a.eventId}`),
  };
}

beforeAll(async () => {
  s = await startServer();
  alpha = s.alpha;
  beta = await s.account('beta');
  const k = alpha.appKey;

  // alpha: a pass with a holder and a price, a pass image, a template image, a second template, restrictions,
  // a scanner and a second key
  a.pass = await createMemberPass(
    s,
    alpha,
    memberValues({ lastName: ALPHA_SECRETS.lastName, memberId: ALPHA_SECRETS.memberId }),
    `?email=${encodeURIComponent(ALPHA_SECRETS.email)}&userId=${ALPHA_SECRETS.userId}&externalId=${ALPHA_SECRETS.externalId}`,
  );
  await ok(await s.api(k, `${a.pass.path}/price`, { method: 'PUT', json: { price: 9.5 } }));
  await ok(
    await s.api(k, `${a.pass.path}/images/strip/normal`, { method: 'POST', body: imageForm(png(375, 123)) }),
  );
  await ok(
    await s.api(k, `/v1/templates/${alpha.templateId}/images/thumbnail/normal`, {
      method: 'POST',
      body: imageForm(png(90, 90)),
    }),
  );
  const template = await ok(await s.api(k, `/v1/templates/${alpha.templateId}`));
  a.onlyTemplateId = (
    await ok(
      await s.api(k, '/v1/templates', {
        method: 'POST',
        json: {
          name: ALPHA_SECRETS.onlyTemplate,
          passType: alpha.passTypeIdentifier,
          description: template.description,
        },
      }),
      201,
    )
  ).id;
  await ok(
    await s.api(k, `/v1/templates/${alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { quantityRestriction: 1000, sharingRestriction: true },
    }),
  );
  a.scannerId = (
    await ok(
      await s.api(k, '/v1/scanners', {
        method: 'POST',
        json: {
          name: ALPHA_SECRETS.scannerName,
          type: 'Browser',
          fullAccess: false,
          allowedTemplates: [alpha.templateId],
        },
      }),
      201,
    )
  ).id;
  const key2 = await ok(
    await s.api(k, '/v1/keys', {
      method: 'POST',
      json: { name: ALPHA_SECRETS.keyName, scopes: ['passes:read'] },
    }),
    201,
  );
  a.key2 = { id: key2.id, key: key2.key };
  a.initialKeyId = (await ok(await s.api(k, '/v1/keys'))).find((x: any) => x.name === 'initial key').id;
  // an OAuth grant a person of alpha's gave an agent (made in the store: the OAuth flow has its own test)
  const now = new Date().toISOString();
  const ada = await s.app.db
    .insertInto('users')
    .values({
      email: 'ada@alpha.example',
      passwordHash: 'scrypt$1$1$1$x$y',
      createdAt: now,
      passwordChangedAt: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await s.app.db
    .insertInto('memberships')
    .values({ userId: ada.id, accountId: alpha.accountId, role: 'owner', createdAt: now })
    .execute();
  a.grantId = (
    await s.app.db
      .insertInto('oauthGrants')
      .values({
        clientId: 'psc_alpha',
        userId: ada.id,
        accountId: alpha.accountId,
        scopes: '["passes:read"]',
        resource: s.url,
        createdAt: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow()
  ).id;
  // a webhook (created disabled: no handshake), a CRM integration, an event and a delivery of alpha's
  a.webhookId = (
    await ok(
      await s.api(k, '/v1/webhooks', {
        method: 'POST',
        json: { url: ALPHA_SECRETS.webhookUrl, events: ['*'], enabled: false },
      }),
      201,
    )
  ).id;
  a.integrationId = (
    await ok(
      await s.api(k, '/v1/integrations', {
        method: 'POST',
        json: {
          type: 'hubspot',
          credentials: { accessToken: ALPHA_SECRETS.crmToken },
          events: ['scan.performed'],
        },
      }),
      201,
    )
  ).id;
  a.eventId = (await ok(await s.api(k, '/v1/events?limit=1'))).at(0).id;
  a.deliveryId = await failedDelivery(s, alpha.accountId, a.webhookId, a.eventId);

  // beta: its own pass and scanner, so its lists are not trivially empty
  b.passSerial = (await createMemberPass(s, beta)).serialNumber;
  b.scannerId = (
    await ok(
      await s.api(beta.appKey, '/v1/scanners', {
        method: 'POST',
        json: { name: 'beta scanner', type: 'PassVerifier', fullAccess: true },
      }),
      201,
    )
  ).id;
  b.keyIds = (await ok(await s.api(beta.appKey, '/v1/keys'))).map((x: any) => x.id);
  await s.workers.drain();
  a.jobId = (
    await s.app.db
      .selectFrom('jobs')
      .select('id')
      .where('accountId', '=', alpha.accountId)
      .executeTakeFirstOrThrow()
  ).id;
});

afterAll(async () => {
  await s?.close();
});

/** Every call beta makes with alpha's identifiers. */
function cases(): Case[] {
  const out: Case[] = [];
  const PASS = '/v1/passes/:passTypeIdentifier/:serialNumber';
  // alpha's pass under alpha's pass type, and alpha's serial under beta's own pass type
  for (const pt of [alpha.passTypeIdentifier, beta.passTypeIdentifier]) {
    const p = `/v1/passes/${pt}/${a.pass.serialNumber}`;
    out.push(
      { method: 'GET', route: PASS, path: p },
      { method: 'DELETE', route: PASS, path: p },
      { method: 'GET', route: `${PASS}/url`, path: `${p}/url` },
      { method: 'GET', route: `${PASS}/passjson`, path: `${p}/passjson` },
      { method: 'GET', route: `${PASS}/google`, path: `${p}/google` },
      { method: 'GET', route: `${PASS}/details`, path: `${p}/details` },
      { method: 'GET', route: `${PASS}/values`, path: `${p}/values` },
      { method: 'PUT', route: `${PASS}/values`, path: `${p}/values`, json: { points: 999999 } },
      { method: 'PUT', route: `${PASS}/values/:name`, path: `${p}/values/points`, json: { value: 999999 } },
      { method: 'PUT', route: `${PASS}/value/:name`, path: `${p}/value/points`, json: { value: 999999 } },
      { method: 'GET', route: `${PASS}/status`, path: `${p}/status` },
      { method: 'PUT', route: `${PASS}/status`, path: `${p}/status`, json: { status: 'redeemed' } },
      { method: 'GET', route: `${PASS}/price`, path: `${p}/price` },
      { method: 'PUT', route: `${PASS}/price`, path: `${p}/price`, json: { price: 1 } },
      { method: 'DELETE', route: `${PASS}/price`, path: `${p}/price` },
      { method: 'POST', route: `${PASS}/email`, path: `${p}/email`, json: { email: 'thief@beta.example' } },
      { method: 'POST', route: `${PASS}/sms`, path: `${p}/sms`, json: { to: '+15558675310' } },
      { method: 'POST', route: `${PASS}/redeem`, path: `${p}/redeem`, json: { scanner: 1 } },
      {
        method: 'POST',
        route: `${PASS}/send`,
        path: `${p}/send`,
        json: { channel: 'email', to: 'thief@beta.example' },
      },
      { method: 'POST', route: `${PASS}/push`, path: `${p}/push` },
      { method: 'POST', route: `${PASS}/revoke`, path: `${p}/revoke`, json: { reason: 'beta was here' } },
      { method: 'POST', route: `${PASS}/notify`, path: `${p}/notify`, json: { message: 'beta was here' } },
    );
  }
  // the images of alpha's pass and of alpha's template
  for (const [route, base] of [
    [PASS, a.pass.path],
    [`${PASS}`, `/v1/passes/${beta.passTypeIdentifier}/${a.pass.serialNumber}`],
    ['/v1/templates/:id', `/v1/templates/${alpha.templateId}`],
  ] as const) {
    const img = `${route}/images`;
    out.push(
      { method: 'GET', route: img, path: `${base}/images` },
      { method: 'GET', route: `${img}/:type`, path: `${base}/images/strip` },
      { method: 'GET', route: `${img}/:type/:resolution`, path: `${base}/images/icon/normal` },
      { method: 'GET', route: `${img}/:type/:resolution`, path: `${base}/images/strip/normal` },
      {
        method: 'POST',
        route: `${img}/:type/:resolution`,
        path: `${base}/images/logo/normal`,
        form: () => imageForm(png(60, 60)),
      },
      { method: 'DELETE', route: `${img}/:type/:resolution`, path: `${base}/images/icon/normal` },
      { method: 'DELETE', route: `${img}/:type`, path: `${base}/images/icon` },
      { method: 'DELETE', route: img, path: `${base}/images` },
    );
  }
  const t = `/v1/templates/${alpha.templateId}`;
  out.push(
    // passes: issuing from alpha's template, by id and by name; listing alpha's pass type
    { method: 'POST', route: '/v1/templates/:id/pass', path: `${t}/pass`, json: memberValues() },
    {
      method: 'POST',
      route: '/v1/templates/names/:name/pass',
      path: `/v1/templates/names/${encodeURIComponent(ALPHA_SECRETS.onlyTemplate)}/pass`,
      json: memberValues(),
    },
    {
      method: 'GET',
      route: '/v1/passes/:passTypeIdentifier',
      path: `/v1/passes/${alpha.passTypeIdentifier}`,
    },
    // templates
    { method: 'GET', route: '/v1/templates/:id', path: t },
    { method: 'GET', route: '/v1/templates/:id', path: `/v1/templates/${a.onlyTemplateId}` },
    { method: 'PUT', route: '/v1/templates/:id', path: t, json: { name: `stolen ${tag}` } },
    // beta's own template moved onto alpha's pass type
    {
      method: 'PUT',
      route: '/v1/templates/:id',
      path: `/v1/templates/${beta.templateId}`,
      json: { passType: alpha.passTypeIdentifier },
    },
    { method: 'DELETE', route: '/v1/templates/:id', path: `/v1/templates/${a.onlyTemplateId}` },
    // a preview on alpha's pass type, or checking alpha's template's images
    {
      method: 'POST',
      route: '/v1/templates/preview',
      path: '/v1/templates/preview',
      json: { passType: alpha.passTypeIdentifier, description: { description: 'x', organizationName: 'x' } },
    },
    {
      method: 'POST',
      route: '/v1/templates/preview',
      path: '/v1/templates/preview',
      json: {
        passType: beta.passTypeIdentifier,
        description: { description: 'x', organizationName: 'x' },
        templateId: a.onlyTemplateId,
      },
    },
    { method: 'GET', route: '/v1/templates/:id/url', path: `${t}/url` },
    { method: 'GET', route: '/v1/templates/:id/stats', path: `${t}/stats` },
    { method: 'GET', route: '/v1/templates/:id/form', path: `${t}/form` },
    { method: 'GET', route: '/v1/templates/:id/messages', path: `${t}/messages` },
    { method: 'GET', route: '/v1/templates/:id/localizations', path: `${t}/localizations` },
    {
      method: 'PUT',
      route: '/v1/templates/:id/localizations',
      path: `${t}/localizations`,
      json: { localizations: { fr: { 'Membership card': 'Carte volée' } } },
    },
    {
      method: 'PUT',
      route: '/v1/templates/:id/messages',
      path: `${t}/messages`,
      json: { sms: 'beta ${passUrl}' },
    },
    {
      method: 'POST',
      route: '/v1/templates/:id/passes',
      path: `${t}/passes`,
      json: {
        passes: [
          { values: { firstName: 'Beta', lastName: 'Was', memberSince: '2020', points: 1, memberId: 'B-2' } },
        ],
      },
    },
    {
      method: 'POST',
      route: '/v1/templates/:id/passes/import',
      path: `${t}/passes/import`,
      json: { csv: 'firstName,lastName,memberSince,points,memberId\nBeta,Was,2020,1,B-1\n' },
    },
    { method: 'PUT', route: '/v1/templates/:id/form', path: `${t}/form`, json: { emailPass: true } },
    { method: 'GET', route: '/v1/templates/:id/restrictions', path: `${t}/restrictions` },
    { method: 'GET', route: '/v1/templates/:id/google', path: `${t}/google` },
    {
      method: 'PUT',
      route: '/v1/templates/:id/restrictions',
      path: `${t}/restrictions`,
      json: { quantityRestriction: 0 },
    },
    // a new template of beta's on alpha's pass type
    {
      method: 'POST',
      route: '/v1/templates',
      path: '/v1/templates',
      json: {
        name: `beta on alpha ${tag}`,
        passType: alpha.passTypeIdentifier,
        description: { formatVersion: 1 },
      },
    },
    // pass types
    { method: 'GET', route: '/v1/passtypes/:id', path: `/v1/passtypes/${alpha.passTypeIdentifier}` },
    { method: 'DELETE', route: '/v1/passtypes/:id', path: `/v1/passtypes/${alpha.passTypeIdentifier}` },
    {
      method: 'PUT',
      route: '/v1/passtypes/:id',
      path: `/v1/passtypes/${alpha.passTypeIdentifier}`,
      json: { certificate: 'x', privateKey: 'y' },
    },
    // bulk updates and jobs
    {
      method: 'POST',
      route: '/v1/templates/:id/passes/values',
      path: `${t}/passes/values`,
      json: { values: { points: 0 } },
    },
    { method: 'GET', route: '/v1/jobs/:id', path: `/v1/jobs/${a.jobId}` },
    // scanners
    { method: 'GET', route: '/v1/scanners/:id', path: `/v1/scanners/${a.scannerId}` },
    {
      method: 'PUT',
      route: '/v1/scanners/:id',
      path: `/v1/scanners/${a.scannerId}`,
      json: { name: 'stolen', type: 'PassVerifier', fullAccess: true },
    },
    { method: 'DELETE', route: '/v1/scanners/:id', path: `/v1/scanners/${a.scannerId}` },
    { method: 'POST', route: '/v1/scanners/:id/keys', path: `/v1/scanners/${a.scannerId}/keys` },
    // keys
    { method: 'POST', route: '/v1/keys/:id/rotate', path: `/v1/keys/${a.key2.id}/rotate` },
    { method: 'POST', route: '/v1/keys/:id/rotate', path: `/v1/keys/${a.initialKeyId}/rotate` },
    { method: 'DELETE', route: '/v1/keys/:id', path: `/v1/keys/${a.key2.id}` },
    { method: 'DELETE', route: '/v1/keys/:id', path: `/v1/keys/${a.initialKeyId}` },
    { method: 'DELETE', route: '/v1/oauth/grants/:id', path: `/v1/oauth/grants/${a.grantId}` },
    // events, webhooks and CRM integrations
    { method: 'GET', route: '/v1/events/:id', path: `/v1/events/${a.eventId}` },
    {
      method: 'POST',
      route: '/v1/webhooks/:id/rotate-secret',
      path: `/v1/webhooks/${a.webhookId}/rotate-secret`,
    },
  );
  for (const [base, id] of [
    ['/v1/webhooks', a.webhookId],
    ['/v1/integrations', a.integrationId],
  ] as const) {
    out.push(
      { method: 'GET', route: `${base}/:id`, path: `${base}/${id}` },
      {
        method: 'PUT',
        route: `${base}/:id`,
        path: `${base}/${id}`,
        json: { enabled: false, description: 'beta' },
      },
      { method: 'DELETE', route: `${base}/:id`, path: `${base}/${id}` },
      { method: 'GET', route: `${base}/:id/deliveries`, path: `${base}/${id}/deliveries` },
      {
        method: 'POST',
        route: `${base}/:id/deliveries/:deliveryId/retry`,
        path: `${base}/${id}/deliveries/${a.deliveryId}/retry`,
      },
      {
        method: 'POST',
        route: `${base}/:id/replay`,
        path: `${base}/${id}/replay`,
        json: { since: '2020-01-01T00:00:00Z' },
      },
    );
  }
  return out;
}

/**
 * Routes whose cases are not a 404 on one of alpha's ids: lists (checked for alpha's items in their own test) and
 * collection POSTs (checked in their own test: a reference to alpha's resource is refused like an unknown one).
 */
const OTHER_TESTS = new Set([
  'GET /v1/passes',
  'GET /v1/passes/:passTypeIdentifier',
  'GET /v1/templates',
  'GET /v1/passtypes',
  'POST /v1/passtypes',
  'GET /v1/scanners',
  'POST /v1/scanners',
  'PUT /v1/scanners/:id',
  'POST /v1/scans',
  'GET /v1/keys',
  'POST /v1/keys',
  'GET /v1/audit',
  'GET /v1/stats',
  'GET /v1/executions',
  'GET /v1/audit/export',
  'GET /v1/audit/verify',
  'GET /v1/actions',
  'GET /v1/oauth/grants',
  'POST /v1/templates',
  'PUT /v1/apns-key',
  'DELETE /v1/apns-key',
  'PUT /v1/google-wallet',
  'GET /v1/google-wallet',
  'DELETE /v1/google-wallet',
  'GET /v1/events',
  'GET /v1/events/stream',
  'GET /v1/webhooks',
  'POST /v1/webhooks',
  'GET /v1/integrations',
  'POST /v1/integrations',
]);

describe(`tenant isolation on ${TEST_DB}`, () => {
  it("keeps each account's APNs key to itself", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const p8 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const set = await s.api(beta.appKey, '/v1/apns-key', {
      method: 'PUT',
      json: { keyId: 'ABCDEFGHIJ', teamId: 'TEAMBETA01', p8 },
    });
    expect(set.status).toBe(200);
    const accounts = await s.app.db
      .selectFrom('accounts')
      .select(['id', 'apnsKeyId'])
      .orderBy('id')
      .execute();
    expect(accounts.find((x) => x.id === alpha.accountId)!.apnsKeyId).toBeNull();
    expect(accounts.find((x) => x.id === beta.accountId)!.apnsKeyId).toBe('ABCDEFGHIJ');
    expect((await s.api(beta.appKey, '/v1/apns-key', { method: 'DELETE' })).status).toBe(200);
  });

  it('has a case for every v1 route the server serves (and the OpenAPI document lists)', async () => {
    const served = registeredRoutes(s.server).filter(
      (r) => / \/v1\//.test(r) && !r.endsWith('/v1/openapi.json'),
    );
    // the parser found the tree: the known routes are there
    expect(served).toContain('GET /v1/passes/:passTypeIdentifier/:serialNumber');
    expect(served).toContain('POST /v1/keys/:id/rotate');
    expect(served.length).toBeGreaterThanOrEqual(50);
    // every documented route is served (the OpenAPI document is a second listing of v1.ts)
    const doc: any = await (await fetch(`${s.url}/v1/openapi.json`)).json();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(served.toSorted()).toEqual(documented.toSorted());
    const covered = new Set([
      ...cases().map((c) => `${c.method} ${c.route}`),
      ...OTHER_TESTS,
      `POST ${RUN_ROUTE}`, // every case again, through it (below)
    ]);
    const uncovered = served.filter((r) => !covered.has(r));
    expect(uncovered, 'routes of v1.ts without an isolation case in test/api/isolation.test.ts').toEqual([]);
    // and no case names a route that does not exist
    expect([...covered].filter((r) => !served.includes(r))).toEqual([]);
  });

  it("answers 404 to every call of another account that names alpha's resources, and changes nothing", async () => {
    const before = await alphaSnapshot();
    const failures: string[] = [];
    for (const c of cases()) {
      const res = await s.api(beta.appKey, c.path, {
        method: c.method,
        ...(c.form ? { body: c.form() } : c.json !== undefined ? { json: c.json } : {}),
      });
      const text = await res.text();
      const expected = c.status ?? 404;
      if (res.status !== expected)
        failures.push(`${c.method} ${c.path}: ${res.status} ${text.slice(0, 200)}`);
      else {
        if (!res.headers.get('content-type')?.startsWith('application/json'))
          failures.push(`${c.method} ${c.path}: content-type ${res.headers.get('content-type')}`);
        const body = JSON.parse(text);
        if (typeof body.message !== 'string') failures.push(`${c.method} ${c.path}: no message in ${text}`);
        // an error may echo what beta sent (it knows that), nothing else of alpha's
        const sent = decodeURIComponent(c.path) + JSON.stringify(c.json ?? null);
        for (const secret of Object.values(ALPHA_SECRETS))
          if (text.includes(secret) && !sent.includes(secret))
            failures.push(`${c.method} ${c.path}: leaks ${secret}`);
      }
      if (c.method === 'GET') {
        const head = await s.api(beta.appKey, c.path, { method: 'HEAD' });
        if (head.status !== expected) failures.push(`HEAD ${c.path}: ${head.status}`);
      }
    }
    expect(failures).toEqual([]);
    await s.workers.drain();
    const after = await alphaSnapshot();
    expect(after).toEqual(before);
    // spot checks of what the snapshot holds, so an empty snapshot cannot pass
    expect(after.details).toMatchObject({
      status: 'unpaid',
      price: 9.5,
      voided: false,
      notification: null,
      values: { lastName: ALPHA_SECRETS.lastName, points: 120 },
      owner: { email: ALPHA_SECRETS.email },
    });
    expect(after.passImages).toEqual([expect.objectContaining({ type: 'strip', resolution: 'normal' })]);
    expect(after.templateImages.map((i: any) => i.type)).toEqual([
      'icon',
      'icon',
      'icon',
      'logo',
      'logo',
      'thumbnail',
    ]);
    expect(after.restrictions).toEqual({ quantityRestriction: 1000, sharingRestriction: true });
    expect(after.scanner.name).toBe(ALPHA_SECRETS.scannerName);
    expect(after.keys.every((k: any) => k.revokedAt === null)).toBe(true);
    // alpha's keys still work, the .pkpass still downloads
    expect((await s.api(a.key2.key, '/v1/passes')).status).toBe(200);
    expect((await s.api(alpha.appKey, a.pass.path)).status).toBe(200);
    // nothing was queued for alpha's pass (no email to beta's address)
    const jobs = await s.app.db.selectFrom('jobs').selectAll().execute();
    expect(JSON.stringify(jobs)).not.toContain('thief@beta.example');
  });

  it("through POST /v1/actions/:name, answers every case as its route does, and changes nothing of alpha's", async () => {
    const before = await alphaSnapshot();
    const failures: string[] = [];
    for (const c of cases()) {
      const spec = v1RouteSpecs.find((r) => r.method === c.method && r.url === c.route)!;
      const input = await routeInput(spec, {
        params: paramsOf(c.route, c.path),
        body: c.json,
        ...(c.form ? { image: png(60, 60) } : {}),
      });
      const res = await s.api(beta.appKey, `/v1/actions/${spec.action}`, { method: 'POST', json: input });
      const text = await res.text();
      const expected = c.status ?? 404;
      const what = `${spec.action} (as ${c.method} ${c.path})`;
      if (res.status !== expected) failures.push(`${what}: ${res.status} ${text.slice(0, 200)}`);
      else if (typeof JSON.parse(text).message !== 'string') failures.push(`${what}: no message in ${text}`);
      const sent = JSON.stringify(input);
      for (const secret of Object.values(ALPHA_SECRETS))
        if (text.includes(secret) && !sent.includes(secret)) failures.push(`${what}: leaks ${secret}`);
    }
    // the one action without a route: a search for alpha's holder finds nothing
    const search = await s.api(beta.appKey, '/v1/actions/search_passes_by_user', {
      method: 'POST',
      json: { email: ALPHA_SECRETS.email },
    });
    expect(await search.json()).toEqual({ passes: [], nextCursor: null });
    expect(failures).toEqual([]);
    await s.workers.drain();
    expect(await alphaSnapshot()).toEqual(before);
  });

  it("shows beta none of alpha's items in any list", async () => {
    const k = beta.appKey;
    const text = async (path: string) => {
      const res = await s.api(k, path);
      const body = await res.text();
      expect(res.status, `${path}: ${body}`).toBe(200);
      for (const secret of Object.values(ALPHA_SECRETS)) expect(body, path).not.toContain(secret);
      expect(body, path).not.toContain(a.pass.serialNumber);
      return JSON.parse(body);
    };
    const passes = await text('/v1/passes');
    expect(passes.map((p: any) => p.serialNumber)).toContain(b.passSerial);
    expect(passes.every((p: any) => p.passTypeIdentifier === beta.passTypeIdentifier)).toBe(true);
    expect(await text(`/v1/passes?templateId=${alpha.templateId}`)).toEqual([]);
    expect(await text(`/v1/passes?email=${encodeURIComponent(ALPHA_SECRETS.email)}`)).toEqual([]);
    expect(await text(`/v1/passes?externalId=${ALPHA_SECRETS.externalId}`)).toEqual([]);
    const byType = await text(`/v1/passes/${beta.passTypeIdentifier}`);
    expect(byType.map((p: any) => p.serialNumber)).toEqual([b.passSerial]);

    const templates = await text('/v1/templates');
    expect(templates.map((t: any) => t.id)).toEqual([beta.templateId]);
    expect(templates.map((t: any) => t.passType)).toEqual([beta.passTypeIdentifier]);

    const passTypes = await text('/v1/passtypes');
    expect(passTypes.map((p: any) => p.passTypeIdentifier)).toEqual([beta.passTypeIdentifier]);
    expect(JSON.stringify(passTypes)).not.toContain(alpha.passTypeIdentifier);

    const scanners = await text('/v1/scanners');
    expect(scanners.map((x: any) => x.id)).toEqual([b.scannerId]);

    const events = await text('/v1/events?limit=1000');
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((e: any) => e.id)).not.toContain(a.eventId);
    expect(await text('/v1/webhooks')).toEqual([]);
    expect(await text('/v1/integrations')).toEqual([]);

    const keys = await text('/v1/keys');
    expect(keys.map((x: any) => x.id).toSorted()).toEqual(b.keyIds.toSorted());
    expect(keys.map((x: any) => x.id)).not.toContain(a.key2.id);
    expect(keys.map((x: any) => x.id)).not.toContain(a.initialKeyId);

    // the audit log: alpha's entries (made in beforeAll) are not beta's, and beta's calls are not in alpha's log
    const alphaAudit = await ok(await s.api(alpha.appKey, '/v1/audit?limit=1000'));
    expect(alphaAudit.entries.length).toBeGreaterThan(0);
    // (beta's own entries hold the identifiers beta sent; what matters is that alpha's entries are not there)
    const betaAudit = await ok(await s.api(k, '/v1/audit?limit=1000'));
    expect(betaAudit.entries.length).toBeGreaterThan(0);
    const alphaRequestIds = new Set(alphaAudit.entries.map((e: any) => e.requestId));
    expect(betaAudit.entries.filter((e: any) => alphaRequestIds.has(e.requestId))).toEqual([]);
    expect(betaAudit.entries.every((e: any) => b.keyIds.includes(e.keyId))).toBe(true);
    expect(alphaAudit.entries.every((e: any) => [a.initialKeyId, a.key2.id].includes(e.keyId))).toBe(true);
    expect((await ok(await s.api(k, `/v1/audit?keyId=${a.initialKeyId}`))).entries).toEqual([]);
    expect((await ok(await s.api(k, '/v1/audit?action=create_scanner'))).entries).toHaveLength(1);
    // the execution log, the exported trail and its verification, the action figures and OAuth grants are beta's own
    const betaRuns = (await ok(await s.api(k, '/v1/executions?limit=1000'))).executions;
    expect(betaRuns.filter((e: any) => alphaRequestIds.has(e.requestId))).toEqual([]);
    const exported = (await (await s.api(k, '/v1/audit/export')).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(exported.filter((e: any) => alphaRequestIds.has(e.requestId))).toEqual([]);
    expect(exported.map((e: any) => e.id).toSorted()).toEqual(betaRuns.map((e: any) => e.id).toSorted());
    expect((await ok(await s.api(k, '/v1/audit/verify'))).records).toBe(exported.length);
    const betaStats = (await ok(await s.api(k, '/v1/actions'))).actions;
    const alphaStats = (await ok(await s.api(alpha.appKey, '/v1/actions'))).actions;
    const calls = (list: any[], action: string) => list.find((x) => x.action === action)?.calls ?? 0;
    expect(calls(betaStats, 'create_webhook')).toBe(0);
    expect(calls(alphaStats, 'create_webhook')).toBeGreaterThan(0);
    expect((await ok(await s.api(k, '/v1/oauth/grants'))).grants).toEqual([]);
    // the account's funnel counts beta's passes only
    const created = async (accountId: number) =>
      (
        await s.app.db
          .selectFrom('events')
          .select('passId')
          .where('accountId', '=', accountId)
          .where('type', '=', 'pass.created')
          .execute()
      ).length;
    expect(await created(alpha.accountId)).toBeGreaterThan(0);
    expect((await ok(await s.api(k, '/v1/stats'))).counts.issued).toBe(await created(beta.accountId));
    expect((await ok(await s.api(alpha.appKey, '/v1/oauth/grants'))).grants.map((g: any) => g.id)).toEqual([
      a.grantId,
    ]);
  });

  it("refuses references to alpha's resources in beta's new templates, scanners, keys and pass types", async () => {
    const k = beta.appKey;
    const unknownTemplate = 2_000_000_000;
    // a scanner of beta's may not name alpha's template: refused exactly like a template that does not exist
    const scanner = (allowedTemplates: number[]) =>
      s.api(k, '/v1/scanners', {
        method: 'POST',
        json: { name: 'beta x', type: 'Browser', fullAccess: false, allowedTemplates },
      });
    const foreign = await scanner([alpha.templateId]);
    const missing = await scanner([unknownTemplate]);
    expect(foreign.status).toBe(missing.status);
    expect(foreign.status).toBe(422);
    expect((await json(foreign)).errors[0].reasons[0]).toBe(
      (await json(missing)).errors[0].reasons[0].replace(String(unknownTemplate), String(alpha.templateId)),
    );
    const update = await s.api(k, `/v1/scanners/${b.scannerId}`, {
      method: 'PUT',
      json: { name: 'beta x', type: 'Browser', fullAccess: false, allowedTemplates: [alpha.templateId] },
    });
    expect(update.status).toBe(422);
    expect((await ok(await s.api(k, `/v1/scanners/${b.scannerId}`))).allowedTemplates).toEqual([]);

    // a template of beta's on alpha's pass type: 404 like an unknown pass type
    const tpl = await s.api(k, '/v1/templates', {
      method: 'POST',
      json: {
        name: `beta on alpha 2 ${tag}`,
        passType: alpha.passTypeIdentifier,
        description: { formatVersion: 1 },
      },
    });
    expect(tpl.status).toBe(404);

    // a key of beta's restricted to alpha's template and pass type: made or refused as for unknown ids, and it never
    // reaches alpha's resources
    const keyFor = (templateIds: number[], passTypeIds: string[]) =>
      s.api(k, '/v1/keys', {
        method: 'POST',
        json: { name: 'beta restricted', scopes: ['*'], templateIds, passTypeIds },
      });
    const foreignKey = await keyFor([alpha.templateId], [alpha.passTypeIdentifier]);
    const missingKey = await keyFor([unknownTemplate], ['pass.unknown.nothing']);
    expect(foreignKey.status).toBe(missingKey.status);
    if (foreignKey.status === 201) {
      const key = (await json(foreignKey)).key as string;
      for (const path of [
        a.pass.path,
        `/v1/templates/${alpha.templateId}`,
        `/v1/passtypes/${alpha.passTypeIdentifier}`,
        `/v1/passes/${alpha.passTypeIdentifier}`,
      ])
        expect((await s.api(key, path)).status, path).toBe(404);
      expect(await ok(await s.api(key, '/v1/passes'))).toEqual([]);
      expect(await ok(await s.api(key, '/v1/templates'))).toEqual([]);
    } else expect(foreignKey.status).toBe(422);

    // beta cannot register alpha's pass type identifier (with a certificate of its own) and take it over
    const pki = createDevPki({ passTypeIdentifier: alpha.passTypeIdentifier, organizationName: 'beta' });
    const taken = await s.api(k, '/v1/passtypes', {
      method: 'POST',
      json: {
        certificate: pki.certificatePem,
        privateKey: pki.privateKeyPem,
        wwdrCertificate: pki.caCertificatePem,
      },
    });
    expect(taken.status).toBe(409);
    expect((await ok(await s.api(k, '/v1/passtypes'))).map((p: any) => p.passTypeIdentifier)).toEqual([
      beta.passTypeIdentifier,
    ]);
    const alphaType = await ok(await s.api(alpha.appKey, `/v1/passtypes/${alpha.passTypeIdentifier}`));
    expect(alphaType.organizationName).toBe('alpha');
    expect((await s.api(alpha.appKey, a.pass.path)).status).toBe(200);

    // creating a pass by name uses the caller's own template of that name, never alpha's
    const byName = await ok(
      await s.api(k, `/v1/templates/names/${encodeURIComponent('Member Card')}/pass`, {
        method: 'POST',
        json: memberValues(),
      }),
      201,
    );
    expect(byName.passTypeIdentifier).toBe(beta.passTypeIdentifier);
  });
});
