// Scanners: the devices or browsers allowed to redeem passes, and the scans they make at the door.
import type { FastifyRequest } from 'fastify';
import { int, params, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const intId = (req: FastifyRequest) => ({ id: int(params(req).id) });
const body = (req: FastifyRequest) => requireBody(req.body);

export const scannerRoutes: RouteSpec[] = [
  { method: 'POST', url: '/v1/scans', action: 'scan_barcode', tag: 'scanners', input: body },
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
  {
    method: 'POST',
    url: '/v1/scanners/:id/keys',
    action: 'create_scanner_key',
    tag: 'scanners',
    reply: 'created',
    input: intId,
  },
];
