// HubSpot: each event the integration wants upserts the pass owner's contact by email through the CRM v3 objects API
// (POST /crm/v3/objects/contacts/batch/upsert with idProperty "email"), setting the mapped properties. Auth is a
// private app token, or OAuth whose access token is refreshed before it expires (HubSpot says a 401 is no reliable
// sign of expiry) at /oauth/2026-03/token, keeping whichever refresh token HubSpot returns.
import type { App } from '../../app.js';
import type { IntegrationRow } from '../../store/schema.js';
import type { Outcome, StoredEvent } from '../dispatcher.js';
import { type Outbound, retryAfterMs } from '../outbound.js';
import { credentialsOf, factsOf, jsonOf, mapFields, refreshAccessToken } from './common.js';

export const HUBSPOT_DEFAULTS = {
  baseUrl: 'https://api.hubapi.com',
  mapping: {
    wallet_pass_status: 'walletStatus',
    wallet_pass_installed: 'installed',
    wallet_pass_url: 'url',
    wallet_pass_updated_at: 'eventTime',
  } as Record<string, string>,
};

/** Refresh this long before HubSpot's expiry (its tokens live 30 minutes). */
const REFRESH_EARLY_MS = 5 * 60_000;

export async function sendToHubSpot(
  app: App,
  outbound: Outbound,
  row: IntegrationRow,
  event: StoredEvent,
  now: Date,
): Promise<Outcome> {
  const settings = JSON.parse(row.settings) as { baseUrl?: string };
  const base = (settings.baseUrl ?? HUBSPOT_DEFAULTS.baseUrl).replace(/\/+$/, '');
  const mapping = JSON.parse(row.mapping) as Record<string, string>;
  const facts = await factsOf(app, event, Object.values(mapping));
  const email = facts.data.email;
  if (typeof email !== 'string' || !email)
    return { kind: 'skipped', reason: 'the pass has no owner email to find the HubSpot contact by' };

  let creds = credentialsOf(app, row);
  // an OAuth token of unknown age is refreshed once, so its expiry becomes known
  const expiring =
    !creds.accessToken ||
    creds.expiresAt === undefined ||
    Date.parse(creds.expiresAt) - now.getTime() < REFRESH_EARLY_MS;
  if (creds.refreshToken && expiring)
    creds = (await refreshAccessToken(app, outbound, row, `${base}/oauth/2026-03/token`)).creds;
  if (!creds.accessToken)
    return { kind: 'failed', status: null, latencyMs: 0, error: 'no access token configured', excerpt: null };

  const body = JSON.stringify({
    inputs: [
      { idProperty: 'email', id: email, properties: mapFields(mapping, facts), objectWriteTraceId: event.id },
    ],
  });
  const res = await outbound.send({
    method: 'POST',
    url: `${base}/crm/v3/objects/contacts/batch/upsert`,
    headers: {
      authorization: `Bearer ${creds.accessToken}`,
      'content-type': 'application/json',
      accept: 'application/json',
    },
    body,
    timeoutMs: 10_000,
  });
  const common = { status: res.status, latencyMs: res.latencyMs, excerpt: res.body.slice(0, 500) };
  const answer = jsonOf(res) as
    | { message?: string; numErrors?: number; errors?: { message?: string }[] }
    | undefined;
  if (res.status === 200 || res.status === 201) {
    if (answer?.numErrors)
      return { kind: 'failed', error: answer.errors?.[0]?.message ?? 'HubSpot reported errors', ...common };
    return { kind: 'delivered', error: null, ...common };
  }
  const message = `HubSpot answered ${res.status}${answer?.message ? `: ${answer.message}` : ''}`;
  // 429 (ten-second or daily limit), 5xx: later; 401: the token may be fixed or refreshed by the next try
  if (res.status === 429 || res.status >= 500 || res.status === 401)
    return {
      kind: 'retry',
      error: message,
      retryAfterMs:
        retryAfterMs(res.headers['retry-after'], now.getTime()) ?? (res.status === 429 ? 10_000 : undefined),
      ...common,
    };
  return { kind: 'failed', error: message, ...common };
}
