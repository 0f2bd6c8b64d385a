// The audit log: every run of a mutating action, from every edge (written by execute in registry.ts).
import { Type } from '@sinclair/typebox';
import { Cursor, keyOf, Limit, NextCursor, pageOf } from './paging.js';
import { defineAction } from './registry.js';

const AuditEntry = Type.Object({
  id: Type.Integer(),
  keyId: Type.Union([Type.Integer(), Type.Null()], { description: 'the app key; null for Passslot itself' }),
  edge: Type.String({ description: 'where the action was run from: rest, cli, mcp, job, page or wallet' }),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Integer({ description: 'the status of the run, as HTTP would answer it' }),
  durationMs: Type.Number(),
  requestId: Type.String(),
  input: Type.Unknown(),
  createdAt: Type.String(),
});

export const listAudit = defineAction({
  name: 'list_audit_log',
  title: 'Read the audit log',
  description:
    'Lists the runs of mutating actions on the account, newest first, from every edge (REST, CLI, MCP, jobs, pages, ' +
    'Wallet), and every MCP tool call, reads included: key, edge, action, target, outcome, duration, request id and ' +
    'input (secrets redacted).',
  scope: 'audit:read',
  mutates: false,
  input: Type.Object({
    action: Type.Optional(Type.String({ maxLength: 100 })),
    keyId: Type.Optional(Type.Integer()),
    edge: Type.Optional(Type.String({ maxLength: 20 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Limit,
    cursor: Cursor,
  }),
  output: Type.Object({
    entries: Type.Array(AuditEntry),
    nextCursor: NextCursor,
  }),
  async handler(ctx, input) {
    const limit = input.limit ?? 100;
    let q = ctx.app.db.selectFrom('auditLog').selectAll().where('accountId', '=', ctx.grant.accountId);
    if (input.action) q = q.where('action', '=', input.action);
    if (input.keyId !== undefined) q = q.where('keyId', '=', input.keyId);
    if (input.edge) q = q.where('edge', '=', input.edge);
    if (input.since) q = q.where('createdAt', '>=', new Date(input.since).toISOString());
    const before = keyOf(input.cursor);
    if (before !== undefined) q = q.where('id', '<', before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const { items, nextCursor } = pageOf(rows, limit, (r) => r.id);
    return {
      entries: items.map(({ accountId: _a, input: raw, ...r }) => ({
        ...r,
        input: raw ? JSON.parse(raw) : null,
      })),
      nextCursor,
    };
  },
});

export const auditActions = [listAudit];
