// Rate limits per app key: a fixed one-minute window counted in memory for one process, or in Redis (one INCR with
// its expiry, atomically) so that every process behind a load balancer shares one budget. Written here rather than
// with @fastify/rate-limit because it runs on every API request and the plugin's generic machinery cost about a sixth
// of a simple read (docs/performance.md); the answer is the same: 429 with Retry-After and the RateLimit-* headers.
import type { Redis } from 'ioredis';

export interface Hit {
  /** Requests counted in the window, this one included. */
  count: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
}

export interface Counter {
  hit(key: string, windowMs: number): Promise<Hit>;
  /** The same, at once, where counting needs no round trip (in memory). */
  hitNow?(key: string, windowMs: number): Hit;
}

export const RATE_LIMIT_PREFIX = 'passslot-rl-';

export function memoryCounter(now: () => number = Date.now): Counter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  let nextSweep = 0;
  const hitNow = (key: string, windowMs: number): Hit => {
    const t = now();
    if (t >= nextSweep) {
      for (const [k, w] of windows) if (w.resetAt <= t) windows.delete(k);
      nextSweep = t + windowMs;
    }
    let w = windows.get(key);
    if (!w || w.resetAt <= t) {
      w = { count: 0, resetAt: t + windowMs };
      windows.set(key, w);
    }
    w.count++;
    return { count: w.count, resetMs: w.resetAt - t };
  };
  return { hitNow, hit: async (key, windowMs) => hitNow(key, windowMs) };
}

// INCR, set the expiry on the first hit of a window, and read what is left of it: one round trip, atomic.
const HIT_SCRIPT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}`;

/** Counts in Redis; when Redis cannot answer, the request is let through (and the failure reported). */
export function redisCounter(redis: Redis, onError: (err: unknown) => void): Counter {
  return {
    async hit(key, windowMs) {
      try {
        const [count, ttl] = (await redis.eval(HIT_SCRIPT, 1, `${RATE_LIMIT_PREFIX}${key}`, windowMs)) as [
          number,
          number,
        ];
        return { count, resetMs: ttl };
      } catch (err) {
        onError(err);
        return { count: 0, resetMs: windowMs };
      }
    },
  };
}

/** The headers of a request's standing: RateLimit-Limit, -Remaining, -Reset (seconds). */
export function rateLimitHeaders(limit: number, hit: Hit): Record<string, string> {
  return {
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(Math.max(0, limit - hit.count)),
    'RateLimit-Reset': String(Math.max(1, Math.ceil(hit.resetMs / 1000))),
  };
}
