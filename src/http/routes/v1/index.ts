// PassSlot's v1 REST API (and Passslot's additions in the same style): every route runs one action, and
// POST /v1/actions/:name runs any of them by name.
import type { FastifyInstance } from 'fastify';
import type { App } from '../../../app.js';
import { closeStreams } from '../../../events/stream.js';
import { type RouteSpec, registerRoutes } from '../route.js';
import { eventRoutes } from './events.js';
import { googleRoutes } from './google.js';
import { keyRoutes } from './keys.js';
import { passRoutes } from './passes.js';
import { passTypeRoutes } from './passtypes.js';
import { registerRunRoute } from './run.js';
import { scannerRoutes } from './scanners.js';
import { templateRoutes } from './templates.js';

/** Every v1 route and the action it runs (the scope test and the OpenAPI document read this table too). */
export const v1RouteSpecs: readonly RouteSpec[] = [
  ...passRoutes,
  ...templateRoutes,
  ...passTypeRoutes,
  ...scannerRoutes,
  ...keyRoutes,
  ...eventRoutes,
  ...googleRoutes,
];

export async function v1Routes(api: FastifyInstance, app: App): Promise<void> {
  registerRoutes(api, app, v1RouteSpecs);
  // any callable action by name (the SDK's transport), through the same door
  registerRunRoute(api, app, v1RouteSpecs);
  api.addHook('preClose', async () => closeStreams(app));
  api.get('/v1/openapi.json', { schema: { hide: true } }, async () => api.swagger());
}
