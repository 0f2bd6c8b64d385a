// Pass types (Apple certificates) and the account's APNs key.
import type { FastifyRequest } from 'fastify';
import { params, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

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
