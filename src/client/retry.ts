// When to try again: exponential backoff with full jitter (a random wait up to a cap that doubles each time, so many
// clients refused at once do not come back at once), but never sooner than the server said (Retry-After, or the
// rate limit window's RateLimit-Reset).

/** Statuses worth another attempt: rate limited, and unavailable for a moment. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** The wait before the retry that follows failed attempt `attempt` (from 1): random(0, min(max, base·2^(attempt-1))). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
}

/**
 * What the server asked for, in milliseconds: Retry-After (seconds, or an HTTP date) and, on a 429, RateLimit-Reset
 * (seconds until the rate limit window ends; every answer carries it, so it means nothing on a 503), the longer of
 * those present; 0 when neither is.
 */
export function serverDelayMs(status: number, headers: Headers, now: number): number {
  let ms = 0;
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) ms = Math.max(ms, Number(retryAfter) * 1000);
    else {
      const at = Date.parse(retryAfter);
      if (!Number.isNaN(at)) ms = Math.max(ms, at - now);
    }
  }
  const reset = status === 429 ? headers.get('ratelimit-reset')?.trim() : undefined;
  if (reset && /^\d+(\.\d+)?$/.test(reset)) ms = Math.max(ms, Number(reset) * 1000);
  return Math.ceil(ms);
}
