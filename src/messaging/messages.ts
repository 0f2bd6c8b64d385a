// Messages to pass holders, whatever the channel: each is a row (what was asked, and what became of it) and a durable
// job of its channel's kind (`email`, `sms`) that the job runner claims with a lease, retries with backoff and never
// runs twice at once. A channel only knows how to send one message and what the answer means.
import type { Db } from '../store/db.js';
import type { MessageRow, PassRow, PassTypeRow } from '../store/schema.js';

export const CHANNELS = ['email', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];

/** What a message job carries: its message (the recipient is there too, for whoever reads the queue). */
export interface MessageJob {
  messageId: number;
  passId: number;
  email?: string;
  to?: string;
}

export interface NewMessage {
  accountId: number;
  passId: number;
  channel: Channel;
  recipient: string;
  /** The SMS text; emails are built when they are sent. */
  body?: string | null;
  /** The Twilio integration that sends an SMS. */
  integrationId?: number | null;
}

/** Writes the message and its job in one transaction; returns both ids. */
export async function queueMessage(
  db: Db,
  m: NewMessage,
  now: Date,
): Promise<{ messageId: number; jobId: number }> {
  const at = now.toISOString();
  return db.transaction().execute(async (trx) => {
    const { id: messageId } = await trx
      .insertInto('messages')
      .values({
        accountId: m.accountId,
        passId: m.passId,
        channel: m.channel,
        recipient: m.recipient,
        body: m.body ?? null,
        integrationId: m.integrationId ?? null,
        status: 'queued',
        providerId: null,
        errorCode: null,
        errorMessage: null,
        createdAt: at,
        updatedAt: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const payload: MessageJob = {
      messageId,
      passId: m.passId,
      ...(m.channel === 'email' ? { email: m.recipient } : { to: m.recipient }),
    };
    const { id: jobId } = await trx
      .insertInto('jobs')
      .values({
        accountId: m.accountId,
        kind: m.channel,
        payload: JSON.stringify(payload),
        status: 'pending',
        attempts: 0,
        runAt: at,
        groupKey: null,
        createdAt: at,
        updatedAt: at,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { messageId, jobId };
  });
}

/** One message about to be sent, with what every channel needs to say about its pass. */
export interface Outgoing {
  message: MessageRow;
  pass: PassRow;
  passType: PassTypeRow;
  templateName: string;
  /** The template's messages (JSON), null for the defaults. */
  templateMessages: string | null;
  /** The link that installs the pass. */
  url: string;
  /** The pass page's Google Wallet link, when the account has Google Wallet. */
  googleUrl?: string;
}

/**
 * What became of one try: `sent` (the provider delivered it as far as it will say, as SMTP does), `accepted` (the
 * provider took it and will report its status later, as Twilio does), or `refused` for good with the provider's code.
 * A try that may succeed later throws (RetryLaterError, or any error); one that must wait throws ParkJobError.
 */
export type SendOutcome =
  | { kind: 'sent' }
  | { kind: 'accepted'; providerId: string }
  | { kind: 'refused'; code: string; message: string };

export interface ChannelSender {
  send(out: Outgoing): Promise<SendOutcome>;
  close?(): void;
}
