// Webhooks: endpoints that receive the account's events as signed POSTs (Standard Webhooks). An endpoint is enabled
// only after it passes PassSlot's handshake; its secret is shown once, stored encrypted, and can be rotated with the
// old one signing alongside for 24 hours.
import { type Static, Type } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { urlProblem } from '../events/outbound.js';
import { newWebhookSecret } from '../events/signing.js';
import { verifyEndpoint } from '../events/webhooks.js';
import { bumpedVersion } from '../store/db.js';
import type { WebhookRow } from '../store/schema.js';
import { requireUnrestricted } from './access.js';
import { checkPatterns, EventPattern } from './events.js';
import { type ActionContext, defineAction } from './registry.js';
import { Id } from './schemas.js';
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

const ROTATION_GRACE_MS = 86_400_000;

const WebhookOut = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  description: Type.String(),
  events: Type.Array(Type.String()),
  ...TargetState,
  previousSecretExpiresAt: Type.Union([Type.String(), Type.Null()], {
    description: 'until when the secret before the last rotation still signs (both signatures are sent)',
  }),
});

const WithSecret = Type.Object({
  ...WebhookOut.properties,
  secret: Type.String({ description: 'the signing secret (whsec_...), shown this once' }),
});

function webhookOut(ctx: ActionContext, r: WebhookRow): Static<typeof WebhookOut> {
  const now = ctx.app.clock.now().toISOString();
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: JSON.parse(r.events) as string[],
    ...targetState(r),
    previousSecretExpiresAt:
      r.previousSecretUntil && r.previousSecretUntil > now ? r.previousSecretUntil : null,
  };
}

const Url = Type.String({
  minLength: 1,
  maxLength: 2000,
  description: 'where to POST the events (http or https)',
});
const Events = Type.Array(EventPattern, {
  minItems: 1,
  maxItems: 50,
  description: 'the event types to send: ["pass.*", "registration.created"], or ["*"] for all',
});

function checkUrl(ctx: ActionContext, url: string): void {
  const problem = urlProblem(url, ctx.app.config.webhookAllowPrivate);
  if (problem) throw invalid([{ field: 'url', reasons: [problem] }]);
}

async function handshake(ctx: ActionContext, url: string, secret: string): Promise<void> {
  const problem = await verifyEndpoint(ctx.app, ctx.app.outbound, url, secret);
  if (problem)
    throw invalid(
      [{ field: 'url', reasons: [problem] }],
      'The webhook endpoint did not pass verification; it was not enabled',
    );
}

export const createWebhook = defineAction({
  name: 'create_webhook',
  title: 'Create a webhook',
  description:
    'Registers an endpoint for the account\'s events. Passslot first POSTs {"type":"webhook.verify","data":{"token"}} ' +
    "and the endpoint must answer with the token as its body (PassSlot's handshake); then events are POSTed signed " +
    'per Standard Webhooks. The signing secret is in the answer, once. With "enabled": false no handshake is made ' +
    'until the webhook is enabled.',
  scope: 'webhooks:write',
  mutates: true,
  input: Type.Object({
    url: Url,
    events: Events,
    description: Type.Optional(Type.String({ maxLength: 500 })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  }),
  output: WithSecret,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'manage webhooks');
    checkUrl(ctx, input.url);
    checkPatterns('events', input.events);
    const secret = newWebhookSecret();
    const enabled = input.enabled !== false;
    if (enabled) await handshake(ctx, input.url, secret);
    const now = ctx.app.clock.now().toISOString();
    const row = await ctx.app.db
      .insertInto('webhooks')
      .values({
        accountId: ctx.grant.accountId,
        url: input.url,
        description: input.description ?? '',
        events: JSON.stringify(input.events),
        enabled: enabled ? 1 : 0,
        disabledReason: enabled ? null : 'created disabled',
        secretEnc: ctx.app.secrets.encrypt(secret),
        version: 1,
        createdAt: now,
        updatedAt: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...webhookOut(ctx, row), secret };
  },
});

export const listWebhooks = defineAction({
  name: 'list_webhooks',
  title: 'List webhooks',
  description: 'Lists the webhooks of the account (never their secrets).',
  scope: 'webhooks:read',
  mutates: false,
  input: Type.Object({}),
  output: Type.Array(WebhookOut),
  handler: async (ctx) => (await listTargets(ctx, 'webhook')).map((r) => webhookOut(ctx, r)),
});

export const getWebhook = defineAction({
  name: 'get_webhook',
  title: 'Get a webhook',
  description: 'Returns one webhook: its URL, events, and whether it is enabled and answering.',
  scope: 'webhooks:read',
  mutates: false,
  input: TargetIdInput,
  output: WebhookOut,
  handler: async (ctx, input) => webhookOut(ctx, await findTarget(ctx, 'webhook', input.id)),
});

export const updateWebhook = defineAction({
  name: 'update_webhook',
  title: 'Update a webhook',
  description:
    'Changes the URL, events, description, or enables or disables a webhook. A new URL, or enabling, runs the ' +
    'verification handshake first; if it fails nothing changes.',
  scope: 'webhooks:write',
  mutates: true,
  input: Type.Object({
    id: Id,
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    enabled: Type.Optional(Type.Boolean()),
  }),
  output: WebhookOut,
  async handler(ctx, input) {
    const row = await findTarget(ctx, 'webhook', input.id);
    if (input.url !== undefined) checkUrl(ctx, input.url);
    if (input.events) checkPatterns('events', input.events);
    const url = input.url ?? row.url;
    const enabled = input.enabled ?? row.enabled === 1;
    if (enabled && (url !== row.url || row.enabled === 0))
      await handshake(ctx, url, ctx.app.secrets.decrypt(row.secretEnc));
    const now = ctx.app.clock.now().toISOString();
    const changed = await ctx.app.db
      .updateTable('webhooks')
      .set({
        url,
        events: input.events ? JSON.stringify(input.events) : row.events,
        description: input.description ?? row.description,
        ...enabledColumns(row, enabled),
        version: bumpedVersion,
        updatedAt: now,
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return webhookOut(ctx, changed);
  },
});

export const deleteWebhook = defineAction({
  name: 'delete_webhook',
  title: 'Delete a webhook',
  description: 'Removes a webhook and its delivery log; nothing more is sent to it.',
  scope: 'webhooks:write',
  mutates: true,
  input: TargetIdInput,
  output: Type.Object({}),
  async handler(ctx, input) {
    await deleteTarget(ctx, 'webhook', input.id);
    return {};
  },
});

export const rotateWebhookSecret = defineAction({
  name: 'rotate_webhook_secret',
  title: 'Rotate the secret of a webhook',
  description:
    'Gives a webhook a new signing secret (shown once). For 24 hours the old secret keeps signing too: each delivery ' +
    'carries both signatures, so the receiver can switch without losing a message.',
  scope: 'webhooks:write',
  mutates: true,
  input: TargetIdInput,
  output: WithSecret,
  async handler(ctx, input) {
    const row = await findTarget(ctx, 'webhook', input.id);
    const secret = newWebhookSecret();
    const now = ctx.app.clock.now();
    const changed = await ctx.app.db
      .updateTable('webhooks')
      .set({
        secretEnc: ctx.app.secrets.encrypt(secret),
        previousSecretEnc: row.secretEnc,
        previousSecretUntil: new Date(now.getTime() + ROTATION_GRACE_MS).toISOString(),
        version: bumpedVersion,
        updatedAt: now.toISOString(),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ...webhookOut(ctx, changed), secret };
  },
});

export const listWebhookDeliveries = defineAction({
  name: 'list_webhook_deliveries',
  title: 'List the deliveries of a webhook',
  description:
    'Lists what was sent to a webhook, newest first: each event, its status (pending, delivered, failed, skipped) and ' +
    'every attempt with the HTTP status, latency and the start of the answer.',
  scope: 'webhooks:read',
  mutates: false,
  input: Type.Object({ id: Id, ...DeliveryQuery }),
  output: DeliveryList,
  handler: (ctx, input) => listDeliveries(ctx, 'webhook', input),
});

export const retryWebhookDelivery = defineAction({
  name: 'retry_webhook_delivery',
  title: 'Retry a webhook delivery',
  description: 'Sends one delivery again now (a failed one, say), with a fresh retry schedule.',
  scope: 'webhooks:write',
  mutates: true,
  input: RetryInput,
  output: DeliveryOut,
  handler: (ctx, input) => retryDelivery(ctx, 'webhook', input),
});

export const replayWebhook = defineAction({
  name: 'replay_webhook',
  title: 'Replay events to a webhook',
  description:
    'Sends every event the webhook subscribes to since a time again, under the same event ids (receivers that ' +
    'deduplicate on webhook-id ignore what they already have).',
  scope: 'webhooks:write',
  mutates: true,
  input: ReplayInput,
  output: ReplayOut,
  handler: (ctx, input) => replay(ctx, 'webhook', input),
});

export const webhookActions = [
  createWebhook,
  listWebhooks,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  rotateWebhookSecret,
  listWebhookDeliveries,
  retryWebhookDelivery,
  replayWebhook,
];
