// What a PassslotClient is made with: where Passslot is and a credential (an app key, or OAuth tokens that it refreshes),
// and how it retries.

/** An app key (psk_...), sent as `Authorization: Bearer`. */
export interface ApiKeyCredentials {
  /** Where Passslot is, e.g. https://passes.example.com. */
  baseUrl: string;
  apiKey: string;
}

/** A pair of OAuth tokens. The refresh token changes on every refresh: keep the newest (onTokens gets it). */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number;
}

/** OAuth tokens the client refreshes itself: shortly before they expire, and when Passslot answers 401. */
export interface OAuthCredentials {
  baseUrl: string;
  accessToken: string;
  refreshToken: string;
  /** The OAuth client the tokens were issued to. */
  clientId: string;
  /** When the access token expires (milliseconds since the epoch); unknown: refreshed on the first 401. */
  expiresAt?: number;
  /** Called with the new tokens after every refresh, before they are used: store them. */
  onTokens(tokens: Tokens): void | Promise<void>;
  /** The resource the tokens are for (RFC 8707), sent with every refresh; default baseUrl. */
  resource?: string;
}

/** One retry, as it is about to wait. */
export interface RetryInfo {
  /** The action being run, or `oauth_token` for a refresh. */
  action: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  /** 429 or 503; undefined for a network error. */
  status?: number;
  /** The network error. */
  error?: unknown;
}

export interface RetryOptions {
  /** Attempts of one call, the first included (default 5). */
  maxAttempts?: number;
  /** The backoff's base (default 500 ms): the n-th retry waits a random time up to min(maxDelayMs, base·2^(n-1)). */
  baseDelayMs?: number;
  /** The backoff's cap (default 30 s); a server's Retry-After or RateLimit-Reset is waited for even when longer. */
  maxDelayMs?: number;
  /** Told of each retry (e.g. to count rate-limited requests). */
  onRetry?(info: RetryInfo): void;
}

export interface Environment {
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** For tests: how to wait, a random number in [0, 1), and the time in milliseconds since the epoch. */
  sleep?(ms: number): Promise<void>;
  random?(): number;
  now?(): number;
}

export type PassslotClientOptions = (ApiKeyCredentials | OAuthCredentials) & RetryOptions & Environment;

/** Options of one call. */
export interface CallOptions {
  /**
   * The Idempotency-Key of a call of a mutating action (default: a random UUID). It is the same on every retry of the
   * call, so a retry never changes anything twice; give your own to make a call safe to repeat across runs.
   */
  idempotencyKey?: string;
  /** Gives the call up (no retry after an abort). */
  signal?: AbortSignal;
}
