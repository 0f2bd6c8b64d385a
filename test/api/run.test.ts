// POST /v1/actions/:name, the SDK's transport: any callable action by name with its input as the body, answered as
// its route answers (JSON, a file), through the same door (validation, idempotency, audit); what it does not run; its
// OpenAPI entry. Then the SDK as published (passslot/client) against the real server.
import { PassslotClient, PassslotError } from 'passslot/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let pass: Awaited<ReturnType<typeof createMemberPass>>;

const run = (name: string, init: RequestInit & { json?: unknown } = {}, key = s.alpha.appKey) =>
  s.api(key, `/v1/actions/${name}`, { method: 'POST', ...init });

beforeAll(async () => {
  s = await startServer();
  pass = await createMemberPass(s, s.alpha, memberValues({ memberId: 'RUN-1' }), '?email=ada@example.com');
});

afterAll(async () => {
  await s?.close();
});

describe(`POST /v1/actions/:name on ${TEST_DB}`, () => {
  it('runs a JSON action with the body as its input and answers its output as the route does', async () => {
    const ref = { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber };
    const res = await run('get_pass_details', { json: ref });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const details = await res.json();
    const viaRoute = await (await s.api(s.alpha.appKey, `${pass.path}/details`)).json();
    expect(details).toEqual(viaRoute);
    expect(details.values.memberId).toBe('RUN-1');
  });

  it('takes no body as {} and answers a list action with its page object', async () => {
    const res = await run('get_passes');
    expect(res.status).toBe(200);
    const page = await res.json();
    expect(page.nextCursor).toBeNull();
    expect(page.passes.map((p: { serialNumber: string }) => p.serialNumber)).toContain(pass.serialNumber);
    const found = await (await run('search_passes_by_user', { json: { email: 'ada@example.com' } })).json();
    expect(found.passes).toHaveLength(1);
  });

  it("answers a bytes action with the file's bytes and content type", async () => {
    const res = await run('download_pass', {
      json: { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    expect(res.headers.get('content-disposition')).toContain(`${pass.serialNumber}.pkpass`);
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');
  });

  it('replays a mutating run with the same Idempotency-Key (Idempotent-Replayed), and records it in the audit log', async () => {
    const init = {
      json: { templateId: s.alpha.templateId, values: memberValues({ memberId: 'IDEM-1' }) },
      headers: { 'Idempotency-Key': 'run-idem-1' },
    };
    const first = await run('create_pass', init);
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await run('create_pass', init);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const [a, b] = [await first.json(), await again.json()];
    expect(b).toEqual(a);
    const other = await run('create_pass', {
      ...init,
      json: { ...init.json, values: memberValues({ memberId: 'IDEM-2' }) },
    });
    expect(other.status).toBe(422);
    expect((await other.json()).code).toBe('idempotency_key_reused');
    // each run is recorded from the rest edge (the replay too, as on every route); the audit is written after the answer
    const mine = await until('the audit records of the three runs', async () => {
      const audit = await (await s.api(s.alpha.appKey, '/v1/audit?action=create_pass')).json();
      const entries = audit.entries.filter((e: { input: { values?: { memberId?: string } } }) =>
        ['IDEM-1', 'IDEM-2'].includes(e.input.values?.memberId ?? ''),
      );
      return entries.length === 3 && entries;
    });
    expect(mine.map((e: { edge: string; outcome: number }) => `${e.edge} ${e.outcome}`).toSorted()).toEqual([
      'rest 200',
      'rest 200',
      'rest 422',
    ]);
    // one pass was made
    const made = await (await run('get_passes', { json: { limit: 1000 } })).json();
    expect(
      made.passes.filter((p: { serialNumber: string }) => p.serialNumber === a.serialNumber),
    ).toHaveLength(1);
  });

  it('validates the input as every edge does: a 422 with field errors', async () => {
    const res = await run('update_pass', {
      json: { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber, values: 'x' },
    });
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.code).toBe('validation_failed');
    expect(body.errors.map((e: { field: string }) => e.field)).toContain('values');
  });

  it('does not run unknown or system actions (404) nor the live stream (400), nor take a non-object or multipart body', async () => {
    const unknown = await run('make_coffee', { json: {} });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      code: 'not_found',
      message: 'action "make_coffee" not found',
    });
    const system = await run('set_account_rate_limit', { json: { rateLimit: 1_000_000 } });
    expect(system.status).toBe(404);
    expect((await system.json()).code).toBe('not_found');
    const stream = await run('stream_events', { json: {} });
    expect(stream.status).toBe(400);
    expect(await stream.json()).toMatchObject({ code: 'bad_request' });
    const array = await run('get_passes', { json: [1, 2] });
    expect(array.status).toBe(400);
    const form = new FormData();
    form.append('values', '{}');
    const multipart = await run('get_passes', { body: form });
    expect(multipart.status).toBe(415);
    expect((await multipart.json()).code).toBe('unsupported_media_type');
    // and without a key, nothing at all
    expect((await request(`${s.url}/v1/actions/get_passes`, { method: 'POST' })).status).toBe(401);
  });

  it('is in the OpenAPI document with a summary, a description and the callable action names', async () => {
    const doc = await (await request(`${s.url}/v1/openapi.json`)).json();
    const op = doc.paths['/v1/actions/{name}']?.post;
    expect(op.summary).toBe('Run an action by name');
    expect(op.description).toContain('Idempotency-Key');
    expect(op.tags).toEqual(['actions']);
    const name = op.parameters.find((p: { name: string }) => p.name === 'name');
    expect(name.in).toBe('path');
    expect(name.schema.enum).toContain('get_pass_details');
    expect(name.schema.enum).not.toContain('stream_events');
    expect(name.schema.enum).not.toContain('set_account_rate_limit');
  });
});

describe(`the SDK (passslot/client) against the server on ${TEST_DB}`, () => {
  const sdk = () => new PassslotClient({ baseUrl: `${s.url}/`, apiKey: s.alpha.appKey });

  it('creates, reads and changes a pass with the typed methods', async () => {
    const client = sdk();
    const created = await client.createPass({
      templateId: s.alpha.templateId,
      values: memberValues({ memberId: 'SDK-1' }),
      externalId: 'crm-sdk-1',
    });
    const ref = { passTypeIdentifier: created.passTypeIdentifier, serialNumber: created.serialNumber };
    expect((await client.getPassDetails(ref)).owner.externalId).toBe('crm-sdk-1');
    expect(await client.updatePass({ ...ref, values: { points: 999 } })).toMatchObject({ points: 999 });
    expect((await client.run('get_pass_values', ref)).points).toBe(999);
    const file = await client.downloadPass(ref);
    expect(file.contentType).toBe('application/vnd.apple.pkpass');
    expect(file.filename).toBe(`${created.serialNumber}.pkpass`);
    expect(Buffer.from(file.data).subarray(0, 2).toString()).toBe('PK');
  });

  it('replays a call given the same Idempotency-Key: one pass, not two', async () => {
    const client = sdk();
    const input = { templateId: s.alpha.templateId, values: memberValues({ memberId: 'SDK-IDEM' }) };
    const a = await client.createPass(input, { idempotencyKey: 'sdk-idem-1' });
    const b = await client.createPass(input, { idempotencyKey: 'sdk-idem-1' });
    expect(b.serialNumber).toBe(a.serialNumber);
  });

  it('throws PassslotError with the code, message and field errors', async () => {
    const client = sdk();
    const missing = await client
      .getPassDetails({ passTypeIdentifier: pass.passTypeIdentifier, serialNumber: 'nope' })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PassslotError);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    const invalid = (await client
      .run('update_pass', {
        passTypeIdentifier: pass.passTypeIdentifier,
        serialNumber: pass.serialNumber,
      } as never)
      .catch((e: unknown) => e)) as PassslotError;
    expect(invalid.code).toBe('validation_failed');
    expect(invalid.errors.map((e) => e.field)).toContain('values');
    expect(invalid.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('paginates a list across pages', async () => {
    const client = sdk();
    const serials = [];
    for await (const p of client.paginate('get_passes', { limit: 2 })) serials.push(p.serialNumber);
    const all = (await client.getPasses({ limit: 1000 })).passes.map((p) => p.serialNumber);
    expect(all.length).toBeGreaterThan(2);
    expect(serials).toEqual(all);
  });
});
