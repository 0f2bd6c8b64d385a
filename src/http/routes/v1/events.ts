// Events (the feed, one event, the live stream), webhooks and CRM integrations with their delivery logs.
import type { FastifyRequest } from 'fastify';
import { int, num, params, query, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const filter = (req: FastifyRequest) => {
  const q = query(req);
  return { type: q.type, passTypeIdentifier: q.passTypeIdentifier, serialNumber: q.serialNumber };
};

/** Webhooks and integrations are both delivery targets, with the same routes. */
function targetRoutes(base: string, kind: 'webhook' | 'integration', tag: string): RouteSpec[] {
  const id = (req: FastifyRequest) => ({ id: int(params(req).id) });
  return [
    { method: 'GET', url: base, action: `list_${kind}s`, tag, input: () => ({}) },
    {
      method: 'POST',
      url: base,
      action: `create_${kind}`,
      tag,
      reply: 'created',
      input: (req) => requireBody(req.body),
    },
    { method: 'GET', url: `${base}/:id`, action: `get_${kind}`, tag, input: id },
    {
      method: 'PUT',
      url: `${base}/:id`,
      action: `update_${kind}`,
      tag,
      input: (req) => ({ ...requireBody(req.body), ...id(req) }),
    },
    { method: 'DELETE', url: `${base}/:id`, action: `delete_${kind}`, tag, reply: 'empty', input: id },
    {
      method: 'GET',
      url: `${base}/:id/deliveries`,
      action: `list_${kind}_deliveries`,
      tag,
      reply: { list: 'deliveries' },
      input: (req) => {
        const q = query(req);
        return { ...id(req), status: q.status, limit: num(q.limit), cursor: q.cursor };
      },
    },
    {
      method: 'POST',
      url: `${base}/:id/deliveries/:deliveryId/retry`,
      action: `retry_${kind}_delivery`,
      tag,
      input: (req) => ({ ...id(req), deliveryId: int(params(req).deliveryId) }),
    },
    {
      method: 'POST',
      url: `${base}/:id/replay`,
      action: `replay_${kind}`,
      tag,
      input: (req) => ({ ...requireBody(req.body), ...id(req) }),
    },
  ];
}

export const eventRoutes: RouteSpec[] = [
  {
    method: 'GET',
    url: '/v1/events',
    action: 'list_events',
    tag: 'events',
    reply: { list: 'events' },
    input: (req) => {
      const q = query(req);
      return { ...filter(req), since: q.since, limit: num(q.limit), cursor: q.cursor };
    },
  },
  {
    method: 'GET',
    url: '/v1/events/stream',
    action: 'stream_events',
    tag: 'events',
    input: (req) => ({ ...filter(req), lastEventId: req.headers['last-event-id'] ?? query(req).lastEventId }),
  },
  {
    method: 'GET',
    url: '/v1/events/:id',
    action: 'get_event',
    tag: 'events',
    input: (req) => ({ id: params(req).id }),
  },
  ...targetRoutes('/v1/webhooks', 'webhook', 'webhooks'),
  {
    method: 'POST',
    url: '/v1/webhooks/:id/rotate-secret',
    action: 'rotate_webhook_secret',
    tag: 'webhooks',
    input: (req) => ({ id: int(params(req).id) }),
  },
  ...targetRoutes('/v1/integrations', 'integration', 'integrations'),
];
