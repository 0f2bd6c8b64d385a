// Standard Webhooks signatures (https://www.standardwebhooks.com): webhook-id, webhook-timestamp (Unix seconds of this
// attempt) and webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256>" over "id.timestamp.body", one
// per secret in use (two while a rotated-out secret is still valid). Secrets are "whsec_" + base64 of 32 random
// bytes. Written with node:crypto rather than the standardwebhooks package, whose pure-JS SHA-256 would sit on the
// delivery hot path; the tests verify every signature with that package.
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

function keyOf(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
}

/** The webhook-signature header value: one v1 signature per secret. */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): string {
  return secrets
    .map((s) => `v1,${createHmac('sha256', keyOf(s)).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
    .join(' ');
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(
  secrets: readonly string[],
  id: string,
  now: Date,
  body: string,
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(secrets, id, timestamp, body),
  };
}
