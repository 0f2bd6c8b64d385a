// Who is calling the API, and how often: the app key's or access token's grant on the request, rate limit headers, and 429 beyond the
// limit (counted in memory, or in Redis shared by every process when REDIS_URL is set).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { App } from '../../app.js';
import { SESSION_COOKIE, sessionGrant } from '../../auth/sessions.js';
import { AppError } from '../../errors.js';
import type { KeyGrant } from '../../store/keys.js';
import { type Hit, memoryCounter, rateLimitHeaders, redisCounter } from '../rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    grant: KeyGrant | null;
  }
}

/** Authenticates every request of `api` (but the OpenAPI document) and counts it against the key's rate limit. */
export function authAndLimits(api: FastifyInstance, app: App): void {
  const auth = app.auth;
  api.decorateRequest('grant', null);
  const redis = app.config.redisUrl
    ? new Redis(app.config.redisUrl, {
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        lazyConnect: false,
      })
    : undefined;
  if (redis) api.addHook('onClose', async () => void (await redis.quit()));
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
        'rate_limited',
        `Rate limit exceeded: ${limit} requests a minute; retry in ${seconds} seconds`,
        [],
        {
          'Retry-After': String(seconds),
        },
      );
    }
  };
  /** A signed-in person's call from the web app: the session cookie with its CSRF token in X-CSRF-Token. */
  const webAppGrant = async (request: FastifyRequest): Promise<KeyGrant> => {
    const grant = await sessionGrant(
      app.db,
      {
        cookie: request.headers.cookie,
        csrf: request.headers['x-csrf-token'],
        account: request.headers['x-passslot-account'],
      },
      app.clock.now(),
    );
    if (!grant)
      throw new AppError(
        'unauthorized',
        'The session expired or the request lacks its X-CSRF-Token (or names an account you are not a member of): ' +
          'sign in again at /login',
      );
    return grant;
  };
  api.addHook('onRequest', (request, reply, done) => {
    // API clients get the request id to quote (the audit log and error answers carry it too)
    reply.header('X-Request-Id', request.id);
    if (request.url.startsWith('/v1/openapi.json')) return done();
    // a key seen in the last seconds, counted in memory: no promise to wait for
    const cached = auth.cached(request.headers.authorization, request.url);
    const hit = cached && counter.hitNow?.(cached.credential, 60_000);
    if (cached && hit) {
      try {
        admit(request, reply, cached, hit);
      } catch (err) {
        return done(err as Error);
      }
      return done();
    }
    const fromSession =
      !request.headers.authorization &&
      request.url.startsWith('/v1/') &&
      request.headers.cookie?.includes(SESSION_COOKIE);
    (fromSession ? webAppGrant(request) : auth.authenticate(request.headers.authorization, request.url))
      .then(async (grant) => admit(request, reply, grant, await counter.hit(grant.credential, 60_000)))
      .then(() => done(), done);
  });
}
