// The Google Wallet REST client: an access token from Google's OAuth token endpoint by the JWT-bearer grant (RFC
// 7523: a JWT signed by the service account, scope wallet_object.issuer), cached until a minute before it expires;
// then classes and objects inserted (POST /walletobjects/v1/<type>Class|Object), patched (PATCH .../<id>) and sent
// messages (POST .../<id>/addMessage). Calls never throw: a failure to connect is status 0, and the caller decides
// what is retried (src/jobs/google.ts).
import { Agent, request } from 'undici';
import type { JsonObject } from '../engine/index.js';
import type { SigningKey } from './callbacks.js';
import type { GoogleType } from './mapping.js';
import { type ServiceAccount, signJwt } from './save-link.js';

export const WALLET_SCOPE = 'https://www.googleapis.com/auth/wallet_object.issuer';
const TIMEOUT_MS = 15_000;
/** A token is renewed this long before Google says it expires. */
const TOKEN_MARGIN_MS = 60_000;
/** Google's callback signing keys are fetched again after this long (they rotate with notice). */
const KEYS_TTL_MS = 60 * 60_000;

export interface GoogleEndpoints {
  /** e.g. https://walletobjects.googleapis.com */
  apiUrl: string;
  /** e.g. https://oauth2.googleapis.com/token */
  tokenUrl: string;
}

export interface GoogleAnswer {
  /** The HTTP status, or 0 when no answer came. */
  status: number;
  body?: JsonObject;
  /** Google's error message (error.message), or why no answer came. */
  message?: string;
}

/** The answer's body as JSON and Google's message for a refusal (its error shape, or OAuth's). */
function answerOf(status: number, text: string): GoogleAnswer {
  let body: JsonObject | undefined;
  try {
    body = text ? (JSON.parse(text) as JsonObject) : undefined;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  const ok = status >= 200 && status < 300;
  const message = ok
    ? undefined
    : typeof error === 'object' &&
        error !== null &&
        !Array.isArray(error) &&
        typeof error.message === 'string'
      ? error.message
      : typeof body?.error_description === 'string'
        ? body.error_description
        : typeof error === 'string'
          ? error
          : `HTTP ${status}`;
  return { status, ...(body ? { body } : {}), ...(message ? { message } : {}) };
}

interface Call {
  method: 'GET' | 'POST' | 'PATCH';
  headers: Record<string, string>;
  body?: string;
}

export class GoogleWalletClient {
  private readonly tokens = new Map<string, { token: string; until: number }>();
  /** Token requests under way, so concurrent calls for one account ask once. */
  private readonly asking = new Map<string, Promise<string | GoogleAnswer>>();

  private keys: { url: string; keys: SigningKey[]; until: number } | undefined;

  /** Keep-alive connections to Google (undici's request: a fraction of fetch's cost per call, which a fan-out of
   * thousands of patches feels). */
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

  constructor(
    private readonly endpoints: GoogleEndpoints,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async call(url: string, init: Call): Promise<GoogleAnswer> {
    try {
      const res = await request(url, {
        ...init,
        dispatcher: this.agent,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      return answerOf(res.statusCode, await res.body.text());
    } catch (err) {
      return { status: 0, message: (err as Error).message };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** An access token for the service account, or the token endpoint's refusal. */
  async token(account: ServiceAccount): Promise<string | GoogleAnswer> {
    const key = `${account.clientEmail}\n${account.privateKeyPem}`;
    const cached = this.tokens.get(key);
    if (cached && cached.until > this.now().getTime()) return cached.token;
    const pending = this.asking.get(key);
    if (pending) return pending;
    const ask = this.askToken(account, key).finally(() => this.asking.delete(key));
    this.asking.set(key, ask);
    return ask;
  }

  private async askToken(account: ServiceAccount, key: string): Promise<string | GoogleAnswer> {
    const iat = Math.floor(this.now().getTime() / 1000);
    const assertion = signJwt(account, {
      iss: account.clientEmail,
      scope: WALLET_SCOPE,
      aud: this.endpoints.tokenUrl,
      iat,
      exp: iat + 3600,
    });
    const answer = await this.call(this.endpoints.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }).toString(),
    });
    const token = answer.body?.access_token;
    if (answer.status !== 200 || typeof token !== 'string')
      return { ...answer, message: `token: ${answer.message ?? 'no access_token in the answer'}` };
    const seconds = typeof answer.body?.expires_in === 'number' ? answer.body.expires_in : 3600;
    this.tokens.set(key, {
      token,
      until: this.now().getTime() + Math.max(0, seconds * 1000 - TOKEN_MARGIN_MS),
    });
    return token;
  }

  /**
   * Google's keys that sign save and delete callbacks, cached for an hour; `fresh` fetches them again (a callback
   * signed by a key not yet known).
   */
  async signingKeys(url: string, fresh = false): Promise<SigningKey[]> {
    const now = this.now().getTime();
    if (!fresh && this.keys?.url === url && this.keys.until > now) return this.keys.keys;
    const answer = await this.call(url, { method: 'GET', headers: {} });
    const keys = answer.body?.keys;
    if (answer.status !== 200 || !Array.isArray(keys))
      throw new Error(`Google's signing keys at ${url}: ${answer.message ?? 'no keys in the answer'}`);
    const valid = keys.filter(
      (k): k is JsonObject & SigningKey =>
        typeof k === 'object' &&
        k !== null &&
        !Array.isArray(k) &&
        typeof k.keyValue === 'string' &&
        typeof k.protocolVersion === 'string',
    );
    this.keys = { url, keys: valid, until: now + KEYS_TTL_MS };
    return valid;
  }

  /** Forgets a token Google no longer accepts (a 401), so the next call asks for a new one. */
  forget(account: ServiceAccount): void {
    this.tokens.delete(`${account.clientEmail}\n${account.privateKeyPem}`);
  }

  private async send(
    account: ServiceAccount,
    method: 'POST' | 'PATCH' | 'GET',
    path: string,
    body?: JsonObject,
  ): Promise<GoogleAnswer> {
    const token = await this.token(account);
    if (typeof token !== 'string') return token;
    const answer = await this.call(`${this.endpoints.apiUrl}/walletobjects/v1/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (answer.status === 401) this.forget(account);
    return answer;
  }

  /** Inserts a class or an object (409 when its id exists). */
  insert(account: ServiceAccount, type: GoogleType, kind: 'Class' | 'Object', json: JsonObject) {
    return this.send(account, 'POST', `${type}${kind}`, json);
  }

  /** Patches a class or an object with the fields given (404 when its id does not exist). */
  patch(account: ServiceAccount, type: GoogleType, kind: 'Class' | 'Object', json: JsonObject) {
    return this.send(account, 'PATCH', `${type}${kind}/${encodeURIComponent(String(json.id))}`, json);
  }

  /** Inserts, or patches when the id exists: the class or object is as given either way. */
  async upsert(
    account: ServiceAccount,
    type: GoogleType,
    kind: 'Class' | 'Object',
    json: JsonObject,
    known: boolean,
  ): Promise<GoogleAnswer> {
    if (known) {
      const patched = await this.patch(account, type, kind, json);
      return patched.status === 404 ? this.insert(account, type, kind, json) : patched;
    }
    const inserted = await this.insert(account, type, kind, json);
    return inserted.status === 409 ? this.patch(account, type, kind, json) : inserted;
  }

  /** Adds a message to an object; TEXT_AND_NOTIFY shows a notification on the phone. */
  addMessage(
    account: ServiceAccount,
    type: GoogleType,
    objectId: string,
    message: { id: string; header: string; body: string; notify: boolean },
  ): Promise<GoogleAnswer> {
    return this.send(account, 'POST', `${type}Object/${encodeURIComponent(objectId)}/addMessage`, {
      message: {
        id: message.id,
        header: message.header,
        body: message.body,
        messageType: message.notify ? 'TEXT_AND_NOTIFY' : 'TEXT',
      },
    });
  }
}
