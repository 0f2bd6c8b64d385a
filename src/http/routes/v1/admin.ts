// Pass types and the APNs key, scanners, app keys and the audit log.
import type { FastifyRequest } from 'fastify';
import { int, num, params, query, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const intId = (req: FastifyRequest) => ({ id: int(params(req).id) });
const textId = (req: FastifyRequest) => ({ id: params(req).id });
const body = (req: FastifyRequest) => requireBody(req.body);

export const passTypeRoutes: RouteSpec[] = [
  { method: 'GET', url: '/v1/passtypes', action: 'get_pass_types', tag: 'passtypes', input: () => ({}) },
  { method: 'GET', url: '/v1/passtypes/:id', action: 'get_pass_type', tag: 'passtypes', input: textId },
  {
    method: 'POST',
    url: '/v1/passtypes',
    action: 'create_pass_type',
    tag: 'passtypes',
    reply: 'created',
    input: body,
  },
  {
    method: 'PUT',
    url: '/v1/passtypes/:id',
    action: 'update_pass_type',
    tag: 'passtypes',
    input: (req) => ({ ...body(req), ...textId(req) }),
  },
  {
    method: 'DELETE',
    url: '/v1/passtypes/:id',
    action: 'delete_pass_type',
    tag: 'passtypes',
    reply: 'empty',
    input: textId,
  },
  { method: 'PUT', url: '/v1/apns-key', action: 'set_apns_key', tag: 'passtypes', input: body },
  {
    method: 'DELETE',
    url: '/v1/apns-key',
    action: 'delete_apns_key',
    tag: 'passtypes',
    reply: 'empty',
    input: () => ({}),
  },
];

export const scannerRoutes: RouteSpec[] = [
  { method: 'GET', url: '/v1/scanners', action: 'list_scanners', tag: 'scanners', input: () => ({}) },
  {
    method: 'POST',
    url: '/v1/scanners',
    action: 'create_scanner',
    tag: 'scanners',
    reply: 'created',
    input: body,
  },
  { method: 'GET', url: '/v1/scanners/:id', action: 'get_scanner', tag: 'scanners', input: intId },
  {
    method: 'PUT',
    url: '/v1/scanners/:id',
    action: 'update_scanner',
    tag: 'scanners',
    input: (req) => ({ ...body(req), ...intId(req) }),
  },
  {
    method: 'DELETE',
    url: '/v1/scanners/:id',
    action: 'delete_scanner',
    tag: 'scanners',
    reply: 'empty',
    input: intId,
  },
];

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
];
