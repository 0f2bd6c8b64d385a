// The Fastify application: the plugins (body parsers, errors, app key auth and rate limits), OpenAPI, and the routes:
// PassSlot's v1 API, the public pass pages, Apple's pass web service and the inbound hooks (Stripe, Twilio).
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { App } from '../app.js';
import { safeEqual } from '../auth/tokens.js';
import { codeOfStatus } from '../errors.js';
import { serverWithFastPath } from './fast-path.js';
import { authAndLimits } from './plugins/auth.js';
import { errorHandlers } from './plugins/errors.js';
import { parsers } from './plugins/parsers.js';
import { lazyRequestLogger } from './request-logger.js';
import { formRoutes } from './routes/forms.js';
import { hookRoutes } from './routes/hooks.js';
import { mcpRoutes } from './routes/mcp.js';
import { oauthRoutes } from './routes/oauth.js';
import { publicRoutes } from './routes/public.js';
import { v1Routes } from './routes/v1/index.js';
import { walletRoutes } from './routes/wallet.js';
import { webRoutes } from './routes/web.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The action a route runs. */
    action?: string;
  }
}

const MAX_BODY = 12 * 1024 * 1024;

export interface ServerOptions {
  /** True once the process was asked to stop: /readyz answers 503 so that the load balancer sends nothing new. */
  draining?: () => boolean;
}

/**
 * The HTTP server of the process's role: everything, or for a worker (PASSSLOT_ROLE=worker) only its health and
 * metrics.
 */
export async function buildServer(app: App, options: ServerOptions = {}): Promise<FastifyInstance> {
  const fastify = Fastify({
    loggerInstance: app.log as FastifyBaseLogger,
    bodyLimit: MAX_BODY,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    childLoggerFactory: lazyRequestLogger,
    routerOptions: { maxParamLength: 500 },
    serverFactory: serverWithFastPath(app),
    // what Fastify refuses before routing (a URL that is not valid percent-encoded UTF-8) answers in the one error shape
    frameworkErrors: (error, _req, reply) =>
      (reply as unknown as FastifyReply)
        .status(400)
        .type('application/json; charset=utf-8')
        .send({ message: `The request cannot be read: ${error.message}`, code: 'bad_request' }),
    // what Node's HTTP parser refuses (headers or URL over 16 KB, a client too slow, bytes that are not HTTP)
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const [status, text, message] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'The URL and headers are larger than the 16 KB limit']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'The request took too long to arrive']
            : [400, 'Bad Request', 'The request is not valid HTTP'];
      const body = JSON.stringify({ message, code: codeOfStatus(status) });
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  // Validation happens in the actions (one schema, one error shape); routes declare schemas for OpenAPI only.
  fastify.setValidatorCompiler(() => () => true);
  fastify.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await parsers(fastify);
  errorHandlers(fastify, MAX_BODY);

  // liveness: the process answers and reaches its database
  fastify.get('/healthz', { schema: { hide: true } }, async () => {
    await app.db.selectFrom('accounts').select('id').limit(1).execute();
    return {
      status: 'ok',
      role: app.config.role,
      renderThreads: app.renderer.threads,
      pushThread: app.apns.threaded,
      node: app.bus.nodeId,
      nodes: app.bus.nodes().length,
      caching: app.bus.fresh(),
    };
  });
  // readiness: send it requests (fails while draining, and while the database does not answer)
  fastify.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (options.draining?.())
      return reply
        .status(503)
        .send({ status: 'draining', message: 'this process is stopping', code: 'unavailable' });
    try {
      await app.db.selectFrom('accounts').select('id').limit(1).execute();
    } catch {
      return reply
        .status(503)
        .send({ status: 'unready', message: 'the database does not answer', code: 'unavailable' });
    }
    return { status: 'ready' };
  });

  // Prometheus: runs and durations per action and edge, and the process's own figures
  fastify.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    const token = app.config.metricsToken;
    const presented = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token && !(presented && safeEqual(presented, token)))
      return reply.status(401).header('WWW-Authenticate', 'Bearer realm="metrics"').send({
        message: 'GET /metrics needs Authorization: Bearer PASSSLOT_METRICS_TOKEN',
        code: 'unauthorized',
      });
    return reply.type(app.stats.registry.contentType).send(await app.stats.registry.metrics());
  });

  if (app.config.role === 'worker') return fastify;

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Passslot API',
        version: '1',
        description:
          "PassSlot's v1 REST API, self-hosted, with additions (pass types, owners and search, details, revoke, notify, " +
          'keys, audit). Authenticate with your app key as HTTP Basic user and an empty password (curl -u KEY:), as the raw ' +
          'Authorization header, or as Bearer; or an OAuth 2.1 access token for /v1 as Bearer (see /.well-known/oauth-authorization-server). Errors are {"message", "code", "errors": [{"field", "reasons"}]}; the code is ' +
          'stable (not_found, validation_failed, missing_scope, restricted_key, rate_limited, ...).',
      },
      servers: [{ url: app.config.publicUrl }],
      components: {
        securitySchemes: {
          appKey: { type: 'http', scheme: 'basic' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ appKey: [] }, { bearer: [] }],
    },
  });
  await fastify.register(swaggerUi, { routePrefix: '/docs' });

  await fastify.register(async (api) => {
    authAndLimits(api, app);
    await v1Routes(api, app);
    await mcpRoutes(api, app);
  });
  await publicRoutes(fastify, app);
  await formRoutes(fastify, app);
  await oauthRoutes(fastify, app);
  await walletRoutes(fastify, app);
  await hookRoutes(fastify, app);
  await webRoutes(fastify, app);
  return fastify;
}
