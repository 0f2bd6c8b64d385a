// App keys, OAuth grants, the execution log (and audit trail), and how actions fare.
import type { FastifyRequest } from 'fastify';
import { int, num, params, query, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const intId = (req: FastifyRequest) => ({ id: int(params(req).id) });
const body = (req: FastifyRequest) => requireBody(req.body);

export const keyRoutes: RouteSpec[] = [
  { method: 'GET', url: '/v1/keys', action: 'list_app_keys', tag: 'keys', input: () => ({}) },
  { method: 'POST', url: '/v1/keys', action: 'create_app_key', tag: 'keys', reply: 'created', input: body },
  { method: 'POST', url: '/v1/keys/:id/rotate', action: 'rotate_app_key', tag: 'keys', input: intId },
  {
    method: 'DELETE',
    url: '/v1/keys/:id',
    action: 'revoke_app_key',
    tag: 'keys',
    reply: 'empty',
    input: intId,
  },
  { method: 'GET', url: '/v1/oauth/grants', action: 'list_oauth_grants', tag: 'keys', input: () => ({}) },
  {
    method: 'DELETE',
    url: '/v1/oauth/grants/:id',
    action: 'revoke_oauth_grant',
    tag: 'keys',
    reply: 'empty',
    input: intId,
  },
  {
    method: 'GET',
    url: '/v1/executions',
    action: 'list_executions',
    tag: 'audit',
    input: (req) => {
      const q = query(req);
      return {
        action: q.action,
        edge: q.edge,
        user: q.user,
        outcome: q.outcome,
        since: q.since,
        limit: num(q.limit),
        cursor: q.cursor,
      };
    },
  },
  {
    method: 'GET',
    url: '/v1/audit',
    action: 'list_audit_log',
    tag: 'audit',
    input: (req) => {
      const q = query(req);
      return {
        action: q.action,
        keyId: num(q.keyId),
        edge: q.edge,
        since: q.since,
        limit: num(q.limit),
        cursor: q.cursor,
      };
    },
  },
  {
    method: 'GET',
    url: '/v1/audit/export',
    action: 'export_audit_log',
    tag: 'audit',
    input: (req) => ({ since: query(req).since, until: query(req).until }),
  },
  { method: 'GET', url: '/v1/audit/verify', action: 'verify_audit_log', tag: 'audit', input: () => ({}) },
  {
    method: 'GET',
    url: '/v1/actions',
    action: 'list_action_stats',
    tag: 'audit',
    input: (req) => ({ hours: num(query(req).hours) }),
  },
];
