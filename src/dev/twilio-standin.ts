// A local stand-in for Twilio's Messages API, speaking its wire protocol (the reference's section 5): POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP Basic with the account SID and auth token. It
// checks what Twilio checks (credentials, To in E.164, From or MessagingServiceSid but not both, a Body of at most
// 1,600 characters, a StatusCallback URL), answers 201 with a message resource (sid SM..., status queued) or Twilio's
// error JSON {code, message, more_info, status}, and refuses Twilio's magic test numbers as Twilio's test credentials
// do (+15005550001 invalid, +15005550002 unroutable, +15005550009 not SMS-capable). What a client gets wrong beyond
// Twilio's own checks (a wrong content type, a repeated field, a field Twilio does not know) is listed in `problems`.
// Tests can make it fail the next requests (500, 429) and post signed status callbacks like Twilio does.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  status: string;
  createdAt: Date;
}

/** A request as the stand-in got it, and its answer's status. */
export interface TwilioRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface TwilioStandin {
  /** The base URL to give as the Twilio integration's settings.baseUrl. */
  url: string;
  accountSid: string;
  authToken: string;
  /** The messages Twilio would send (201 answers), oldest first. */
  messages: StandinMessage[];
  requests: TwilioRequest[];
  /** What the client got wrong that Twilio would not tell it (content type, repeated or unknown fields). */
  problems: string[];
  /** The next `times` message requests fail with `status` (500, 503: a server error; 429: code 20429). */
  failNext(times: number, status: number): void;
  /**
   * Posts a status callback for a message as Twilio does (form-encoded, X-Twilio-Signature with the auth token, or
   * with `signWith` to forge one); returns the answer's status.
   */
  sendStatus(
    sid: string,
    status: string,
    options?: { errorCode?: string; signWith?: string },
  ): Promise<number>;
  close(): Promise<void>;
}

/** Twilio's signature of a request: HMAC-SHA1 of the URL then each parameter's name and value, names sorted. */
function sign(url: string, params: URLSearchParams, authToken: string): string {
  const names = [...new Set(params.keys())].sort();
  let data = url;
  for (const name of names) for (const value of params.getAll(name)) data += name + value;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

const E164 = /^\+[1-9]\d{7,14}$/;
const KNOWN_FIELDS = new Set([
  'To',
  'From',
  'MessagingServiceSid',
  'Body',
  'StatusCallback',
  'ValidityPeriod',
  'MediaUrl',
  'ContentSid',
  'ApplicationSid',
  'MaxPrice',
  'ProvideFeedback',
  'Attempt',
  'ForceDelivery',
  'SmartEncoded',
  'ShortenUrls',
  'SendAt',
  'ScheduleType',
]);
/** Twilio's magic numbers for test credentials: the error each To gives. */
const MAGIC_TO: Record<string, [number, string]> = {
  '+15005550001': [21211, "The 'To' number +15005550001 is not a valid phone number."],
  '+15005550002': [
    21612,
    "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number",
  ],
  '+15005550003': [
    21408,
    'Permission to send an SMS has not been enabled for the region indicated by the To number',
  ],
  '+15005550004': [21610, 'Attempt to send to unsubscribed recipient'],
  '+15005550009': [21614, "'To' number is not a valid mobile number"],
};

const hex = (n: number) => randomBytes(n).toString('hex');
const twilioError = (code: number, message: string, status: number) => ({
  code,
  message,
  more_info: `https://www.twilio.com/docs/errors/${code}`,
  status,
});

export async function startTwilioStandin(
  options: { accountSid?: string; authToken?: string; host?: string } = {},
): Promise<TwilioStandin> {
  const accountSid = options.accountSid ?? `AC${hex(16)}`;
  const authToken = options.authToken ?? hex(16);
  const messages: StandinMessage[] = [];
  const requests: TwilioRequest[] = [];
  const problems: string[] = [];
  let failures: { times: number; status: number } = { times: 0, status: 500 };

  function answer(r: Omit<TwilioRequest, 'status'>): { status: number; json: unknown } {
    const path = r.path.split('?')[0]!;
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (!m)
      return { status: 404, json: twilioError(20404, `The requested resource ${path} was not found`, 404) };
    if (r.method !== 'POST')
      return { status: 405, json: twilioError(20004, `Method ${r.method} not allowed`, 405) };
    const basic = /^Basic (.+)$/.exec(r.headers.authorization ?? '')?.[1];
    const [user, pass] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':') : [];
    if (user !== accountSid || pass !== authToken)
      return { status: 401, json: twilioError(20003, 'Authenticate', 401) };
    if (decodeURIComponent(m[1]!) !== accountSid)
      return {
        status: 403,
        json: twilioError(20003, 'The account in the URL is not the account of the credentials', 403),
      };
    if (failures.times > 0) {
      failures = { ...failures, times: failures.times - 1 };
      return failures.status === 429
        ? { status: 429, json: twilioError(20429, 'Too Many Requests', 429) }
        : { status: failures.status, json: twilioError(20500, 'An internal server error has occurred', 500) };
    }
    const type = r.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded')
      problems.push(`content-type is ${r.headers['content-type']}, not application/x-www-form-urlencoded`);
    const form = new URLSearchParams(r.body);
    for (const key of new Set(form.keys())) {
      if (!KNOWN_FIELDS.has(key)) problems.push(`unknown field ${key}`);
      if (form.getAll(key).length > 1) problems.push(`field ${key} given more than once`);
    }
    const to = form.get('To');
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    const body = form.get('Body');
    const callback = form.get('StatusCallback');
    if (!to) return { status: 400, json: twilioError(21604, "A 'To' phone number is required.", 400) };
    if (!E164.test(to))
      return {
        status: 400,
        json: twilioError(21211, `The 'To' number ${to} is not a valid phone number.`, 400),
      };
    if (!from && !service)
      return { status: 400, json: twilioError(21603, "A 'From' phone number is required.", 400) };
    if (from && service)
      return {
        status: 400,
        json: twilioError(
          21603,
          "Give 'From' or 'MessagingServiceSid', not both ('From' must be empty).",
          400,
        ),
      };
    if (from && !E164.test(from))
      return {
        status: 400,
        json: twilioError(21212, `The 'From' number ${from} is not a valid phone number.`, 400),
      };
    if (service && !/^MG[0-9a-fA-F]{32}$/.test(service))
      return { status: 400, json: twilioError(21701, 'The Messaging Service Sid is invalid', 400) };
    if (!body) return { status: 400, json: twilioError(21602, 'Message body is required.', 400) };
    if (body.length > 1600)
      return {
        status: 400,
        json: twilioError(21617, 'The concatenated message body exceeds the 1600 character limit.', 400),
      };
    if (callback !== null && !/^https?:\/\/[^\s]+$/.test(callback))
      return { status: 400, json: twilioError(21609, 'Invalid StatusCallback', 400) };
    const magic = MAGIC_TO[to];
    if (magic) return { status: 400, json: twilioError(magic[0], magic[1], 400) };
    const message: StandinMessage = {
      sid: `SM${hex(16)}`,
      accountSid,
      to,
      from,
      messagingServiceSid: service,
      body,
      statusCallback: callback,
      status: service ? 'accepted' : 'queued',
      createdAt: new Date(),
    };
    messages.push(message);
    return {
      status: 201,
      json: {
        sid: message.sid,
        account_sid: accountSid,
        api_version: '2010-04-01',
        body,
        date_created: message.createdAt.toUTCString().replace('GMT', '+0000'),
        date_sent: null,
        date_updated: message.createdAt.toUTCString().replace('GMT', '+0000'),
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from,
        messaging_service_sid: service,
        num_media: '0',
        num_segments: service ? '0' : String(Math.ceil(body.length / 153) || 1),
        price: null,
        price_unit: 'USD',
        status: message.status,
        to,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}.json`,
      },
    };
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const incoming = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const { status, json } = answer(incoming);
      requests.push({ ...incoming, status });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    accountSid,
    authToken,
    messages,
    requests,
    problems,
    failNext(times, status) {
      failures = { times, status };
    },
    async sendStatus(sid, status, opts = {}) {
      const message = messages.find((m) => m.sid === sid);
      if (!message?.statusCallback) throw new Error(`no message ${sid} with a StatusCallback`);
      message.status = status;
      const params = new URLSearchParams({
        SmsSid: sid,
        SmsStatus: status,
        MessageStatus: status,
        To: message.to,
        MessageSid: sid,
        AccountSid: accountSid,
        ...(message.from ? { From: message.from } : {}),
        ...(message.messagingServiceSid ? { MessagingServiceSid: message.messagingServiceSid } : {}),
        ApiVersion: '2010-04-01',
        ...(opts.errorCode ? { ErrorCode: opts.errorCode } : {}),
      });
      const res = await fetch(message.statusCallback, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
          'x-twilio-signature': sign(message.statusCallback, params, opts.signWith ?? authToken),
          'user-agent': 'TwilioProxy/1.1',
        },
        body: params.toString(),
      });
      await res.arrayBuffer();
      return res.status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
