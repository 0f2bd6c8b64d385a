// Scopes and key restrictions, route by route, generated from the route table and the action registry: for every v1
// route, a key holding every scope but the one the route needs is refused (403), a key holding only that scope is not,
// and a key restricted to another template is refused (403 or 404) wherever the route names a pass or a template.
// The scope a route needs is also derived from its URL and method, independently of the registry, so an action
// guarded by the wrong family of scopes fails here. Every route the server serves must be in the route table (and so
// run an action); a route added beside the table fails the first test. POST /v1/actions/:name, which runs any callable
// action by name, is probed action by action the same way: a key lacking the action's scope is refused, a key holding
// only it is not, and a key restricted to another template is refused wherever the input names a pass or template.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTemplate } from '../../src/actions/accounts.js';
import { actionsByName } from '../../src/actions/index.js';
import { type ActionScope, allows, callable } from '../../src/actions/registry.js';
import { encodePng } from '../../src/engine/png.js';
import type { RouteSpec } from '../../src/http/routes/route.js';
import { v1RouteSpecs } from '../../src/http/routes/v1/index.js';
import { RUN_ROUTE } from '../../src/http/routes/v1/run.js';
import { SCOPES, type Scope } from '../../src/store/keys.js';
import {
  createMemberPass,
  failedDelivery,
  registeredRoutes,
  request,
  routeInput,
  startServer,
  TEST_DB,
  type TestResponse,
  type TestServer,
} from './harness.js';

let s: TestServer;

/** The resources the probes name: alpha's real ones, and ids that exist nowhere. */
interface Fixtures {
  passTypeIdentifier: string;
  serialNumber: string;
  templateId: number;
  templateName: string;
  jobId: number;
  scannerId: number;
  keyId: number;
  eventId: string;
  webhookId: number;
  integrationId: number;
  deliveryId: number;
  /** An OAuth grant (the probes only list grants or name one to revoke, refused or missing). */
  grantId: number;
}
let real: Fixtures;
const missing: Fixtures = {
  passTypeIdentifier: 'pass.dev.passslot.nowhere',
  serialNumber: 'no-such-serial',
  templateId: 999_999,
  templateName: 'No such template',
  jobId: 999_999,
  scannerId: 999_999,
  keyId: 999_999,
  grantId: 999_999,
  eventId: 'no-such-event',
  webhookId: 999_999,
  integrationId: 999_999,
  deliveryId: 999_999,
};
let otherTemplateId = 0;

/** The family of scopes a URL belongs to, read from the URL alone. */
function familyOf(url: string): string {
  const [, first, , third] = url.split('/').slice(1);
  if (first === 'templates' && (third === 'pass' || third === 'passes' || url.includes('/names/')))
    return 'passes';
  if (first === 'jobs') return 'passes';
  if (first === 'apns-key' || first === 'google-wallet') return 'passtypes';
  if (first === 'keys') return '*';
  if (first === 'oauth') return 'self';
  if (first === 'executions' || first === 'actions') return 'audit';
  if (first === 'stats') return 'passes';
  return first!;
}

/** The scope a route needs by its URL and method: reads need :read, anything else :write; keys need '*'. */
function expectedScope(spec: RouteSpec): string {
  // a preview is a read sent as a POST (the draft is its body)
  if (spec.url === '/v1/templates/preview') return 'templates:read';
  const family = familyOf(spec.url);
  if (family === '*' || family === 'self') return family;
  if (family === 'audit' || family === 'events') return `${family}:read`;
  return `${family}:${spec.method === 'GET' ? 'read' : 'write'}`;
}

function idFor(url: string, f: Fixtures): string | number {
  switch (url.split('/')[2]) {
    case 'templates':
      return f.templateId;
    case 'jobs':
      return f.jobId;
    case 'passtypes':
      return f.passTypeIdentifier;
    case 'scanners':
      return f.scannerId;
    case 'keys':
      return f.keyId;
    case 'events':
      return f.eventId;
    case 'webhooks':
      return f.webhookId;
    case 'integrations':
      return f.integrationId;
    case 'oauth':
      return f.grantId;
    default:
      throw new Error(`no fixture for :id in ${url}`);
  }
}

/** The value of the route's URL parameter `name`, from the fixtures. */
function paramOf(spec: RouteSpec, name: string, f: Fixtures): string | number {
  switch (name) {
    case 'passTypeIdentifier':
      return f.passTypeIdentifier;
    case 'serialNumber':
      return f.serialNumber;
    case 'name':
      return spec.url.includes('/names/') ? f.templateName : 'points';
    case 'type':
      return 'logo';
    case 'resolution':
      return 'normal';
    case 'deliveryId':
      return f.deliveryId;
    case 'id':
      return idFor(spec.url, f);
    default:
      throw new Error(`no fixture for :${name} in ${spec.url}`);
  }
}

/** The route's URL with its parameters filled in from the fixtures. */
function pathOf(spec: RouteSpec, f: Fixtures): string {
  return spec.url.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(String(paramOf(spec, name, f))));
}

function imageForm(): FormData {
  const form = new FormData();
  const png = encodePng(160, 50, () => [10, 20, 30, 255]);
  form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'logo.png');
  return form;
}

/**
 * Bodies that pass validation, by action, so that a key restriction (checked once the pass or template is found) is
 * what answers the restricted key, not a 422. Other routes take `{"value": 1}`, valid for the single-value updates.
 */
const VALID_BODIES: Record<string, unknown> = {
  scan_barcode: { barcode: 'member-M-1', redeem: false },
  preview_template: { passType: 'PASS_TYPE', description: { description: 'd', organizationName: 'o' } },
  create_pass: { firstName: 'A', lastName: 'B', memberSince: '2024', points: 1, memberId: 'M-1' },
  update_pass: { points: 2 },
  set_pass_status: { status: 'redeemed' },
  set_pass_price: { price: 1 },
  send_pass_notification: { message: 'hello' },
  revoke_pass: { reason: 'probe' },
  email_pass: { email: 'probe@example.com' },
  sms_pass: { to: '+15558675310' },
  send_pass: { channel: 'email', to: 'probe@example.com' },
  update_passes_of_template: { filter: {}, values: { points: 3 } },
  set_template_restrictions: { quantityRestriction: 10 },
  set_template_localizations: { localizations: { fr: { Points: 'Points' } } },
  create_passes: {
    passes: [{ values: { firstName: 'A', lastName: 'B', memberSince: '2024', points: 1, memberId: 'M-1' } }],
  },
  import_passes: { csv: 'firstName,lastName,memberSince,points,memberId\nA,B,2024,1,M-1\n', dryRun: true },
};

const bodyOf = (spec: RouteSpec): unknown =>
  spec.url.endsWith('/:name') ? { value: 1 } : (VALID_BODIES[spec.action] ?? {});

/** The input the route gives its action for the probe's request, to send it through POST /v1/actions/:name. */
function inputOf(spec: RouteSpec, f: Fixtures): Promise<unknown> {
  const names = [...spec.url.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const params = Object.fromEntries(names.map((n) => [n, String(paramOf(spec, n, f))]));
  if (spec.multipart && spec.url.includes('/images/'))
    return routeInput(spec, { params, image: encodePng(160, 50, () => [10, 20, 30, 255]) });
  return routeInput(spec, {
    params,
    body: spec.method === 'POST' || spec.method === 'PUT' ? bodyOf(spec) : undefined,
  });
}

/** One call of an action through POST /v1/actions/:name: its status and error code (a file is not read). */
async function run(name: string, key: string, input: unknown): Promise<{ status: number; code?: string }> {
  const res = await s.api(key, `/v1/actions/${name}`, { method: 'POST', json: input });
  const text = await res.text();
  return {
    status: res.status,
    code:
      res.status >= 400 && res.headers.get('content-type')?.startsWith('application/json')
        ? JSON.parse(text).code
        : undefined,
  };
}

/** One call of the route with a key: its status, and the error code of a JSON error answer. */
async function call(spec: RouteSpec, key: string, f: Fixtures): Promise<{ status: number; code?: string }> {
  const abort = new AbortController();
  const init: RequestInit & { json?: unknown } = { method: spec.method, signal: abort.signal };
  if (spec.multipart && spec.url.includes('/images/')) init.body = imageForm();
  else if (spec.method === 'POST' || spec.method === 'PUT') init.json = bodyOf(spec);
  const res = await s.api(key, pathOf(spec, f), init);
  // a live stream is not read
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    abort.abort();
    return { status: res.status };
  }
  const text = await res.text();
  return { status: res.status, code: res.status >= 400 ? JSON.parse(text).code : undefined };
}

async function newKey(body: Record<string, unknown>): Promise<string> {
  const res = await s.api(s.alpha.appKey, '/v1/keys', { method: 'POST', json: { name: 'probe', ...body } });
  if (res.status !== 201) throw new Error(`key: ${res.status} ${await res.text()}`);
  return (await res.json()).key;
}

const label = (spec: RouteSpec) => `${spec.method} ${spec.url} (${spec.action})`;
const scopeOf = (spec: RouteSpec): ActionScope => actionsByName.get(spec.action)!.scope;
/** Routes that name one pass or one template, where a key restricted to another template must be refused. */
const namesPassOrTemplate = (spec: RouteSpec) =>
  spec.url.includes(':serialNumber') ||
  spec.url.startsWith('/v1/templates/:id') ||
  spec.url.startsWith('/v1/templates/names/');

beforeAll(async () => {
  s = await startServer();
  const k = s.alpha.appKey;
  const ok = async (res: TestResponse, status = 200) => {
    if (res.status !== status) throw new Error(`set-up: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const pass = await createMemberPass(s, s.alpha);
  otherTemplateId = (
    await ok(
      await s.api(k, '/v1/templates', {
        method: 'POST',
        json: { name: 'Other', passType: s.alpha.passTypeIdentifier, description: demoTemplate('Other') },
      }),
      201,
    )
  ).id;
  const job = await ok(
    await s.api(k, `/v1/templates/${s.alpha.templateId}/passes/values`, {
      method: 'POST',
      json: { filter: {}, values: { points: 5 } },
    }),
    202,
  );
  const scanner = await ok(
    await s.api(k, '/v1/scanners', {
      method: 'POST',
      json: { name: 'door', type: 'Browser', fullAccess: true },
    }),
    201,
  );
  const key = await ok(
    await s.api(k, '/v1/keys', { method: 'POST', json: { name: 'spare', scopes: ['passes:read'] } }),
    201,
  );
  const webhook = await ok(
    await s.api(k, '/v1/webhooks', {
      method: 'POST',
      json: { url: 'https://hooks.example/scopes', events: ['*'], enabled: false },
    }),
    201,
  );
  const integration = await ok(
    await s.api(k, '/v1/integrations', {
      method: 'POST',
      json: { type: 'hubspot', credentials: { accessToken: 'pat-scopes' }, events: ['scan.performed'] },
    }),
    201,
  );
  const [event] = await ok(await s.api(k, '/v1/events?limit=1'));
  const deliveryId = await failedDelivery(s, s.alpha.accountId, webhook.id, event.id);
  real = {
    passTypeIdentifier: pass.passTypeIdentifier,
    serialNumber: pass.serialNumber,
    templateId: s.alpha.templateId,
    templateName: 'Member Card',
    jobId: job.id,
    scannerId: scanner.id,
    keyId: key.id,
    grantId: 1,
    eventId: event.id,
    webhookId: webhook.id,
    integrationId: integration.id,
    deliveryId,
  };
});

afterAll(async () => {
  await s?.close();
});

describe(`scopes and restrictions of every v1 route on ${TEST_DB}`, () => {
  it('serves exactly the routes of the route table, each running an action of the registry', () => {
    const served = registeredRoutes(s.server).filter(
      (r) => / \/v1\//.test(r) && !r.endsWith('/v1/openapi.json'),
    );
    // the table's routes, and the one that runs any of their actions by name (probed action by action below)
    const table = [...v1RouteSpecs.map((r) => `${r.method} ${r.url}`), `POST ${RUN_ROUTE}`];
    expect(served.length).toBeGreaterThanOrEqual(60);
    expect(served.toSorted()).toEqual(table.toSorted());
    expect(v1RouteSpecs.filter((r) => !actionsByName.has(r.action)).map(label)).toEqual([]);
  });

  it("needs the scope its URL and method call for (an action guarded by another family's scopes fails)", () => {
    const wrong = v1RouteSpecs
      .filter((spec) => scopeOf(spec) !== expectedScope(spec))
      .map((spec) => `${label(spec)}: needs ${scopeOf(spec)}, expected ${expectedScope(spec)}`);
    expect(wrong).toEqual([]);
  });

  it('refuses (403) a key holding every scope but the one a route needs, before anything happens', async () => {
    const refusedBy = new Map<string, string>();
    const answered: string[] = [];
    for (const spec of v1RouteSpecs) {
      const needed = scopeOf(spec);
      let key = refusedBy.get(needed);
      if (!key) {
        const scopes = SCOPES.filter((x) => x !== '*' && x !== needed);
        key = await newKey({ scopes });
        // the key really holds everything else
        expect(allows({ ...grantOf(scopes) }, needed)).toBe(false);
        refusedBy.set(needed, key);
      }
      const res = await call(spec, key, real);
      if (res.status !== 403 || res.code !== 'missing_scope')
        answered.push(`${label(spec)} answered ${res.status} ${res.code}`);
    }
    expect(answered).toEqual([]);
  });

  it('does not refuse a key holding only the scope a route needs', async () => {
    const keyOf = new Map<string, string>();
    const refused: string[] = [];
    for (const spec of v1RouteSpecs) {
      const needed = scopeOf(spec);
      let key = keyOf.get(needed);
      if (!key) {
        // a person's own things (`self`) are open to a service key only with every scope
        key = await newKey({ scopes: [needed === 'self' ? '*' : (needed as Scope)] });
        keyOf.set(needed, key);
      }
      // reads name alpha's real resources; changes name missing ones, so nothing is changed by the probe
      const res = await call(spec, key, spec.method === 'GET' ? real : missing);
      if (res.status === 403 || res.status === 401 || res.status >= 500)
        refused.push(`${label(spec)} answered ${res.status}`);
    }
    expect(refused).toEqual([]);
  });

  it('refuses a key restricted to another template on every route naming a pass or template (403/404)', async () => {
    const restricted = await newKey({ scopes: ['*'], templateIds: [otherTemplateId] });
    const routes = v1RouteSpecs.filter(namesPassOrTemplate);
    expect(routes.length).toBeGreaterThanOrEqual(30);
    const answered: string[] = [];
    for (const spec of routes) {
      const res = await call(spec, restricted, real);
      if (
        !(res.status === 403 && res.code === 'restricted_key') &&
        !(res.status === 404 && res.code === 'not_found')
      )
        answered.push(`${label(spec)} answered ${res.status} ${res.code}`);
    }
    expect(answered).toEqual([]);
    // and alpha's pass is untouched by all of it
    const check = await s.api(
      s.alpha.appKey,
      `/v1/passes/${real.passTypeIdentifier}/${real.serialNumber}/status`,
    );
    expect(await check.json()).toEqual({ status: 'valid' });
  });

  it('through POST /v1/actions/:name, refuses (403) a key lacking the scope of each callable action', async () => {
    const callables = [...actionsByName.values()].filter(callable);
    expect(callables.length).toBeGreaterThanOrEqual(70);
    const refusedBy = new Map<string, string>();
    const answered: string[] = [];
    for (const action of callables) {
      const needed = action.scope;
      let key = refusedBy.get(needed);
      if (!key) {
        key = await newKey({ scopes: SCOPES.filter((x) => x !== '*' && x !== needed) });
        refusedBy.set(needed, key);
      }
      // the scope is checked before anything else: any input, even none, is refused
      const res = await run(action.name, key, {});
      if (res.status !== 403 || res.code !== 'missing_scope')
        answered.push(`${action.name} answered ${res.status} ${res.code}`);
    }
    expect(answered).toEqual([]);
  });

  it('through POST /v1/actions/:name, does not refuse a key holding only the scope of each callable action', async () => {
    const keyOf = new Map<string, string>();
    const refused: string[] = [];
    for (const action of [...actionsByName.values()].filter(callable)) {
      const needed = action.scope;
      let key = keyOf.get(needed);
      if (!key) {
        // a person's own things (`self`) are open to a service key only with every scope
        key = await newKey({ scopes: [needed === 'self' ? '*' : (needed as Scope)] });
        keyOf.set(needed, key);
      }
      // the input a route gives the action, naming alpha's real resources for reads and missing ones for changes
      const spec = v1RouteSpecs.find((r) => r.action === action.name);
      const input = spec
        ? await inputOf(spec, action.mutates ? missing : real)
        : { email: 'nobody@example.com' };
      const res = await run(action.name, key, input);
      if (res.status === 403 || res.status === 401 || res.status >= 500)
        refused.push(`${action.name} answered ${res.status} ${res.code}`);
    }
    expect(refused).toEqual([]);
  });

  it('through POST /v1/actions/:name, refuses a key restricted to another template wherever the input names a pass or template', async () => {
    const restricted = await newKey({ scopes: ['*'], templateIds: [otherTemplateId] });
    const routes = v1RouteSpecs.filter(namesPassOrTemplate);
    const answered: string[] = [];
    for (const spec of routes) {
      const res = await run(spec.action, restricted, await inputOf(spec, real));
      if (
        !(res.status === 403 && res.code === 'restricted_key') &&
        !(res.status === 404 && res.code === 'not_found')
      )
        answered.push(`${label(spec)} as ${spec.action} answered ${res.status} ${res.code}`);
    }
    expect(answered).toEqual([]);
    const check = await s.api(
      s.alpha.appKey,
      `/v1/passes/${real.passTypeIdentifier}/${real.serialNumber}/status`,
    );
    expect(await check.json()).toEqual({ status: 'valid' });
  });

  it('through POST /v1/actions/:name, runs the same input the route does (the probe inputs are real)', async () => {
    // with every scope and no restriction, the route-derived inputs of reads of alpha's pass succeed
    for (const spec of v1RouteSpecs.filter((r) => r.method === 'GET' && r.url.includes(':serialNumber'))) {
      const res = await run(spec.action, s.alpha.appKey, await inputOf(spec, real));
      expect([200, 404], label(spec)).toContain(res.status);
      // alpha's pass has no images, and alpha has no Google Wallet connected
      if (res.status === 404) expect(spec.action).toMatch(/image|google/);
    }
  });

  it('answers the .pkpass download only with passes:read (the scope bypass of templates:read is closed)', async () => {
    const path = `/v1/passes/${real.passTypeIdentifier}/${real.serialNumber}`;
    const templatesOnly = await newKey({ scopes: ['templates:read'] });
    expect((await s.api(templatesOnly, path)).status).toBe(403);
    const passesOnly = await newKey({ scopes: ['passes:read'] });
    const res = await s.api(passesOnly, path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');
    // template images are the templates scopes' business, not the passes scopes'
    const images = `/v1/templates/${real.templateId}/images/icon/normal`;
    expect((await s.api(passesOnly, images)).status).toBe(403);
    expect((await s.api(templatesOnly, images)).status).toBe(200);
    expect((await request(`${s.url}${images}`)).status).toBe(401);
  });
});

function grantOf(scopes: Scope[]) {
  return {
    keyId: 1,
    accountId: 1,
    scopes,
    templateIds: null,
    passTypeIds: null,
    rateLimit: null,
    credential: 'key:1',
    onBehalfOf: 'probe',
    userId: null,
    grantId: null,
    audience: null,
  };
}
