// What the CRM connectors share: the fields an event offers to a mapping, credentials kept encrypted with OAuth
// refreshes serialized per integration (and compare-and-set across processes), and the outcome of an HTTP answer.
import type { App } from '../../app.js';
import { bumpedVersion } from '../../store/db.js';
import type { IntegrationRow } from '../../store/schema.js';
import type { StoredEvent } from '../dispatcher.js';
import { type Outbound, OutboundError, type OutboundResponse } from '../outbound.js';

/** The event fields a mapping can name, besides values.<name> (the pass's current values). */
export const MAPPING_SOURCES = [
  'email',
  'userId',
  'externalId',
  'pid',
  'serialNumber',
  'passTypeIdentifier',
  'templateId',
  'templateName',
  'status',
  'walletStatus',
  'installed',
  'devicesInstalled',
  'url',
  'event',
  'eventId',
  'eventTime',
] as const;

export function mappingSourceProblem(source: string): string | undefined {
  if ((MAPPING_SOURCES as readonly string[]).includes(source)) return undefined;
  if (/^values\.[A-Za-z0-9_.-]{1,100}$/.test(source)) return undefined;
  return `is not a mapping source: use one of ${MAPPING_SOURCES.join(', ')}, or values.<name>`;
}

/**
 * Where a pass stands in Wallet, as one word for a CRM: deleted, revoked, installed (on at least one device), removed
 * (its last device removed it) or issued.
 */
export function walletStatus(type: string, data: Record<string, unknown>): string {
  if (type === 'pass.deleted') return 'deleted';
  if (type === 'pass.revoked' || data.status === 'revoked') return 'revoked';
  if (Number(data.devicesInstalled ?? 0) > 0) return 'installed';
  if (type === 'registration.deleted') return 'removed';
  return 'issued';
}

export interface EventFacts {
  type: string;
  data: Record<string, unknown>;
  values: Record<string, unknown> | undefined;
  event: StoredEvent;
}

/** The value of one mapping source for an event, as a string (CRMs take strings), or undefined when it has none. */
export function sourceValue(source: string, f: EventFacts): string | undefined {
  let v: unknown;
  if (source.startsWith('values.')) v = f.values?.[source.slice(7)];
  else if (source === 'walletStatus') v = walletStatus(f.type, f.data);
  else if (source === 'installed') v = Number(f.data.devicesInstalled ?? 0) > 0;
  else if (source === 'event') v = f.type;
  else if (source === 'eventId') v = f.event.id;
  else if (source === 'eventTime') v = f.event.created;
  // registration events name the pass's fields as PassSlot does: passPid, passSerialNumber, passTemplateId
  else v = f.data[source] ?? f.data[`pass${source[0]!.toUpperCase()}${source.slice(1)}`];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Reads what a delivery needs to know about its event: its data and, when a source asks, the pass's values. */
export async function factsOf(app: App, event: StoredEvent, sources: readonly string[]): Promise<EventFacts> {
  const data = JSON.parse(event.data) as Record<string, unknown>;
  let values: Record<string, unknown> | undefined;
  if (event.passId !== null && sources.some((s) => s.startsWith('values.'))) {
    const row = await app.db
      .selectFrom('passes')
      .select('values')
      .where('id', '=', event.passId)
      .executeTakeFirst();
    values = row ? (JSON.parse(row.values) as Record<string, unknown>) : undefined;
  }
  return { type: event.type, data, values, event };
}

export function mapFields(mapping: Record<string, string>, facts: EventFacts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, source] of Object.entries(mapping)) {
    const v = sourceValue(source, facts);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** The stored credentials of an integration: tokens, OAuth client, and when the access token expires. */
export interface Credentials {
  accessToken?: string;
  refreshToken?: string;
  clientId?: string;
  clientSecret?: string;
  /** ISO time the access token expires (HubSpot says so; Salesforce does not). */
  expiresAt?: string;
  /** Salesforce: the instance the token belongs to. */
  instanceUrl?: string;
  /** Twilio: the account SID (AC...) and auth token, for HTTP Basic and for checking status callbacks. */
  accountSid?: string;
  authToken?: string;
  /** Stripe: the endpoint's signing secret (whsec_...). */
  signingSecret?: string;
}

export function credentialsOf(app: App, row: IntegrationRow): Credentials {
  return JSON.parse(app.secrets.decrypt(row.credentialsEnc)) as Credentials;
}

export interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  instance_url?: string;
  error?: string;
  error_description?: string;
}

const refreshing = new Map<number, Promise<{ row: IntegrationRow; creds: Credentials }>>();

/**
 * Gets a new access token with the refresh token (form-encoded grant_type=refresh_token), stores it (and a rotated
 * refresh token) encrypted, and returns the integration as it now is. One refresh at a time per integration in this
 * process; across processes the write is compare-and-set on the row's version, and the loser takes the winner's token
 * (Salesforce invalidates a rotated-out refresh token, so two refreshes must not race).
 */
export function refreshAccessToken(
  app: App,
  outbound: Outbound,
  row: IntegrationRow,
  tokenUrl: string,
): Promise<{ row: IntegrationRow; creds: Credentials }> {
  const running = refreshing.get(row.id);
  if (running) return running;
  const work = (async () => {
    // another delivery (or process) may have refreshed since the caller read the row: use its token rather than
    // replaying a refresh token Salesforce may already have rotated out
    const current = await app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    if (current.credentialsEnc !== row.credentialsEnc)
      return { row: current, creds: credentialsOf(app, current) };
    const creds = credentialsOf(app, current);
    if (!creds.refreshToken || !creds.clientId || !creds.clientSecret)
      throw new OutboundError(
        'the access token expired and there is no refresh token, client id and secret to renew it',
      );
    const res = await outbound.send({
      method: 'POST',
      url: tokenUrl,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
        refresh_token: creds.refreshToken,
      }).toString(),
      timeoutMs: 10_000,
    });
    let answer: TokenAnswer = {};
    try {
      answer = JSON.parse(res.body) as TokenAnswer;
    } catch {
      // described below
    }
    if (res.status !== 200 || !answer.access_token)
      throw new OutboundError(
        `token refresh failed: HTTP ${res.status} ${answer.error ?? ''} ${answer.error_description ?? res.body.slice(0, 200)}`.trim(),
      );
    const now = app.clock.now();
    const next: Credentials = {
      ...creds,
      accessToken: answer.access_token,
      refreshToken: answer.refresh_token ?? creds.refreshToken,
      expiresAt: answer.expires_in
        ? new Date(now.getTime() + answer.expires_in * 1000).toISOString()
        : undefined,
      instanceUrl: answer.instance_url ?? creds.instanceUrl,
    };
    const updated = await app.db
      .updateTable('integrations')
      .set({
        credentialsEnc: app.secrets.encrypt(JSON.stringify(next)),
        version: bumpedVersion,
        updatedAt: now.toISOString(),
      })
      .where('id', '=', row.id)
      .where('credentialsEnc', '=', current.credentialsEnc)
      .executeTakeFirst();
    const fresh = await app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    if (Number(updated.numUpdatedRows) === 0) return { row: fresh, creds: credentialsOf(app, fresh) };
    return { row: fresh, creds: next };
  })().finally(() => refreshing.delete(row.id));
  refreshing.set(row.id, work);
  return work;
}

/** An HTTP answer's body as JSON, or undefined. */
export function jsonOf(res: OutboundResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    return undefined;
  }
}
