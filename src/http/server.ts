// The Fastify application: body parsing as tolerant as PassSlot's clients need, one error shape, app key auth, rate
// limits, idempotency keys, the audit log, OpenAPI, and the routes.
import { createHash, randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Redis } from 'ioredis';
import type { Insertable } from 'kysely';
import type { App } from '../app.js';
import { AppError, badRequest } from '../errors.js';
import type { KeyGrant } from '../store/keys.js';
import { preparedRows } from '../store/prepared.js';
import type { AuditLogTable } from '../store/schema.js';
import { Authenticator } from './auth.js';
import { serverWithFastPath } from './fast-path.js';
import { type Hit, memoryCounter, rateLimitHeaders, redisCounter } from './rate-limit.js';
import { lazyRequestLogger } from './request-logger.js';
import { publicRoutes } from './routes/public.js';
import { v1Routes } from './routes/v1.js';
import { walletRoutes } from './routes/wallet.js';

declare module 'fastify' {
  interface FastifyRequest {
    grant: KeyGrant | null;
    idempotency: { key: string; hash: string } | null;
  }
  interface FastifyContextConfig {
    /** The action a route runs, for the audit log. */
    action?: string;
  }
}

const MAX_BODY = 12 * 1024 * 1024;
// Request fields never written to the audit log. (Not `key`: pass.json fields have keys, and no route takes a secret key.)
const SECRET_FIELDS =
  /^(password|passwordProtection|privateKey|p12|secret|token|certificate|wwdrCertificate)$/i;

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.test(k) ? '[redacted]' : redact(v)]),
    );
  return value;
}

function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`Malformed JSON body: ${(err as Error).message}`);
  }
}

const AUDIT_COLUMNS = [
  'accountId',
  'keyId',
  'action',
  'target',
  'outcome',
  'durationMs',
  'requestId',
  'input',
  'createdAt',
] as const;
type AuditRow = Pick<Insertable<AuditLogTable>, (typeof AUDIT_COLUMNS)[number]>;
const insertAudit = preparedRows('auditLog', AUDIT_COLUMNS);

export async function buildServer(app: App): Promise<FastifyInstance> {
  const fastify = Fastify({
    loggerInstance: app.log as FastifyBaseLogger,
    bodyLimit: MAX_BODY,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    childLoggerFactory: lazyRequestLogger,
    routerOptions: { maxParamLength: 500 },
    serverFactory: serverWithFastPath(app),
  });
  const auth = new Authenticator(app);
  fastify.decorate('authenticator', auth);
  fastify.decorateRequest('grant', null);
  fastify.decorateRequest('idempotency', null);

  // Validation happens in the actions (one schema, one error shape); routes declare schemas for OpenAPI only.
  fastify.setValidatorCompiler(() => () => true);
  fastify.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // PassSlot clients send JSON with any content type, empty bodies with a JSON content type, and `null`.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonText(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser(
    ['application/x-www-form-urlencoded', 'text/plain', '*'],
    { parseAs: 'string' },
    (req, body, done) => {
      const text = body as string;
      try {
        if (
          req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') &&
          !/^\s*[[{"n]/.test(text)
        )
          done(null, Object.fromEntries(new URLSearchParams(text)));
        else done(null, parseJsonText(text));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );
  await fastify.register(multipart, { limits: { fileSize: 5 * 1024 * 1024, files: 30, fields: 20 } });

  fastify.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      reply.headers(error.headers);
      return reply
        .status(error.status)
        .type('application/json; charset=utf-8')
        .send(
          error.errors.length ? { message: error.message, errors: error.errors } : { message: error.message },
        );
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const message =
        error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `The body is larger than the ${MAX_BODY} byte limit`
          : error.code === 'FST_REQ_FILE_TOO_LARGE'
            ? 'An uploaded file is larger than the 5 MB limit'
            : error.message;
      return reply.status(status).type('application/json; charset=utf-8').send({ message });
    }
    request.log.error({ err: error, requestId: request.id }, 'request failed');
    return reply
      .status(500)
      .type('application/json; charset=utf-8')
      .send({ message: 'Internal server error', requestId: request.id });
  });
  fastify.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .type('application/json; charset=utf-8')
      .send({ message: `No route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Passslot API',
        version: '1',
        description:
          "PassSlot's v1 REST API, self-hosted, with additions (pass types, owners and search, details, revoke, notify, " +
          'keys, audit). Authenticate with your app key as HTTP Basic user and an empty password (curl -u KEY:), as the raw ' +
          'Authorization header, or as Bearer. Errors are {"message", "errors": [{"field", "reasons"}]}.',
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

  fastify.get('/healthz', { schema: { hide: true } }, async () => {
    await app.db.selectFrom('accounts').select('id').limit(1).execute();
    return { status: 'ok', renderThreads: app.renderer.threads, pushThread: app.apns.threaded };
  });

  const redis = app.config.redisUrl
    ? new Redis(app.config.redisUrl, {
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        lazyConnect: false,
      })
    : undefined;
  if (redis) fastify.addHook('onClose', async () => void (await redis.quit()));

  await fastify.register(async (api) => {
    const counter = redis
      ? redisCounter(redis, (err) => app.log.warn({ err }, 'rate limit store unavailable'))
      : memoryCounter();
    /** The key's grant and its standing in the rate limit: headers, and 429 beyond it. */
    const admit = (request: FastifyRequest, reply: FastifyReply, grant: KeyGrant, hit: Hit): void => {
      request.grant = grant;
      const limit = grant.rateLimit ?? app.config.rateLimitPerMinute;
      reply.headers(rateLimitHeaders(limit, hit));
      if (hit.count > limit) {
        const seconds = Math.max(1, Math.ceil(hit.resetMs / 1000));
        throw new AppError(
          429,
          `Rate limit exceeded: ${limit} requests a minute; retry in ${seconds} seconds`,
          [],
          {
            'Retry-After': String(seconds),
          },
        );
      }
    };
    api.addHook('onRequest', (request, reply, done) => {
      // API clients get the request id to quote (the audit log and error answers carry it too)
      reply.header('X-Request-Id', request.id);
      if (request.url.startsWith('/v1/openapi.json')) return done();
      // a key seen in the last seconds, counted in memory: no promise to wait for
      const cached = auth.cached(request.headers.authorization);
      const hit = cached && counter.hitNow?.(`key:${cached.keyId}`, 60_000);
      if (cached && hit) {
        try {
          admit(request, reply, cached, hit);
        } catch (err) {
          return done(err as Error);
        }
        return done();
      }
      auth
        .authenticate(request)
        .then(async (grant) => admit(request, reply, grant, await counter.hit(`key:${grant.keyId}`, 60_000)))
        .then(() => done(), done);
    });

    // Idempotency-Key on POST: the same key and body within 24 h replays the first answer.
    const idempotencyCheck = async (request: FastifyRequest, reply: FastifyReply) => {
      const key = request.headers['idempotency-key'];
      if (request.method !== 'POST' || typeof key !== 'string' || !request.grant) return;
      if (key.length === 0 || key.length > 255)
        throw badRequest('Idempotency-Key must be 1 to 255 characters');
      const material = request.isMultipart()
        ? `${request.headers['content-type']}:${request.headers['content-length']}`
        : JSON.stringify(request.body ?? null);
      const hash = createHash('sha256').update(`${request.url}\n${material}`).digest('hex');
      const since = new Date(app.clock.now().getTime() - 86_400_000).toISOString();
      const row = await app.db
        .selectFrom('idempotencyKeys')
        .selectAll()
        .where('accountId', '=', request.grant.accountId)
        .where('key', '=', key)
        .where('createdAt', '>', since)
        .executeTakeFirst();
      if (row) {
        if (row.requestHash !== hash)
          throw new AppError(
            422,
            'This Idempotency-Key was used with a different request; use a new key for a new request',
          );
        return reply
          .status(row.statusCode)
          .type(row.contentType)
          .header('Idempotent-Replayed', 'true')
          .send(Buffer.from(row.body));
      }
      request.idempotency = { key, hash };
    };
    const idempotencyStore = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const idem = request.idempotency;
      if (!idem || !request.grant || reply.statusCode >= 500 || reply.getHeader('Idempotent-Replayed'))
        return payload;
      const body =
        typeof payload === 'string'
          ? Buffer.from(payload)
          : Buffer.isBuffer(payload)
            ? payload
            : Buffer.alloc(0);
      await app.db
        .insertInto('idempotencyKeys')
        .values({
          accountId: request.grant.accountId,
          key: idem.key,
          requestHash: idem.hash,
          statusCode: reply.statusCode,
          contentType: String(reply.getHeader('content-type') ?? 'application/json'),
          body,
          createdAt: app.clock.now().toISOString(),
        })
        .onConflict((oc) =>
          oc.columns(['accountId', 'key']).doUpdateSet({
            requestHash: idem.hash,
            statusCode: reply.statusCode,
            body,
            createdAt: app.clock.now().toISOString(),
          }),
        )
        .execute();
      return payload;
    };

    // The audit log: every mutating call, with its outcome.
    // Rows of answers that finish together are written in one statement (one commit on SQLite), after this turn of
    // the event loop: like one row each, after the answer was sent.
    let auditRows: AuditRow[] = [];
    let auditWritten: Promise<void> | undefined;
    const writeAudit = (row: AuditRow): Promise<void> => {
      auditRows.push(row);
      auditWritten ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        const rows = auditRows;
        auditRows = [];
        auditWritten = undefined;
        try {
          await insertAudit(app.db, rows);
        } catch (err) {
          app.log.error({ err, rows: rows.length }, 'could not write the audit log');
        }
      });
      return auditWritten;
    };
    api.addHook('onClose', async () => {
      await auditWritten;
    });
    const audit = async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method === 'GET' || request.method === 'HEAD' || !request.grant) return;
      const params = request.params as Record<string, string> | undefined;
      await writeAudit({
        accountId: request.grant.accountId,
        keyId: request.grant.keyId,
        action:
          request.routeOptions.config.action ??
          `${request.method} ${request.routeOptions.url ?? request.url}`,
        target: params && Object.keys(params).length ? Object.values(params).join('/') : null,
        outcome: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        requestId: request.id,
        input: request.isMultipart()
          ? JSON.stringify({ multipart: true })
          : request.body === undefined
            ? null
            : JSON.stringify(redact(request.body)),
        createdAt: app.clock.now().toISOString(),
      });
    };

    // Idempotency and the audit log concern mutating routes only; GETs do not pay for them.
    api.addHook('onRoute', (route) => {
      const methods = [route.method].flat();
      if (methods.every((m) => m === 'GET' || m === 'HEAD')) return;
      route.preHandler = [...[route.preHandler ?? []].flat(), idempotencyCheck];
      route.onSend = [...[route.onSend ?? []].flat(), idempotencyStore];
      route.onResponse = [...[route.onResponse ?? []].flat(), audit];
    });

    await v1Routes(api, app, auth);
  });
  await publicRoutes(fastify, app);
  await walletRoutes(fastify, app);
  return fastify;
}
