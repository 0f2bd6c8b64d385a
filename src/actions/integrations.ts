// CRM integrations (HubSpot, Salesforce): the account's events, as they happen, update the pass owner's record in its
// CRM. Credentials are stored encrypted and never returned; delivery shares the webhooks' engine, log and replay.
import { type Static, Type } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { invalid } from '../errors.js';
import { type Credentials, credentialsOf, mappingSourceProblem } from '../events/crm/common.js';
import { HUBSPOT_DEFAULTS } from '../events/crm/hubspot.js';
import { INTEGRATION_TYPES } from '../events/crm/index.js';
import { SALESFORCE_DEFAULTS } from '../events/crm/salesforce.js';
import { urlProblem } from '../events/outbound.js';
import { bumpedVersion } from '../store/db.js';
import type { IntegrationRow } from '../store/schema.js';
import { requireUnrestricted } from './access.js';
import { checkPatterns, EventPattern } from './events.js';
import { type ActionContext, defineAction } from './registry.js';
import {
  DeliveryList,
  DeliveryOut,
  DeliveryQuery,
  deleteTarget,
  enabledColumns,
  findTarget,
  listDeliveries,
  listTargets,
  ReplayInput,
  ReplayOut,
  RetryInput,
  replay,
  retryDelivery,
  TargetIdInput,
  TargetState,
  targetState,
} from './targets.js';

const DEFAULT_EVENTS = ['pass.*', 'registration.*'];

const CredentialsIn = Type.Object(
  {
    accessToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    refreshToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    instanceUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  },
  {
    additionalProperties: false,
    description:
      'HubSpot: a private app token (accessToken), or OAuth (clientId, clientSecret, refreshToken). Salesforce: OAuth ' +
      '(clientId, clientSecret, refreshToken; optionally accessToken and instanceUrl).',
  },
);

const Name = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,79}$' });
const SettingsIn = Type.Object(
  {
    baseUrl: Type.Optional(
      Type.String({ maxLength: 2000, description: 'HubSpot API base, default https://api.hubapi.com' }),
    ),
    loginUrl: Type.Optional(
      Type.String({ maxLength: 2000, description: 'Salesforce login, default https://login.salesforce.com' }),
    ),
    apiVersion: Type.Optional(
      Type.String({ pattern: '^v\\d{2,3}\\.\\d$', description: 'Salesforce, default v67.0' }),
    ),
    object: Type.Optional({
      ...Name,
      description: 'Salesforce object, default Contact (or Lead, or a custom object)',
    }),
    externalIdField: Type.Optional({
      ...Name,
      description: 'Salesforce external id field, default Passslot_Id__c',
    }),
    externalIdFrom: Type.Optional(
      Type.String({ maxLength: 120, description: 'the event field that is the external id, default pid' }),
    ),
  },
  { additionalProperties: false },
);
type SettingsIn = Static<typeof SettingsIn>;

const Mapping = Type.Record(
  Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,99}$' }),
  Type.String({ maxLength: 120 }),
  {
    description:
      'CRM property (HubSpot) or field (Salesforce) -> the event field it takes: email, userId, externalId, pid, ' +
      'serialNumber, passTypeIdentifier, templateId, templateName, status, walletStatus, installed, devicesInstalled, ' +
      'url, event, eventId, eventTime, or values.<name>.',
  },
);

const IntegrationOut = Type.Object({
  id: Type.Integer(),
  type: Type.Union(INTEGRATION_TYPES.map((t) => Type.Literal(t))),
  description: Type.String(),
  events: Type.Array(Type.String()),
  mapping: Type.Record(Type.String(), Type.String()),
  settings: Type.Record(Type.String(), Type.String()),
  auth: Type.Union([Type.Literal('token'), Type.Literal('oauth')]),
  accessTokenExpiresAt: Type.Union([Type.String(), Type.Null()]),
  ...TargetState,
});

function integrationOut(ctx: ActionContext, r: IntegrationRow): Static<typeof IntegrationOut> {
  const creds = credentialsOf(ctx.app, r);
  return {
    id: r.id,
    type: r.type as (typeof INTEGRATION_TYPES)[number],
    description: r.description,
    events: JSON.parse(r.events) as string[],
    mapping: JSON.parse(r.mapping) as Record<string, string>,
    settings: JSON.parse(r.settings) as Record<string, string>,
    auth: creds.refreshToken ? 'oauth' : 'token',
    accessTokenExpiresAt: creds.expiresAt ?? null,
    ...targetState(r),
  };
}

/** Checks credentials, settings and mapping for a CRM; returns the settings with the CRM's defaults filled in. */
function checkConfig(
  ctx: ActionContext,
  type: string,
  creds: Credentials,
  settings: SettingsIn,
  mapping: Record<string, string>,
): Record<string, string> {
  const errors: FieldError[] = [];
  const oauth = Boolean(creds.refreshToken && creds.clientId && creds.clientSecret);
  if (type === 'hubspot' && !creds.accessToken && !oauth)
    errors.push({
      field: 'credentials',
      reasons: ['give accessToken (a private app token), or clientId, clientSecret and refreshToken (OAuth)'],
    });
  if (type === 'salesforce' && !oauth && !(creds.accessToken && creds.instanceUrl))
    errors.push({ field: 'credentials', reasons: ['give clientId, clientSecret and refreshToken (OAuth)'] });
  const full: Record<string, string> =
    type === 'hubspot'
      ? { baseUrl: settings.baseUrl ?? HUBSPOT_DEFAULTS.baseUrl }
      : {
          loginUrl: settings.loginUrl ?? SALESFORCE_DEFAULTS.loginUrl,
          apiVersion: settings.apiVersion ?? SALESFORCE_DEFAULTS.apiVersion,
          object: settings.object ?? SALESFORCE_DEFAULTS.object,
          externalIdField: settings.externalIdField ?? SALESFORCE_DEFAULTS.externalIdField,
          externalIdFrom: settings.externalIdFrom ?? SALESFORCE_DEFAULTS.externalIdFrom,
        };
  const urls: [string, string | undefined][] = [
    ['settings.baseUrl', full.baseUrl],
    ['settings.loginUrl', full.loginUrl],
    ['credentials.instanceUrl', creds.instanceUrl],
  ];
  for (const [field, url] of urls) {
    const problem = url === undefined ? undefined : urlProblem(url, ctx.app.config.webhookAllowPrivate);
    if (problem) errors.push({ field, reasons: [problem] });
  }
  if (full.externalIdFrom) {
    const problem = mappingSourceProblem(full.externalIdFrom);
    if (problem) errors.push({ field: 'settings.externalIdFrom', reasons: [problem] });
  }
  for (const [name, source] of Object.entries(mapping)) {
    const problem = mappingSourceProblem(source);
    if (problem) errors.push({ field: `mapping.${name}`, reasons: [problem] });
  }
  if (errors.length) throw invalid(errors);
  return full;
}

export const createIntegration = defineAction({
  name: 'create_integration',
  title: 'Connect a CRM',
  description:
    "Connects HubSpot or Salesforce: on the events picked, the pass owner's contact (HubSpot, found by email) or " +
    'record (Salesforce, upserted by an external id field) gets the mapped fields, such as wallet pass status, ' +
    'installed, URL and last update. Credentials are stored encrypted and never shown again.',
  scope: 'integrations:write',
  mutates: true,
  input: Type.Object({
    type: Type.Union(INTEGRATION_TYPES.map((t) => Type.Literal(t))),
    credentials: CredentialsIn,
    mapping: Type.Optional(Mapping),
    events: Type.Optional(Type.Array(EventPattern, { minItems: 1, maxItems: 50 })),
    settings: Type.Optional(SettingsIn),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  }),
  output: IntegrationOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage integrations');
    const mapping =
      input.mapping ?? (input.type === 'hubspot' ? HUBSPOT_DEFAULTS.mapping : SALESFORCE_DEFAULTS.mapping);
    const settings = checkConfig(ctx, input.type, input.credentials, input.settings ?? {}, mapping);
    const events = input.events ?? DEFAULT_EVENTS;
    checkPatterns('events', events);
    const now = ctx.app.clock.now().toISOString();
    const row = await ctx.app.db
      .insertInto('integrations')
      .values({
        accountId: ctx.grant.accountId,
        type: input.type,
        description: input.description ?? '',
        events: JSON.stringify(events),
        mapping: JSON.stringify(mapping),
        settings: JSON.stringify(settings),
        credentialsEnc: ctx.app.secrets.encrypt(JSON.stringify(input.credentials)),
        enabled: 1,
        version: 1,
        createdAt: now,
        updatedAt: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return integrationOut(ctx, row);
  },
});

export const listIntegrations = defineAction({
  name: 'list_integrations',
  title: 'List CRM integrations',
  description: 'Lists the CRM integrations of the account (never their credentials).',
  scope: 'integrations:read',
  mutates: false,
  input: Type.Object({}),
  output: Type.Array(IntegrationOut),
  handler: async (ctx) => (await listTargets(ctx, 'integration')).map((r) => integrationOut(ctx, r)),
});

export const getIntegration = defineAction({
  name: 'get_integration',
  title: 'Get a CRM integration',
  description: 'Returns one CRM integration: its events, mapping, settings and whether it is answering.',
  scope: 'integrations:read',
  mutates: false,
  input: TargetIdInput,
  output: IntegrationOut,
  handler: async (ctx, input) => integrationOut(ctx, await findTarget(ctx, 'integration', input.id)),
});

export const updateIntegration = defineAction({
  name: 'update_integration',
  title: 'Update a CRM integration',
  description:
    'Changes the credentials (replaced whole), mapping, events, settings or description, or enables or disables it.',
  scope: 'integrations:write',
  mutates: true,
  input: Type.Object({
    id: Type.Integer({ minimum: 1 }),
    credentials: Type.Optional(CredentialsIn),
    mapping: Type.Optional(Mapping),
    events: Type.Optional(Type.Array(EventPattern, { minItems: 1, maxItems: 50 })),
    settings: Type.Optional(SettingsIn),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    enabled: Type.Optional(Type.Boolean()),
  }),
  output: IntegrationOut,
  async handler(ctx, input) {
    const row = await findTarget(ctx, 'integration', input.id);
    const creds = input.credentials ?? credentialsOf(ctx.app, row);
    const mapping = input.mapping ?? (JSON.parse(row.mapping) as Record<string, string>);
    const settings = checkConfig(ctx, row.type, creds, input.settings ?? JSON.parse(row.settings), mapping);
    if (input.events) checkPatterns('events', input.events);
    const enabled = input.enabled ?? row.enabled === 1;
    const changed = await ctx.app.db
      .updateTable('integrations')
      .set({
        // only a new secret is written: a token refresh may be storing rotated tokens right now
        ...(input.credentials ? { credentialsEnc: ctx.app.secrets.encrypt(JSON.stringify(creds)) } : {}),
        mapping: JSON.stringify(mapping),
        settings: JSON.stringify(settings),
        events: input.events ? JSON.stringify(input.events) : row.events,
        description: input.description ?? row.description,
        ...enabledColumns(row, enabled),
        version: bumpedVersion,
        updatedAt: ctx.app.clock.now().toISOString(),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return integrationOut(ctx, changed);
  },
});

export const deleteIntegration = defineAction({
  name: 'delete_integration',
  title: 'Delete a CRM integration',
  description: 'Disconnects a CRM and forgets its credentials and delivery log.',
  scope: 'integrations:write',
  mutates: true,
  input: TargetIdInput,
  output: Type.Object({}),
  async handler(ctx, input) {
    await deleteTarget(ctx, 'integration', input.id);
    return {};
  },
});

export const listIntegrationDeliveries = defineAction({
  name: 'list_integration_deliveries',
  title: 'List the deliveries of a CRM integration',
  description:
    'Lists what was sent to the CRM, newest first, each with its status and attempts (HTTP status, latency, answer).',
  scope: 'integrations:read',
  mutates: false,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }), ...DeliveryQuery }),
  output: DeliveryList,
  handler: (ctx, input) => listDeliveries(ctx, 'integration', input),
});

export const retryIntegrationDelivery = defineAction({
  name: 'retry_integration_delivery',
  title: 'Retry a CRM delivery',
  description: 'Sends one delivery to the CRM again now, with a fresh retry schedule.',
  scope: 'integrations:write',
  mutates: true,
  input: RetryInput,
  output: DeliveryOut,
  handler: (ctx, input) => retryDelivery(ctx, 'integration', input),
});

export const replayIntegration = defineAction({
  name: 'replay_integration',
  title: 'Replay events to a CRM',
  description:
    'Sends every event the integration subscribes to since a time again (say after fixing a mapping).',
  scope: 'integrations:write',
  mutates: true,
  input: ReplayInput,
  output: ReplayOut,
  handler: (ctx, input) => replay(ctx, 'integration', input),
});

export const integrationActions = [
  createIntegration,
  listIntegrations,
  getIntegration,
  updateIntegration,
  deleteIntegration,
  listIntegrationDeliveries,
  retryIntegrationDelivery,
  replayIntegration,
];
