// Who is calling our inbound hooks: Stripe and Twilio sign what they send with a secret only they and the account
// share. Both checks compare in constant time (safeEqual), so a forger learns nothing from how long a refusal took.
import { createHmac } from 'node:crypto';
import { safeEqual } from './tokens.js';

/** Stripe refuses nothing newer than this itself; we refuse what is older (a replayed request). */
export const STRIPE_TOLERANCE_SECONDS = 300;

/**
 * Why a `Stripe-Signature` header does not prove that Stripe sent `rawBody` with this endpoint's secret, or undefined
 * when it does. The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`: each v1 is the HMAC-SHA256 (hex) of
 * `${t}.${rawBody}` keyed with the whole `whsec_...` string. While a secret is being rolled Stripe sends one v1 per
 * secret, so any one matching is enough. Only v1 counts (v0 is Stripe's test scheme). The body must be the bytes as
 * received: JSON parsed and serialized again would not match.
 */
export function stripeSignatureProblem(
  rawBody: string,
  header: string | undefined,
  secret: string,
  nowMs: number,
): string | undefined {
  if (!header) return 'the Stripe-Signature header is missing';
  let t: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1') signatures.push(value);
  }
  if (t === undefined) return 'the Stripe-Signature header has no timestamp (t=)';
  if (signatures.length === 0) return 'the Stripe-Signature header has no v1 signature';
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest('hex');
  // every signature is compared, so the time taken does not say which one (if any) matched
  let matched = false;
  for (const s of signatures) if (safeEqual(s, expected)) matched = true;
  if (!matched) return 'no v1 signature in Stripe-Signature matches this endpoint’s signing secret';
  if (nowMs / 1000 - t > STRIPE_TOLERANCE_SECONDS)
    return `the Stripe-Signature timestamp is more than ${STRIPE_TOLERANCE_SECONDS} seconds old`;
  return undefined;
}

/**
 * Twilio's `X-Twilio-Signature`: the HMAC-SHA1 (base64) of the full URL Twilio requested (scheme, host, path and
 * query, as configured), followed by each POST parameter's name and value, names sorted, keyed with the account's auth
 * token.
 */
export function twilioSignature(url: string, params: Record<string, string>, authToken: string): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Does `signature` prove that Twilio posted `params` to `url` (constant-time)? */
export function twilioSignatureValid(
  url: string,
  params: Record<string, string>,
  signature: string | undefined,
  authToken: string,
): boolean {
  return safeEqual(signature ?? '', twilioSignature(url, params, authToken));
}
