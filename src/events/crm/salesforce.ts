// Salesforce: each event the integration wants upserts a record (Contact, Lead or a custom object) by an external id
// field through the REST API: PATCH {instance_url}/services/data/vXX.X/sobjects/{object}/{field}/{value}. OAuth with a
// refresh token at {loginUrl}/services/oauth2/token; Salesforce gives no expiry, so a 401 (INVALID_SESSION_ID) refreshes
// once and retries once; a rotated refresh token replaces the stored one.
import type { App } from '../../app.js';
import type { IntegrationRow } from '../../store/schema.js';
import type { Outcome, StoredEvent } from '../dispatcher.js';
import { type Outbound, retryAfterMs } from '../outbound.js';
import {
  type Credentials,
  credentialsOf,
  factsOf,
  jsonOf,
  mapFields,
  refreshAccessToken,
  sourceValue,
} from './common.js';

export interface SalesforceSettings {
  loginUrl: string;
  apiVersion: string;
  object: string;
  externalIdField: string;
  /** The mapping source whose value is the external id (default pid). */
  externalIdFrom: string;
}

export const SALESFORCE_DEFAULTS: SalesforceSettings & { mapping: Record<string, string> } = {
  loginUrl: 'https://login.salesforce.com',
  apiVersion: 'v67.0',
  object: 'Contact',
  externalIdField: 'Passslot_Id__c',
  externalIdFrom: 'pid',
  mapping: {
    Wallet_Pass_Status__c: 'walletStatus',
    Wallet_Pass_Installed__c: 'installed',
    Wallet_Pass_URL__c: 'url',
  },
};

export async function sendToSalesforce(
  app: App,
  outbound: Outbound,
  row: IntegrationRow,
  event: StoredEvent,
  now: Date,
): Promise<Outcome> {
  const settings = { ...SALESFORCE_DEFAULTS, ...(JSON.parse(row.settings) as Partial<SalesforceSettings>) };
  const mapping = JSON.parse(row.mapping) as Record<string, string>;
  const facts = await factsOf(app, event, [...Object.values(mapping), settings.externalIdFrom]);
  const externalId = sourceValue(settings.externalIdFrom, facts);
  if (!externalId)
    return {
      kind: 'skipped',
      reason: `the event has no ${settings.externalIdFrom} to use as ${settings.externalIdField}`,
    };
  const fields = mapFields(mapping, facts);
  delete fields[settings.externalIdField];
  const tokenUrl = `${settings.loginUrl.replace(/\/+$/, '')}/services/oauth2/token`;

  let current: { row: IntegrationRow; creds: Credentials } = { row, creds: credentialsOf(app, row) };
  if (!current.creds.accessToken || !current.creds.instanceUrl)
    current = await refreshAccessToken(app, outbound, row, tokenUrl);
  for (let tries = 0; ; tries++) {
    const { creds } = current;
    const url =
      `${creds.instanceUrl!.replace(/\/+$/, '')}/services/data/${settings.apiVersion}/sobjects/` +
      `${encodeURIComponent(settings.object)}/${encodeURIComponent(settings.externalIdField)}/${encodeURIComponent(externalId)}`;
    const res = await outbound.send({
      method: 'PATCH',
      url,
      headers: {
        authorization: `Bearer ${creds.accessToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify(fields),
      timeoutMs: 10_000,
    });
    const common = { status: res.status, latencyMs: res.latencyMs, excerpt: res.body.slice(0, 500) };
    if (res.status === 200 || res.status === 201 || res.status === 204)
      return { kind: 'delivered', error: null, ...common };
    const errors = jsonOf(res);
    const first = (Array.isArray(errors) ? errors[0] : undefined) as
      | { errorCode?: string; message?: string }
      | undefined;
    const message = `Salesforce answered ${res.status}${first ? `: ${first.errorCode ?? ''} ${first.message ?? ''}`.trimEnd() : ''}`;
    if (res.status === 401 && tries === 0 && current.creds.refreshToken) {
      current = await refreshAccessToken(app, outbound, current.row, tokenUrl);
      continue;
    }
    if (res.status === 300)
      return { kind: 'failed', error: `${message} (several records have this external id)`, ...common };
    // the org's daily API limit: wait an hour rather than hammer it
    if (res.status === 403 && first?.errorCode === 'REQUEST_LIMIT_EXCEEDED')
      return { kind: 'retry', error: message, retryAfterMs: 3_600_000, ...common };
    if (res.status === 401 || res.status === 429 || res.status >= 500)
      return {
        kind: 'retry',
        error: message,
        retryAfterMs: retryAfterMs(res.headers['retry-after'], now.getTime()),
        ...common,
      };
    return { kind: 'failed', error: message, ...common };
  }
}
