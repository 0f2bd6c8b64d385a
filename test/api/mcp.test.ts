// MCP, driven by the official SDK's client: over Streamable HTTP at /mcp, and over stdio through `passslot mcp`,
// which serves the tools of the Passslot at PASSSLOT_URL. Tools are the registry's actions, filtered by the key's
// scopes; results carry structuredContent that validates against each tool's outputSchema; failures an agent can act
// on are results with isError and the REST API's field errors.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionsByName } from '../../src/actions/index.js';
import { until, verifyPkpass } from '../helpers.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;

/** The twelve tools the Agents issue names. */
const TWELVE = [
  'get_passes',
  'get_passes_by_pass_type',
  'get_pass_types',
  'create_pass',
  'update_pass',
  'delete_pass',
  'send_pass_notification',
  'get_pass_details',
  'list_pass_templates',
  'revoke_pass',
  'search_passes_by_user',
  'sync_pass_state',
];

let s: TestServer;
const clients: Client[] = [];

type Answer = { action: 'accept' | 'decline' | 'cancel'; content?: { confirm: boolean } };

/** A client over Streamable HTTP; with `answer`, it declares elicitation and answers each question so. */
async function httpClient(key: string, answer?: (message: string) => Answer): Promise<Client> {
  const client = new Client(
    { name: 'passslot-test', version: '1.0.0' },
    answer ? { capabilities: { elicitation: { form: {} } } } : {},
  );
  if (answer)
    client.setRequestHandler(ElicitRequestSchema, async (request) => answer(request.params.message));
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  clients.push(client);
  return client;
}

async function keyWith(scopes: string[]): Promise<string> {
  const res = await s.api(s.alpha.appKey, '/v1/keys', { method: 'POST', json: { name: 'mcp', scopes } });
  return (await res.json()).key;
}

const ajv = new Ajv({ strict: false, validateFormats: false });
/** structuredContent must validate against the tool's outputSchema. */
function conforms(tool: Tool, structured: unknown): void {
  const validate = ajv.compile(tool.outputSchema!);
  expect(validate(structured), `${tool.name}: ${JSON.stringify(validate.errors)}`).toBe(true);
}

beforeAll(async () => {
  s = await startServer();
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await s?.close();
});

describe(`MCP over Streamable HTTP on ${TEST_DB}`, () => {
  it('lists one tool per action a key may run, with schemas and annotations; the twelve are there', async () => {
    const client = await httpClient(s.alpha.appKey);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of TWELVE) expect(names).toContain(name);
    // every tool is an action an app key can run; Passslot's own actions and the live stream are not tools
    for (const t of tools) expect(actionsByName.get(t.name)?.scope).not.toBe('system');
    expect(names).not.toContain('register_device');
    expect(names).not.toContain('stream_events');
    expect(names.length).toBeGreaterThanOrEqual(60);
    for (const t of tools) {
      expect(t.title, t.name).toBeTruthy();
      expect(t.description!.length, t.name).toBeGreaterThan(40);
      expect(t.inputSchema.type, t.name).toBe('object');
      expect(t.outputSchema?.type, t.name).toBe('object');
    }
    const tool = (name: string) => tools.find((t) => t.name === name)!;
    // each description says what comes back and shows a call; the twelve's example calls are valid input
    for (const t of tools) {
      expect(t.description, t.name).toMatch(/\nReturns .+\. (Reads only|Changes state); needs the scope/);
      const example = JSON.parse(/\nExample: (.+)$/.exec(t.description!)![1]!);
      if (TWELVE.includes(t.name)) {
        const validate = ajv.compile(t.inputSchema);
        expect(validate(example), `${t.name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    }
    expect(tool('get_pass_details').annotations).toMatchObject({ readOnlyHint: true });
    expect(tool('delete_pass').annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(tool('revoke_pass').annotations).toMatchObject({ destructiveHint: true, idempotentHint: true });
    expect(tool('update_passes_of_template').annotations).toMatchObject({ destructiveHint: true });
    expect(tool('create_pass').annotations).toMatchObject({ destructiveHint: false, idempotentHint: false });
    expect(tool('create_pass').inputSchema.properties).toHaveProperty('values');
  });

  it('calls each of the twelve: structuredContent conforms to outputSchema, and the changes are real', async () => {
    const client = await httpClient(s.alpha.appKey);
    const { tools } = await client.listTools();
    const tool = (name: string) => tools.find((t) => t.name === name)!;
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = await client.callTool({ name, arguments: args });
      expect(result.isError, `${name}: ${JSON.stringify(result.content)}`).toBeFalsy();
      conforms(tool(name), result.structuredContent);
      expect((result.content as { type: string }[])[0]!.type).toBe('text');
      return result.structuredContent as Record<string, any>;
    };
    const templates = await call('list_pass_templates', {});
    expect(templates.result.map((t: any) => t.id)).toContain(s.alpha.templateId);
    const types = await call('get_pass_types', {});
    expect(types.result[0].passTypeIdentifier).toBe(s.alpha.passTypeIdentifier);
    const created = await call('create_pass', {
      templateId: s.alpha.templateId,
      values: memberValues({ memberId: 'MCP-1' }),
      email: 'agent@example.com',
    });
    const ref = { passTypeIdentifier: created.passTypeIdentifier, serialNumber: created.serialNumber };
    // the pass the agent made is a real, signed pass
    const file = await s.api(s.alpha.appKey, `/v1/passes/${ref.passTypeIdentifier}/${ref.serialNumber}`);
    verifyPkpass(Buffer.from(await file.arrayBuffer()), s.alpha.devCaPath);
    expect((await call('update_pass', { ...ref, values: { points: 999 } })).points).toBe(999);
    expect((await call('get_pass_details', ref)).values.points).toBe(999);
    expect((await call('get_passes', {})).passes.map((p: any) => p.serialNumber)).toContain(ref.serialNumber);
    expect(
      (await call('get_passes_by_pass_type', { passTypeIdentifier: ref.passTypeIdentifier })).passes.length,
    ).toBeGreaterThan(0);
    const mine = await call('search_passes_by_user', { email: 'agent@example.com' });
    expect(mine.passes.map((p: any) => p.serialNumber)).toEqual([ref.serialNumber]);
    expect(await call('send_pass_notification', { ...ref, message: 'Doors open at 7' })).toEqual({
      message: 'Doors open at 7',
    });
    expect(await call('sync_pass_state', ref)).toEqual({});
    expect(await call('revoke_pass', { ...ref, reason: 'refunded' })).toEqual({
      status: 'invalid',
      voided: true,
    });
    expect(await call('delete_pass', ref)).toEqual({});
    const gone = await client.callTool({ name: 'get_pass_details', arguments: ref });
    expect(gone.isError).toBe(true);
    // every call is in the audit log from the mcp edge, reads included (REST reads are not recorded); the audit
    // writer writes after the answer, so the last call's record may come a moment later
    const audit = await until('the audit record of the failed get_pass_details', async () => {
      const page = await (await s.api(s.alpha.appKey, '/v1/audit?edge=mcp&limit=1000')).json();
      return page.entries.some((e: any) => e.action === 'get_pass_details' && e.outcome === 404) && page;
    });
    expect(audit.entries.map((e: any) => e.action)).toEqual(
      expect.arrayContaining([
        'create_pass',
        'update_pass',
        'get_pass_details',
        'revoke_pass',
        'delete_pass',
      ]),
    );
    const failed = audit.entries.find((e: any) => e.action === 'get_pass_details' && e.outcome === 404);
    expect(failed).toMatchObject({ target: `${ref.passTypeIdentifier}/${ref.serialNumber}`, edge: 'mcp' });
  });

  it('answers a validation failure and an unknown pass as tool errors an agent can act on', async () => {
    const client = await httpClient(s.alpha.appKey);
    const pass = await createMemberPass(s, s.alpha);
    const bad = await client.callTool({
      name: 'update_pass',
      arguments: {
        passTypeIdentifier: pass.passTypeIdentifier,
        serialNumber: pass.serialNumber,
        values: 'x',
      },
    });
    expect(bad.isError).toBe(true);
    const text = (bad.content as { text: string }[])[0]!.text;
    expect(text).toMatch(/^validation_failed/);
    expect(text).toMatch(/^values: /m);
    expect(bad.structuredContent).toBeUndefined();
    const unknown = await client.callTool({
      name: 'get_pass_details',
      arguments: { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: 'no-such-serial' },
    });
    expect(unknown.isError).toBe(true);
    expect((unknown.content as { text: string }[])[0]!.text).toContain(
      `${pass.passTypeIdentifier}/no-such-serial not found`,
    );
    // an unknown tool is a protocol error
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('lists only the tools the key’s scopes allow, and refuses another with the scope it needs', async () => {
    const client = await httpClient(await keyWith(['passes:read']));
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('get_pass_details');
    expect(names).toContain('download_pass');
    expect(names).not.toContain('create_pass');
    expect(names).not.toContain('list_pass_templates');
    expect(names).not.toContain('create_app_key');
    const refused = await client.callTool({
      name: 'create_pass',
      arguments: { templateId: s.alpha.templateId, values: memberValues() },
    });
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0]!.text).toMatch(/^missing_scope: .*passes:write/);
    expect((await (await s.api(s.alpha.appKey, '/v1/passes')).json()).length).toBeGreaterThan(0);
  });

  it('gives files as resources: the .pkpass of download_pass verifies', async () => {
    const client = await httpClient(s.alpha.appKey);
    const pass = await createMemberPass(s, s.alpha);
    const result = await client.callTool({
      name: 'download_pass',
      arguments: { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber },
    });
    const [block] = result.content as { type: string; resource: { mimeType: string; blob: string } }[];
    expect(block!.type).toBe('resource');
    expect(block!.resource.mimeType).toBe('application/vnd.apple.pkpass');
    const bytes = Buffer.from(block!.resource.blob, 'base64');
    verifyPkpass(bytes, s.alpha.devCaPath);
    expect(result.structuredContent).toMatchObject({
      size: bytes.length,
      contentType: 'application/vnd.apple.pkpass',
    });
  });

  it('asks the user before deleting or revoking a pass when the client can be asked; declined changes nothing', async () => {
    const questions: string[] = [];
    let reply: Answer = { action: 'decline' };
    const client = await httpClient(s.alpha.appKey, (message) => {
      questions.push(message);
      return reply;
    });
    const pass = await createMemberPass(s, s.alpha, memberValues(), '?email=holder@example.com');
    const ref = { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber };
    const declined = await client.callTool({ name: 'delete_pass', arguments: ref });
    expect(declined.isError).toBe(true);
    expect((declined.content as { text: string }[])[0]!.text).toMatch(/declined.*Nothing changed/s);
    // the question named the pass, its template and its holder
    expect(questions[0]).toContain(pass.serialNumber);
    expect(questions[0]).toContain('Member Card');
    expect(questions[0]).toContain('holder@example.com');
    const status = async () =>
      (await (await s.api(s.alpha.appKey, `${pass.path}/status`)).json()) as {
        status?: string;
        code?: string;
      };
    expect(await status()).toEqual({ status: 'valid' });
    reply = { action: 'cancel' };
    expect((await client.callTool({ name: 'revoke_pass', arguments: ref })).isError).toBe(true);
    expect(await status()).toEqual({ status: 'valid' });
    reply = { action: 'accept', content: { confirm: false } };
    expect((await client.callTool({ name: 'revoke_pass', arguments: ref })).isError).toBe(true);
    expect(await status()).toEqual({ status: 'valid' });
    reply = { action: 'accept', content: { confirm: true } };
    const revoked = await client.callTool({ name: 'revoke_pass', arguments: ref });
    expect(revoked.structuredContent).toEqual({ status: 'invalid', voided: true });
    expect(await status()).toEqual({ status: 'invalid' });
    // reads are not questioned
    const asked = questions.length;
    await client.callTool({ name: 'get_pass_details', arguments: ref });
    expect(questions).toHaveLength(asked);
    // a client that cannot be asked gets the call run as made
    const plain = await httpClient(s.alpha.appKey);
    expect((await plain.callTool({ name: 'delete_pass', arguments: ref })).isError).toBeFalsy();
    expect((await status()).code).toBe('not_found');
  });

  it('asks how many passes a bulk change touches, and reports its progress to the end', async () => {
    const questions: string[] = [];
    const client = await httpClient(s.alpha.appKey, (message) => {
      questions.push(message);
      return { action: 'accept', content: { confirm: true } };
    });
    const tag = `bulk-${Date.now()}`;
    for (let i = 0; i < 3; i++) await createMemberPass(s, s.alpha, memberValues(), `?externalId=${tag}`);
    const progress: { progress: number; total?: number }[] = [];
    const result = await client.callTool(
      {
        name: 'update_passes_of_template',
        arguments: { templateId: s.alpha.templateId, filter: { externalId: tag }, values: { points: 7 } },
      },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, total: p.total }) },
    );
    expect(result.isError).toBeFalsy();
    expect(questions.at(-1)).toMatch(/points on 3 pass/);
    expect(result.structuredContent).toMatchObject({ status: 'done' });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.total).toBeGreaterThanOrEqual(3);
    const mine = await (await s.api(s.alpha.appKey, `/v1/passes?externalId=${tag}`)).json();
    for (const p of mine) {
      const values = await (
        await s.api(s.alpha.appKey, `/v1/passes/${p.passTypeIdentifier}/${p.serialNumber}/values`)
      ).json();
      expect(values.points).toBe(7);
    }
  });

  it("reports a template refresh's progress, re-rendering every pass of the template, to the end", async () => {
    const client = await httpClient(s.alpha.appKey);
    const progress: { progress: number; total?: number }[] = [];
    const result = await client.callTool(
      { name: 'update_template', arguments: { id: s.alpha.templateId, name: 'Member Card' } },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, total: p.total }) },
    );
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      id: s.alpha.templateId,
      jobId: expect.any(Number),
      status: 'done',
    });
    const passes = await (
      await s.api(s.alpha.appKey, `/v1/passes?templateId=${s.alpha.templateId}&limit=1000`)
    ).json();
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual({ progress: passes.length, total: passes.length });
    const job = await (
      await s.api(s.alpha.appKey, `/v1/jobs/${(result.structuredContent as { jobId: number }).jobId}`)
    ).json();
    expect(job).toMatchObject({ status: 'done' });
  });

  it('keeps a session to the key that opened it', async () => {
    const first = await request(`${s.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.alpha.appKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    expect(first.status).toBe(200);
    const session = first.headers.get('mcp-session-id')!;
    expect(session).toBeTruthy();
    await first.text();
    // another key naming that session gets nothing of it
    const other = await request(`${s.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await keyWith(['*'])}`,
        'mcp-session-id': session,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(other.status).toBe(404);
    expect((await other.json()).code).toBe('not_found');
  });

  it('refuses a call without a key (401) and answers GET with 405', async () => {
    const none = await request(`${s.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(none.status).toBe(401);
    expect((await none.json()).code).toBe('unauthorized');
    const get = await s.api(s.alpha.appKey, '/mcp');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});

describe(`MCP over stdio (passslot mcp) on ${TEST_DB}`, () => {
  it('serves the tools of the Passslot at PASSSLOT_URL, and its calls do the work there', async () => {
    const client = new Client({ name: 'passslot-test-stdio', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp'],
        env: { PASSSLOT_URL: s.url, PASSSLOT_API_KEY: await keyWith(['passes:read', 'passes:write']) },
        stderr: 'pipe',
      }),
    );
    clients.push(client);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('create_pass');
    expect(names).not.toContain('list_pass_templates');
    const created = await client.callTool({
      name: 'create_pass',
      arguments: { templateId: s.alpha.templateId, values: memberValues({ memberId: 'STDIO-1' }) },
    });
    expect(created.isError).toBeFalsy();
    const { serialNumber, passTypeIdentifier } = created.structuredContent as Record<string, string>;
    const values = await (
      await s.api(s.alpha.appKey, `/v1/passes/${passTypeIdentifier}/${serialNumber}/values`)
    ).json();
    expect(values.memberId).toBe('STDIO-1');
    const bad = await client.callTool({
      name: 'update_pass',
      arguments: { passTypeIdentifier, serialNumber },
    });
    expect(bad.isError).toBe(true);
    expect((bad.content as { text: string }[])[0]!.text).toMatch(/^values: /m);
  });
});
