// CRM integrations end to end: the real server sends pass events to HubSpot and Salesforce stand-ins that check every
// request against the CRMs' published wire protocol. Private app tokens and OAuth (refresh before HubSpot's expiry,
// refresh once on Salesforce's 401, rotated refresh tokens kept), mappings, skipped events, credentials never shown
// nor stored in clear, validation, retries on 429, replay, and the races a token refresh must survive.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { AccountSetup } from '../../src/actions/accounts.js';
import { until } from '../helpers.js';
import {
  type HubSpotStandin,
  type SalesforceStandin,
  startHubSpot,
  startSalesforce,
} from './crm-standins.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

const ALLOW = { PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true' };

/** The service's clock: real time plus an offset the tests move forward (never back). */
let offset = 0;
const clock = { now: () => new Date(Date.now() + offset) };
const nowMs = () => clock.now().getTime();

interface Delivery {
  id: number;
  eventId: string;
  eventType: string;
  status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  attemptLog: {
    at: string;
    status: number | null;
    latencyMs: number;
    error: string | null;
    response: string | null;
  }[];
}

let s: TestServer;
let accounts = 0;

beforeAll(async () => {
  s = await startServer({ env: ALLOW, poll: true, clock });
});
afterAll(async () => {
  await s?.close();
});

/** An account of its own for each test, so no integration sees another test's events. */
const account = () => s.account(`crm-${++accounts}-${randomBytes(3).toString('hex')}`);

async function hubspot(): Promise<HubSpotStandin> {
  const hs = await startHubSpot({ now: nowMs });
  onTestFinished(() => hs.close());
  return hs;
}

async function salesforce(): Promise<SalesforceStandin> {
  const sf = await startSalesforce();
  onTestFinished(() => sf.close());
  return sf;
}

/** Connects a CRM (201 expected); the integration is deleted when the test ends. */
async function connect(who: AccountSetup, body: unknown): Promise<any> {
  const res = await s.api(who.appKey, '/v1/integrations', { method: 'POST', json: body });
  const text = await res.text();
  expect(res.status, text).toBe(201);
  const out = JSON.parse(text);
  onTestFinished(async () => {
    await s.api(who.appKey, `/v1/integrations/${out.id}`, { method: 'DELETE' });
  });
  return out;
}

async function deliveries(who: AccountSetup, id: number): Promise<Delivery[]> {
  const res = await s.api(who.appKey, `/v1/integrations/${id}/deliveries?limit=500`);
  expect(res.status).toBe(200);
  return res.json();
}

const done = (d: Delivery) => d.status !== 'pending' && d.status !== 'running';

/** Waits until the integration has `n` deliveries, all finished; returns them oldest first. */
async function settled(who: AccountSetup, id: number, n: number): Promise<Delivery[]> {
  let last: Delivery[] = [];
  try {
    return await until(`${n} finished deliveries`, async () => {
      last = await deliveries(who, id);
      return last.length === n && last.every(done) && [...last].reverse();
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; have ${JSON.stringify(last, null, 1)}`);
  }
}

async function passRow(serialNumber: string) {
  return s.app.db
    .selectFrom('passes')
    .selectAll()
    .where('serialNumber', '=', serialNumber)
    .executeTakeFirstOrThrow();
}

async function eventCreated(who: AccountSetup, eventId: string): Promise<string> {
  const res = await s.api(who.appKey, `/v1/events/${eventId}`);
  expect(res.status).toBe(200);
  return (await res.json()).created;
}

/** Installs a pass on a device the way Wallet does (registration.created, devicesInstalled 1). */
async function install(pass: { serialNumber: string; passTypeIdentifier: string }): Promise<void> {
  const { authToken } = await passRow(pass.serialNumber);
  const dli = randomBytes(16).toString('hex');
  const res = await request(
    `${s.url}/wallet/v1/devices/${dli}/registrations/${pass.passTypeIdentifier}/${pass.serialNumber}`,
    {
      method: 'POST',
      headers: { authorization: `ApplePass ${authToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pushToken: randomBytes(32).toString('hex') }),
    },
  );
  expect(res.status).toBe(201);
}

async function putValues(who: AccountSetup, path: string, values: Record<string, unknown>): Promise<void> {
  const res = await s.api(who.appKey, `${path}/values`, { method: 'PUT', json: values });
  expect(res.status, await res.text()).toBe(200);
}

describe(`CRM integrations on ${TEST_DB}`, () => {
  describe('HubSpot', () => {
    it('upserts the owner contact by email with a private app token: the default properties, installs; no email is skipped', async () => {
      const who = await account();
      const hs = await hubspot();
      const pat = hs.privateAppToken();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: { accessToken: pat },
        settings: { baseUrl: hs.url },
      });
      expect(integration).toMatchObject({
        type: 'hubspot',
        auth: 'token',
        accessTokenExpiresAt: null,
        events: ['pass.*', 'registration.*'],
        mapping: {
          wallet_pass_status: 'walletStatus',
          wallet_pass_installed: 'installed',
          wallet_pass_url: 'url',
          wallet_pass_updated_at: 'eventTime',
        },
        settings: { baseUrl: hs.url },
        enabled: true,
      });

      const pass = await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      const [created] = await settled(who, integration.id, 1);
      expect(created).toMatchObject({
        eventType: 'pass.created',
        status: 'delivered',
        attempts: 1,
        lastStatus: 200,
      });
      expect(hs.upserts).toHaveLength(1);
      expect(hs.upserts[0]!.accessToken).toBe(pat);
      expect(hs.upserts[0]!.inputs).toEqual([
        {
          idProperty: 'email',
          id: 'ada@example.com',
          objectWriteTraceId: created!.eventId,
          properties: {
            wallet_pass_status: 'issued',
            wallet_pass_installed: 'false',
            wallet_pass_url: pass.url,
            wallet_pass_updated_at: await eventCreated(who, created!.eventId),
          },
        },
      ]);
      expect(hs.contacts.get('ada@example.com')?.properties).toMatchObject({
        wallet_pass_status: 'issued',
        wallet_pass_installed: 'false',
        wallet_pass_url: pass.url,
      });

      // Wallet installs it: the same contact says so
      await install(pass);
      const [, registered] = await settled(who, integration.id, 2);
      expect(registered).toMatchObject({ eventType: 'registration.created', status: 'delivered' });
      expect(hs.contacts.size).toBe(1);
      expect(hs.contacts.get('ada@example.com')?.properties).toMatchObject({
        wallet_pass_status: 'installed',
        wallet_pass_installed: 'true',
        wallet_pass_url: pass.url,
        wallet_pass_updated_at: await eventCreated(who, registered!.eventId),
      });

      // a pass nobody's email is on: nothing to find the contact by
      await createMemberPass(s, who, memberValues());
      const [, , skipped] = await settled(who, integration.id, 3);
      expect(skipped).toMatchObject({ eventType: 'pass.created', status: 'skipped', deliveredAt: null });
      expect(skipped!.lastError).toMatch(/email/);
      expect(hs.upserts).toHaveLength(2);
      expect(hs.problems).toEqual([]);
      expect(hs.refusals).toEqual([]);
    });

    it('maps pass values to contact properties; a changed mapping is replayed', async () => {
      const who = await account();
      const hs = await hubspot();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: { accessToken: hs.privateAppToken() },
        settings: { baseUrl: hs.url },
        mapping: { firstname: 'values.firstName', wallet_pass_status: 'walletStatus' },
        events: ['pass.created', 'pass.updated'],
      });
      const since = clock.now().toISOString();
      const pass = await createMemberPass(s, who, memberValues(), '?email=Grace@Example.com');
      await settled(who, integration.id, 1);
      expect(hs.upserts[0]!.inputs[0]!.id).toBe('Grace@Example.com');
      expect(hs.upserts[0]!.inputs[0]!.properties).toEqual({
        firstname: 'Ada',
        wallet_pass_status: 'issued',
      });

      await putValues(who, pass.path, { firstName: 'Augusta' });
      const [, updated] = await settled(who, integration.id, 2);
      expect(updated).toMatchObject({ eventType: 'pass.updated', status: 'delivered' });
      expect(hs.contacts.get('grace@example.com')?.properties).toEqual({
        firstname: 'Augusta',
        wallet_pass_status: 'issued',
      });

      // add the last name to the mapping, then send what happened since again
      const put = await s.api(who.appKey, `/v1/integrations/${integration.id}`, {
        method: 'PUT',
        json: { mapping: { firstname: 'values.firstName', lastname: 'values.lastName' } },
      });
      expect(put.status, await put.clone().text()).toBe(200);
      expect((await put.json()).mapping).toEqual({
        firstname: 'values.firstName',
        lastname: 'values.lastName',
      });
      const replay = await s.api(who.appKey, `/v1/integrations/${integration.id}/replay`, {
        method: 'POST',
        json: { since },
      });
      expect(replay.status).toBe(200);
      expect(await replay.json()).toEqual({ queued: 2 });
      await settled(who, integration.id, 4);
      expect(hs.upserts.slice(2).map((u) => u.inputs[0]!.properties)).toEqual([
        { firstname: 'Augusta', lastname: 'Lovelace' },
        { firstname: 'Augusta', lastname: 'Lovelace' },
      ]);
      expect(hs.contacts.get('grace@example.com')?.properties).toEqual({
        firstname: 'Augusta',
        lastname: 'Lovelace',
        wallet_pass_status: 'issued',
      });
      expect(hs.problems).toEqual([]);
    });

    it('OAuth: refreshes the access token first, and again near its expiry with the rotated refresh token', async () => {
      const who = await account();
      const hs = await hubspot();
      const client = hs.oauthClient();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: client,
        settings: { baseUrl: hs.url },
      });
      expect(integration).toMatchObject({ auth: 'oauth', accessTokenExpiresAt: null });

      const pass = await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      const refreshedAt = nowMs();
      await settled(who, integration.id, 1);
      expect(hs.seen.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'POST /oauth/2026-03/token 200',
        'POST /crm/v3/objects/contacts/batch/upsert 200',
      ]);
      expect(hs.tokenRequests).toEqual([
        {
          grant_type: 'refresh_token',
          client_id: client.clientId,
          client_secret: client.clientSecret,
          refresh_token: client.refreshToken,
        },
      ]);
      const first = hs.refreshes[0]!;
      expect(hs.upserts.map((u) => u.accessToken)).toEqual([first.accessToken]);
      const got = await (await s.api(who.appKey, `/v1/integrations/${integration.id}`)).json();
      expect(Math.abs(Date.parse(got.accessTokenExpiresAt) - (refreshedAt + 1_800_000))).toBeLessThan(10_000);

      // well within its 30 minutes the token is used as it is
      await putValues(who, pass.path, { points: 1 });
      await settled(who, integration.id, 2);
      expect(hs.tokenRequests).toHaveLength(1);
      expect(hs.upserts[1]!.accessToken).toBe(first.accessToken);

      // 29 minutes on the token has a minute left: refreshed first, with the refresh token HubSpot rotated
      offset += 29 * 60_000;
      await putValues(who, pass.path, { points: 2 });
      await settled(who, integration.id, 3);
      expect(hs.tokenRequests).toHaveLength(2);
      expect(hs.tokenRequests[1]).toEqual({
        grant_type: 'refresh_token',
        client_id: client.clientId,
        client_secret: client.clientSecret,
        refresh_token: first.refreshToken,
      });
      expect(hs.refreshes).toHaveLength(2);
      expect(hs.upserts[2]!.accessToken).toBe(hs.refreshes[1]!.accessToken);
      expect(hs.refusals).toEqual([]);

      // HubSpot ends the token early: the 401 is retried, and the token refreshed once it is due
      hs.expire(hs.refreshes[1]!.accessToken);
      await putValues(who, pass.path, { points: 3 });
      const [refused] = await until('the attempt HubSpot answered 401', async () => {
        const list = await deliveries(who, integration.id);
        return list.length === 4 && list[0]!.attempts === 1 && list[0]!.status === 'pending' && list;
      });
      expect(refused).toMatchObject({ lastStatus: 401, status: 'pending' });
      expect(refused!.attemptLog[0]!.response).toContain('EXPIRED_AUTHENTICATION');
      offset += 30 * 60_000;
      await s.workers.drain();
      const [, , , retried] = await settled(who, integration.id, 4);
      expect(retried).toMatchObject({ status: 'delivered', attempts: 2, lastStatus: 200 });
      expect(hs.tokenRequests.map((f) => f.refresh_token)).toEqual([
        client.refreshToken,
        first.refreshToken,
        hs.refreshes[1]!.refreshToken,
      ]);
      expect(hs.upserts.at(-1)!.accessToken).toBe(hs.refreshes[2]!.accessToken);
      expect(hs.refusals).toEqual([`upsert: expired access token ${hs.refreshes[1]!.accessToken}`]);
      expect(hs.problems).toEqual([]);
    });

    it('retries a 429 after HubSpot’s ten-second window', async () => {
      const who = await account();
      const hs = await hubspot();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: { accessToken: hs.privateAppToken() },
        settings: { baseUrl: hs.url },
      });
      hs.rateLimit(1);
      await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      const [waiting] = await until('a first attempt answered 429', async () => {
        const list = await deliveries(who, integration.id);
        return list[0]?.attempts === 1 && list[0].status === 'pending' && list;
      });
      expect(waiting).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 429 });
      expect(waiting!.lastError).toContain('429');
      expect(waiting!.attemptLog).toHaveLength(1);
      expect(waiting!.attemptLog[0]).toMatchObject({ status: 429 });
      expect(waiting!.attemptLog[0]!.response).toContain('RATE_LIMIT');
      const retryIn = Date.parse(waiting!.nextAttemptAt!) - Date.parse(waiting!.attemptLog[0]!.at);
      expect(retryIn).toBeGreaterThanOrEqual(10_000);
      expect(hs.contacts.size).toBe(0);

      // nothing goes out before it is due
      await s.workers.drain();
      expect((await deliveries(who, integration.id))[0]).toMatchObject({ status: 'pending', attempts: 1 });

      offset += retryIn + 1_000;
      await s.workers.drain();
      const [delivered] = await settled(who, integration.id, 1);
      expect(delivered).toMatchObject({ status: 'delivered', attempts: 2, lastStatus: 200 });
      expect(delivered!.attemptLog.map((a) => a.status)).toEqual([429, 200]);
      expect(hs.contacts.get('ada@example.com')?.properties.wallet_pass_status).toBe('issued');

      // and a delivery can be sent again by hand
      const retry = await s.api(
        who.appKey,
        `/v1/integrations/${integration.id}/deliveries/${delivered!.id}/retry`,
        {
          method: 'POST',
        },
      );
      expect(retry.status).toBe(200);
      await until('the retried upsert', () => hs.upserts.length === 2);
      const [again] = await settled(who, integration.id, 1);
      expect(again).toMatchObject({ status: 'delivered', lastStatus: 200 });
      expect(again!.attemptLog.map((a) => a.status)).toEqual([429, 200, 200]);
      expect(hs.problems).toEqual([]);
    });

    it('a slow answer for one contact does not hold up the other passes’ deliveries', async () => {
      const who = await account();
      const hs = await hubspot();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: { accessToken: hs.privateAppToken() },
        settings: { baseUrl: hs.url },
      });
      const slow = hs.hold((r) => r.body.includes('slow@example.com'));
      await createMemberPass(s, who, memberValues(), '?email=slow@example.com');
      await slow.arrived;
      try {
        await createMemberPass(s, who, memberValues(), '?email=quick@example.com');
        await until(
          'quick@example.com while slow@ is held',
          () => hs.contacts.has('quick@example.com'),
          5_000,
        );
      } finally {
        slow.release();
      }
      await settled(who, integration.id, 2);
      expect(hs.problems).toEqual([]);
    });

    it('keeps the rotated refresh token when the integration is edited while a refresh is under way', async () => {
      const who = await account();
      const hs = await hubspot();
      const client = hs.oauthClient();
      const integration = await connect(who, {
        type: 'hubspot',
        credentials: client,
        settings: { baseUrl: hs.url },
      });
      const refresh = hs.hold((r) => r.path === '/oauth/2026-03/token');
      const pass = await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      await refresh.arrived;
      const put = await s.api(who.appKey, `/v1/integrations/${integration.id}`, {
        method: 'PUT',
        json: { description: 'Sales team HubSpot' },
      });
      expect(put.status).toBe(200);
      refresh.release();
      const [first] = await settled(who, integration.id, 1);
      expect(first, first!.lastError ?? '').toMatchObject({ status: 'delivered' });

      offset += 29 * 60_000;
      await putValues(who, pass.path, { points: 3 });
      const [, second] = await settled(who, integration.id, 2);
      expect(second, second!.lastError ?? '').toMatchObject({ status: 'delivered' });
      expect(hs.tokenRequests[1]?.refresh_token).toBe(hs.refreshes[0]?.refreshToken);
      expect(hs.refusals).toEqual([]);
      expect(hs.problems).toEqual([]);
    });
  });

  describe('Salesforce', () => {
    it('refreshes, upserts by external id, refreshes once on INVALID_SESSION_ID, and keeps a rotated refresh token', async () => {
      const who = await account();
      const sf = await salesforce();
      const app = sf.connectedApp();
      const integration = await connect(who, {
        type: 'salesforce',
        credentials: app,
        settings: { loginUrl: sf.url },
      });
      expect(integration).toMatchObject({
        type: 'salesforce',
        auth: 'oauth',
        settings: {
          loginUrl: sf.url,
          apiVersion: 'v67.0',
          object: 'Contact',
          externalIdField: 'Passslot_Id__c',
          externalIdFrom: 'pid',
        },
        mapping: {
          Wallet_Pass_Status__c: 'walletStatus',
          Wallet_Pass_Installed__c: 'installed',
          Wallet_Pass_URL__c: 'url',
        },
      });

      const pass = await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      const { publicId: pid } = await passRow(pass.serialNumber);
      const [created] = await settled(who, integration.id, 1);
      expect(created).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 201 });
      const upsertPath = `/services/data/v67.0/sobjects/Contact/Passslot_Id__c/${pid}`;
      expect(sf.seen.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'POST /services/oauth2/token 200',
        `PATCH ${upsertPath} 201`,
      ]);
      expect(sf.tokenRequests).toEqual([
        {
          grant_type: 'refresh_token',
          client_id: app.clientId,
          client_secret: app.clientSecret,
          refresh_token: app.refreshToken,
        },
      ]);
      expect(sf.upserts[0]).toMatchObject({ accessToken: sf.refreshes[0]!.accessToken, created: true });
      expect(sf.upserts[0]!.fields).toEqual({
        Wallet_Pass_Status__c: 'issued',
        Wallet_Pass_Installed__c: 'false',
        Wallet_Pass_URL__c: pass.url,
      });
      const record = sf.records.get(`Contact/Passslot_Id__c/${pid}`)!;
      expect(record).toBeDefined();

      // the session ends: one 401, one refresh (rotation off: the same refresh token), the same record updated
      sf.revokeAccessTokens();
      await putValues(who, pass.path, { points: 10 });
      const [, updated] = await settled(who, integration.id, 2);
      expect(updated).toMatchObject({
        eventType: 'pass.updated',
        status: 'delivered',
        attempts: 1,
        lastStatus: 200,
      });
      expect(sf.seen.slice(2).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        `PATCH ${upsertPath} 401`,
        'POST /services/oauth2/token 200',
        `PATCH ${upsertPath} 200`,
      ]);
      expect(sf.tokenRequests[1]?.refresh_token).toBe(app.refreshToken);
      expect(sf.upserts[1]).toMatchObject({ accessToken: sf.refreshes[1]!.accessToken, created: false });
      expect(sf.records.size).toBe(1);
      expect(sf.records.get(`Contact/Passslot_Id__c/${pid}`)!.id).toBe(record.id);

      // rotation on: the refresh token Salesforce returns replaces the stored one
      sf.rotation = true;
      sf.revokeAccessTokens();
      await putValues(who, pass.path, { points: 20 });
      await settled(who, integration.id, 3);
      const rotated = sf.refreshes[2]!.refreshToken!;
      expect(rotated).toBeDefined();
      sf.revokeAccessTokens();
      await putValues(who, pass.path, { points: 30 });
      const [, , , last] = await settled(who, integration.id, 4);
      expect(last).toMatchObject({ status: 'delivered', lastStatus: 200 });
      expect(sf.tokenRequests.map((f) => f.refresh_token)).toEqual([
        app.refreshToken,
        app.refreshToken,
        app.refreshToken,
        rotated,
      ]);
      expect(sf.refusals.filter((r) => r.startsWith('token'))).toEqual([]);
      expect(sf.problems).toEqual([]);
    });

    it('marks the record installed when Wallet registers the pass; the external id stays out of the body', async () => {
      const who = await account();
      const sf = await salesforce();
      const integration = await connect(who, {
        type: 'salesforce',
        credentials: sf.connectedApp(),
        settings: { loginUrl: sf.url },
        // mapping the external id field too: it goes in the URL only
        mapping: {
          Passslot_Id__c: 'pid',
          Email: 'email',
          Wallet_Pass_Status__c: 'walletStatus',
          Wallet_Pass_Installed__c: 'installed',
        },
      });
      const pass = await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
      const { publicId: pid } = await passRow(pass.serialNumber);
      await settled(who, integration.id, 1);
      await install(pass);
      const [, registered] = await settled(who, integration.id, 2);
      expect(registered).toMatchObject({ eventType: 'registration.created', status: 'delivered' });
      expect(sf.upserts.map((u) => u.fields)).toEqual([
        { Email: 'ada@example.com', Wallet_Pass_Status__c: 'issued', Wallet_Pass_Installed__c: 'false' },
        { Email: 'ada@example.com', Wallet_Pass_Status__c: 'installed', Wallet_Pass_Installed__c: 'true' },
      ]);
      expect(sf.upserts.map((u) => u.created)).toEqual([true, false]);
      expect([...sf.records.keys()]).toEqual([`Contact/Passslot_Id__c/${pid}`]);
      expect(sf.problems).toEqual([]);
    });

    it('takes the external id from a pass value', async () => {
      const who = await account();
      const sf = await salesforce();
      const integration = await connect(who, {
        type: 'salesforce',
        credentials: sf.connectedApp(),
        settings: { loginUrl: sf.url, externalIdField: 'Member_Id__c', externalIdFrom: 'values.memberId' },
        mapping: { Email: 'email', Wallet_Pass_Status__c: 'walletStatus' },
      });
      await createMemberPass(s, who, memberValues({ memberId: 'M-4242' }), '?email=ada@example.com');
      const [d] = await settled(who, integration.id, 1);
      expect(d, d!.lastError ?? '').toMatchObject({ status: 'delivered', lastStatus: 201 });
      expect(sf.records.get('Contact/Member_Id__c/M-4242')?.fields).toEqual({
        Email: 'ada@example.com',
        Wallet_Pass_Status__c: 'issued',
      });
      expect(sf.problems).toEqual([]);
    });

    it('two deliveries meeting an ended session refresh once, never replaying a rotated-out refresh token', async () => {
      const who = await account();
      const sf = await salesforce();
      sf.rotation = true;
      const integration = await connect(who, {
        type: 'salesforce',
        credentials: sf.connectedApp(),
        settings: { loginUrl: sf.url, externalIdFrom: 'userId' },
      });
      const since = clock.now().toISOString();
      await createMemberPass(s, who, memberValues(), '?userId=race-a');
      await settled(who, integration.id, 1);
      await createMemberPass(s, who, memberValues(), '?userId=race-b');
      await settled(who, integration.id, 2);
      expect(sf.refreshes).toHaveLength(1);

      // both events sent again at once, after the session ended: A meets the 401 and refreshes while B is on its way
      sf.revokeAccessTokens();
      const refreshA = sf.hold((r) => r.path === '/services/oauth2/token');
      const patchB = sf.hold((r) => r.method === 'PATCH' && r.path.endsWith('/race-b'));
      const replay = await s.api(who.appKey, `/v1/integrations/${integration.id}/replay`, {
        method: 'POST',
        json: { since },
      });
      expect(await replay.json()).toEqual({ queued: 2 });
      await Promise.all([refreshA.arrived, patchB.arrived]);
      refreshA.release();
      await until('A updated', () => sf.upserts.some((u) => u.record.externalId === 'race-a' && !u.created));
      patchB.release();
      const all = await settled(who, integration.id, 4);
      expect(
        all.map((d) => d.status),
        JSON.stringify(all.map((d) => d.lastError)),
      ).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
      expect(sf.refusals.filter((r) => r.startsWith('token'))).toEqual([]);
      expect(sf.refreshes).toHaveLength(2);
      expect(sf.problems).toEqual([]);
    });
  });

  it('never shows credentials, and stores them encrypted', async () => {
    const who = await account();
    const hs = await hubspot();
    const sf = await salesforce();
    const hsClient = hs.oauthClient();
    const sfApp = sf.connectedApp();
    const pat = hs.privateAppToken();
    const a = await connect(who, { type: 'hubspot', credentials: hsClient, settings: { baseUrl: hs.url } });
    const b = await connect(who, { type: 'salesforce', credentials: sfApp, settings: { loginUrl: sf.url } });
    const c = await connect(who, {
      type: 'hubspot',
      credentials: { accessToken: pat },
      settings: { baseUrl: hs.url },
    });
    await createMemberPass(s, who, memberValues(), '?email=ada@example.com');
    await settled(who, a.id, 1);
    await settled(who, b.id, 1);
    await settled(who, c.id, 1);
    const secrets = [
      hsClient.clientSecret,
      hsClient.refreshToken,
      sfApp.clientSecret,
      sfApp.refreshToken,
      pat,
      ...hs.refreshes.flatMap((r) => [r.accessToken, r.refreshToken]),
      ...sf.refreshes.map((r) => r.accessToken),
    ];
    expect(hs.refreshes).toHaveLength(1);
    expect(sf.refreshes).toHaveLength(1);

    const texts: string[] = [];
    for (const x of [a, b, c]) {
      texts.push(JSON.stringify(x));
      texts.push(await (await s.api(who.appKey, `/v1/integrations/${x.id}`)).text());
      texts.push(await (await s.api(who.appKey, `/v1/integrations/${x.id}/deliveries`)).text());
    }
    texts.push(await (await s.api(who.appKey, '/v1/integrations')).text());
    const put = await s.api(who.appKey, `/v1/integrations/${a.id}`, {
      method: 'PUT',
      json: { description: 'x' },
    });
    expect(put.status).toBe(200);
    texts.push(await put.text());
    const listed = JSON.parse(texts[texts.length - 2]!);
    expect(listed.map((x: { id: number }) => x.id)).toEqual([a.id, b.id, c.id]);
    for (const text of texts) {
      expect(text).not.toMatch(/credentials|clientSecret|refreshToken|accessToken"/);
      for (const secret of secrets) expect(text).not.toContain(secret);
    }

    const rows = await s.app.db
      .selectFrom('integrations')
      .selectAll()
      .where('accountId', '=', who.accountId)
      .execute();
    expect(rows).toHaveLength(3);
    const dump = JSON.stringify(rows);
    for (const secret of secrets) expect(dump).not.toContain(secret);
    // sealed, not merely hidden: the master key opens them
    const opened = rows.map((r) => s.app.secrets.decrypt(r.credentialsEnc)).join('\n');
    for (const secret of [hsClient.clientSecret, sfApp.clientSecret, pat, hs.refreshes[0]!.refreshToken])
      expect(opened).toContain(secret);
    // and what did reach the CRMs was as their documentation says
    expect(hs.problems).toEqual([]);
    expect(sf.problems).toEqual([]);
  });

  it('validates mapping, credentials and addresses (422 with the field)', async () => {
    const who = await account();
    const hs = await hubspot();
    const post = async (body: unknown) => {
      const res = await s.api(who.appKey, '/v1/integrations', { method: 'POST', json: body });
      return { status: res.status, body: await res.json() };
    };
    const base = {
      type: 'hubspot',
      credentials: { accessToken: 'pat-na1-x' },
      settings: { baseUrl: hs.url },
    };

    const badMapping = await post({
      ...base,
      mapping: { firstname: 'values.firstName', wallet: 'nonsense' },
    });
    expect(badMapping.status).toBe(422);
    expect(badMapping.body.errors[0].field).toBe('mapping.wallet');
    expect(badMapping.body.errors).toHaveLength(1);

    const noCredentials = await post({ ...base, credentials: {} });
    expect(noCredentials.status).toBe(422);
    expect(noCredentials.body.errors[0].field).toBe('credentials');
    const halfOAuth = await post({ ...base, credentials: { clientId: 'id', refreshToken: 'r' } });
    expect(halfOAuth.status).toBe(422);
    expect(halfOAuth.body.errors[0].field).toBe('credentials');
    const sfToken = await post({
      type: 'salesforce',
      credentials: { accessToken: 'x' },
      settings: { loginUrl: hs.url },
    });
    expect(sfToken.status).toBe(422);
    expect(sfToken.body.errors[0].field).toBe('credentials');

    const badFrom = await post({
      type: 'salesforce',
      credentials: { clientId: 'i', clientSecret: 's', refreshToken: 'r' },
      settings: { loginUrl: hs.url, externalIdFrom: 'nothing' },
    });
    expect(badFrom.status).toBe(422);
    expect(badFrom.body.errors[0].field).toBe('settings.externalIdFrom');

    // an update is held to the same rules
    const ok = await connect(who, base);
    const put = await s.api(who.appKey, `/v1/integrations/${ok.id}`, {
      method: 'PUT',
      json: { mapping: { x: 'values.' } },
    });
    expect(put.status).toBe(422);
    expect((await put.json()).errors[0].field).toBe('mapping.x');
    const list = await (await s.api(who.appKey, '/v1/integrations')).json();
    expect(list).toHaveLength(1);
    expect(list[0].mapping).toEqual(ok.mapping);

    // without PASSSLOT_WEBHOOK_ALLOW_PRIVATE, private and loopback addresses are refused
    const strict = await startServer();
    onTestFinished(() => strict.close());
    const refused = async (body: unknown, field: string) => {
      const res = await strict.api(strict.alpha.appKey, '/v1/integrations', { method: 'POST', json: body });
      expect(res.status).toBe(422);
      expect((await res.json()).errors[0].field).toBe(field);
    };
    await refused(base, 'settings.baseUrl');
    await refused({ ...base, settings: { baseUrl: 'http://localhost:8080' } }, 'settings.baseUrl');
    await refused(
      {
        type: 'salesforce',
        credentials: { clientId: 'i', clientSecret: 's', refreshToken: 'r' },
        settings: { loginUrl: 'http://169.254.169.254' },
      },
      'settings.loginUrl',
    );
    await refused(
      { type: 'salesforce', credentials: { accessToken: 'x', instanceUrl: 'http://10.0.0.7' } },
      'credentials.instanceUrl',
    );
    expect(await (await strict.api(strict.alpha.appKey, '/v1/integrations')).json()).toEqual([]);
    expect(hs.seen).toEqual([]);
  });
});
