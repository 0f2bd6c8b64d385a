// Twilio's Messages API: one form-encoded POST per SMS, HTTP Basic with the account SID and auth token. What the
// answer means for the queued message: 201 accepted (Twilio's sid kept), 429 and 5xx and no answer at all retried
// later, any other 4xx refused for good with Twilio's error code and message.
import { type Outbound, OutboundError, retryAfterMs } from '../events/outbound.js';

export const TWILIO_DEFAULTS = { baseUrl: 'https://api.twilio.com' } as const;

/** The longest body Twilio takes (it splits it into segments). */
export const MAX_SMS_BODY = 1600;

export interface TwilioAccount {
  baseUrl: string;
  accountSid: string;
  authToken: string;
}

export interface Sms {
  to: string;
  /** A sender number, or a Messaging Service that picks one. */
  sender: { from: string } | { messagingServiceSid: string };
  body: string;
  /** Where Twilio posts the message's status changes. */
  statusCallback: string;
}

export type SmsOutcome =
  | { kind: 'accepted'; sid: string; status: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  | { kind: 'refused'; code: string; message: string };

interface TwilioError {
  code?: number;
  message?: string;
  more_info?: string;
  status?: number;
}

const parse = (body: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

export async function sendSms(outbound: Outbound, account: TwilioAccount, sms: Sms): Promise<SmsOutcome> {
  const form = new URLSearchParams({ To: sms.to });
  if ('from' in sms.sender) form.set('From', sms.sender.from);
  else form.set('MessagingServiceSid', sms.sender.messagingServiceSid);
  form.set('Body', sms.body);
  form.set('StatusCallback', sms.statusCallback);
  const url = `${account.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(account.accountSid)}/Messages.json`;
  let res: Awaited<ReturnType<Outbound['send']>>;
  try {
    res = await outbound.send({
      method: 'POST',
      url,
      headers: {
        authorization: `Basic ${Buffer.from(`${account.accountSid}:${account.authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: form.toString(),
      timeoutMs: 10_000,
    });
  } catch (err) {
    // a timeout may or may not have made the message: Twilio has no idempotency key, so it is sent again
    if (err instanceof OutboundError) return { kind: 'retry', error: `Twilio: ${err.message}` };
    throw err;
  }
  const answer = parse(res.body);
  if (res.status === 201 || res.status === 200) {
    const sid = answer?.sid;
    if (typeof sid === 'string' && sid)
      return { kind: 'accepted', sid, status: String(answer?.status ?? 'queued') };
    return { kind: 'retry', error: `Twilio answered ${res.status} without a message sid` };
  }
  const e = (answer ?? {}) as TwilioError;
  const described = `Twilio answered ${res.status}${e.code ? ` (error ${e.code})` : ''}: ${e.message ?? res.body.slice(0, 200)}`;
  // 429 (20429, too many concurrent requests) was not processed; a 5xx may have been, but Twilio says retry
  if (res.status === 429 || res.status >= 500)
    return {
      kind: 'retry',
      error: described,
      retryAfterMs: retryAfterMs(res.headers['retry-after'], Date.now()),
    };
  return {
    kind: 'refused',
    code: e.code !== undefined ? String(e.code) : `http_${res.status}`,
    message: e.message ?? (res.body.slice(0, 500) || `HTTP ${res.status}`),
  };
}
