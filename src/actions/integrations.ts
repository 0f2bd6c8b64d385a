// CRM integrations (HubSpot, Salesforce): the account's events, as they happen, update the pass owner's record in its
// CRM. Credentials are stored encrypted and never returned; delivery shares the webhooks' engine, log and replay.
import { type Static, Type } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import { invalid } from '../errors.js';
import { type Credentials, credentialsOf, mappingSourceProblem } from '../events/crm/common.js';
import { HUBSPOT_DEFAULTS } from '../events/crm/hubspot.js';
import { CRM_TYPES, type CrmType } from '../events/crm/index.js';
import { SALESFORCE_DEFAULTS } from '../events/crm/salesforce.js';
import { urlProblem } from '../events/outbound.js';
import { hookUrl } from '../events/payloads.js';
import { TWILIO_DEFAULTS } from '../messaging/twilio.js';
import { bumpedVersion } from '../store/db.js';
import type { IntegrationRow } from '../store/schema.js';
import { requireUnrestricted } from './access.js';
import { checkPatterns, EventPattern } from './events.js';
import { type ActionContext, defineAction } from './registry.js';
import { describedId, Id, Phone } from './schemas.js';
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

/** CRMs take events; Twilio sends SMS (sms_pass); Stripe is a trigger (its checkouts issue passes). */
export const INTEGRATION_TYPES = [...CRM_TYPES, 'twilio', 'stripe'] as const;
type IntegrationType = (typeof INTEGRATION_TYPES)[number];
const isCrm = (type: string): type is CrmType => (CRM_TYPES as readonly string[]).includes(type);

const CredentialsIn = Type.Object(
  {
    accessToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    refreshToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    instanceUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    accountSid: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    authToken: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    signingSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  {
    additionalProperties: false,
    description:
      'HubSpot: a private app token (accessToken), or OAuth (clientId, clientSecret, refreshToken). Salesforce: OAuth ' +
      '(clientId, clientSecret, refreshToken; optionally accessToken and instanceUrl). Twilio: accountSid (AC...) and ' +
      'authToken. Stripe: signingSecret (whsec_..., the endpoint secret).',
  },
);

/** The credentials each type takes. */
const CREDENTIAL_FIELDS: Record<IntegrationType, readonly string[]> = {
  hubspot: ['accessToken', 'refreshToken', 'clientId', 'clientSecret'],
  salesforce: ['accessToken', 'refreshToken', 'clientId', 'clientSecret', 'instanceUrl'],
  twilio: ['accountSid', 'authToken'],
  stripe: ['signingSecret'],
};

const Name = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,79}$' });
const SettingsIn = Type.Object(
  {
    baseUrl: Type.Optional(
      Type.String({
        maxLength: 2000,
        description:
          'HubSpot API base, default https://api.hubapi.com; Twilio API base, default https://api.twilio.com',
      }),
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
    from: Type.Optional({ ...Phone, description: 'Twilio: the number SMS are sent from (E.164)' }),
    messagingServiceSid: Type.Optional(
      Type.String({
        pattern: '^MG[0-9a-fA-F]{32}$',
        description: 'Twilio: a Messaging Service (MG...) that picks the sender, instead of from',
      }),
    ),
    templateId: Type.Optional(describedId('Stripe: the template a paid checkout issues a pass from')),
    deliver: Type.Optional(
      Type.Array(Type.Union([Type.Literal('email'), Type.Literal('sms')]), {
        uniqueItems: true,
        maxItems: 2,
        description:
          "Stripe: how the new pass reaches the customer: email, sms (the checkout's email and phone)",
      }),
    ),
  },
  { additionalProperties: false },
);
type SettingsIn = Static<typeof SettingsIn>;
type Settings = Record<string, string | number | string[]>;

const Mapping = Type.Record(
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,99}$' }),
  Type.String({ maxLength: 200 }),
  {
    description:
      'CRMs: CRM property (HubSpot) or field (Salesforce) -> the event field it takes: email, userId, externalId, pid, ' +
      'serialNumber, passTypeIdentifier, templateId, templateName, status, walletStatus, installed, devicesInstalled, ' +
      'url, event, eventId, eventTime, or values.<name>. Stripe: placeholder -> a dotted path in the Checkout ' +
      'Session (customer_details.name, amount_total, currency, metadata.tier, client_reference_id).',
  },
);

const IntegrationOut = Type.Object({
  id: Type.Integer(),
  type: Type.Union(INTEGRATION_TYPES.map((t) => Type.Literal(t))),
  description: Type.String(),
  events: Type.Array(Type.String()),
  mapping: Type.Record(Type.String(), Type.String()),
  settings: Type.Record(
    Type.String(),
    Type.Union([Type.String(), Type.Integer(), Type.Array(Type.String())]),
  ),
  auth: Type.Union([Type.Literal('token'), Type.Literal('oauth')]),
  accessTokenExpiresAt: Type.Union([Type.String(), Type.Null()]),
  endpoint: Type.Optional(
    Type.String({
      description:
        'Stripe: the URL to give Stripe as the webhook endpoint. Twilio: where Twilio posts SMS statuses (set by Passslot)',
    }),
  ),
  ...TargetState,
});

function integrationOut(ctx: ActionContext, r: IntegrationRow): Static<typeof IntegrationOut> {
  const creds = credentialsOf(ctx.app, r);
  return {
    id: r.id,
    type: r.type as IntegrationType,
    description: r.description,
    events: JSON.parse(r.events) as string[],
    mapping: JSON.parse(r.mapping) as Record<string, string>,
    settings: JSON.parse(r.settings) as Settings,
    auth: creds.refreshToken ? 'oauth' : 'token',
    accessTokenExpiresAt: creds.expiresAt ?? null,
    ...(r.type === 'stripe' || r.type === 'twilio'
      ? { endpoint: hookUrl(ctx.app.config.publicUrl, r.type, r.id) }
      : {}),
    ...targetState(r),
  };
}

const CRM_NAME = /^[A-Za-z][A-Za-z0-9_]{0,99}$/;
/** A dotted path into a Checkout Session: customer_details.email, metadata.tier. */
const SESSION_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+){0,5}$/;

/**
 * Checks credentials, settings and mapping for an integration of a type; returns the settings with the type's
 * defaults filled in.
 */
async function checkConfig(
  ctx: ActionContext,
  type: IntegrationType,
  creds: Credentials,
  settings: SettingsIn,
  mapping: Record<string, string>,
): Promise<Settings> {
  const errors: FieldError[] = [];
  for (const name of Object.keys(creds))
    if (name !== 'expiresAt' && !CREDENTIAL_FIELDS[type].includes(name))
      errors.push({
        field: `credentials.${name}`,
        reasons: [`is not a ${type} credential: give ${CREDENTIAL_FIELDS[type].join(', ')}`],
      });
  const allowed = SETTINGS_FIELDS[type];
  for (const name of Object.keys(settings))
    if (!allowed.includes(name))
      errors.push({
        field: `settings.${name}`,
        reasons: [`is not a ${type} setting${allowed.length ? `: use ${allowed.join(', ')}` : ''}`],
      });
  const full =
    type === 'twilio'
      ? twilioSettings(ctx, creds, settings, mapping, errors)
      : type === 'stripe'
        ? await stripeSettings(ctx, creds, settings, mapping, errors)
        : crmSettings(ctx, type, creds, settings, mapping, errors);
  if (errors.length) throw invalid(errors);
  return full;
}

const SETTINGS_FIELDS: Record<IntegrationType, readonly string[]> = {
  hubspot: ['baseUrl', 'loginUrl', 'apiVersion', 'object', 'externalIdField', 'externalIdFrom'],
  salesforce: ['baseUrl', 'loginUrl', 'apiVersion', 'object', 'externalIdField', 'externalIdFrom'],
  twilio: ['from', 'messagingServiceSid', 'baseUrl'],
  stripe: ['templateId', 'deliver'],
};

function urlErrors(ctx: ActionContext, urls: [string, string | undefined][], errors: FieldError[]): void {
  for (const [field, url] of urls) {
    const problem = url === undefined ? undefined : urlProblem(url, ctx.app.config.webhookAllowPrivate);
    if (problem) errors.push({ field, reasons: [problem] });
  }
}

function crmSettings(
  ctx: ActionContext,
  type: CrmType,
  creds: Credentials,
  settings: SettingsIn,
  mapping: Record<string, string>,
  errors: FieldError[],
): Settings {
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
  urlErrors(
    ctx,
    [
      ['settings.baseUrl', full.baseUrl],
      ['settings.loginUrl', full.loginUrl],
      ['credentials.instanceUrl', creds.instanceUrl],
    ],
    errors,
  );
  if (full.externalIdFrom) {
    const problem = mappingSourceProblem(full.externalIdFrom);
    if (problem) errors.push({ field: 'settings.externalIdFrom', reasons: [problem] });
  }
  for (const [name, source] of Object.entries(mapping)) {
    if (!CRM_NAME.test(name))
      errors.push({ field: `mapping.${name}`, reasons: ['is not a CRM property or field name'] });
    const problem = mappingSourceProblem(source);
    if (problem) errors.push({ field: `mapping.${name}`, reasons: [problem] });
  }
  return full;
}

function twilioSettings(
  ctx: ActionContext,
  creds: Credentials,
  settings: SettingsIn,
  mapping: Record<string, string>,
  errors: FieldError[],
): Settings {
  if (!creds.accountSid || !/^AC[0-9a-fA-F]{32}$/.test(creds.accountSid))
    errors.push({
      field: 'credentials.accountSid',
      reasons: ['is required: the Account SID, AC and 32 hex digits (Twilio Console, Account Info)'],
    });
  if (!creds.authToken) errors.push({ field: 'credentials.authToken', reasons: ['is required'] });
  if (Boolean(settings.from) === Boolean(settings.messagingServiceSid))
    errors.push({
      field: 'settings.from',
      reasons: ['give exactly one of from (a Twilio number, E.164) and messagingServiceSid (MG...)'],
    });
  if (Object.keys(mapping).length)
    errors.push({ field: 'mapping', reasons: ['a twilio integration takes no mapping'] });
  const baseUrl = (settings.baseUrl ?? TWILIO_DEFAULTS.baseUrl).replace(/\/+$/, '');
  urlErrors(ctx, [['settings.baseUrl', baseUrl]], errors);
  return {
    baseUrl,
    ...(settings.from ? { from: settings.from } : {}),
    ...(settings.messagingServiceSid ? { messagingServiceSid: settings.messagingServiceSid } : {}),
  };
}

async function stripeSettings(
  ctx: ActionContext,
  creds: Credentials,
  settings: SettingsIn,
  mapping: Record<string, string>,
  errors: FieldError[],
): Promise<Settings> {
  if (!creds.signingSecret?.startsWith('whsec_'))
    errors.push({
      field: 'credentials.signingSecret',
      reasons: [
        "is required and starts with whsec_: the endpoint's signing secret (Stripe Dashboard, or what stripe listen prints)",
      ],
    });
  for (const [name, path] of Object.entries(mapping))
    if (!SESSION_PATH.test(path))
      errors.push({
        field: `mapping.${name}`,
        reasons: ['is not a dotted path in the Checkout Session (customer_details.name, metadata.tier, ...)'],
      });
  if (settings.templateId === undefined) {
    errors.push({
      field: 'settings.templateId',
      reasons: ['is required: the template passes are issued from'],
    });
    return { deliver: settings.deliver ?? [] };
  }
  const template = await ctx.app.db
    .selectFrom('templates')
    .select(['id', 'placeholders'])
    .where('accountId', '=', ctx.grant.accountId)
    .where('id', '=', settings.templateId)
    .executeTakeFirst();
  if (!template)
    errors.push({ field: 'settings.templateId', reasons: ['is not a template of this account'] });
  else {
    const placeholders = JSON.parse(template.placeholders) as string[];
    const unmapped = placeholders.filter((p) => !(p in mapping));
    if (unmapped.length)
      errors.push({
        field: 'mapping',
        reasons: [`the template needs values for ${unmapped.join(', ')}: map each to a path in the session`],
      });
    for (const name of Object.keys(mapping))
      if (!placeholders.includes(name))
        errors.push({ field: `mapping.${name}`, reasons: ['is not a placeholder of the template'] });
  }
  return { templateId: settings.templateId, deliver: settings.deliver ?? [] };
}

/** CRMs take the events given (or the default ones); Twilio and Stripe integrations take none. */
function eventsFor(type: IntegrationType, events: string[] | undefined): string[] {
  if (isCrm(type)) {
    const chosen = events ?? DEFAULT_EVENTS;
    checkPatterns('events', chosen);
    return chosen;
  }
  if (events?.length)
    throw invalid([{ field: 'events', reasons: [`a ${type} integration takes no events`] }]);
  return [];
}

export const createIntegration = defineAction({
  name: 'create_integration',
  title: 'Connect a CRM, Twilio or Stripe',
  description:
    "Connects HubSpot or Salesforce: on the events picked, the pass owner's contact (HubSpot, found by email) or " +
    'record (Salesforce, upserted by an external id field) gets the mapped fields, such as wallet pass status, ' +
    'installed, URL and last update. Connects Twilio to send passes by SMS (sms_pass, send_pass), or Stripe to issue ' +
    'a pass for each paid checkout (the answer gives the endpoint to register in Stripe). Credentials are stored ' +
    'encrypted and never shown again.',
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
    const type = input.type as IntegrationType;
    const mapping =
      input.mapping ??
      (type === 'hubspot'
        ? HUBSPOT_DEFAULTS.mapping
        : type === 'salesforce'
          ? SALESFORCE_DEFAULTS.mapping
          : {});
    const settings = await checkConfig(ctx, type, input.credentials, input.settings ?? {}, mapping);
    const events = eventsFor(type, input.events);
    const now = ctx.app.clock.now().toISOString();
    const row = await ctx.app.db
      .insertInto('integrations')
      .values({
        accountId: ctx.grant.accountId,
        type,
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
    id: Id,
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
    const type = row.type as IntegrationType;
    const creds = input.credentials ?? credentialsOf(ctx.app, row);
    const mapping = input.mapping ?? (JSON.parse(row.mapping) as Record<string, string>);
    const settings = await checkConfig(ctx, type, creds, input.settings ?? JSON.parse(row.settings), mapping);
    if (input.events) eventsFor(type, input.events);
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
  input: Type.Object({ id: Id, ...DeliveryQuery }),
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
