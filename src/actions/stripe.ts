// Stripe as a trigger: a paid Checkout Session issues one pass from the integration's template (values mapped from the
// session) and sends it to the customer; a full refund revokes it. Receiving only verifies and records the event
// (answering Stripe fast); a `stripe_event` job does the work from that record, so nothing is lost if the process
// stops or a step fails, and whatever Stripe retries or duplicates, a session issues one pass.
import { type Static, Type } from '@sinclair/typebox';
import { stripeSignatureProblem } from '../auth/hook-signatures.js';
import { AppError, badRequest, conflict, notFound } from '../errors.js';
import { credentialsOf } from '../events/crm/common.js';
import type { Channel } from '../messaging/messages.js';
import type { IntegrationRow, StripeEventRow } from '../store/schema.js';
import { sendPass } from './messages.js';
import { createPass, revokePass } from './passes.js';
import { type ActionContext, defineAction, runAction } from './registry.js';
import { E164, Id } from './schemas.js';

/** The events Passslot acts on; any other is answered 200 and forgotten. */
const HANDLED = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'charge.refunded',
]);
/** Checkout Sessions whose payment is done (delayed methods complete unpaid, then async_payment_succeeded). */
const PAID = new Set(['paid', 'no_payment_required']);

interface StripeEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown> };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseEvent(payload: string): StripeEvent {
  let event: unknown;
  try {
    event = JSON.parse(payload);
  } catch {
    throw badRequest('the body is not JSON');
  }
  if (
    !isRecord(event) ||
    typeof event.id !== 'string' ||
    typeof event.type !== 'string' ||
    !isRecord(event.data) ||
    !isRecord(event.data.object)
  )
    throw badRequest('the body is not a Stripe event ({"id", "type", "data": {"object"}})');
  return event as unknown as StripeEvent;
}

export const receiveStripeEvent = defineAction({
  name: 'receive_stripe_event',
  title: 'Take an event from Stripe',
  description:
    "Passslot itself takes Stripe's webhook events: the Stripe-Signature must be the integration's signing secret's " +
    'signature of the raw body, made less than five minutes ago (else 400, nothing kept). Checkout and refund events ' +
    'are recorded once per event id and worked off by a job; other types are answered and forgotten.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    integrationId: Type.Integer({ minimum: 0 }),
    payload: Type.String({ maxLength: 1_000_000, description: 'the body exactly as Stripe sent it' }),
    signature: Type.Optional(Type.String({ maxLength: 2000 })),
  }),
  output: Type.Object({
    accountId: Type.Integer(),
    eventId: Type.String(),
    recorded: Type.Boolean({ description: 'false for types Passslot does not act on, and for a repeat' }),
  }),
  async handler(ctx, input) {
    const integration = await ctx.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', input.integrationId)
      .where('type', '=', 'stripe')
      .executeTakeFirst();
    if (!integration || (ctx.grant.accountId && integration.accountId !== ctx.grant.accountId))
      throw notFound(`stripe integration ${input.integrationId}`);
    const { signingSecret } = credentialsOf(ctx.app, integration);
    const problem = stripeSignatureProblem(
      input.payload,
      input.signature,
      signingSecret ?? '',
      ctx.app.clock.now().getTime(),
    );
    if (problem) throw badRequest(problem);
    // Stripe retries what is not answered 2xx: a disabled integration's events wait for it to be enabled again
    if (!integration.enabled) throw conflict(`stripe integration ${integration.id} is disabled`);
    const event = parseEvent(input.payload);
    const out = { accountId: integration.accountId, eventId: event.id };
    if (!HANDLED.has(event.type)) return { ...out, recorded: false };
    const now = ctx.app.clock.now().toISOString();
    const recorded = await ctx.app.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('stripeEvents')
        .values({
          accountId: integration.accountId,
          integrationId: integration.id,
          eventId: event.id,
          type: event.type,
          payload: input.payload,
          status: 'pending',
          note: null,
          passId: null,
          createdAt: now,
          processedAt: null,
        })
        .onConflict((oc) => oc.columns(['integrationId', 'eventId']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!row) return false;
      await trx
        .insertInto('jobs')
        .values({
          accountId: integration.accountId,
          kind: 'stripe_event',
          payload: JSON.stringify({ stripeEventId: row.id }),
          status: 'pending',
          attempts: 0,
          runAt: now,
          groupKey: null,
          createdAt: now,
          updatedAt: now,
        })
        .execute();
      return true;
    });
    if (recorded) ctx.app.wake('stripe_event');
    return { ...out, recorded };
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Working off a recorded event

const Processed = Type.Object({
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('done'),
    Type.Literal('ignored'),
    Type.Literal('failed'),
  ]),
  note: Type.Union([Type.String(), Type.Null()]),
  passTypeIdentifier: Type.Optional(Type.String()),
  serialNumber: Type.Optional(Type.String()),
});
type Processed = Static<typeof Processed>;

interface StripeSettings {
  templateId: number;
  deliver?: Channel[];
}

/** The value at a dotted path (customer_details.email), when it is one a placeholder can take. */
function valueAt(root: Record<string, unknown>, path: string): string | number | boolean | undefined {
  let v: unknown = root;
  for (const key of path.split('.')) v = isRecord(v) ? v[key] : undefined;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : undefined;
}

const EMAIL = /^[^\s@"<>,;:]+@[^\s@"<>,;:]+\.[^\s@"<>,;:]+$/;
const PHONE = new RegExp(E164);

async function finish(
  ctx: ActionContext,
  row: StripeEventRow,
  status: 'done' | 'ignored' | 'failed',
  note: string | null,
  pass?: { id: number; passTypeIdentifier: string; serialNumber: string },
): Promise<Processed> {
  await ctx.app.db
    .updateTable('stripeEvents')
    .set({ status, note, passId: pass?.id ?? null, processedAt: ctx.app.clock.now().toISOString() })
    .where('id', '=', row.id)
    .execute();
  return {
    status,
    note,
    ...(pass ? { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber } : {}),
  };
}

async function passOf(
  ctx: ActionContext,
  where: { id: number } | { externalId: string; templateId: number },
) {
  let q = ctx.app.db
    .selectFrom('passes')
    .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
    .selectAll('passes')
    .select('passTypes.passTypeIdentifier')
    .where('passes.accountId', '=', ctx.grant.accountId)
    .where('passes.deletedAt', 'is', null);
  q =
    'id' in where
      ? q.where('passes.id', '=', where.id)
      : q
          .where('passes.ownerExternalId', '=', where.externalId)
          .where('passes.templateId', '=', where.templateId);
  return q.orderBy('passes.id').executeTakeFirst();
}

/**
 * Issues the pass of a paid Checkout Session, once: the first paid event about the session claims it (a unique row
 * per session), and only that event's job issues the pass, whose externalId is the session id (so a job that stopped
 * after issuing it finds it instead of issuing another). Then the pass is sent by the integration's channels, each
 * under an idempotency key, so a job run again does not send it twice.
 */
async function fulfil(
  ctx: ActionContext,
  row: StripeEventRow,
  integration: IntegrationRow,
  session: Record<string, unknown>,
): Promise<Processed> {
  const sessionId = session.id;
  if (typeof sessionId !== 'string' || !sessionId)
    return finish(ctx, row, 'ignored', 'the event has no Checkout Session id');
  if (!PAID.has(String(session.payment_status)))
    return finish(
      ctx,
      row,
      'ignored',
      `payment_status is ${String(session.payment_status)}: the pass waits for checkout.session.async_payment_succeeded`,
    );
  const paymentIntent = isRecord(session.payment_intent) ? session.payment_intent.id : session.payment_intent;
  const now = ctx.app.clock.now().toISOString();
  await ctx.app.db
    .insertInto('stripeCheckouts')
    .values({
      accountId: integration.accountId,
      integrationId: integration.id,
      sessionId,
      paymentIntent: typeof paymentIntent === 'string' ? paymentIntent : null,
      eventId: row.eventId,
      passId: null,
      createdAt: now,
      updatedAt: now,
    })
    .onConflict((oc) => oc.columns(['integrationId', 'sessionId']).doNothing())
    .execute();
  const checkout = await ctx.app.db
    .selectFrom('stripeCheckouts')
    .selectAll()
    .where('integrationId', '=', integration.id)
    .where('sessionId', '=', sessionId)
    .executeTakeFirstOrThrow();
  if (checkout.eventId !== row.eventId)
    return finish(
      ctx,
      row,
      'ignored',
      `checkout session ${sessionId} is fulfilled by event ${checkout.eventId}`,
    );

  const settings = JSON.parse(integration.settings) as StripeSettings;
  let pass =
    (checkout.passId !== null ? await passOf(ctx, { id: checkout.passId }) : undefined) ??
    (await passOf(ctx, { externalId: sessionId, templateId: settings.templateId }));
  const notes: string[] = [];
  if (!pass) {
    const mapping = JSON.parse(integration.mapping) as Record<string, string>;
    const values: Record<string, string | number | boolean> = {};
    for (const [placeholder, path] of Object.entries(mapping)) {
      const v = valueAt(session, path);
      if (v !== undefined) values[placeholder] = v;
    }
    const email = valueAt(session, 'customer_details.email');
    const phone = valueAt(session, 'customer_details.phone');
    const userId = valueAt(session, 'client_reference_id');
    try {
      const created = await runAction(createPass, ctx, {
        templateId: settings.templateId,
        values,
        externalId: sessionId,
        ...(typeof email === 'string' && EMAIL.test(email) ? { email } : {}),
        ...(typeof phone === 'string' && PHONE.test(phone) ? { phone } : {}),
        ...(typeof userId === 'string' && userId ? { userId: userId.slice(0, 200) } : {}),
      });
      pass = await passOf(ctx, { externalId: sessionId, templateId: settings.templateId });
      if (!pass) throw new Error(`the pass ${created.serialNumber} was issued but cannot be found`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      // the session could not issue a pass (missing values, template closed): a later event may try again
      await ctx.app.db.deleteFrom('stripeCheckouts').where('id', '=', checkout.id).execute();
      const fields = err.errors.map((e) => `${e.field}: ${e.reasons.join('; ')}`).join('; ');
      return finish(ctx, row, 'failed', `no pass: ${err.message}${fields ? ` (${fields})` : ''}`);
    }
  }
  await ctx.app.db
    .updateTable('stripeCheckouts')
    .set({ passId: pass.id, updatedAt: ctx.app.clock.now().toISOString() })
    .where('id', '=', checkout.id)
    .execute();
  const ref = { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber };
  for (const channel of settings.deliver ?? []) {
    if (channel === 'email' && !pass.ownerEmail) {
      notes.push('email: the checkout has no customer email');
      continue;
    }
    if (channel === 'sms' && !pass.ownerPhone) {
      notes.push('sms: the checkout has no customer phone');
      continue;
    }
    try {
      await runAction(
        sendPass,
        ctx,
        { ...ref, channel },
        {
          idempotencyKey: `passslot:stripe-checkout:${checkout.id}:${channel}`,
        },
      );
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      notes.push(`${channel}: ${err.message}`);
    }
  }
  return finish(ctx, row, 'done', notes.length ? notes.join('; ') : null, { ...ref, id: pass.id });
}

/** A fully refunded charge revokes the pass its checkout issued (pushed to phones, announced as pass.revoked). */
async function refund(
  ctx: ActionContext,
  row: StripeEventRow,
  integration: IntegrationRow,
  charge: Record<string, unknown>,
): Promise<Processed> {
  if (charge.refunded !== true)
    return finish(ctx, row, 'ignored', 'the charge is refunded in part: the pass stays valid');
  const paymentIntent = isRecord(charge.payment_intent) ? charge.payment_intent.id : charge.payment_intent;
  const checkout =
    typeof paymentIntent === 'string'
      ? await ctx.app.db
          .selectFrom('stripeCheckouts')
          .selectAll()
          .where('integrationId', '=', integration.id)
          .where('paymentIntent', '=', paymentIntent)
          .where('passId', 'is not', null)
          .executeTakeFirst()
      : undefined;
  const pass = checkout?.passId ? await passOf(ctx, { id: checkout.passId }) : undefined;
  if (!pass) return finish(ctx, row, 'ignored', `no pass was issued for payment ${String(paymentIntent)}`);
  const ref = { passTypeIdentifier: pass.passTypeIdentifier, serialNumber: pass.serialNumber };
  if (pass.voided === 1 && pass.status === 'invalid')
    return finish(ctx, row, 'ignored', 'the pass is revoked already', { ...ref, id: pass.id });
  await runAction(revokePass, ctx, { ...ref, reason: `refunded in Stripe (${String(charge.id)})` });
  return finish(ctx, row, 'done', null, { ...ref, id: pass.id });
}

export const processStripeEvent = defineAction({
  name: 'process_stripe_event',
  title: 'Act on a recorded Stripe event',
  description:
    'Passslot itself works off a recorded Stripe event: a paid checkout.session.completed (or ' +
    'checkout.session.async_payment_succeeded) issues one pass per session from the integration template and sends ' +
    'it by email and/or SMS; a fully refunded charge.refunded revokes the pass of that payment.',
  scope: 'system',
  mutates: true,
  input: Type.Object({ stripeEventId: Id }),
  output: Processed,
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('stripeEvents')
      .selectAll()
      .where('id', '=', input.stripeEventId)
      .where('accountId', '=', ctx.grant.accountId)
      .executeTakeFirst();
    if (!row) throw notFound(`stripe event ${input.stripeEventId}`);
    if (row.status !== 'pending') return { status: row.status, note: row.note };
    const integration = await ctx.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', row.integrationId)
      .executeTakeFirst();
    if (!integration) return finish(ctx, row, 'ignored', 'the stripe integration was deleted');
    const event = JSON.parse(row.payload) as StripeEvent;
    if (event.type === 'charge.refunded') return refund(ctx, row, integration, event.data.object);
    return fulfil(ctx, row, integration, event.data.object);
  },
});

export const stripeActions = [receiveStripeEvent, processStripeEvent];
