// Wire compatibility with PassSlot's official SDKs (reference section 4.1): every request is written byte for byte on a
// raw socket as the PHP, Ruby and Python SDKs write it, and every answer is checked the way each SDK reads it.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../src/engine/png.js';
import { verifyPkpass } from '../helpers.js';
import { memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

// ---------------------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: exactly the given headers (plus Host, Connection: close and, when a body is given, its
// Content-Length), and no body at all when none is given.

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
}

type HeaderList = [string, string][];

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) throw new Error('truncated chunked body');
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (size === 0) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

function parseResponse(data: Buffer): RawResponse {
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(rest.toString('latin1'))}`);
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
    rest = rest.subarray(end + 4);
    // interim answers (100 Continue to curl's Expect) come before the real one
    if (status >= 100 && status < 200) continue;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let body = rest;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(rest);
    else if (headers['content-length'] !== undefined)
      body = rest.subarray(0, Number(headers['content-length']));
    return { status, headers, body, text: body.toString('utf8') };
  }
}

function raw(
  method: string,
  path: string,
  headers: HeaderList,
  body?: Buffer | string,
): Promise<RawResponse> {
  const { port } = new URL(s.url);
  const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const all: HeaderList = [['Host', `127.0.0.1:${port}`], ...headers];
  if (bytes && !headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n)))
    all.push(['Content-Length', String(bytes.length)]);
  all.push(['Connection', 'close']);
  const head = `${method} ${path} HTTP/1.1\r\n${all.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(bytes ? Buffer.concat([Buffer.from(head, 'latin1'), bytes]) : Buffer.from(head, 'latin1'));
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error(`timeout on ${method} ${path}`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The three SDKs

interface Sdk {
  name: 'php' | 'ruby' | 'python';
  auth(key: string): string;
  headers: HeaderList;
  /** The Content-Type of JSON bodies, or undefined when the SDK sends none. */
  jsonType: string | undefined;
  /** What the SDK sends for a call without values: a body, or undefined for no body at all. */
  emptyBody: string | undefined;
  /** A multipart create: values and images keyed by part name. */
  multipart(
    values: unknown,
    images: Record<string, Buffer>,
  ): { contentType: string; body: Buffer; extra: HeaderList };
  /** Part name of the @2x icon. */
  icon2x: string;
}

const crlf = (s: string): Buffer => Buffer.from(s, 'latin1');

const PHP: Sdk = {
  name: 'php',
  auth: (key) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
  headers: [
    ['Accept', 'application/json, */*; q=0.01'],
    ['User-Agent', 'PassSlotSDK-PHP/0.6.1'],
  ],
  jsonType: 'application/json',
  emptyBody: '{}',
  icon2x: 'icon@2x',
  multipart(values, images) {
    // curl: a random boundary, CURLFile parts with their real mime type; values is a temp file typed application/json
    const boundary = `------------------------${randomBytes(8).toString('hex')}`;
    const parts: Buffer[] = [];
    for (const [name, data] of Object.entries(images))
      parts.push(
        crlf(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.png"\r\n` +
            'Content-Type: image/png\r\n\r\n',
        ),
        data,
        crlf('\r\n'),
      );
    parts.push(
      crlf(
        `--${boundary}\r\nContent-Disposition: form-data; name="values"; filename="php${randomBytes(3).toString('hex')}.tmp"\r\n` +
          `Content-Type: application/json\r\n\r\n${JSON.stringify(values)}\r\n--${boundary}--\r\n`,
      ),
    );
    return {
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: Buffer.concat(parts),
      extra: [['Expect', '100-continue']],
    };
  },
};

const RUBY: Sdk = {
  name: 'ruby',
  auth: (key) => key,
  headers: [
    ['Accept', 'application/json'],
    ['User-Agent', 'PassSlotSDK-Ruby/0.1.0'],
  ],
  jsonType: undefined,
  emptyBody: undefined,
  icon2x: 'icon2x',
  multipart(values, images) {
    // multipart-post: UploadIO file parts, a ParamPart with its own Content-Type header, a fixed boundary
    const boundary = '-----------PassSlotRubyMultipartPost';
    const parts: Buffer[] = [];
    for (const [name, data] of Object.entries(images))
      parts.push(
        crlf(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.png"\r\n` +
            `Content-Length: ${data.length}\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n`,
        ),
        data,
        crlf('\r\n'),
      );
    parts.push(
      crlf(
        `--${boundary}\r\nContent-Disposition: form-data; name="values"\r\nContent-Type: application/json\r\n\r\n` +
          `${JSON.stringify(values)}\r\n--${boundary}--\r\n\r\n`,
      ),
    );
    return {
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: Buffer.concat(parts),
      extra: [],
    };
  },
};

const PYTHON: Sdk = {
  name: 'python',
  auth: (key) => key,
  headers: [
    ['Accept', 'application/json, */*; q=0.01'],
    ['User-Agent', 'PassSlotSDK-Python/0.1'],
  ],
  jsonType: 'application/json',
  emptyBody: 'null',
  icon2x: 'icon2x',
  multipart(values, images) {
    // requests: files=[(type, fileobj), ('values', json_str)]; no part has a Content-Type, values has filename="values"
    const boundary = randomBytes(16).toString('hex');
    const parts: Buffer[] = [];
    for (const [name, data] of Object.entries(images))
      parts.push(
        crlf(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.png"\r\n\r\n`,
        ),
        data,
        crlf('\r\n'),
      );
    parts.push(
      crlf(
        `--${boundary}\r\nContent-Disposition: form-data; name="values"; filename="values"\r\n\r\n` +
          `${JSON.stringify(values)}\r\n--${boundary}--\r\n`,
      ),
    );
    return {
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: Buffer.concat(parts),
      extra: [],
    };
  },
};

const SDKS = [PHP, RUBY, PYTHON];

/** A request as the SDK sends it: its auth and headers, and a JSON body typed as the SDK types it. */
function call(sdk: Sdk, method: string, path: string, json?: unknown): Promise<RawResponse> {
  const headers: HeaderList = [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers];
  if (json === undefined) return raw(method, path, headers);
  if (sdk.jsonType) headers.push(['Content-Type', sdk.jsonType]);
  return raw(method, path, headers, JSON.stringify(json));
}

/** A call that the SDK makes without values: `{}` (PHP), no body (Ruby) or `null` (Python). */
function callEmpty(sdk: Sdk, method: string, path: string): Promise<RawResponse> {
  const headers: HeaderList = [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers];
  if (sdk.emptyBody === undefined) return raw(method, path, headers);
  headers.push(['Content-Type', 'application/json']);
  return raw(method, path, headers, sdk.emptyBody);
}

/** What every SDK needs of an answer: a Content-Type (Python reads it unconditionally), and JSON when it says JSON. */
function readable(res: RawResponse): unknown {
  const type = res.headers['content-type'];
  expect(type, `no Content-Type on a ${res.status}`).toBeTypeOf('string');
  if (type!.startsWith('application/json')) {
    expect(res.text, 'a JSON content type with an empty body breaks the Python SDK').not.toBe('');
    return JSON.parse(res.text);
  }
  return undefined;
}

/** An answer as PHP's pushPass/deletePass and Python's email_pass accept it: 2xx, an empty body, not JSON. */
function expectEmptyOk(res: RawResponse): void {
  expect(res.status, res.text).toBeGreaterThanOrEqual(200);
  expect(res.status).toBeLessThan(300);
  readable(res);
  expect(res.headers['content-type']).not.toMatch(/^application\/json/);
  expect(res.text).toBe('');
}

function expectError(res: RawResponse, status: number): { message: string; errors?: unknown } {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = readable(res) as { message: string; errors?: unknown };
  expect(body.message).toBeTypeOf('string');
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

function expect422(res: RawResponse): { field: string; reasons: string[] }[] {
  const body = expectError(res, 422);
  expect(Array.isArray(body.errors)).toBe(true);
  const errors = body.errors as { field: string; reasons: string[] }[];
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) {
    expect(e.field).toBeTypeOf('string');
    expect(Array.isArray(e.reasons)).toBe(true);
    expect(e.reasons.length).toBeGreaterThan(0);
    for (const r of e.reasons) expect(r).toBeTypeOf('string');
  }
  return errors;
}

interface Created {
  serialNumber: string;
  passTypeIdentifier: string;
  url: string;
  path: string;
}

function expectCreated(res: RawResponse): Created {
  expect(res.status, res.text).toBe(201);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const out = readable(res) as Created;
  expect(out.serialNumber).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(out.passTypeIdentifier).toBe(s.alpha.passTypeIdentifier);
  expect(() => new URL(out.url)).not.toThrow();
  return { ...out, path: `/v1/passes/${out.passTypeIdentifier}/${out.serialNumber}` };
}

async function download(sdk: Sdk, path: string) {
  const res = await call(sdk, 'GET', path);
  expect(res.status, res.text).toBe(200);
  expect(res.headers['content-type']).toBe('application/vnd.apple.pkpass');
  return verifyPkpass(res.body, s.alpha.devCaPath);
}

const fieldValue = (passJson: Record<string, unknown>, section: string, key: string): unknown =>
  ((passJson.storeCard as Record<string, unknown>)[section] as { key: string; value: unknown }[]).find(
    (f) => f.key === key,
  )?.value;

async function createJson(sdk: Sdk, values: Record<string, unknown>, query = ''): Promise<Created> {
  return expectCreated(await call(sdk, 'POST', `/v1/templates/${s.alpha.templateId}/pass${query}`, values));
}

// ---------------------------------------------------------------------------------------------------------------

describe(`PassSlot SDK wire compatibility on ${TEST_DB}`, () => {
  describe.each(SDKS)('the $name SDK', (sdk) => {
    it('creates a pass from JSON values and downloads a .pkpass that verifies', async () => {
      const values = memberValues({ firstName: `Grace-${sdk.name}`, lastName: 'Hopper', points: 7 });
      const pass = await createJson(sdk, values);
      const { passJson } = await download(sdk, pass.path);
      expect(passJson.serialNumber).toBe(pass.serialNumber);
      expect(fieldValue(passJson, 'primaryFields', 'member')).toBe(`Grace-${sdk.name} Hopper`);

      const got = await call(sdk, 'GET', `${pass.path}/values`);
      expect(got.status).toBe(200);
      expect(readable(got)).toEqual(values);
    });

    it('creates a pass from multipart values and images, and the images are the pass images', async () => {
      const icon = encodePng(29, 29, (x) => [x * 8, 10, 20, 255]);
      const icon2x = encodePng(58, 58, (_x, y) => [10, y * 4, 20, 255]);
      const values = memberValues({ firstName: `Multi-${sdk.name}`, memberId: `MP-${sdk.name}` });
      const { contentType, body, extra } = sdk.multipart(values, { icon, [sdk.icon2x]: icon2x });
      const res = await raw(
        'POST',
        `/v1/templates/${s.alpha.templateId}/pass`,
        [
          ['Authorization', sdk.auth(s.alpha.appKey)],
          ...sdk.headers,
          ['Content-Type', contentType],
          ...extra,
        ],
        body,
      );
      const pass = expectCreated(res);
      const { files, passJson } = await download(sdk, pass.path);
      expect(Buffer.from(files.get('icon.png')!).equals(icon)).toBe(true);
      expect(Buffer.from(files.get('icon@2x.png')!).equals(icon2x)).toBe(true);
      expect(fieldValue(passJson, 'primaryFields', 'member')).toBe(`Multi-${sdk.name} Lovelace`);
      expect(readable(await call(sdk, 'GET', `${pass.path}/values`))).toEqual(values);
    });

    it('updates values with PUT values, values/:name and value/:name', async () => {
      const pass = await createJson(sdk, memberValues());
      const all = await call(sdk, 'PUT', `${pass.path}/values`, { points: 300, lastName: 'Byron' });
      expect(all.status, all.text).toBe(200);
      expect(readable(all)).toEqual(memberValues({ points: 300, lastName: 'Byron' }));

      const plural = await call(sdk, 'PUT', `${pass.path}/values/points`, { value: 450 });
      expect(plural.status, plural.text).toBe(200);
      expect(readable(plural)).toEqual(memberValues({ points: 450, lastName: 'Byron' }));

      const singular = await call(sdk, 'PUT', `${pass.path}/value/firstName`, { value: 'Augusta' });
      expect(singular.status, singular.text).toBe(200);
      const expected = memberValues({ points: 450, lastName: 'Byron', firstName: 'Augusta' });
      expect(readable(singular)).toEqual(expected);

      expect(readable(await call(sdk, 'GET', `${pass.path}/values`))).toEqual(expected);
      const { passJson } = await download(sdk, pass.path);
      expect(fieldValue(passJson, 'primaryFields', 'member')).toBe('Augusta Byron');
      expect(String(fieldValue(passJson, 'headerFields', 'points'))).toBe('450');
    });

    it('takes an update without values ({} / no body / null) and changes nothing', async () => {
      const pass = await createJson(sdk, memberValues({ points: 11 }));
      const res = await callEmpty(sdk, 'PUT', `${pass.path}/values`);
      expect(res.status, res.text).toBe(200);
      expect(readable(res)).toEqual(memberValues({ points: 11 }));
    });

    it('sets and reads status and price, and deletes the price with an empty body', async () => {
      const pass = await createJson(sdk, memberValues());
      const status = await call(sdk, 'PUT', `${pass.path}/status`, { status: 'redeemed' });
      expect(status.status, status.text).toBe(200);
      expect(readable(status)).toEqual({ status: 'redeemed' });
      expect(readable(await call(sdk, 'GET', `${pass.path}/status`))).toEqual({ status: 'redeemed' });

      const price = await call(sdk, 'PUT', `${pass.path}/price`, { price: 9.15 });
      expect(price.status, price.text).toBe(200);
      expect(readable(price)).toEqual({ price: 9.15 });
      expect(readable(await call(sdk, 'GET', `${pass.path}/price`))).toEqual({ price: 9.15 });
      expect(readable(await call(sdk, 'GET', `${pass.path}/status`))).toEqual({ status: 'unpaid' });

      expectEmptyOk(
        await raw(
          'DELETE',
          `${pass.path}/price`,
          [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers, ['Content-Type', 'application/json']],
          '',
        ),
      );
      expect(readable(await call(sdk, 'GET', `${pass.path}/price`))).toEqual({ price: null });
      expect(readable(await call(sdk, 'GET', `${pass.path}/status`))).toEqual({ status: 'valid' });
    });

    it('pushes a pass with the SDK empty body, and with an empty body under a JSON Content-Type', async () => {
      const pass = await createJson(sdk, memberValues());
      expectEmptyOk(await callEmpty(sdk, 'POST', `${pass.path}/push`));
      expectEmptyOk(
        await raw(
          'POST',
          `${pass.path}/push`,
          [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers, ['Content-Type', 'application/json']],
          '',
        ),
      );
      // each push renders a new version, which still verifies
      await download(sdk, pass.path);
    });

    it('emails a pass to a given address, queuing the job, and answers with an empty non-JSON body', async () => {
      const pass = await createJson(sdk, memberValues());
      const before = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'email').execute();
      expectEmptyOk(
        await call(sdk, 'POST', `${pass.path}/email`, { email: `holder-${sdk.name}@example.com` }),
      );
      const after = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'email').execute();
      expect(after.length).toBe(before.length + 1);
    });

    it("emails a pass to its holder's address with an empty body under a Content-Type", async () => {
      const pass = await createJson(sdk, memberValues(), `?email=holder-${sdk.name}%40example.com`);
      expectEmptyOk(
        await raw(
          'POST',
          `${pass.path}/email`,
          [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers, ['Content-Type', 'application/json']],
          '',
        ),
      );
      expectEmptyOk(await callEmpty(sdk, 'POST', `${pass.path}/email`));
    });

    it('deletes a pass with an empty body under a Content-Type; then the pass is a JSON 404', async () => {
      const pass = await createJson(sdk, memberValues());
      expectEmptyOk(
        await raw(
          'DELETE',
          pass.path,
          [['Authorization', sdk.auth(s.alpha.appKey)], ...sdk.headers, ['Content-Type', 'application/json']],
          '',
        ),
      );
      expectError(await call(sdk, 'GET', pass.path), 404);
      expectError(await call(sdk, 'GET', `${pass.path}/values`), 404);
      // deleting again is a 404 too, not an empty 200
      expectError(await callEmpty(sdk, 'DELETE', pass.path), 404);
    });

    it('answers errors as {"message"} and validation errors as {"message", "errors": [{"field", "reasons"}]}', async () => {
      const pass = await createJson(sdk, memberValues());
      const badStatus = expect422(await call(sdk, 'PUT', `${pass.path}/status`, { status: 'bogus' }));
      expect(badStatus.map((e) => e.field)).toContain('status');

      const missing = expect422(
        await call(sdk, 'POST', `/v1/templates/${s.alpha.templateId}/pass`, { firstName: 'Only' }),
      );
      expect(missing.map((e) => e.field).sort()).toEqual(
        ['values.lastName', 'values.memberId', 'values.memberSince', 'values.points'].sort(),
      );

      const noValue = expect422(await call(sdk, 'PUT', `${pass.path}/values/points`, { points: 1 }));
      expect(noValue.map((e) => e.field)).toContain('value');

      expectError(await call(sdk, 'GET', `/v1/passes/${pass.passTypeIdentifier}/no-such-serial`), 404);
      expectError(await call(sdk, 'GET', `/v1/templates/999999999/url`), 404);
    });

    it('is refused with a JSON 401 for a wrong key', async () => {
      const res = await raw('GET', '/v1/passes', [['Authorization', sdk.auth('not-a-key')], ...sdk.headers]);
      expectError(res, 401);
      const none = await raw('GET', '/v1/passes', [...sdk.headers]);
      expectError(none, 401);
    });

    it('lists passes as a JSON array whose items carry serialNumber and passType', async () => {
      const pass = await createJson(sdk, memberValues());
      const res = await call(sdk, 'GET', '/v1/passes?limit=1000');
      expect(res.status).toBe(200);
      const list = readable(res) as { serialNumber: string; passType: string }[];
      expect(Array.isArray(list)).toBe(true);
      expect(list).toContainEqual(
        expect.objectContaining({ serialNumber: pass.serialNumber, passType: pass.passTypeIdentifier }),
      );
      const url = await call(sdk, 'GET', `${pass.path}/url`);
      expect(readable(url)).toEqual({ url: pass.url });
    });
  });

  describe('the PHP SDK restrictions PUT (JSON sent as application/x-www-form-urlencoded)', () => {
    const path = () => `/v1/templates/${s.alpha.templateId}/restrictions`;
    const put = (json: string) =>
      raw(
        'PUT',
        path(),
        [
          ['Authorization', PHP.auth(s.alpha.appKey)],
          ...PHP.headers,
          ['Content-Type', 'application/x-www-form-urlencoded'],
        ],
        json,
      );

    afterAll(async () => {
      await put('{}');
    });

    it('parses the JSON, drops the null restrictions and answers the restrictions', async () => {
      const res = await put(
        JSON.stringify({
          quantityRestriction: 1000,
          redemptionRestriction: null,
          passwordProtection: 'secret',
          dateRestriction: null,
          sharingRestriction: true,
        }),
      );
      expect(res.status, res.text).toBe(200);
      const expected = { quantityRestriction: 1000, passwordProtection: 'secret', sharingRestriction: true };
      expect(readable(res)).toEqual(expected);
      expect(readable(await call(PHP, 'GET', path()))).toEqual(expected);
      // a pass can still be issued under these restrictions
      await createJson(PHP, memberValues());
    });

    it('accepts an ISO 8601 dateRestriction', async () => {
      const res = await put(
        JSON.stringify({
          quantityRestriction: null,
          redemptionRestriction: 100,
          passwordProtection: null,
          dateRestriction: '2099-02-12T00:00:00Z',
          sharingRestriction: null,
        }),
      );
      expect(res.status, res.text).toBe(200);
      const expected = { redemptionRestriction: 100, dateRestriction: '2099-02-12T00:00:00Z' };
      expect(readable(res)).toEqual(expected);
      expect(readable(await call(PHP, 'GET', path()))).toEqual(expected);
    });

    it('refuses a restriction of the wrong type with a 422 naming the field', async () => {
      const errors = expect422(await put(JSON.stringify({ quantityRestriction: 'many' })));
      expect(errors.map((e) => e.field)).toContain('quantityRestriction');
    });
  });

  it('creates a pass whose values part is JSON text without a filename or Content-Type (plain form field)', async () => {
    const boundary = randomBytes(12).toString('hex');
    const values = memberValues({ firstName: 'Field' });
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="values"\r\n\r\n${JSON.stringify(values)}\r\n` +
      `--${boundary}--\r\n`;
    const res = await raw(
      'POST',
      `/v1/templates/${s.alpha.templateId}/pass`,
      [
        ['Authorization', s.alpha.appKey],
        ['Content-Type', `multipart/form-data; boundary=${boundary}`],
      ],
      body,
    );
    const pass = expectCreated(res);
    expect(readable(await call(PYTHON, 'GET', `${pass.path}/values`))).toEqual(values);
  });
});
