// Sending a pass to its holder, by email or SMS: one queue for both (messaging/messages.ts), one way a message's
// status moves forward and is announced (delivery.sent, delivery.delivered, delivery.failed), and Twilio's signed
// status callbacks.
import { FormatRegistry, type Static, Type } from '@sinclair/typebox';
import { twilioSignatureValid } from '../auth/hook-signatures.js';
import { compileTemplate, MissingValuesError } from '../engine/index.js';
import { AppError, conflict, invalid, notFound } from '../errors.js';
import { credentialsOf } from '../events/crm/common.js';
import { deliveryEvent, passLink } from '../events/payloads.js';
import { type Channel, queueMessage } from '../messaging/messages.js';
import { DEFAULT_SMS, smsTemplateOf } from '../messaging/templates.js';
import { MAX_SMS_BODY } from '../messaging/twilio.js';
import { appendEvent, withEvents } from '../store/events.js';
import type { MessageRow, MessageStatus } from '../store/schema.js';
import { findPass } from './access.js';
import { googleLinkOf } from './google.js';
import { type ActionContext, defineAction } from './registry.js';
import { E164, Id, PassRef, Phone } from './schemas.js';

const E164_RE = new RegExp(E164);

export const MessageQueued = Type.Object({
  channel: Type.Union([Type.Literal('email'), Type.Literal('sms')]),
  to: Type.String({ description: 'the address or number it goes to' }),
  messageId: Type.Integer({ description: 'the message, named by its delivery.* events (messageId)' }),
  jobId: Type.Integer({ description: 'the job that sends it' }),
});
type MessageQueued = Static<typeof MessageQueued>;

/**
 * The text of an SMS: the given one (or the template's, or the default) with ${placeholders}, ${templateName},
 * ${passUrl} and ${googleUrl} filled in (the pass page link added if it has none: the page sends each phone to its
 * wallet).
 */
function smsText(
  given: string | undefined,
  templateName: string,
  values: Record<string, unknown>,
  url: string,
  googleUrl: string,
): string {
  let text: string;
  try {
    text = compileTemplate({}).renderText(given ?? DEFAULT_SMS, {
      ...values,
      templateName,
      passUrl: url,
      googleUrl,
    });
  } catch (err) {
    if (err instanceof MissingValuesError)
      throw invalid([
        {
          field: 'message',
          reasons: [
            `names placeholders the pass has no value for: ${err.names.join(', ')} (and \${passUrl})`,
          ],
        },
      ]);
    throw err;
  }
  return text.includes(url) ? text : `${text} ${url}`;
}

/**
 * Queues a pass to its holder by one channel: to the address or number given, else the holder's. An SMS goes through
 * the account's Twilio integration, with `message` (or a default naming the template) and the pass link.
 */
export async function queuePassMessage(
  ctx: ActionContext,
  ref: { passTypeIdentifier: string; serialNumber: string },
  channel: Channel,
  given: { to?: string; message?: string; toField: string },
): Promise<MessageQueued> {
  const { pass } = await findPass(ctx, ref.passTypeIdentifier, ref.serialNumber);
  const to = given.to ?? (channel === 'email' ? pass.ownerEmail : pass.ownerPhone);
  if (!to)
    throw invalid([
      {
        field: given.toField,
        reasons: [`is required: the pass has no holder ${channel === 'email' ? 'email' : 'phone'}`],
      },
    ]);
  if (channel === 'email' && !FormatRegistry.Get('email')!(to))
    throw invalid([{ field: given.toField, reasons: ['is not an email address'] }]);
  if (channel === 'sms' && !E164_RE.test(to))
    throw invalid([
      { field: given.toField, reasons: ['is not a phone number in E.164 form (+ then 8 to 15 digits)'] },
    ]);
  if (channel === 'email' && given.message !== undefined)
    throw invalid([{ field: 'message', reasons: ['is for SMS; an email says what the template is'] }]);
  let body: string | null = null;
  let integrationId: number | null = null;
  if (channel === 'sms') {
    const twilio = await ctx.app.db
      .selectFrom('integrations')
      .select('id')
      .where('accountId', '=', pass.accountId)
      .where('type', '=', 'twilio')
      .where('enabled', '=', 1)
      .orderBy('id')
      .executeTakeFirst();
    if (!twilio)
      throw conflict(
        'no Twilio integration sends SMS for this account: connect one with POST /v1/integrations {"type": "twilio"}',
      );
    integrationId = twilio.id;
    const template = await ctx.app.db
      .selectFrom('templates')
      .select(['name', 'messages'])
      .where('id', '=', pass.templateId)
      .executeTakeFirstOrThrow();
    body = smsText(
      given.message ?? smsTemplateOf(template),
      template.name,
      JSON.parse(pass.values) as Record<string, unknown>,
      passLink(ctx.app.config.publicUrl, pass),
      (await googleLinkOf(ctx.app, pass)) ?? '',
    );
    if (body.length > MAX_SMS_BODY)
      throw invalid([
        {
          field: 'message',
          reasons: [`makes an SMS of ${body.length} characters; Twilio takes ${MAX_SMS_BODY}`],
        },
      ]);
  }
  const { messageId, jobId } = await queueMessage(
    ctx.app.db,
    { accountId: pass.accountId, passId: pass.id, channel, recipient: to, body, integrationId },
    ctx.app.clock.now(),
  );
  ctx.app.wake(channel);
  return { channel, to, messageId, jobId };
}

// ---------------------------------------------------------------------------------------------------------------
// A message's status

/** How far a message has got; it only moves forward (Twilio's callbacks may come out of order, or twice). */
const RANK: Record<MessageStatus, number> = { queued: 0, accepted: 1, sent: 2, delivered: 3, failed: 3 };
const EVENT_OF = {
  sent: 'delivery.sent',
  delivered: 'delivery.delivered',
  failed: 'delivery.failed',
} as const;

const StatusChange = {
  status: Type.Union([
    Type.Literal('accepted'),
    Type.Literal('sent'),
    Type.Literal('delivered'),
    Type.Literal('failed'),
  ]),
  providerId: Type.Optional(Type.String({ maxLength: 100 })),
  errorCode: Type.Optional(Type.String({ maxLength: 100 })),
  errorMessage: Type.Optional(Type.String({ maxLength: 2000 })),
};
type StatusChange = Static<ReturnType<typeof Type.Object<typeof StatusChange>>>;

/** Moves a message to a later status and writes that status's event, in one transaction; false if it was there. */
async function advanceMessage(
  ctx: ActionContext,
  message: MessageRow,
  change: StatusChange,
): Promise<boolean> {
  const earlier = (Object.keys(RANK) as MessageStatus[]).filter((s) => RANK[s] < RANK[change.status]);
  if (!earlier.includes(message.status)) return false;
  const pass = await ctx.app.db
    .selectFrom('passes')
    .selectAll()
    .where('id', '=', message.passId)
    .executeTakeFirst();
  const passType = pass
    ? await ctx.app.db
        .selectFrom('passTypes')
        .selectAll()
        .where('id', '=', pass.passTypeId)
        .executeTakeFirst()
    : undefined;
  const now = ctx.app.clock.now();
  return withEvents(ctx.app, async (trx) => {
    const r = await trx
      .updateTable('messages')
      .set({
        status: change.status,
        ...(change.providerId ? { providerId: change.providerId } : {}),
        ...(change.status === 'failed'
          ? { errorCode: change.errorCode ?? null, errorMessage: change.errorMessage ?? null }
          : {}),
        updatedAt: now.toISOString(),
      })
      .where('id', '=', message.id)
      .where('status', 'in', earlier)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    const type = change.status === 'accepted' ? undefined : EVENT_OF[change.status];
    if (type && pass && passType)
      await appendEvent(
        trx,
        deliveryEvent(type, pass, passType, {
          id: message.id,
          channel: message.channel,
          errorCode: change.errorCode,
          // providers name the number or address in their errors; events name none
          errorMessage: change.errorMessage?.split(message.recipient).join('the recipient'),
        }),
        now,
      );
    return true;
  });
}

export const recordMessageStatus = defineAction({
  name: 'record_message_status',
  title: 'Record what became of a message',
  description:
    'Passslot itself records what the mail server or Twilio said of a message to a pass holder: accepted, sent, ' +
    'delivered or failed (with the provider error), and announces it as a delivery.* event.',
  scope: 'system',
  mutates: true,
  input: Type.Object({ messageId: Id, ...StatusChange }),
  output: Type.Object({ moved: Type.Boolean() }),
  async handler(ctx, input) {
    const message = await ctx.app.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', input.messageId)
      .where('accountId', '=', ctx.grant.accountId)
      .executeTakeFirst();
    if (!message) throw notFound(`message ${input.messageId}`);
    return { moved: await advanceMessage(ctx, message, input) };
  },
});

/** Twilio's MessageStatus values that Passslot records; the others (queued, sending, ...) change nothing. */
const TWILIO_STATUS: Record<string, 'sent' | 'delivered' | 'failed'> = {
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'failed',
  failed: 'failed',
};

export const receiveTwilioStatus = defineAction({
  name: 'receive_twilio_status',
  title: "Take Twilio's status callback",
  description:
    "Passslot itself takes Twilio's status callbacks for the SMS it sent: the X-Twilio-Signature must be the " +
    "integration's auth token's signature of the URL and parameters, else nothing changes (403). sent, delivered, " +
    'undelivered and failed become delivery.sent, delivery.delivered and delivery.failed events.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    integrationId: Type.Integer({ minimum: 0 }),
    url: Type.String({ maxLength: 4000, description: 'the URL Twilio posted to, as Passslot gave it' }),
    params: Type.Record(Type.String(), Type.String()),
    signature: Type.Optional(Type.String({ maxLength: 200 })),
  }),
  output: Type.Object({ accountId: Type.Integer(), moved: Type.Boolean() }),
  async handler(ctx, input) {
    const integration = await ctx.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', input.integrationId)
      .where('type', '=', 'twilio')
      .executeTakeFirst();
    if (!integration || (ctx.grant.accountId && integration.accountId !== ctx.grant.accountId))
      throw notFound(`twilio integration ${input.integrationId}`);
    const { authToken } = credentialsOf(ctx.app, integration);
    if (!twilioSignatureValid(input.url, input.params, input.signature, authToken ?? ''))
      throw new AppError('invalid_signature', 'X-Twilio-Signature is not Twilio’s signature of this request');
    const status = TWILIO_STATUS[input.params.MessageStatus ?? ''];
    const sid = input.params.MessageSid;
    const message =
      status && sid
        ? await ctx.app.db
            .selectFrom('messages')
            .selectAll()
            .where('integrationId', '=', integration.id)
            .where('providerId', '=', sid)
            .executeTakeFirst()
        : undefined;
    if (!status || !message) return { accountId: integration.accountId, moved: false };
    const errorCode = input.params.ErrorCode || undefined;
    const moved = await advanceMessage(ctx, message, {
      status,
      ...(status === 'failed'
        ? {
            errorCode: errorCode ?? input.params.MessageStatus,
            errorMessage: `Twilio: ${input.params.MessageStatus}${errorCode ? ` (error ${errorCode})` : ''}`,
          }
        : {}),
    });
    return { accountId: integration.accountId, moved };
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Sending

export const smsPass = defineAction({
  name: 'sms_pass',
  title: 'Text a pass by SMS',
  description:
    "Texts the pass link to a phone number (E.164, default: the holder's phone) through the account's Twilio " +
    "integration. `message` may use the pass's ${placeholders} and ${passUrl} (the link is added when it has none); " +
    'the default is "Your <template> pass: <link>". Sending is queued and retried; delivery.sent, delivery.delivered ' +
    'and delivery.failed events follow.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    to: Type.Optional(Phone),
    message: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_SMS_BODY })),
  }),
  output: MessageQueued,
  handler: (ctx, input) =>
    queuePassMessage(ctx, input, 'sms', { to: input.to, message: input.message, toField: 'to' }),
});

export const sendPass = defineAction({
  name: 'send_pass',
  title: 'Send a pass to its holder by email or SMS',
  description:
    'Sends a pass to a person by the channel given: email (with the .pkpass attached and its link) or sms (the link, ' +
    "through Twilio). `to` is an email address or an E.164 phone number; without it the holder's email or phone is " +
    'used. Use it when a customer asks for their pass again.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    channel: Type.Union([Type.Literal('email'), Type.Literal('sms')]),
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    message: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_SMS_BODY })),
  }),
  output: MessageQueued,
  handler: (ctx, input) =>
    queuePassMessage(ctx, input, input.channel, { to: input.to, message: input.message, toField: 'to' }),
});

export const messageActions = [smsPass, sendPass, recordMessageStatus, receiveTwilioStatus];
