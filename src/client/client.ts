// The client: every action by name over POST /v1/actions/:name (typed by the generated Actions map, with one method per
// action), retries of what is worth retrying, OAuth tokens kept fresh, lists read page by page, and many calls at once.
// It imports nothing from the server: its types are generated from the action registry (scripts/gen-client.ts).
import {
  ACTIONS,
  ActionMethods,
  type ActionName,
  type Actions,
  type PageName,
  type Pages,
} from './actions.gen.js';
import { errorOf, PassslotError } from './errors.js';
import type { CallOptions, OAuthCredentials, PassslotClientOptions, RetryInfo, Tokens } from './options.js';
import { backoffMs, RETRYABLE_STATUSES, serverDelayMs } from './retry.js';

/** An access token this close to its expiry is refreshed before it is used. */
const REFRESH_BEFORE_MS = 60_000;

interface ActionInfo {
  mutates: boolean;
  answers: 'json' | 'bytes';
  items?: string;
}

/** The outcome of client.bulk: every item, in the order given, either with its result or why it failed. */
export interface BulkReport<T, R> {
  succeeded: { item: T; result: R }[];
  failed: { item: T; status: number; code: string; message: string }[];
}

export interface BulkOptions {
  /** Items in flight at once (default 4). */
  concurrency?: number;
  /** Told after each item, succeeded or failed. */
  onProgress?(done: number, total: number): void;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A network error's message with its cause's (fetch says only "fetch failed"). */
function describe(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const message = err instanceof Error ? err.message : String(err);
  return cause instanceof Error ? `${message} (${cause.message})` : message;
}

/** A `bytes` action's answer: the file's bytes with its content type and name. */
async function fileOf(res: Response): Promise<{ contentType: string; filename?: string; data: Uint8Array }> {
  const name = /filename="([^"]*)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  return {
    contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    ...(name !== undefined ? { filename: decodeURIComponent(name) } : {}),
    data: new Uint8Array(await res.arrayBuffer()),
  };
}

export class PassslotClient extends ActionMethods {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #oauth: (Omit<OAuthCredentials, 'baseUrl' | 'resource'> & { resource: string }) | undefined;
  #refreshing: Promise<void> | undefined;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(options: PassslotClientOptions) {
    super();
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    if ('apiKey' in options) {
      this.#apiKey = options.apiKey;
    } else {
      const { accessToken, refreshToken, clientId, expiresAt, onTokens } = options;
      this.#oauth = {
        accessToken,
        refreshToken,
        clientId,
        expiresAt,
        onTokens,
        resource: options.resource ?? this.baseUrl,
      };
    }
    this.#maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 5));
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    this.#onRetry = options.onRetry;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#sleep = options.sleep ?? abortableSleep;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** The OAuth tokens in use (undefined with an app key); expiresAt is unknown until the first refresh if not given. */
  get tokens(): (Omit<Tokens, 'expiresAt'> & { expiresAt?: number }) | undefined {
    const o = this.#oauth;
    return o && { accessToken: o.accessToken, refreshToken: o.refreshToken, expiresAt: o.expiresAt };
  }

  /**
   * Runs the action `name` with `input` and returns its output (a `bytes` action's file as {contentType, filename,
   * data}). Rate limited (429), unavailable (503) and unreachable are tried again, up to maxAttempts; a mutating
   * action's call carries one Idempotency-Key on all its attempts. Anything else Passslot refuses throws a
   * PassslotError at once.
   */
  override async run<N extends ActionName>(
    name: N,
    input: Actions[N]['input'],
    options: CallOptions = {},
  ): Promise<Actions[N]['output']> {
    const info = (ACTIONS as Record<string, ActionInfo | undefined>)[name];
    const idempotencyKey = info?.mutates ? (options.idempotencyKey ?? crypto.randomUUID()) : undefined;
    const url = `${this.baseUrl}/v1/actions/${encodeURIComponent(name)}`;
    const body = JSON.stringify(input ?? {});
    const send = (token: string) =>
      this.#fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
          ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
        },
        body,
        signal: options.signal,
      });
    const res = await this.#withRetries(name, options.signal, async () => {
      const token = await this.#bearer();
      const first = await send(token);
      if (first.status !== 401 || !this.#oauth) return first;
      // the token expired or was revoked early: refresh (once per call) and send again
      await first.body?.cancel();
      await this.#refreshAfter401(token);
      return send(this.#oauth.accessToken);
    });
    if (!res.ok) throw await errorOf(res);
    return (info?.answers === 'bytes' ? await fileOf(res) : await res.json()) as Actions[N]['output'];
  }

  /**
   * The items of a list action, page after page: each page is fetched when the previous one is used up, with the
   * input's filters and the page's nextCursor as cursor, until nextCursor is null.
   */
  async *paginate<N extends PageName>(
    name: N,
    input: Actions[N]['input'] = {} as Actions[N]['input'],
    options: CallOptions = {},
  ): AsyncGenerator<Pages[N], void, undefined> {
    const key = (ACTIONS[name] as ActionInfo).items!;
    let page = input;
    for (;;) {
      const out = (await this.run(name, page, options)) as unknown as Record<string, unknown>;
      yield* out[key] as Pages[N][];
      if (typeof out.nextCursor !== 'string') return;
      page = { ...input, cursor: out.nextCursor };
    }
  }

  /**
   * Runs `fn(item, client)` for every item, `concurrency` at a time, and reports which succeeded (with the result)
   * and which failed (with the status, code and message; status 0 when it was no answer of Passslot's). It never
   * rejects for an item's failure; each call of `fn` retries as every call of the client does.
   */
  async bulk<T, R>(
    items: readonly T[],
    fn: (item: T, client: this) => Promise<R>,
    options: BulkOptions = {},
  ): Promise<BulkReport<T, R>> {
    const outcomes: (
      | { ok: true; result: R }
      | { ok: false; status: number; code: string; message: string }
    )[] = new Array(items.length);
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        try {
          outcomes[i] = { ok: true, result: await fn(items[i]!, this) };
        } catch (err) {
          outcomes[i] =
            err instanceof PassslotError
              ? { ok: false, status: err.status, code: err.code, message: err.message }
              : {
                  ok: false,
                  status: 0,
                  code: 'error',
                  message: err instanceof Error ? err.message : String(err),
                };
        }
        options.onProgress?.(++done, items.length);
      }
    };
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    const report: BulkReport<T, R> = { succeeded: [], failed: [] };
    outcomes.forEach((o, i) => {
      const item = items[i]!;
      if (o.ok) report.succeeded.push({ item, result: o.result });
      else report.failed.push({ item, status: o.status, code: o.code, message: o.message });
    });
    return report;
  }

  /**
   * Makes attempts until one is answered with something other than 429 or 503, or maxAttempts are spent; network
   * errors are tried again too. Waits between attempts: full jitter, never less than the server asked.
   */
  async #withRetries(label: string, signal: AbortSignal | undefined, attempt: () => Promise<Response>) {
    for (let n = 1; ; n++) {
      let res: Response;
      try {
        res = await attempt();
      } catch (err) {
        if (signal?.aborted) throw err;
        if (err instanceof PassslotError && !RETRYABLE_STATUSES.has(err.status)) throw err;
        if (n >= this.#maxAttempts)
          throw err instanceof PassslotError
            ? err
            : new PassslotError(0, 'network_error', `cannot reach ${this.baseUrl}: ${describe(err)}`, {
                cause: err,
              });
        await this.#wait({ action: label, attempt: n, delayMs: this.#backoff(n), error: err }, signal);
        continue;
      }
      if (!RETRYABLE_STATUSES.has(res.status) || n >= this.#maxAttempts) return res;
      const delayMs = Math.max(this.#backoff(n), serverDelayMs(res.status, res.headers, this.#now()));
      await res.body?.cancel();
      await this.#wait({ action: label, attempt: n, delayMs, status: res.status }, signal);
    }
  }

  #backoff(attempt: number): number {
    return backoffMs(attempt, this.#baseDelayMs, this.#maxDelayMs, this.#random);
  }

  async #wait(info: RetryInfo, signal: AbortSignal | undefined): Promise<void> {
    this.#onRetry?.(info);
    await this.#sleep(info.delayMs, signal);
  }

  /** The token to send: the app key, or an access token refreshed first when it is about to expire. */
  async #bearer(): Promise<string> {
    if (this.#apiKey !== undefined) return this.#apiKey;
    const o = this.#oauth!;
    if (this.#refreshing) await this.#refreshing;
    else if (o.expiresAt !== undefined && o.expiresAt - this.#now() <= REFRESH_BEFORE_MS)
      await this.#refresh();
    return o.accessToken;
  }

  /** After a 401 with `used`: refresh, unless another call has already replaced that token. */
  async #refreshAfter401(used: string): Promise<void> {
    if (this.#oauth!.accessToken === used) await this.#refresh();
    else if (this.#refreshing) await this.#refreshing;
  }

  /** One refresh at a time: every call that needs one while it runs waits for the same. */
  #refresh(): Promise<void> {
    this.#refreshing ??= this.#exchange().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** The refresh_token grant at /oauth/token; the answer's refresh token replaces the used one (rotation). */
  async #exchange(): Promise<void> {
    const o = this.#oauth!;
    const res = await this.#fetch(`${this.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: o.refreshToken,
        client_id: o.clientId,
        resource: o.resource,
      }).toString(),
    });
    if (!res.ok) throw await errorOf(res);
    const t = (await res.json()) as Record<string, unknown>;
    if (
      typeof t.access_token !== 'string' ||
      typeof t.expires_in !== 'number' ||
      typeof t.token_type !== 'string' ||
      t.token_type.toLowerCase() !== 'bearer'
    )
      throw new PassslotError(
        res.status,
        'invalid_token_response',
        'the token endpoint answered no Bearer token',
      );
    const tokens: Tokens = {
      accessToken: t.access_token,
      refreshToken: typeof t.refresh_token === 'string' ? t.refresh_token : o.refreshToken,
      expiresAt: this.#now() + t.expires_in * 1000,
    };
    Object.assign(o, tokens);
    await o.onTokens({ ...tokens });
  }
}
