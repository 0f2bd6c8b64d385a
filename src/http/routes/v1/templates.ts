// Templates: list, create, read, change, delete, their link, restrictions and funnel, and their images; and the
// account's funnel.
import type { FastifyRequest } from 'fastify';
import { int, params, query, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';
import { imageRoutes } from './passes.js';

const tag = 'templates';
const id = (req: FastifyRequest) => ({ id: int(params(req).id) });
const windowOf = (req: FastifyRequest) => ({
  from: query(req).from,
  to: query(req).to,
  interval: query(req).interval,
});

export const templateRoutes: RouteSpec[] = [
  { method: 'GET', url: '/v1/templates', action: 'list_pass_templates', tag, input: () => ({}) },
  {
    method: 'POST',
    url: '/v1/templates',
    action: 'create_template',
    tag,
    reply: 'created',
    input: (req) => requireBody(req.body),
  },
  {
    method: 'POST',
    url: '/v1/templates/preview',
    action: 'preview_template',
    tag,
    input: (req) => requireBody(req.body),
  },
  { method: 'GET', url: '/v1/templates/:id', action: 'get_template', tag, input: id },
  {
    method: 'PUT',
    url: '/v1/templates/:id',
    action: 'update_template',
    tag,
    input: (req) => {
      const { id: _ignored, ...body } = requireBody(req.body);
      return { ...body, ...id(req) };
    },
  },
  { method: 'DELETE', url: '/v1/templates/:id', action: 'delete_template', tag, reply: 'empty', input: id },
  { method: 'GET', url: '/v1/templates/:id/url', action: 'get_template_url', tag, input: id },
  {
    method: 'GET',
    url: '/v1/templates/:id/stats',
    action: 'get_template_stats',
    tag,
    input: (req) => ({ ...id(req), ...windowOf(req) }),
  },
  { method: 'GET', url: '/v1/templates/:id/form', action: 'get_template_form', tag, input: id },
  {
    method: 'PUT',
    url: '/v1/templates/:id/form',
    action: 'set_template_form',
    tag,
    input: (req) => ({ ...requireBody(req.body), ...id(req) }),
  },
  { method: 'GET', url: '/v1/templates/:id/messages', action: 'get_template_messages', tag, input: id },
  {
    method: 'PUT',
    url: '/v1/templates/:id/messages',
    action: 'set_template_messages',
    tag,
    input: (req) => ({ ...requireBody(req.body), ...id(req) }),
  },
  {
    method: 'GET',
    url: '/v1/templates/:id/localizations',
    action: 'get_template_localizations',
    tag,
    input: id,
  },
  {
    method: 'PUT',
    url: '/v1/templates/:id/localizations',
    action: 'set_template_localizations',
    tag,
    input: (req) => ({ ...requireBody(req.body), ...id(req) }),
  },
  { method: 'GET', url: '/v1/stats', action: 'get_account_stats', tag: 'passes', input: windowOf },
  {
    method: 'GET',
    url: '/v1/templates/:id/restrictions',
    action: 'get_template_restrictions',
    tag,
    input: id,
  },
  {
    method: 'PUT',
    url: '/v1/templates/:id/restrictions',
    action: 'set_template_restrictions',
    tag,
    input: (req) => ({ ...requireBody(req.body), ...id(req) }),
  },
  ...imageRoutes('/v1/templates/:id', 'template', tag, (req) => ({ templateId: int(params(req).id) })),
];
