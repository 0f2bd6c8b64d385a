// Webhook deliveries: the event envelope, PassSlot's ({"id","type","created","data"}), POSTed with Standard Webhooks
// signatures; and PassSlot's verification handshake before an endpoint is enabled.
import { randomBytes, randomUUID } from 'node:crypto';
import type { App } from '../app.js';
import type { WebhookRow } from '../store/schema.js';
import { DELIVERY_TIMEOUT_MS, type Outcome, type Sender, type StoredEvent } from './dispatcher.js';
import { type Outbound, OutboundError, type OutboundResponse, retryAfterMs } from './outbound.js';
import { webhookHeaders } from './signing.js';

const USER_AGENT = 'Passslot-Webhooks/1';
const EXCERPT = 500;

/** The JSON body of an event: built from the stored text, so every attempt sends the same bytes. */
export function envelopeJson(e: Pick<StoredEvent, 'id' | 'type' | 'created' | 'data'>): string {
  return `{"id":${JSON.stringify(e.id)},"type":${JSON.stringify(e.type)},"created":${JSON.stringify(e.created)},"data":${e.data}}`;
}

/** The secrets a webhook signs with now: its own, and the one it replaced while that is still valid. */
export function signingSecrets(app: App, hook: WebhookRow, now: Date): string[] {
  const secrets = [app.secrets.decrypt(hook.secretEnc)];
  if (hook.previousSecretEnc && hook.previousSecretUntil && hook.previousSecretUntil > now.toISOString())
    secrets.push(app.secrets.decrypt(hook.previousSecretEnc));
  return secrets;
}

/** What an HTTP answer (or the lack of one) means for a delivery, per Standard Webhooks. */
export function outcomeOf(res: OutboundResponse | OutboundError, nowMs: number): Outcome {
  if (res instanceof OutboundError)
    return { kind: 'retry', status: null, latencyMs: 0, error: res.message, excerpt: null };
  const common = { status: res.status, latencyMs: res.latencyMs, excerpt: res.body.slice(0, EXCERPT) };
  if (res.status >= 200 && res.status < 300) return { kind: 'delivered', error: null, ...common };
  if (res.status === 410) return { kind: 'gone', error: 'the endpoint answered 410 Gone', ...common };
  return {
    kind: 'retry',
    error:
      res.status >= 300 && res.status < 400 ? `redirect (${res.status}) not followed` : `HTTP ${res.status}`,
    retryAfterMs: retryAfterMs(res.headers['retry-after'], nowMs),
    ...common,
  };
}

export function webhookSender(app: App, outbound: Outbound): Sender<WebhookRow> {
  const cache = new Map<number, { version: number; until: string | null; secrets: string[] }>();
  return {
    load: (id) => app.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst(),
    async send(_delivery, event, hook, now) {
      // decrypting once per version of the webhook, not per delivery
      let c = cache.get(hook.id);
      const nowIso = now.toISOString();
      if (!c || c.version !== hook.version || (c.until !== null && c.until <= nowIso)) {
        c = {
          version: hook.version,
          until: hook.previousSecretUntil,
          secrets: signingSecrets(app, hook, now),
        };
        cache.set(hook.id, c);
      }
      const body = envelopeJson(event);
      const res = await outbound
        .send({
          method: 'POST',
          url: hook.url,
          headers: {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            ...webhookHeaders(c.secrets, event.id, now, body),
          },
          body,
          timeoutMs: DELIVERY_TIMEOUT_MS,
          maxBody: 4096,
        })
        .catch((err: unknown) => (err instanceof OutboundError ? err : new OutboundError(String(err))));
      return outcomeOf(res, now.getTime());
    },
  };
}

/**
 * PassSlot's handshake: POSTs {"type":"webhook.verify","data":{"token"}} and expects the token back as the answer's
 * body. Returns what went wrong, or undefined when the endpoint answered correctly.
 */
export async function verifyEndpoint(
  app: App,
  outbound: Outbound,
  url: string,
  secret: string,
): Promise<string | undefined> {
  const now = app.clock.now();
  const token = randomBytes(24).toString('base64url');
  const id = randomUUID();
  const body = envelopeJson({
    id,
    type: 'webhook.verify',
    created: now.toISOString(),
    data: JSON.stringify({ token }),
  });
  let res: OutboundResponse;
  try {
    res = await outbound.send({
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        ...webhookHeaders([secret], id, now, body),
      },
      body,
      timeoutMs: DELIVERY_TIMEOUT_MS,
      maxBody: 4096,
    });
  } catch (err) {
    return `the verification request failed: ${(err as Error).message}`;
  }
  if (res.status < 200 || res.status >= 300)
    return `the endpoint answered the verification request with HTTP ${res.status}, not 200 with the token`;
  if (res.body.trim() !== token)
    return 'the endpoint did not answer the verification request with its token (the body must be data.token)';
  return undefined;
}
