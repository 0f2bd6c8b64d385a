// The execution log: who did what from which edge, on whose behalf, what it touched and how it ended; the audit trail
// as a hash chain that names the first record changed or removed; how each action fares (GET /v1/actions) and the
// Prometheus figures (/metrics, guarded by PASSSLOT_METRICS_TOKEN).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemberPass, request, startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;
const METRICS_TOKEN = 'metrics-secret-0123456789';

let s: TestServer;
let pass: { passTypeIdentifier: string; serialNumber: string; path: string };
let agentKey: string;

type Execution = {
  id: number;
  action: string;
  edge: string;
  credential: string;
  onBehalfOf: string;
  outcome: number;
  ok: boolean;
  error: string | null;
  touched: { passes: string[]; templates: number[] } | null;
  seq: number;
  hash: string;
  prevHash?: string;
  input: unknown;
};

const executions = async (query: string): Promise<Execution[]> => {
  const res = await s.api(s.alpha.appKey, `/v1/executions${query}`);
  expect(res.status).toBe(200);
  return (await res.json()).executions;
};

describe(`execution log (${TEST_DB})`, () => {
  beforeAll(async () => {
    s = await startServer({ env: { PASSSLOT_METRICS_TOKEN: METRICS_TOKEN } });
    pass = await createMemberPass(s, s.alpha);
    const key = await s.api(s.alpha.appKey, '/v1/keys', {
      method: 'POST',
      json: { name: 'support agent', scopes: ['passes:read', 'passes:write'] },
    });
    agentKey = (await key.json()).key;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('records each change with its credential, on whose behalf, input, outcome and the passes it touched', async () => {
    const ok = await s.api(agentKey, `${pass.path}/values`, { method: 'PUT', json: { points: 42 } });
    expect(ok.status).toBe(200);
    const bad = await s.api(agentKey, `${pass.path}/values`, {
      method: 'PUT',
      json: { points: { nested: true } },
    });
    expect(bad.status).toBe(422);
    await s.app.audit.close();
    const runs = await executions('?action=update_pass&user=support%20agent');
    expect(runs).toHaveLength(2);
    const [failed, done] = runs;
    expect(done).toMatchObject({
      edge: 'rest',
      credential: expect.stringMatching(/^key:\d+$/),
      onBehalfOf: 'support agent',
      outcome: 200,
      ok: true,
      error: null,
      input: {
        passTypeIdentifier: pass.passTypeIdentifier,
        serialNumber: pass.serialNumber,
        values: { points: 42 },
      },
      touched: { passes: [`${pass.passTypeIdentifier}/${pass.serialNumber}`], templates: [] },
    });
    expect(failed).toMatchObject({ outcome: 422, ok: false, error: expect.stringContaining('') });
    expect(failed!.error!.length).toBeGreaterThan(0);
    // filters: outcome and edge
    expect((await executions('?outcome=error')).every((e) => !e.ok)).toBe(true);
    expect((await executions('?outcome=error')).map((e) => e.id)).toContain(failed!.id);
    expect((await executions('?edge=mcp')).length).toBe(0);
    // a bad filter is a field error
    const wrong = await s.api(s.alpha.appKey, '/v1/executions?edge=fax');
    expect(wrong.status).toBe(422);
    expect((await wrong.json()).errors[0].field).toBe('edge');
    // the audit log is a view of the same records
    const audit = await (await s.api(s.alpha.appKey, '/v1/audit?action=update_pass')).json();
    expect(audit.entries.map((e: Execution) => e.id)).toEqual(runs.map((e) => e.id));
    // a created pass is touched by its creation
    const created = (await executions('?action=create_pass'))[0]!;
    expect(created.touched!.passes).toEqual([`${pass.passTypeIdentifier}/${pass.serialNumber}`]);
    expect(created.touched!.templates).toEqual([s.alpha.templateId]);
  });

  it('records every MCP tool call, reads included, and serves the log as the list_executions tool', async () => {
    const client = new Client({ name: 'exec-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${s.alpha.appKey}` } },
      }),
    );
    const read = await client.callTool({
      name: 'get_pass_details',
      arguments: { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber },
    });
    expect(read.isError).toBeFalsy();
    await s.app.audit.close();
    const listed = await client.callTool({ name: 'list_executions', arguments: { edge: 'mcp', limit: 5 } });
    await client.close();
    const mcpRuns = (listed.structuredContent as { executions: Execution[] }).executions;
    expect(mcpRuns[0]).toMatchObject({
      action: 'get_pass_details',
      edge: 'mcp',
      onBehalfOf: 'initial key',
      touched: { passes: [`${pass.passTypeIdentifier}/${pass.serialNumber}`] },
    });
  });

  it('records the operator at the CLI as system', async () => {
    const env = {
      ...process.env,
      PASSSLOT_DATA_DIR: s.dataDir,
      ...(s.app.config.databaseUrl ? { DATABASE_URL: s.app.config.databaseUrl } : {}),
      PASSSLOT_LOG_LEVEL: 'silent',
    };
    await promisify(execFile)('node', [BIN, 'keys', 'create', '--account', 'alpha', '--name', 'from cli'], {
      env,
    });
    const [run] = await executions('?action=create_app_key&edge=cli');
    expect(run).toMatchObject({ credential: 'system', onBehalfOf: 'system', outcome: 200 });
  });

  it('chains the trail: the export links each record to the one before, and verification holds', async () => {
    const res = await s.api(s.alpha.appKey, '/v1/audit/export');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Execution);
    expect(lines.length).toBeGreaterThan(4);
    lines.forEach((l, i) => {
      expect(l.seq).toBe(i + 1);
      expect(l.prevHash).toBe(i === 0 ? '0'.repeat(64) : lines[i - 1]!.hash);
      expect(l.hash).toMatch(/^[0-9a-f]{64}$/);
    });
    expect(await (await s.api(s.alpha.appKey, '/v1/audit/verify')).json()).toEqual({
      ok: true,
      records: lines.length,
      broken: null,
    });
  });

  it('names the first record changed after it was written, and records removed at the end', async () => {
    const beta = await s.account('beta-audit');
    for (const points of [1, 2, 3]) {
      const p = await createMemberPass(s, beta);
      await s.api(beta.appKey, `${p.path}/values`, { method: 'PUT', json: { points } });
    }
    await s.app.audit.close();
    const verify = async () => (await s.api(beta.appKey, '/v1/audit/verify')).json();
    expect((await verify()).ok).toBe(true);
    const rows = await s.app.db
      .selectFrom('auditLog')
      .selectAll()
      .where('accountId', '=', beta.accountId)
      .orderBy('seq')
      .execute();
    const victim = rows[2]!;
    // someone edits a record in the database: the input says another value
    await s.app.db
      .updateTable('auditLog')
      .set({ input: JSON.stringify({ points: 999 }) })
      .where('id', '=', victim.id)
      .execute();
    expect(await verify()).toMatchObject({ ok: false, records: 2, broken: { seq: 3, id: victim.id } });
    const env = {
      ...process.env,
      PASSSLOT_DATA_DIR: s.dataDir,
      ...(s.app.config.databaseUrl ? { DATABASE_URL: s.app.config.databaseUrl } : {}),
      PASSSLOT_LOG_LEVEL: 'silent',
    };
    const cli = promisify(execFile)('node', [BIN, 'audit', 'verify', '--account', 'beta-audit'], { env });
    await expect(cli).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringContaining('BROKEN at record 3'),
    });
    const alphaOk = await promisify(execFile)('node', [BIN, 'audit', 'verify', '--account', 'alpha'], {
      env,
    });
    expect(alphaOk.stdout).toContain('the chain holds');
    // put it back, then remove the last record instead
    await s.app.db.updateTable('auditLog').set({ input: victim.input }).where('id', '=', victim.id).execute();
    expect((await verify()).ok).toBe(true);
    await s.app.db
      .deleteFrom('auditLog')
      .where('id', '=', rows[rows.length - 1]!.id)
      .execute();
    expect(await verify()).toMatchObject({
      ok: false,
      broken: { reason: expect.stringContaining('removed') },
    });
  });

  it('tells how each action fares over the last day, reads included', async () => {
    for (let i = 0; i < 5; i++) expect((await s.api(agentKey, `${pass.path}/values`)).status).toBe(200);
    const missing = await s.api(agentKey, `/v1/passes/${pass.passTypeIdentifier}/nope/values`);
    expect(missing.status).toBe(404);
    const stats = await (await s.api(s.alpha.appKey, '/v1/actions')).json();
    const values = stats.actions.find((a: { action: string }) => a.action === 'get_pass_values');
    expect(values.calls).toBe(6);
    expect(values.errors).toBe(1);
    expect(values.errorRate).toBeCloseTo(1 / 6, 3);
    expect(values.edges).toEqual({ rest: 6 });
    expect(values.p50Ms).toBeGreaterThan(0);
    expect(values.p95Ms).toBeGreaterThanOrEqual(values.p50Ms);
    const update = stats.actions.find((a: { action: string }) => a.action === 'update_pass');
    expect(update).toMatchObject({ calls: 2, errors: 1 });
  });

  it('serves Prometheus metrics per action and edge, only with the metrics token', async () => {
    expect((await request(`${s.url}/metrics`)).status).toBe(401);
    expect((await request(`${s.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
      401,
    );
    const res = await request(`${s.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/passslot_action_runs_total\{action="get_pass_values",edge="rest",outcome="ok"\} 5/);
    expect(text).toMatch(
      /passslot_action_runs_total\{action="get_pass_values",edge="rest",outcome="error"\} 1/,
    );
    expect(text).toMatch(
      /passslot_action_duration_seconds_bucket\{le="0.001",action="update_pass",edge="rest"\}/,
    );
  });
});
