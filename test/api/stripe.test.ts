// Stripe as a trigger, end to end: events signed by the official `stripe` package (generateTestHeaderString) are
// posted to /hooks/stripe/:id; a paid checkout issues exactly one pass with the mapped values, whose email arrives at
// a real SMTP server and whose SMS at the Twilio stand-in, whatever Stripe repeats; bad or stale signatures, unpaid
// sessions and other event types create nothing; a full refund revokes the pass; an event recorded before a crash
// is worked off after the restart.
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSetup } from '../../src/actions/accounts.js';
import { startTwilioStandin, type TwilioStandin } from '../../src/dev/twilio-standin.js';
import { verifyPkpass } from '../helpers.js';
import { request, startServer, TEST_DB, type TestServer } from './harness.js';
import { closeSmtps, type Smtp, startSmtp } from './smtp.js';

const stripe = new Stripe('sk_test_passslot');
const SECRET = `whsec_${randomBytes(24).toString('base64url')}`;
const FROM = '+15005550006';

/** The service's clock: real time plus an offset the tests move forward. */
const offset = 0;
const clock = { now: () => new Date(Date.now() + offset) };
const nowSeconds = () => Math.floor(clock.now().getTime() / 1000);

let s: TestServer;
let smtp: Smtp;
let twilio: TwilioStandin;
let who: AccountSetup;
let stripeId: number;
let endpoint: string;

const MAPPING = {
  firstName: 'customer_details.name',
  lastName: 'metadata.last_name',
  memberSince: 'metadata.member_since',
  points: 'amount_total',
  memberId: 'client_reference_id',
};

beforeAll(async () => {
  smtp = await startSmtp();
  twilio = await startTwilioStandin();
  s = await startServer({
    env: {
      PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true',
      PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      PASSSLOT_SMTP_FROM: 'Passslot Tests <wallet@passslot.test>',
    },
    clock,
  });
  who = await s.account(`stripe-${randomBytes(3).toString('hex')}`);
  const tw = await s.api(who.appKey, '/v1/integrations', {
    method: 'POST',
    json: {
      type: 'twilio',
      credentials: { accountSid: twilio.accountSid, authToken: twilio.authToken },
      settings: { from: FROM, baseUrl: twilio.url },
    },
  });
  expect(tw.status).toBe(201);
  const res = await s.api(who.appKey, '/v1/integrations', {
    method: 'POST',
    json: {
      type: 'stripe',
      credentials: { signingSecret: SECRET },
      settings: { templateId: who.templateId, deliver: ['email', 'sms'] },
      mapping: MAPPING,
    },
  });
  const text = await res.text();
  expect(res.status, text).toBe(201);
  const out = JSON.parse(text);
  stripeId = out.id;
  endpoint = out.endpoint;
});
afterAll(async () => {
  await s?.close();
  await twilio?.close();
  await closeSmtps();
});

// ---------------------------------------------------------------------------------------------------------------

let seq = 0;
const rand = () => `${++seq}${randomBytes(8).toString('hex')}`;

function checkout(overrides: Record<string, unknown> = {}): Record<string, unknown> & { id: string } {
  const id = `cs_test_${rand()}`;
  return {
    id,
    object: 'checkout.session',
    amount_total: 2500,
    currency: 'usd',
    client_reference_id: `M-${seq}`,
    customer: null,
    customer_details: {
      email: `buyer${seq}@example.com`,
      name: 'Ada',
      phone: `+1555867${String(5000 + seq)}`,
    },
    livemode: false,
    metadata: { last_name: 'Lovelace', member_since: '2026' },
    mode: 'payment',
    payment_intent: `pi_${rand()}`,
    payment_status: 'paid',
    status: 'complete',
    ...overrides,
  };
}

function event(type: string, object: Record<string, unknown>, id = `evt_${rand()}`): string {
  return JSON.stringify(
    {
      id,
      object: 'event',
      api_version: '2026-10-28.clover',
      created: nowSeconds(),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    },
    null,
    2,
  );
}

/** Posts a payload to the endpoint as Stripe would, signed by the stripe package (or with the header given). */
async function post(payload: string, header?: string) {
  return request(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature':
        header ??
        stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: nowSeconds() }),
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    },
    body: payload,
  });
}

async function passesOf(sessionId: string) {
  const res = await s.api(who.appKey, `/v1/passes?externalId=${sessionId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as {
    serialNumber: string;
    passTypeIdentifier: string;
    email: string;
    url: string;
  }[];
}

async function recorded(eventId: string) {
  return s.app.db.selectFrom('stripeEvents').selectAll().where('eventId', '=', eventId).execute();
}

// ---------------------------------------------------------------------------------------------------------------

describe(`Stripe checkouts issue passes on ${TEST_DB}`, () => {
  it('answers the create with the endpoint to give Stripe, and keeps the signing secret encrypted, never shown', async () => {
    expect(endpoint).toBe(`${s.url}/hooks/stripe/${stripeId}`);
    const res = await s.api(who.appKey, `/v1/integrations/${stripeId}`);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text)).toMatchObject({
      type: 'stripe',
      settings: { templateId: who.templateId, deliver: ['email', 'sms'] },
      mapping: MAPPING,
      endpoint,
    });
    const row = await s.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('id', '=', stripeId)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(SECRET.slice(6));
    expect(JSON.parse(s.app.secrets.decrypt(row.credentialsEnc))).toEqual({ signingSecret: SECRET });
  });

  it('refuses a configuration that cannot work, naming each field', async () => {
    const other = await s.account(`stripe-other-${randomBytes(3).toString('hex')}`);
    const fields = async (body: Record<string, unknown>) => {
      const res = await s.api(who.appKey, '/v1/integrations', {
        method: 'POST',
        json: { type: 'stripe', ...body },
      });
      expect(res.status).toBe(422);
      return ((await res.json()).errors as { field: string }[]).map((e) => e.field).sort();
    };
    expect(
      await fields({
        credentials: { signingSecret: 'sk_live_nope' },
        settings: { templateId: other.templateId, deliver: ['email'] },
        mapping: { firstName: 'customer details!' },
      }),
    ).toEqual(['credentials.signingSecret', 'mapping.firstName', 'settings.templateId']);
    // every placeholder of the template must be mapped, and only those
    expect(
      await fields({
        credentials: { signingSecret: SECRET },
        settings: { templateId: who.templateId },
        mapping: { firstName: 'customer_details.name', seat: 'metadata.seat' },
      }),
    ).toEqual(['mapping', 'mapping.seat']);
    expect(await fields({ credentials: { signingSecret: SECRET }, settings: { deliver: ['fax'] } })).toEqual([
      'settings.deliver[0]',
    ]);
  });

  it('issues one pass from a paid checkout, with the mapped values and the customer as holder, sent by email and SMS', async () => {
    const session = checkout();
    const mailsBefore = smtp.received.length;
    const smsBefore = twilio.messages.length;
    const payload = event('checkout.session.completed', session);
    const res = await post(payload);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true });
    const eventId = JSON.parse(payload).id;
    await s.workers.drain();
    const [pass, ...more] = await passesOf(session.id);
    expect(more).toEqual([]);
    const details = await (
      await s.api(who.appKey, `/v1/passes/${pass!.passTypeIdentifier}/${pass!.serialNumber}/details`)
    ).json();
    const customer = session.customer_details as { email: string; phone: string };
    expect(details).toMatchObject({
      values: {
        firstName: 'Ada',
        lastName: 'Lovelace',
        memberSince: '2026',
        points: 2500,
        memberId: session.client_reference_id,
      },
      owner: {
        email: customer.email,
        phone: customer.phone,
        userId: session.client_reference_id,
        externalId: session.id,
      },
      status: 'valid',
    });
    // the email, with the signed .pkpass, at the real SMTP server
    const mails = smtp.received.slice(mailsBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.rcptTo).toEqual([customer.email]);
    expect(mails[0]!.mail.text).toContain(pass!.url);
    const { passJson } = verifyPkpass(
      mails[0]!.mail.attachments.find((a) => a.filename?.endsWith('.pkpass'))!.content,
      who.devCaPath,
    );
    expect(passJson.serialNumber).toBe(pass!.serialNumber);
    // the SMS, with the link, at Twilio
    const texts = twilio.messages.slice(smsBefore);
    expect(texts).toHaveLength(1);
    expect(texts[0]).toMatchObject({
      to: customer.phone,
      from: FROM,
      body: `Your Member Card pass: ${pass!.url}`,
    });
    expect(twilio.problems).toEqual([]);
    expect((await recorded(eventId))[0]).toMatchObject({ status: 'done', note: null });
    // the work ran from the trigger edge, and says so in the execution log
    const runs = await (await s.api(who.appKey, '/v1/executions?edge=trigger&limit=100')).json();
    const actions = JSON.stringify(runs);
    for (const name of ['receive_stripe_event', 'process_stripe_event', 'create_pass', 'send_pass'])
      expect(actions).toContain(name);
  });

  it('issues still one pass when Stripe sends the event twice and another event about the same session', async () => {
    const session = checkout();
    const mailsBefore = smtp.received.length;
    const smsBefore = twilio.messages.length;
    const payload = event('checkout.session.completed', session);
    expect((await post(payload)).status).toBe(200);
    expect((await post(payload)).status).toBe(200); // Stripe's retry: same event id
    expect((await post(event('checkout.session.async_payment_succeeded', session))).status).toBe(200);
    expect((await recorded(JSON.parse(payload).id)).length).toBe(1);
    await s.workers.drain();
    // and once more after the pass exists, with yet another event id
    expect((await post(event('checkout.session.completed', session))).status).toBe(200);
    expect((await post(payload)).status).toBe(200);
    await s.workers.drain();
    expect(await passesOf(session.id)).toHaveLength(1);
    expect(smtp.received.length - mailsBefore).toBe(1);
    expect(twilio.messages.length - smsBefore).toBe(1);
  });

  it('creates nothing for a bad signature, a stale one, or another secret (400)', async () => {
    const session = checkout();
    const payload = event('checkout.session.completed', session);
    const ts = nowSeconds();
    const stale = stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: ts - 301 });
    const wrongSecret = stripe.webhooks.generateTestHeaderString({
      payload,
      secret: 'whsec_another',
      timestamp: ts,
    });
    const ofOtherBody = stripe.webhooks.generateTestHeaderString({
      payload: payload.replace('"paid"', '"unpaid"'),
      secret: SECRET,
      timestamp: ts,
    });
    for (const [what, header] of [
      ['stale', stale],
      ['another secret', wrongSecret],
      ['another body', ofOtherBody],
      ['no v1', `t=${ts}`],
      ['empty', ''],
    ] as const) {
      const res = await post(payload, header);
      expect(res.status, what).toBe(400);
      expect((await res.json()).code, what).toBe('bad_request');
    }
    // JSON parsed and serialized again is not the body Stripe signed
    const reserialized = JSON.stringify(JSON.parse(payload));
    expect(
      (
        await post(
          reserialized,
          stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: ts }),
        )
      ).status,
    ).toBe(400);
    expect(await recorded(JSON.parse(payload).id)).toEqual([]);
    await s.workers.drain();
    expect(await passesOf(session.id)).toEqual([]);
    // during a secret roll Stripe signs with both secrets: one matching v1 is enough
    const rolled = `${wrongSecret},v1=${
      /v1=([0-9a-f]+)/.exec(
        stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET, timestamp: ts }),
      )![1]
    }`;
    expect((await post(payload, rolled)).status).toBe(200);
    await s.workers.drain();
    expect(await passesOf(session.id)).toHaveLength(1);
  });

  it('issues nothing for an unpaid session, and answers other event types without doing anything', async () => {
    const unpaid = checkout({ payment_status: 'unpaid' });
    const payload = event('checkout.session.completed', unpaid);
    expect((await post(payload)).status).toBe(200);
    const other = event('customer.created', { id: `cus_${rand()}`, object: 'customer' });
    const answer = await post(other);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ received: true });
    await s.workers.drain();
    expect(await passesOf(unpaid.id)).toEqual([]);
    expect((await recorded(JSON.parse(payload).id))[0]).toMatchObject({ status: 'ignored' });
    expect(await recorded(JSON.parse(other).id)).toEqual([]);
    // the delayed payment succeeds later: now the pass is issued
    expect(
      (await post(event('checkout.session.async_payment_succeeded', { ...unpaid, payment_status: 'paid' })))
        .status,
    ).toBe(200);
    await s.workers.drain();
    expect(await passesOf(unpaid.id)).toHaveLength(1);
  });

  it('revokes the pass when the payment is refunded in full (status invalid, pass.revoked)', async () => {
    const session = checkout();
    expect((await post(event('checkout.session.completed', session))).status).toBe(200);
    await s.workers.drain();
    const [pass] = await passesOf(session.id);
    const charge = {
      id: `ch_${rand()}`,
      object: 'charge',
      amount: 2500,
      amount_refunded: 2500,
      payment_intent: session.payment_intent,
      refunded: true,
      status: 'succeeded',
    };
    // a partial refund leaves the pass valid
    expect(
      (await post(event('charge.refunded', { ...charge, amount_refunded: 500, refunded: false }))).status,
    ).toBe(200);
    await s.workers.drain();
    const path = `/v1/passes/${pass!.passTypeIdentifier}/${pass!.serialNumber}`;
    expect(await (await s.api(who.appKey, `${path}/status`)).json()).toEqual({ status: 'valid' });

    expect((await post(event('charge.refunded', charge))).status).toBe(200);
    await s.workers.drain();
    expect(await (await s.api(who.appKey, `${path}/status`)).json()).toEqual({ status: 'invalid' });
    const details = await (await s.api(who.appKey, `${path}/details`)).json();
    expect(details.voided).toBe(true);
    const revoked = await (
      await s.api(
        who.appKey,
        `/v1/events?type=pass.revoked&passTypeIdentifier=${pass!.passTypeIdentifier}&serialNumber=${pass!.serialNumber}`,
      )
    ).json();
    expect(revoked).toHaveLength(1);
    expect(revoked[0].data.reason).toContain(charge.id);
  });

  it('works off an event recorded before a crash once the service is back', async () => {
    const session = checkout();
    const payload = event('checkout.session.completed', session);
    const mailsBefore = smtp.received.length;
    await s.workers.stop();
    expect((await post(payload)).status).toBe(200);
    // the process stops before any worker ran: the event is only in the database
    s = await s.restart();
    expect((await recorded(JSON.parse(payload).id)).map((r) => r.status)).toEqual(['pending']);
    expect(await passesOf(session.id)).toEqual([]);
    await s.workers.drain();
    expect(await passesOf(session.id)).toHaveLength(1);
    expect(smtp.received.length - mailsBefore).toBe(1);
  });

  it('answers 404 for an endpoint that is not a Stripe integration', async () => {
    const payload = event('checkout.session.completed', checkout());
    for (const url of [`${s.url}/hooks/stripe/999999`, `${s.url}/hooks/stripe/abc`]) {
      const res = await request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
        },
        body: payload,
      });
      expect(res.status).toBe(404);
    }
  });
});
