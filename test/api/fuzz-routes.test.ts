// Every route of /v1/openapi.json, fuzzed as an attacker would: path parameters that exist, belong to another account,
// are out of range or try to climb out of their place (../, %2e%2e, NUL, bad UTF-8); queries; bodies generated from the
// route's action's input schema, at its boundaries and with hostile values put in (wrong types, huge strings, deep
// JSON, bad UTF-8, odd content types). The service must never answer 5xx, every 4xx must be PassSlot's error shape
// with a code of the catalogue, no answer may carry the other account's data (or change it), and memory stays bounded.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountKey } from '../../src/actions/accounts.js';
import { actionsByName } from '../../src/actions/index.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';
import { type Receiver, startReceiver } from './receiver.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** In everything of the other account; no answer to the fuzzing account may contain it. */
const MARK = 'VICTIM-MARK-7f3a';
const RUNS_PER_ROUTE = Number(process.env.PASSSLOT_FUZZ_RUNS ?? 20);

let s: TestServer;
let receiver: Receiver;
let key: string;
/** What exists, by kind: the fuzzing account's and the other account's. */
const pools: Record<string, string[]> = {};
const idPools: Record<string, string[]> = {};
/** A body each action accepts, to mutate one place at a time. */
const validBodies: Record<string, unknown> = {};
let victimPassPath = '';
let victimTemplate = 0;

interface Operation {
  method: string;
  path: string;
  action?: string;
  params: string[];
  query: string[];
}

let operations: Operation[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  s = await startServer({
    env: { PASSSLOT_RATE_LIMIT: '100000000', PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  key = s.alpha.appKey;
  const victim = await s.account('victim');
  victimTemplate = victim.templateId;
  const rename = await s.api(victim.appKey, `/v1/templates/${victim.templateId}`, {
    method: 'PUT',
    json: { name: `${MARK} template` },
  });
  expect(rename.status).toBe(200);
  const theirs = await createMemberPass(s, victim, memberValues({ firstName: MARK }));
  victimPassPath = theirs.path;
  const hook = await s.api(victim.appKey, '/v1/webhooks', {
    method: 'POST',
    json: { url: `${receiver.url}/${MARK}`, events: ['*'] },
  });
  expect(hook.status).toBe(201);
  const scanner = await s.api(victim.appKey, '/v1/scanners', {
    method: 'POST',
    json: { name: `${MARK} door`, type: 'Browser', fullAccess: true },
  });
  expect(scanner.status).toBe(201);
  const theirHook = String((await hook.json()).id);
  const theirScanner = String((await scanner.json()).id);
  const mine = await createMemberPass(s, s.alpha);
  const made = async (path: string, body: unknown) => {
    const res = await s.api(key, path, { method: 'POST', json: body });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return String((await res.json()).id);
  };
  const myHook = await made('/v1/webhooks', { url: `${receiver.url}/mine`, events: ['*'] });
  const myScanner = await made('/v1/scanners', { name: 'front door', type: 'Browser', fullAccess: true });
  const myJob = await made(`/v1/templates/${s.alpha.templateId}/passes/import`, {
    csv: 'firstName,lastName,memberSince,points,memberId\nA,B,2024,1,M-9\n',
  });
  const events = (await (await s.api(key, '/v1/events')).json()) as { id: string }[];
  const passTypes = (await (await s.api(key, '/v1/passtypes')).json()) as { id: number }[];
  // ids by the resource a path names: the fuzzing account's, the other account's, and ones of other kinds
  Object.assign(idPools, {
    templates: [String(s.alpha.templateId), String(victim.templateId)],
    passtypes: [
      ...passTypes.map((p) => String(p.id)),
      ...((await (await s.api(victim.appKey, '/v1/passtypes')).json()) as { id: number }[]).map((p) =>
        String(p.id),
      ),
    ],
    webhooks: [myHook, theirHook],
    scanners: [myScanner, theirScanner],
    jobs: [myJob, '999'],
    events: [...events.slice(0, 2).map((e) => e.id), 'evt_0'],
    integrations: ['1', '2'],
    keys: ['1', '2', '3'],
    grants: ['1', '2'],
  });
  const template = (await (await s.api(key, `/v1/templates/${s.alpha.templateId}`)).json()) as Record<
    string,
    unknown
  >;
  const { id: _id, ...templateBody } = template;
  Object.assign(validBodies, {
    create_pass: memberValues(),
    update_pass: { points: 5, firstName: 'Grace' },
    set_pass_status: { status: 'redeemed' },
    set_pass_price: { price: 12.5 },
    send_pass_notification: { message: 'Your table is ready' },
    revoke_pass: { reason: 'refund' },
    email_pass: { email: 'holder@example.com' },
    sms_pass: { to: '+15558675310' },
    send_pass: { channel: 'email', to: 'holder@example.com' },
    redeem_pass: {},
    update_passes_of_template: { filter: { values: { memberSince: '2024' } }, values: { points: 3 } },
    set_template_restrictions: { quantityRestriction: 1000 },
    set_template_localizations: { localizations: { fr: { Points: 'Points' } } },
    import_passes: { csv: 'firstName,lastName,memberSince,points,memberId\nA,B,2024,1,M-1\n', dryRun: true },
    create_template: { ...templateBody, name: 'fuzzed copy' },
    update_template: { name: 'renamed' },
    create_scanner: {
      name: 'side door',
      type: 'Browser',
      fullAccess: false,
      allowedTemplates: [s.alpha.templateId],
    },
    update_scanner: { name: 'back door' },
    create_webhook: { url: `${receiver.url}/more`, events: ['pass.created'] },
    update_webhook: { events: ['*'], description: 'all of them' },
    create_app_key: { name: 'reader', scopes: ['passes:read'] },
    set_template_form: { title: 'Join', fields: { firstName: { label: 'First name' } } },
    set_template_messages: { email: { subject: 'Welcome, ${firstName}' } },
  });
  Object.assign(pools, {
    id: ['1', '2', '3'],
    passTypeIdentifier: [s.alpha.passTypeIdentifier, victim.passTypeIdentifier],
    serialNumber: [mine.serialNumber, theirs.serialNumber],
    name: ['points', 'firstName', 'demo', 'Member Card', 'get_pass_details', 'list_templates'],
    type: ['icon', 'logo', 'strip', 'thumbnail', 'background', 'footer'],
    resolution: ['1x', '2x', '3x'],
    deliveryId: ['1', '2'],
  });

  const doc = await (await s.api(key, '/v1/openapi.json')).json();
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>))
    for (const [method, raw] of Object.entries(ops)) {
      const op = raw as { description?: string; parameters?: { in: string; name: string }[] };
      operations.push({
        method: method.toUpperCase(),
        path,
        action: /Action: `(\w+)`/.exec(op.description ?? '')?.[1],
        params: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      });
    }
  // reads first, deletions last, so that what the fuzz deletes does not hide the other routes
  const order = { GET: 0, PUT: 1, POST: 1, DELETE: 2 } as Record<string, number>;
  operations = operations.sort((a, b) => (order[a.method] ?? 1) - (order[b.method] ?? 1));
}, 60_000);

afterAll(async () => {
  await s?.close();
  await receiver?.close();
});

// ---------------------------------------------------------------------------------------------------------------
// Values

const HOSTILE_SEGMENTS = [
  '0',
  '-1',
  '9007199254740993',
  '1e3',
  '1.5',
  'abc',
  '..',
  '../../etc/passwd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%2f..%2fdata%2fmaster.key',
  '%00',
  'a%00b',
  '%ff%fe',
  '%c3%28',
  "1'%20OR%20'1'='1",
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
  'x'.repeat(490),
  '%E2%80%AE',
  'CON',
  '.%2Fmaster.key',
];

/** Percent-encodes every byte of the text's UTF-8 (lone surrogates become U+FFFD, as a browser would send them). */
const encode = (text: string): string =>
  [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** A path parameter: an existing one (of the resource the path names before it), a hostile one, or any text. */
const segment = (name: string, resource: string | undefined): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(...((name === 'id' && resource && idPools[resource]) || pools[name] || pools.id!))
        .map(encodeURIComponent),
    },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map(encode) },
  );

const hostileString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '../../../../etc/passwd',
    '\u0000',
    '\ud800',
    '<script>alert(1)</script>',
    "'; DROP TABLE passes; --",
    '${process.env}',
    '%s%s%s%n',
    '\u202e',
    'https://169.254.169.254/latest/meta-data/',
    'file:///etc/passwd',
    'data:image/png;base64,AAAA',
    '1e308',
    '-0',
    'NaN',
  ),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.nat({ max: 300_000 }).map((n) => 'A'.repeat(n)),
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    2 ** 53 + 2,
    -(2 ** 63),
    1e308,
    -1e-308,
    Number.MAX_SAFE_INTEGER,
    [],
    {},
    [null],
    { __proto__: { polluted: 1 } },
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  additionalProperties?: boolean | Schema;
}

/** Values of a JSON schema: valid ones, at the boundaries, and just past them; a hostile value now and then. */
function fromSchema(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return hostileValue;
  const own = ((): fc.Arbitrary<unknown> => {
    if (schema.const !== undefined) return fc.constant(schema.const);
    if (schema.enum) return fc.constantFrom(...schema.enum);
    const variants = schema.anyOf ?? schema.oneOf;
    if (variants?.length) return fc.oneof(...variants.map((v) => fromSchema(v, depth + 1)));
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    switch (type) {
      case 'string': {
        const min = schema.minLength ?? 0;
        const max = schema.maxLength ?? 64;
        return fc.oneof(
          fc.string({ minLength: min, maxLength: Math.min(max, 64) }),
          fc.constantFrom('x'.repeat(max), 'x'.repeat(max + 1), min > 0 ? 'x'.repeat(min - 1) : ''),
          fc.constantFrom(
            'demo@example.com',
            '2026-12-04T10:00:00Z',
            'https://example.com/x',
            '+15558675310',
          ),
        );
      }
      case 'integer':
      case 'number': {
        const lo = schema.minimum ?? -1000;
        const hi = schema.maximum ?? 1_000_000;
        return fc.oneof(
          fc.integer({ min: Math.max(lo, -1e9), max: Math.min(hi, 1e9) }),
          fc.constantFrom(lo, hi, lo - 1, hi + 1, 0.5),
        );
      }
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        return fc.array(fromSchema(schema.items, depth + 1), {
          maxLength: Math.min(schema.maxItems ?? 4, 4),
        });
      case 'object':
        return objectOf(schema, depth);
      default:
        return hostileValue;
    }
  })();
  return fc.oneof({ weight: 5, arbitrary: own }, { weight: 1, arbitrary: hostileValue });
}

function objectOf(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const extra =
    schema.additionalProperties && typeof schema.additionalProperties === 'object'
      ? fc.dictionary(
          fc.constantFrom('firstName', 'points', 'memberId', 'x', '__proto__', 'constructor'),
          fromSchema(schema.additionalProperties, depth + 1),
          { maxKeys: 4 },
        )
      : fc.constant({});
  const known = fc.record(Object.fromEntries(props.map(([name, s]) => [name, fromSchema(s, depth + 1)])), {
    requiredKeys: props.map(([n]) => n).filter((n) => required.has(n) || Math.random() < 0.5),
  });
  return fc.tuple(known, extra).map(([a, b]) => ({ ...b, ...a }));
}

/** Every place in a JSON value, as paths of keys and indexes. */
function placesOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return [at, ...value.flatMap((v, i) => placesOf(v, [...at, i]))];
  if (value && typeof value === 'object')
    return [at, ...Object.entries(value).flatMap(([k, v]) => placesOf(v, [...at, k]))];
  return [at];
}

/** The value with one place replaced (undefined: removed) or one key added. */
function mutate(value: unknown, place: (string | number)[], by: unknown, add: boolean): unknown {
  if (place.length === 0) return add && value && typeof value === 'object' ? { ...value, zzz: by } : by;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const step of place.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = place.at(-1)!;
  if (by === undefined && !Array.isArray(parent)) delete parent[last];
  else parent[last] = by;
  return copy;
}

/** A valid body with one place broken: a hostile value, a value removed, or a key added. */
const mutated = (valid: unknown): fc.Arbitrary<unknown> => {
  const places = placesOf(valid);
  return fc
    .tuple(fc.constantFrom(...places), fc.oneof(hostileValue, fc.constant(undefined)), fc.boolean())
    .map(([place, by, add]) => mutate(valid, place, by, add));
};

/** The raw body: JSON of a generated value, or something that is not quite JSON. */
function bodyText(action: string | undefined, path: string): fc.Arbitrary<Uint8Array | undefined> {
  const schema = action ? (actionsByName.get(action)?.input as Schema | undefined) : undefined;
  const valid = path.endsWith('/{name}') ? { value: 7 } : action ? validBodies[action] : undefined;
  const value =
    valid === undefined
      ? fromSchema(schema)
      : fc.oneof(
          { weight: 2, arbitrary: fc.constant(valid) },
          { weight: 4, arbitrary: mutated(valid) },
          { weight: 2, arbitrary: fromSchema(schema) },
        );
  const json = value.map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'null'));
  const deep = fc
    .integer({ min: 100, max: 200_000 })
    .map((n) => new TextEncoder().encode('['.repeat(n) + ']'.repeat(n)));
  const deepObject = fc
    .integer({ min: 100, max: 50_000 })
    .map((n) => new TextEncoder().encode(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));
  const badUtf8 = fc
    .uint8Array({ minLength: 1, maxLength: 40 })
    .map((bytes) =>
      Buffer.concat([Buffer.from('{"firstName":"'), Buffer.from([0xff, 0xfe, ...bytes]), Buffer.from('"}')]),
    );
  const notJson = fc.constantFrom('{', '{"a":}', 'null', '[]', '"text"', '1', '\u0000', '{"a":1}{"b":2}', '');
  return fc.oneof(
    { weight: 6, arbitrary: json },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: deepObject },
    { weight: 1, arbitrary: badUtf8 },
    { weight: 1, arbitrary: notJson.map((t) => new TextEncoder().encode(t)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  undefined,
);

const queryOf = (names: string[]): fc.Arbitrary<string> =>
  fc
    .array(
      fc.tuple(
        fc.constantFrom(...names, 'cursor', 'limit', 'updatedSince', 'status', 'email', '__proto__', 'x'),
        fc.oneof(
          fc.constantFrom('1', '0', '-5', '1000000', 'true', '2026-01-01', 'valid', '', 'abc', '%00', '%ff'),
          hostileString.map((v) => encode(v.slice(0, 2000))),
        ),
      ),
      { maxLength: 3 },
    )
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** The resource a path parameter identifies: the segment before it (`/v1/webhooks/{id}` → webhooks). */
function resourceBefore(path: string, param: string): string | undefined {
  const parts = path.split('/');
  const at = parts.indexOf(`{${param}}`);
  const before = parts[at - 1];
  return before === 'oauth' ? undefined : before === 'grants' ? 'grants' : before;
}

// ---------------------------------------------------------------------------------------------------------------

async function send(method: string, path: string, body: Uint8Array | undefined, type: string | undefined) {
  const headers: Record<string, string> = {};
  if (type !== undefined) headers['content-type'] = type;
  const res = await s.api(key, path, {
    method,
    headers,
    body: method === 'GET' || method === 'DELETE' ? undefined : body,
    signal: AbortSignal.timeout(20_000),
  });
  const shown = body ? Buffer.from(body.subarray(0, 200)).toString('utf8') : '';
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, text: '' };
  }
  const text = await res.text();
  const ctx = `${method} ${path} [${type}] ${shown} -> ${res.status} ${text.slice(0, 300)}`;
  expect(res.status, ctx).toBeLessThan(500);
  expect(text.includes(MARK), `another account's data in ${ctx}`).toBe(false);
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), ctx).toMatch(/^application\/json/);
    const err = JSON.parse(text) as { message?: unknown; code?: unknown; errors?: unknown };
    expect(err.message, ctx).toBeTypeOf('string');
    expect(ERROR_CODES[err.code as ErrorCode], ctx).toBe(res.status);
    if (err.errors !== undefined) {
      expect(Array.isArray(err.errors), ctx).toBe(true);
      for (const e of err.errors as { field: unknown; reasons: unknown }[]) {
        expect(e.field, ctx).toBeTypeOf('string');
        expect(Array.isArray(e.reasons), ctx).toBe(true);
      }
    }
  }
  // the fuzz revoked or rotated its own key: carry on with a new one
  if (res.status === 200 && /^\/v1\/keys\/[^/]+(\/rotate)?$/.test(path.split('?')[0]!) && method !== 'GET')
    key = await createAccountKey(s.app, 'alpha', ['*']);
  return { status: res.status, text };
}

describe(`every route of the OpenAPI document, fuzzed, on ${TEST_DB}`, () => {
  it('never a 5xx, every 4xx in the error shape, never another account’s data, memory bounded', async () => {
    expect(operations.length).toBeGreaterThan(90);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let sent = 0;
    const succeeded = new Set<string>();
    for (const op of operations) {
      const request = fc.record({
        params: fc.tuple(...op.params.map((p) => segment(p, resourceBefore(op.path, p)))),
        query: queryOf(op.query),
        body: bodyText(op.action, op.path),
        type: contentType,
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          let i = 0;
          const path = op.path.replace(/\{(\w+)\}/g, () => r.params[i++] ?? 'x') + r.query;
          const { status } = await send(op.method, path, r.body, r.type);
          sent++;
          if (status < 300) succeeded.add(`${op.method} ${op.path}`);
        }),
        { numRuns: op.params.length || op.action ? RUNS_PER_ROUTE : 3, endOnFailure: true },
      );
    }
    expect(sent).toBeGreaterThan(operations.length * 3);
    // the requests reached the handlers: most routes answered some of them with success
    expect(succeeded.size, [...succeeded].join('\n')).toBeGreaterThan(operations.length / 2);
    gc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    expect(grown, `heap grew ${Math.round(grown / 1e6)} MB over ${sent} requests`).toBeLessThan(
      150 * 1024 * 1024,
    );

    // the other account's things are as they were
    const victimKey = await createAccountKey(s.app, 'victim', ['*']);
    const pass = await s.api(victimKey, `${victimPassPath}/values`);
    expect(pass.status).toBe(200);
    expect((await pass.json()).firstName).toBe(MARK);
    const template = await s.api(victimKey, `/v1/templates/${victimTemplate}`);
    expect((await template.json()).name).toBe(`${MARK} template`);
  }, 600_000);
});
