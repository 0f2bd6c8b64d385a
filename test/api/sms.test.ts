// SMS end to end: the real server sends passes through a Twilio stand-in that speaks Twilio's wire protocol (HTTP
// Basic, form fields, E.164, its error JSON and magic test numbers) and posts signed status callbacks. Credentials
// never shown nor stored in clear, the form Twilio gets, retries after 500 and 429 with exactly one message sent,
// Twilio's refusals kept, field errors, delivery.* events from signed callbacks (and none from forged ones), and
// send_pass by REST and MCP.
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSetup } from '../../src/actions/accounts.js';
import { startTwilioStandin, type TwilioStandin } from '../../src/dev/twilio-standin.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

/** The service's clock: real time plus an offset the tests move forward to make retries due. */
let offset = 0;
const clock = { now: () => new Date(Date.now() + offset) };
const later = (ms: number) => {
  offset += ms;
};

const FROM = '+15005550006';
let s: TestServer;
let twilio: TwilioStandin;
let who: AccountSetup;
let integrationId: number;

beforeAll(async () => {
  s = await startServer({ env: { PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true' }, clock });
  twilio = await startTwilioStandin();
  who = await s.account(`sms-${randomBytes(3).toString('hex')}`);
  const res = await s.api(who.appKey, '/v1/integrations', {
    method: 'POST',
    json: {
      type: 'twilio',
      credentials: { accountSid: twilio.accountSid, authToken: twilio.authToken },
      settings: { from: FROM, baseUrl: twilio.url },
    },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  integrationId = (await res.json()).id;
});
afterAll(async () => {
  await s?.close();
  await twilio?.close();
});

async function sms(pass: { path: string }, body: unknown, key = who.appKey) {
  return s.api(key, `${pass.path}/sms`, { method: 'POST', json: body });
}

async function smsJobs() {
  return s.app.db
    .selectFrom('jobs')
    .select(['id', 'status', 'attempts', 'lastError', 'runAt'])
    .where('kind', '=', 'sms')
    .where('accountId', '=', who.accountId)
    .orderBy('id')
    .execute();
}

async function message(id: number) {
  return s.app.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function events(type: string): Promise<{ id: string; type: string; data: Record<string, unknown> }[]> {
  const res = await s.api(who.appKey, `/v1/events?type=${type}&limit=1000`);
  expect(res.status).toBe(200);
  return res.json();
}

/** Drains the workers, moving the clock past any retry (backoff) until nothing is left to do. */
async function drainAll(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await s.workers.drain();
    const open = (await smsJobs()).filter((j) => j.status === 'pending');
    if (open.length === 0) return;
    later(2 * 3_600_000);
  }
}

describe(`SMS through Twilio on ${TEST_DB}`, () => {
  it('connects Twilio: the auth token and SID are never shown nor stored in clear; the callback URL is given', async () => {
    const res = await s.api(who.appKey, `/v1/integrations/${integrationId}`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(twilio.authToken);
    expect(text).not.toContain(twilio.accountSid);
    expect(JSON.parse(text)).toMatchObject({
      type: 'twilio',
      events: [],
      settings: { from: FROM, baseUrl: twilio.url },
      endpoint: `${s.url}/hooks/twilio/${integrationId}`,
    });
    const row = await s.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', integrationId)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(twilio.authToken);
    expect(JSON.stringify(row)).not.toContain(twilio.accountSid);
    expect(JSON.parse(s.app.secrets.decrypt(row.credentialsEnc))).toEqual({
      accountSid: twilio.accountSid,
      authToken: twilio.authToken,
    });
  });

  it('refuses a Twilio configuration that cannot work, with a field error for each problem', async () => {
    const fields = async (body: unknown) => {
      const res = await s.api(who.appKey, '/v1/integrations', { method: 'POST', json: body });
      expect(res.status).toBe(422);
      const out = await res.json();
      expect(out.code).toBe('validation_failed');
      return out.errors.map((e: { field: string }) => e.field).sort();
    };
    expect(
      await fields({
        type: 'twilio',
        credentials: { accountSid: 'not-a-sid', accessToken: 'x' },
        settings: { baseUrl: 'ftp://api.twilio.test' },
      }),
    ).toEqual(
      [
        'credentials.accessToken',
        'credentials.accountSid',
        'credentials.authToken',
        'settings.baseUrl',
        'settings.from',
      ].sort(),
    );
    const creds = { accountSid: twilio.accountSid, authToken: twilio.authToken };
    expect(
      await fields({
        type: 'twilio',
        credentials: creds,
        settings: { from: FROM, messagingServiceSid: `MG${'a'.repeat(32)}` },
      }),
    ).toEqual(['settings.from']);
    expect(await fields({ type: 'twilio', credentials: creds, settings: { from: '5551234' } })).toEqual([
      'settings.from',
    ]);
    expect(
      await fields({ type: 'twilio', credentials: creds, settings: { from: FROM }, events: ['pass.*'] }),
    ).toEqual(['events']);
  });

  it('sends one SMS: HTTP Basic, To, From, the Body with the pass link, and the StatusCallback', async () => {
    const pass = await createMemberPass(s, who, memberValues({ firstName: 'Grace' }));
    const before = twilio.messages.length;
    const res = await sms(pass, { to: '+15558675310', message: 'Hi ${firstName}, your card: ${passUrl}' });
    expect(res.status).toBe(202);
    const out = await res.json();
    expect(out).toMatchObject({ channel: 'sms', to: '+15558675310' });
    await s.workers.drain();
    expect(twilio.messages.length).toBe(before + 1);
    const sent = twilio.messages.at(-1)!;
    expect(sent).toMatchObject({
      accountSid: twilio.accountSid,
      to: '+15558675310',
      from: FROM,
      messagingServiceSid: null,
      body: `Hi Grace, your card: ${pass.url}`,
      statusCallback: `${s.url}/hooks/twilio/${integrationId}`,
    });
    const request = twilio.requests.at(-1)!;
    expect(request.headers.authorization).toBe(
      `Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`,
    );
    expect(request.status).toBe(201);
    expect(twilio.problems).toEqual([]);
    expect(await message(out.messageId)).toMatchObject({
      status: 'accepted',
      providerId: sent.sid,
      channel: 'sms',
    });
    // nothing more, however often the workers run
    await s.workers.drain();
    expect(twilio.messages.length).toBe(before + 1);
  });

  it("texts the holder's phone by default, naming the template", async () => {
    const pass = await createMemberPass(s, who, memberValues(), '?phone=%2B447700900123');
    const res = await sms(pass, undefined);
    expect(res.status).toBe(202);
    await s.workers.drain();
    expect(twilio.messages.at(-1)).toMatchObject({
      to: '+447700900123',
      body: `Your Member Card pass: ${pass.url}`,
    });
    const details = await (await s.api(who.appKey, `${pass.path}/details`)).json();
    expect(details.owner.phone).toBe('+447700900123');
  });

  it('retries after Twilio answers 500 and then 429, and sends exactly one message', async () => {
    const pass = await createMemberPass(s, who);
    const before = twilio.messages.length;
    const requestsBefore = twilio.requests.length;
    // set before the SMS is queued: the workers are woken as soon as it is
    twilio.failNext(1, 500);
    const out = await (await sms(pass, { to: '+15558675311' })).json();
    await s.workers.drain();
    let [job] = (await smsJobs()).filter((j) => j.id === out.jobId);
    expect(job).toMatchObject({ status: 'pending', attempts: 1 });
    expect(job!.lastError).toMatch(/500/);
    expect(Date.parse(job!.runAt)).toBeGreaterThan(clock.now().getTime());
    expect((await message(out.messageId)).status).toBe('queued');
    // not due yet: nothing is sent
    expect(await s.workers.drain()).toBe(0);
    twilio.failNext(1, 429);
    later(2 * 3_600_000);
    await s.workers.drain();
    [job] = (await smsJobs()).filter((j) => j.id === out.jobId);
    expect(job).toMatchObject({ status: 'pending', attempts: 2 });
    expect(job!.lastError).toMatch(/429/);
    later(2 * 3_600_000);
    await s.workers.drain();
    [job] = (await smsJobs()).filter((j) => j.id === out.jobId);
    expect(job).toMatchObject({ status: 'done', attempts: 3 });
    expect(twilio.requests.slice(requestsBefore).map((r) => r.status)).toEqual([500, 429, 201]);
    expect(twilio.messages.length).toBe(before + 1);
    expect(twilio.messages.at(-1)!.to).toBe('+15558675311');
    later(48 * 3_600_000);
    await s.workers.drain();
    expect(twilio.messages.length).toBe(before + 1);
  });

  it("fails for good on a number Twilio refuses, keeping Twilio's code and message, and says so in an event", async () => {
    const pass = await createMemberPass(s, who);
    const requestsBefore = twilio.requests.length;
    const out = await (await sms(pass, { to: '+15005550001' })).json();
    await drainAll();
    const [job] = (await smsJobs()).filter((j) => j.id === out.jobId);
    expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    expect(job!.lastError).toMatch(/21211/);
    expect(twilio.requests.length).toBe(requestsBefore + 1);
    expect(await message(out.messageId)).toMatchObject({
      status: 'failed',
      errorCode: '21211',
      errorMessage: "The 'To' number +15005550001 is not a valid phone number.",
    });
    const failed = (await events('delivery.failed')).find((e) => e.data.messageId === out.messageId)!;
    expect(failed.data).toMatchObject({
      serialNumber: pass.serialNumber,
      passTypeIdentifier: pass.passTypeIdentifier,
      channel: 'sms',
      errorCode: '21211',
    });
    expect(JSON.stringify(failed)).not.toContain('5005550001');
  });

  it('answers 422 naming the field to for a number that is not E.164, and queues nothing', async () => {
    const pass = await createMemberPass(s, who);
    const jobsBefore = (await smsJobs()).length;
    for (const to of [
      '5558675310',
      '+1555',
      '+1234567890123456',
      '+1 555 867 5310',
      'sms:+15558675310',
      42,
    ]) {
      const res = await sms(pass, { to });
      expect(res.status, String(to)).toBe(422);
      const body = await res.json();
      expect(body.code).toBe('validation_failed');
      expect(body.errors.map((e: { field: string }) => e.field)).toEqual(['to']);
    }
    // no number given, and the holder has none
    const none = await sms(pass, {});
    expect(none.status).toBe(422);
    expect((await none.json()).errors[0].field).toBe('to');
    // a message naming a value the pass does not have
    const unknown = await sms(pass, { to: '+15558675310', message: 'Hi ${nickname}' });
    expect(unknown.status).toBe(422);
    expect((await unknown.json()).errors[0]).toMatchObject({ field: 'message' });
    expect((await smsJobs()).length).toBe(jobsBefore);
  });

  it('answers 409 when the account has no Twilio integration', async () => {
    const other = await s.account(`nosms-${randomBytes(3).toString('hex')}`);
    const pass = await createMemberPass(s, other);
    const res = await sms(pass, { to: '+15558675310' }, other.appKey);
    expect(res.status).toBe(409);
    expect((await res.json()).code).toBe('conflict');
  });

  it("turns Twilio's signed status callbacks into delivery events; a forged one is refused 403 and changes nothing", async () => {
    const pass = await createMemberPass(s, who);
    const out = await (await sms(pass, { to: '+15558675312' })).json();
    await s.workers.drain();
    const sid = (await message(out.messageId)).providerId!;
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    const mine = async (type: string) =>
      (await events(type)).filter((e) => e.data.messageId === out.messageId);

    expect(await twilio.sendStatus(sid, 'sent')).toBe(204);
    expect(await mine('delivery.sent')).toHaveLength(1);
    // forged: signed with another token; nothing changes
    expect(await twilio.sendStatus(sid, 'delivered', { signWith: 'not-the-auth-token' })).toBe(403);
    expect(await mine('delivery.delivered')).toHaveLength(0);
    expect((await message(out.messageId)).status).toBe('sent');

    expect(await twilio.sendStatus(sid, 'delivered')).toBe(204);
    const [delivered] = await mine('delivery.delivered');
    expect(delivered!.data).toMatchObject({
      serialNumber: pass.serialNumber,
      passTypeIdentifier: pass.passTypeIdentifier,
      templateId: who.templateId,
      channel: 'sms',
      messageId: out.messageId,
    });
    expect(JSON.stringify(delivered)).not.toContain('5558675312');
    expect((await message(out.messageId)).status).toBe('delivered');
    // a repeated or late callback announces nothing again
    expect(await twilio.sendStatus(sid, 'delivered')).toBe(204);
    expect(await twilio.sendStatus(sid, 'sent')).toBe(204);
    expect(await mine('delivery.delivered')).toHaveLength(1);
    expect(await mine('delivery.sent')).toHaveLength(1);

    // undelivered, with Twilio's error code
    const second = await (await sms(pass, { to: '+15558675313' })).json();
    await s.workers.drain();
    const sid2 = (await message(second.messageId)).providerId!;
    expect(await twilio.sendStatus(sid2, 'undelivered', { errorCode: '30003' })).toBe(204);
    const failed = (await events('delivery.failed')).find((e) => e.data.messageId === second.messageId);
    expect(failed?.data).toMatchObject({ channel: 'sms', errorCode: '30003' });

    // no signature at all is refused; an integration that does not exist is not found
    const unsigned = await request(`${s.url}/hooks/twilio/${integrationId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ MessageSid: sid2, MessageStatus: 'delivered' }).toString(),
    });
    expect(unsigned.status).toBe(403);
    expect((await unsigned.json()).code).toBe('invalid_signature');
    expect((await message(second.messageId)).status).toBe('failed');
    const missing = await request(`${s.url}/hooks/twilio/999999`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'MessageSid=x',
    });
    expect(missing.status).toBe(404);
  });

  it('sends by either channel with send_pass over REST, and agents see send_pass and sms_pass as MCP tools', async () => {
    const pass = await createMemberPass(s, who, memberValues(), '?email=holder@example.com');
    const viaRest = await s.api(who.appKey, `${pass.path}/send`, {
      method: 'POST',
      json: { channel: 'sms', to: '+15558675314' },
    });
    expect(viaRest.status).toBe(202);
    expect(await viaRest.json()).toMatchObject({ channel: 'sms', to: '+15558675314' });
    const email = await s.api(who.appKey, `${pass.path}/send`, {
      method: 'POST',
      json: { channel: 'email' },
    });
    expect(email.status).toBe(202);
    const queued = await email.json();
    expect(queued).toMatchObject({ channel: 'email', to: 'holder@example.com' });
    const job = await s.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', queued.jobId)
      .executeTakeFirstOrThrow();
    expect(job.kind).toBe('email');
    // each channel checks its own kind of address
    for (const [channel, to] of [
      ['email', '+15558675314'],
      ['sms', 'holder@example.com'],
    ]) {
      const res = await s.api(who.appKey, `${pass.path}/send`, { method: 'POST', json: { channel, to } });
      expect(res.status).toBe(422);
      expect((await res.json()).errors[0].field).toBe('to');
    }

    const client = new Client({ name: 'passslot-sms-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${who.appKey}` } },
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['send_pass', 'sms_pass', 'email_pass']));
      const result = await client.callTool({
        name: 'send_pass',
        arguments: {
          passTypeIdentifier: pass.passTypeIdentifier,
          serialNumber: pass.serialNumber,
          channel: 'sms',
          to: '+15558675315',
        },
      });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ channel: 'sms', to: '+15558675315' });
    } finally {
      await client.close();
    }
    await s.workers.drain();
    expect(twilio.messages.map((m) => m.to)).toEqual(
      expect.arrayContaining(['+15558675314', '+15558675315']),
    );
    // the agent's call is in the execution log, from the mcp edge
    const runs = await (await s.api(who.appKey, '/v1/executions?action=send_pass')).json();
    expect(JSON.stringify(runs)).toContain('"mcp"');
  });
});
