// Fuzzing the bodies of create and update: arbitrary JSON, malformed text, odd and missing content types. The server
// must answer 2xx or a JSON 4xx (never 5xx), and its state must stay what the successful answers said: every 201 is
// a listed pass that verifies, and each pass holds the values, status and price its last successful update returned.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { verifyPkpass } from '../helpers.js';
import { createMemberPass, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ env: { PASSSLOT_RATE_LIMIT: '1000000' } });
});
afterAll(async () => {
  await s?.close();
});

const RUNS = 150;
const PLACEHOLDERS = ['firstName', 'lastName', 'memberSince', 'points', 'memberId'] as const;
const STATUSES = ['valid', 'invalid', 'redeemed', 'unpaid', 'locked', 'incomplete'] as const;

interface Model {
  values: Record<string, unknown>;
  status: string;
  price: number | null;
}
/** What each pass should hold, by serial number: set from the answers of successful calls only. */
const passes = new Map<string, Model>();
let created201 = 0;
const serials = (): string[] => [...passes.keys()];

// ---------------------------------------------------------------------------------------------------------------
// Bodies

const CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  'application/vnd.api+json',
  'text/html',
  'multipart/form-data',
  'multipart/form-data; boundary=fuzzboundary',
  'foo',
  '',
] as const;

const placeholderValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);

const textOrNumber = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }));

/**
 * A values object with every placeholder of the demo template, maybe with extra keys: mostly of the types the
 * template renders (so that creates succeed), sometimes of any placeholder type (booleans and nulls, which Wallet
 * refuses in some fields).
 */
const fullValues = fc
  .tuple(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          firstName: textOrNumber,
          lastName: textOrNumber,
          memberSince: textOrNumber,
          points: textOrNumber,
          memberId: text,
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record(
          Object.fromEntries(PLACEHOLDERS.map((p) => [p, placeholderValue])) as Record<
            (typeof PLACEHOLDERS)[number],
            typeof placeholderValue
          >,
        ),
      },
    ),
    fc.dictionary(fc.string(), placeholderValue, { maxKeys: 3 }),
  )
  .map(([values, extra]) => ({ ...extra, ...values }));

const partialValues = fc.dictionary(
  fc.oneof(fc.constantFrom(...PLACEHOLDERS), fc.string()),
  placeholderValue,
  {
    maxKeys: 4,
  },
);

const malformed = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    ' ',
    '{',
    '}',
    '{"firstName":',
    '[',
    'null',
    'nul',
    'true',
    '0',
    '-',
    '"',
    '{"a":1}}',
    '\u0000',
    '\ufeff{}',
    'a=b&c=d',
    'firstName=A&lastName=B&memberSince=2020&points=1&memberId=X',
    '{"__proto__": {"x": 1}}',
    '{"constructor": {"prototype": {"x": 1}}}',
    '--fuzzboundary\r\nContent-Disposition: form-data; name="values"\r\n\r\n{}\r\n--fuzzboundary--\r\n',
  ),
);

/** A body as text, or undefined for no body at all. */
const bodyOf = (objects: fc.Arbitrary<unknown>): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: objects.map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: malformed },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const contentType = fc.constantFrom(...CONTENT_TYPES);

// ---------------------------------------------------------------------------------------------------------------
// What the server is documented to make of a body (server.ts): JSON under any content type, an empty body as no
// body, and form encoding only for form-encoded text that does not look like JSON. `undefined`: nothing parsed.

type Parsed = { kind: 'value'; value: unknown } | { kind: 'none' } | { kind: 'unknown' };

function parsedBody(text: string | undefined, type: string | undefined): Parsed {
  if (text === undefined) return { kind: 'none' };
  if (type?.toLowerCase().startsWith('multipart/')) return { kind: 'unknown' };
  const seen = Buffer.from(text, 'utf8').toString('utf8'); // what arrives after UTF-8 encoding
  if (type?.startsWith('application/x-www-form-urlencoded') && !/^\s*[[{"n]/.test(seen))
    return { kind: 'value', value: Object.fromEntries(new URLSearchParams(seen)) };
  if (seen.trim() === '') return { kind: 'none' };
  try {
    return { kind: 'value', value: JSON.parse(seen) };
  } catch {
    return { kind: 'unknown' };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------------------------

async function send(method: string, path: string, text: string | undefined, type: string | undefined) {
  const headers: Record<string, string> = {};
  if (type !== undefined) headers['content-type'] = type;
  // a Uint8Array body, so that fetch adds no Content-Type of its own
  const res = await s.api(s.alpha.appKey, path, {
    method,
    headers,
    body: text === undefined ? undefined : Buffer.from(text, 'utf8'),
  });
  const raw = await res.text();
  const ctx = `${method} ${path} [${type}] ${JSON.stringify(text)?.slice(0, 300)} -> ${res.status} ${raw.slice(0, 300)}`;
  expect(res.status < 500, ctx).toBe(true);
  expect(res.status >= 200, ctx).toBe(true);
  expect(res.headers.get('content-type'), ctx).toBeTruthy();
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), ctx).toMatch(/^application\/json/);
    const body = JSON.parse(raw) as { message?: unknown; code?: unknown };
    expect(body.message, ctx).toBeTypeOf('string');
    // a code of the catalogue, with its status
    expect(ERROR_CODES[body.code as ErrorCode], ctx).toBe(res.status);
    return { status: res.status, body: body as unknown, ctx };
  }
  return {
    status: res.status,
    body: res.headers.get('content-type')?.startsWith('application/json')
      ? (JSON.parse(raw) as unknown)
      : raw,
    ctx,
  };
}

const passPath = (serial: string) => `/v1/passes/${s.alpha.passTypeIdentifier}/${serial}`;
const pick = (i: number): string => {
  const all = serials();
  return all[i % all.length]!;
};

describe(`fuzzing create and update bodies on ${TEST_DB}`, () => {
  it('create: only 201 or a JSON 4xx, and a 201 stores exactly the values sent', async () => {
    await fc.assert(
      fc.asyncProperty(
        bodyOf(fc.oneof({ weight: 3, arbitrary: fullValues }, { weight: 1, arbitrary: partialValues })),
        contentType,
        async (text, type) => {
          const res = await send('POST', `/v1/templates/${s.alpha.templateId}/pass`, text, type);
          expect(res.status === 201 || res.status >= 400, res.ctx).toBe(true);
          if (res.status !== 201) return;
          created201++;
          const out = res.body as { serialNumber: string; passTypeIdentifier: string; url: string };
          expect(out.passTypeIdentifier, res.ctx).toBe(s.alpha.passTypeIdentifier);
          expect(out.url, res.ctx).toBeTypeOf('string');
          const parsed = parsedBody(text, type);
          expect(parsed.kind, res.ctx).toBe('value');
          const values = (parsed as { value: unknown }).value;
          expect(isObject(values), res.ctx).toBe(true);
          for (const p of PLACEHOLDERS) expect(Object.hasOwn(values as object, p), res.ctx).toBe(true);
          passes.set(out.serialNumber, {
            values: values as Record<string, unknown>,
            status: 'valid',
            price: null,
          });
        },
      ),
      { numRuns: RUNS },
    );
    // the property is not vacuous: a good share of the creates succeeded
    expect(created201).toBeGreaterThan(RUNS / 10);
  });

  it('update values: 200 answers all values merged with the change, or a JSON 4xx', async () => {
    for (let i = 0; i < 3; i++) {
      const p = await createMemberPass(s, s.alpha);
      created201++;
      passes.set(p.serialNumber, {
        values: {
          firstName: 'Ada',
          lastName: 'Lovelace',
          memberSince: '2024',
          points: 120,
          memberId: 'M-0001',
        },
        status: 'valid',
        price: null,
      });
    }
    let ok = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), bodyOf(partialValues), contentType, async (i, text, type) => {
        const serial = pick(i);
        const before = passes.get(serial)!;
        const res = await send('PUT', `${passPath(serial)}/values`, text, type);
        expect(res.status === 200 || res.status >= 400, res.ctx).toBe(true);
        if (res.status !== 200) return;
        ok++;
        const parsed = parsedBody(text, type);
        if (parsed.kind === 'unknown') {
          // only a multipart body, which this route does not read, may pass unparsed; then nothing changes
          expect(type?.toLowerCase().startsWith('multipart/'), res.ctx).toBe(true);
          expect(res.body, res.ctx).toEqual(before.values);
          return;
        }
        const change = parsed.kind === 'value' && parsed.value !== null ? parsed.value : {};
        expect(isObject(change), res.ctx).toBe(true);
        expect(res.body, res.ctx).toEqual({ ...before.values, ...(change as object) });
        passes.set(serial, { ...before, values: res.body as Record<string, unknown> });
      }),
      { numRuns: RUNS },
    );
    expect(ok).toBeGreaterThan(RUNS / 10);
  });

  it('update status: 200 answers the status sent, or a JSON 4xx', async () => {
    let ok = 0;
    const statusBody = fc.oneof(
      { weight: 3, arbitrary: fc.record({ status: fc.constantFrom(...STATUSES) }) },
      { weight: 1, arbitrary: fc.record({ status: fc.oneof(fc.string(), fc.jsonValue()) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(), bodyOf(statusBody), contentType, async (i, text, type) => {
        const serial = pick(i);
        const before = passes.get(serial)!;
        const res = await send('PUT', `${passPath(serial)}/status`, text, type);
        expect(res.status === 200 || res.status >= 400, res.ctx).toBe(true);
        if (res.status !== 200) return;
        ok++;
        const parsed = parsedBody(text, type);
        expect(parsed.kind, res.ctx).toBe('value');
        const sent = (parsed as { value: { status: unknown } }).value.status;
        expect(STATUSES, res.ctx).toContain(sent);
        expect(res.body, res.ctx).toEqual({ status: sent });
        passes.set(serial, { ...before, status: sent as string });
      }),
      { numRuns: RUNS },
    );
    expect(ok).toBeGreaterThan(RUNS / 10);
  });

  it('update price: 200 answers the price sent (and the pass is unpaid), or a JSON 4xx', async () => {
    let ok = 0;
    const priceBody = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          price: fc.oneof(
            fc.double({ min: 0, max: 1e9, noNaN: true }),
            fc.integer({ min: 0, max: 1_000_000 }),
            fc.constantFrom(0, 9.15, 0.1, 1e-7, 123456.789),
          ),
        }),
      },
      { weight: 1, arbitrary: fc.record({ price: fc.oneof(fc.double(), fc.string(), fc.jsonValue()) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(), bodyOf(priceBody), contentType, async (i, text, type) => {
        const serial = pick(i);
        const before = passes.get(serial)!;
        const res = await send('PUT', `${passPath(serial)}/price`, text, type);
        expect(res.status === 200 || res.status >= 400, res.ctx).toBe(true);
        if (res.status !== 200) return;
        ok++;
        const parsed = parsedBody(text, type);
        expect(parsed.kind, res.ctx).toBe('value');
        const sent = (parsed as { value: { price: unknown } }).value.price;
        expect(sent, res.ctx).toBeTypeOf('number');
        expect(res.body, res.ctx).toEqual({ price: sent });
        passes.set(serial, { ...before, status: 'unpaid', price: sent as number });
      }),
      { numRuns: RUNS },
    );
    expect(ok).toBeGreaterThan(RUNS / 10);
  });

  it('afterwards the database holds exactly the passes and state the answers promised', async () => {
    const list = await s.api(s.alpha.appKey, '/v1/passes?limit=1000');
    expect(list.status).toBe(200);
    const items = (await list.json()) as { serialNumber: string; passType: string }[];
    expect(items.length).toBe(created201);
    expect(new Set(items.map((p) => p.serialNumber))).toEqual(new Set(serials()));
    for (const item of items) {
      const model = passes.get(item.serialNumber)!;
      const path = passPath(item.serialNumber);
      const file = await s.api(s.alpha.appKey, path);
      expect(file.status, item.serialNumber).toBe(200);
      const { passJson } = verifyPkpass(Buffer.from(await file.arrayBuffer()), s.alpha.devCaPath);
      expect(passJson.serialNumber).toBe(item.serialNumber);
      const values = await s.api(s.alpha.appKey, `${path}/values`);
      expect(values.status).toBe(200);
      expect(await values.json(), item.serialNumber).toEqual(model.values);
      expect(await (await s.api(s.alpha.appKey, `${path}/status`)).json(), item.serialNumber).toEqual({
        status: model.status,
      });
      expect(await (await s.api(s.alpha.appKey, `${path}/price`)).json(), item.serialNumber).toEqual({
        price: model.price,
      });
    }
  });
});
