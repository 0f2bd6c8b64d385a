// The execution log: every run of a mutating action from every edge, and every MCP tool call (reads included), with
// who ran it (credential, on whose behalf), what it touched and how it ended (written by execute in registry.ts).
// GET /v1/audit is the same records under their first name. The trail is a hash chain per account (store/audit.ts):
// verified by verify_audit_log, exported as JSON Lines for review. How each action fares: list_action_stats.
import { type Static, Type } from '@sinclair/typebox';
import type { Selectable } from 'kysely';
import { summarize } from '../store/action-stats.js';
import { verifyChain } from '../store/audit.js';
import type { AuditLogTable } from '../store/schema.js';
import { Cursor, keyOf, Limit, NextCursor, pageOf } from './paging.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import { Empty } from './schemas.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const Execution = Type.Object({
  id: Type.Integer(),
  createdAt: Type.String(),
  action: Type.String(),
  edge: Type.String({ description: 'where it was run from: rest, cli, mcp, job, page, wallet or trigger' }),
  keyId: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the app key; null for OAuth and Passslot itself',
  }),
  credential: Nullable(Type.String({ description: 'key:ID, oauth:CLIENT_ID/grant:ID, or system' })),
  onBehalfOf: Nullable(Type.String({ description: "the person's email, else the key's name, else system" })),
  requestId: Type.String(),
  target: Nullable(Type.String()),
  outcome: Type.Integer({ description: 'the status of the run, as HTTP would answer it' }),
  ok: Type.Boolean(),
  error: Nullable(Type.String({ description: "the error's message when it failed" })),
  durationMs: Type.Number(),
  input: Type.Unknown({ description: 'the input, secrets redacted' }),
  touched: Type.Union([
    Type.Object({ passes: Type.Array(Type.String()), templates: Type.Array(Type.Integer()) }),
    Type.Null(),
  ]),
  seq: Type.Union([Type.Integer(), Type.Null()], { description: 'position in the account’s hash chain' }),
  hash: Nullable(Type.String({ description: 'SHA-256 of this record and the one before it' })),
});
type Execution = Static<typeof Execution>;

function executionOf(r: Selectable<AuditLogTable>): Execution {
  return {
    id: r.id,
    createdAt: r.createdAt,
    action: r.action,
    edge: r.edge,
    keyId: r.keyId,
    credential: r.credential,
    onBehalfOf: r.onBehalfOf,
    requestId: r.requestId,
    target: r.target,
    outcome: r.outcome,
    ok: r.outcome < 400,
    error: r.error,
    durationMs: r.durationMs,
    input: r.input ? JSON.parse(r.input) : null,
    touched: r.touched ? JSON.parse(r.touched) : null,
    seq: r.seq,
    hash: r.hash,
  };
}

interface Filters {
  action?: string;
  edge?: string;
  keyId?: number;
  user?: string;
  outcome?: 'ok' | 'error';
  since?: string;
  limit?: number;
  cursor?: string;
}

/** A page of the account's records, newest first. */
async function page(ctx: ActionContext, f: Filters) {
  await ctx.app.audit.settled(); // what this process queued is in the page
  const limit = f.limit ?? 100;
  let q = ctx.app.db.selectFrom('auditLog').selectAll().where('accountId', '=', ctx.grant.accountId);
  if (f.action) q = q.where('action', '=', f.action);
  if (f.keyId !== undefined) q = q.where('keyId', '=', f.keyId);
  if (f.edge) q = q.where('edge', '=', f.edge);
  if (f.user) q = q.where('onBehalfOf', '=', f.user);
  if (f.outcome) q = q.where('outcome', f.outcome === 'ok' ? '<' : '>=', 400);
  if (f.since) q = q.where('createdAt', '>=', new Date(f.since).toISOString());
  const before = keyOf(f.cursor);
  if (before !== undefined) q = q.where('id', '<', before);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const { items, nextCursor } = pageOf(rows, limit, (r) => r.id);
  return { items: items.map(executionOf), nextCursor };
}

const common = {
  action: Type.Optional(Type.String({ maxLength: 100 })),
  edge: Type.Optional(
    Type.Union(
      ['rest', 'cli', 'mcp', 'job', 'page', 'wallet', 'trigger'].map((e) => Type.Literal(e)),
      {
        description: 'rest, cli, mcp, job, page or wallet',
      },
    ),
  ),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Limit,
  cursor: Cursor,
};

export const listExecutions = defineAction({
  name: 'list_executions',
  title: 'Read the execution log',
  description:
    'Lists what was done on the account, newest first: every run of an action that changes something, from every ' +
    'edge (REST, MCP, CLI, background jobs, Wallet, pass pages), and every MCP tool call. Each record names the ' +
    'action, the credential and on whose behalf it ran, the input (secrets redacted), the outcome and error, the ' +
    'duration, and the passes and templates it touched. Use it to answer "who changed this pass?" or "what did the ' +
    'agent do?". Filters: action, edge, user (an email or key name), outcome (ok or error), since.',
  scope: 'audit:read',
  mutates: false,
  input: Type.Object({
    ...common,
    user: Type.Optional(Type.String({ maxLength: 320, description: "a person's email or a key's name" })),
    outcome: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('error')])),
  }),
  output: Type.Object({ executions: Type.Array(Execution), nextCursor: NextCursor }),
  async handler(ctx, input) {
    const { items, nextCursor } = await page(ctx, input);
    return { executions: items, nextCursor };
  },
});

export const listAudit = defineAction({
  name: 'list_audit_log',
  title: 'Read the audit log',
  description:
    'The execution log under its first name (list_executions has more filters): the runs of actions that change ' +
    'something, and every MCP tool call, newest first.',
  scope: 'audit:read',
  mutates: false,
  input: Type.Object({ ...common, keyId: Type.Optional(Type.Integer()) }),
  output: Type.Object({ entries: Type.Array(Execution), nextCursor: NextCursor }),
  async handler(ctx, input) {
    const { items, nextCursor } = await page(ctx, input);
    return { entries: items, nextCursor };
  },
});

export const exportAuditLog = defineAction({
  name: 'export_audit_log',
  title: 'Export the audit trail',
  description:
    'The account’s audit trail as JSON Lines, oldest first, each record with its position in the hash chain, the ' +
    'hash of the record before it and its own: for review and sign-off, and to check the chain outside Passslot.',
  scope: 'audit:read',
  mutates: false,
  answers: 'bytes',
  input: Type.Object({
    since: Type.Optional(Type.String({ format: 'date-time' })),
    until: Type.Optional(Type.String({ format: 'date-time' })),
  }),
  output: FileOut,
  async handler(ctx, input) {
    await ctx.app.audit.settled();
    const lines: string[] = [];
    let after = 0;
    for (;;) {
      let q = ctx.app.db
        .selectFrom('auditLog')
        .selectAll()
        .where('accountId', '=', ctx.grant.accountId)
        .where('seq', '>', after);
      if (input.since) q = q.where('createdAt', '>=', new Date(input.since).toISOString());
      if (input.until) q = q.where('createdAt', '<', new Date(input.until).toISOString());
      const rows = await q.orderBy('seq').limit(1000).execute();
      for (const r of rows) lines.push(JSON.stringify({ ...executionOf(r), prevHash: r.prevHash }));
      if (rows.length < 1000) break;
      after = rows[rows.length - 1]!.seq!;
    }
    return {
      contentType: 'application/x-ndjson; charset=utf-8',
      filename: `audit-${ctx.grant.accountId}-${ctx.app.clock.now().toISOString().slice(0, 10)}.jsonl`,
      data: new TextEncoder().encode(lines.map((l) => `${l}\n`).join('')),
    };
  },
});

export const verifyAuditLog = defineAction({
  name: 'verify_audit_log',
  title: 'Verify the audit trail',
  description:
    'Checks the account’s hash chain from its first record: every record’s hash matches its content and links to ' +
    'the one before, and none is missing at the end. Answers how many records hold, and the first broken one.',
  scope: 'audit:read',
  mutates: false,
  input: Empty,
  output: Type.Object({
    ok: Type.Boolean(),
    records: Type.Integer({ description: 'records verified before the first break (all of them when ok)' }),
    broken: Type.Union([
      Type.Object({ seq: Type.Integer(), id: Type.Integer(), reason: Type.String() }),
      Type.Null(),
    ]),
  }),
  async handler(ctx) {
    await ctx.app.audit.settled(); // what this process queued is written first
    const { rows, broken } = await verifyChain(ctx.app.db, ctx.grant.accountId);
    return {
      ok: !broken,
      records: rows,
      broken: broken ? { seq: broken.seq, id: broken.id, reason: broken.reason } : null,
    };
  },
});

export const listActionStats = defineAction({
  name: 'list_action_stats',
  title: 'How actions fare',
  description:
    'Each action run on the account over the last 24 hours (from every edge, reads included): calls, errors, error ' +
    'rate, and the median and 95th percentile duration in milliseconds (estimated from duration buckets), with the ' +
    'calls per edge. Use it to spot an integration that fails or slows down.',
  scope: 'audit:read',
  mutates: false,
  input: Type.Object({
    hours: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 24 * 31, default: 24, description: 'the window, default 24' }),
    ),
  }),
  output: Type.Object({
    since: Type.String(),
    actions: Type.Array(
      Type.Object({
        action: Type.String(),
        calls: Type.Integer(),
        errors: Type.Integer(),
        errorRate: Type.Number(),
        p50Ms: Type.Union([Type.Number(), Type.Null()]),
        p95Ms: Type.Union([Type.Number(), Type.Null()]),
        edges: Type.Record(Type.String(), Type.Integer()),
      }),
    ),
  }),
  async handler(ctx, input) {
    await ctx.app.stats.flush(); // this process's latest runs count too
    const since = new Date(ctx.app.clock.now().getTime() - (input.hours ?? 24) * 3600_000);
    return { since: since.toISOString(), actions: await summarize(ctx.app.db, ctx.grant.accountId, since) };
  },
});

export const auditActions = [listExecutions, listAudit, exportAuditLog, verifyAuditLog, listActionStats];
