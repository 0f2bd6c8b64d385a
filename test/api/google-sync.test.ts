// Google Wallet kept current through its REST API, against the stand-in (src/dev/google-standin.ts), which checks every
// request as Google's reference specifies (the bearer token bought with a JWT signed by the service account key, paths,
// methods, bodies) and keeps what it is sent: objects inserted when passes are created and patched when they change
// (quick changes making one patch), messages for notifications, states for revoke, redeem and delete, the class
// patched when the template changes, 409/429/500/400 handled, save links going skinny once Google has the object,
// and Google's signed save and delete callbacks becoming registration events with "wallet": "google".
import { generateKeyPairSync, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogleStandin } from '../../src/dev/google-standin.js';
import type { JsonObject } from '../../src/engine/index.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';
import { type Smtp, startSmtp } from './smtp.js';

const ISSUER = '3388000000012345678';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serviceAccountKey = {
  type: 'service_account',
  client_email: 'wallet@passslot-sync.iam.gserviceaccount.com',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};

let s: TestServer;
let smtp: Smtp;
const google = new GoogleStandin();

beforeAll(async () => {
  await google.start();
  smtp = await startSmtp();
  google.addAccount(
    serviceAccountKey.client_email,
    publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    [ISSUER],
  );
  s = await startServer({
    env: {
      PASSSLOT_GOOGLE_API_URL: google.url,
      PASSSLOT_GOOGLE_TOKEN_URL: google.tokenUrl,
      PASSSLOT_GOOGLE_KEYS_URL: google.keysUrl,
      PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    },
  });
  const put = await api('/v1/google-wallet', {
    method: 'PUT',
    json: { issuerId: ISSUER, serviceAccountKey },
  });
  expect(put.status).toBe(200);
});
afterAll(async () => {
  await s?.close();
  await google.close();
  await smtp?.close();
});

const api = (path: string, init: RequestInit & { json?: unknown } = {}) => s.api(s.alpha.appKey, path, init);

/** Runs every due job; the debounce of changes is waited out first. */
async function sync(): Promise<void> {
  await new Promise((r) => setTimeout(r, s.app.config.pushDebounceMs + 20));
  await s.workers.drain();
}

async function publicIdOf(serialNumber: string): Promise<string> {
  const row = await s.app.db
    .selectFrom('passes')
    .select('publicId')
    .where('serialNumber', '=', serialNumber)
    .executeTakeFirstOrThrow();
  return row.publicId;
}

const objectIdOf = async (serialNumber: string) => `${ISSUER}.p${await publicIdOf(serialNumber)}`;
const storedObject = (id: string): JsonObject => {
  const o = google.objects.get(id);
  if (!o) throw new Error(`the stand-in has no object ${id}`);
  return o.json;
};
/** The object as Google shows it, without the messages Google adds to it. */
const withoutMessages = ({ messages: _m, ...rest }: JsonObject): JsonObject => rest;

const jwtOf = (saveUrl: string) => {
  const [header, claims, signature] = saveUrl.split('/').pop()!.split('.') as [string, string, string];
  expect(
    verify('RSA-SHA256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, 'base64url')),
  ).toBe(true);
  return JSON.parse(Buffer.from(claims, 'base64url').toString()) as { payload: Record<string, JsonObject[]> };
};

async function eventsOf(serialNumber: string, type: string): Promise<JsonObject[]> {
  const all = (await (await api(`/v1/events?type=${type}&limit=1000`)).json()) as { data: JsonObject }[];
  return all
    .map((e) => e.data)
    .filter((d) => d.passSerialNumber === serialNumber || d.serialNumber === serialNumber);
}

describe(`Google Wallet kept current on ${TEST_DB}`, () => {
  it('inserts the class and the object when a pass is created, as the pass is, with one token', async () => {
    const created = await (
      await api(`/v1/templates/${s.alpha.templateId}/pass`, {
        method: 'POST',
        json: memberValues({ points: 77 }),
      })
    ).json();
    // create_pass answers the save link itself: before Google has the object, it carries the object
    const early = jwtOf(created.googleSaveUrl);
    expect(early.payload.loyaltyObjects![0]).toMatchObject({ state: 'ACTIVE' });
    expect(early.payload.loyaltyClasses).toHaveLength(1);
    await sync();
    const id = await objectIdOf(created.serialNumber);
    const out = await (
      await api(`/v1/passes/${created.passTypeIdentifier}/${created.serialNumber}/google`)
    ).json();
    expect(withoutMessages(storedObject(id))).toEqual(out.object);
    expect(JSON.stringify(storedObject(id))).toContain('77');
    const cls = google.classes.get(`${ISSUER}.t${s.alpha.templateId}`)!.json;
    expect(cls).toMatchObject({ programName: expect.any(String), reviewStatus: 'UNDER_REVIEW' });
    expect(cls.callbackOptions).toEqual({ url: `${s.url}/google/callback` });
    expect(out.sync).toEqual({ inserted: true, syncedVersion: 1, saved: false, error: null });
    // once Google has it, the link names only the object
    expect(jwtOf(out.saveUrl).payload).toEqual({ loyaltyObjects: [{ id, classId: cls.id }] });
    // every request carried a token bought once with the service account's JWT
    expect(google.counts.tokens).toBe(1);
    expect(google.received.every((r) => r.status === 200)).toBe(true);
  });

  it('patches the object when values change, quick changes making one patch', async () => {
    const p = await createMemberPass(s, s.alpha);
    await sync();
    const id = await objectIdOf(p.serialNumber);
    const before = google.counts.patches;
    for (const points of [201, 202, 203])
      expect((await api(`${p.path}/values/points`, { method: 'PUT', json: { value: points } })).status).toBe(
        200,
      );
    await sync();
    expect(google.counts.patches - before).toBe(1);
    const points = (storedObject(id).textModulesData as JsonObject[]).find((m) => m.id === 'points');
    expect(points?.body).toBe('203');
  });

  it('sends a notification as a message, and shows revoked, redeemed and deleted passes as Google does', async () => {
    const p = await createMemberPass(s, s.alpha);
    await sync();
    const id = await objectIdOf(p.serialNumber);
    await api(`${p.path}/notify`, { method: 'POST', json: { message: 'Double points this weekend' } });
    await sync();
    const messages = google.objects.get(id)!.messages;
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ body: 'Double points this weekend', messageType: 'TEXT_AND_NOTIFY' });
    // a sync without a new notification sends no message again
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 1 } });
    await sync();
    expect(google.objects.get(id)!.messages).toHaveLength(1);
    await api(`${p.path}/revoke`, { method: 'POST', json: { reason: 'refund' } });
    await sync();
    expect(storedObject(id).state).toBe('INACTIVE');

    const q = await createMemberPass(s, s.alpha);
    await api(`${q.path}/status`, { method: 'PUT', json: { status: 'redeemed' } });
    await sync();
    expect(storedObject(await objectIdOf(q.serialNumber)).state).toBe('COMPLETED');
    const x = await createMemberPass(s, s.alpha);
    await api(`${x.path}/status`, { method: 'PUT', json: { status: 'invalid' } });
    await sync();
    expect(storedObject(await objectIdOf(x.serialNumber)).state).toBe('EXPIRED');
    const r = await createMemberPass(s, s.alpha);
    await sync();
    expect((await api(r.path, { method: 'DELETE' })).ok).toBe(true);
    await sync();
    expect(storedObject(await objectIdOf(r.serialNumber)).state).toBe('INACTIVE');
  });

  it('patches the class and every object when the template changes', async () => {
    const p = await createMemberPass(s, s.alpha);
    await sync();
    const template = await (await api(`/v1/templates/${s.alpha.templateId}`)).json();
    template.description.backgroundColor = 'rgb(10, 120, 200)';
    const put = await api(`/v1/templates/${s.alpha.templateId}`, {
      method: 'PUT',
      json: { description: template.description },
    });
    expect(put.status).toBe(200);
    await sync(); // the template job re-renders the passes and queues their syncs
    await sync();
    expect(google.classes.get(`${ISSUER}.t${s.alpha.templateId}`)!.json.hexBackgroundColor).toBe('#0a78c8');
    expect(storedObject(await objectIdOf(p.serialNumber)).hexBackgroundColor).toBe('#0a78c8');
    const row = await s.app.db
      .selectFrom('googleClasses')
      .selectAll()
      .where('templateId', '=', s.alpha.templateId)
      .executeTakeFirstOrThrow();
    const { version } = await s.app.db
      .selectFrom('templates')
      .select('version')
      .where('id', '=', s.alpha.templateId)
      .executeTakeFirstOrThrow();
    expect(row.templateVersion).toBe(version);
  });

  it('patches when an insert finds the object there (409), and retries 429 and 500 from the job row', async () => {
    const p = await createMemberPass(s, s.alpha);
    await sync();
    const id = await objectIdOf(p.serialNumber);
    // Passslot forgets that Google has the object: its insert meets 409 and becomes a patch
    await s.app.db.deleteFrom('googleObjects').where('objectId', '=', id).execute();
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 409 } });
    await sync();
    expect(JSON.stringify(storedObject(id))).toContain('409');
    expect(google.received.filter((r) => r.path.endsWith('/loyaltyObject') && r.status === 409)).toHaveLength(
      1,
    );

    google.fail(429, 1, 'loyaltyObject');
    google.fail(500, 1, 'loyaltyObject');
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 429 } });
    await sync();
    const job = await s.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('kind', '=', 'google')
      .where(
        'groupKey',
        '=',
        `google:${(await s.app.db.selectFrom('passes').select('id').where('serialNumber', '=', p.serialNumber).executeTakeFirstOrThrow()).id}`,
      )
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(job.lastError).toContain('429');
    expect(JSON.stringify(storedObject(id))).not.toContain('429');
    // due again (as the backoff would make it), it meets the 500, then succeeds
    for (let i = 0; i < 2; i++) {
      await s.app.db
        .updateTable('jobs')
        .set({ runAt: new Date(0).toISOString() })
        .where('id', '=', job.id)
        .execute();
      await s.workers.drain();
    }
    expect(JSON.stringify(storedObject(id))).toContain('429');
    const done = await s.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', job.id)
      .executeTakeFirstOrThrow();
    expect(done.status).toBe('done');
  });

  it("fails on another refusal with Google's message kept on the pass until a sync succeeds", async () => {
    const p = await createMemberPass(s, s.alpha);
    await sync();
    google.fail(400, 1, 'loyaltyObject');
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 400 } });
    await sync();
    const failed = await (await api(`${p.path}/google`)).json();
    expect(failed.sync.error).toMatch(/400.*told to answer 400/);
    expect(failed.sync.syncedVersion).toBe(1);
    await api(`${p.path}/values/points`, { method: 'PUT', json: { value: 401 } });
    await sync();
    const ok = await (await api(`${p.path}/google`)).json();
    expect(ok.sync.error).toBeNull();
    expect(ok.sync.syncedVersion).toBe(3);
  });

  it('turns save and delete callbacks into registration events with wallet google, verified and once each', async () => {
    const created = await (
      await api(`/v1/templates/${s.alpha.templateId}/pass?email=g-${TEST_DB}@example.com`, {
        method: 'POST',
        json: memberValues(),
      })
    ).json();
    await sync();
    const ref = `/v1/passes/${created.passTypeIdentifier}/${created.serialNumber}`;
    const { saveUrl } = await (await api(`${ref}/google`)).json();
    // the holder taps the link: Google saves the object and calls back, signed
    const saved = await fetch(saveUrl.replace('https://pay.google.com/gp/v/save/', `${google.url}/save/`));
    expect(saved.status).toBe(200);
    const id = await objectIdOf(created.serialNumber);
    expect(((await saved.json()) as { callbacks: Record<string, unknown> }).callbacks[id]).toBe(200);
    const [event] = await eventsOf(created.serialNumber, 'registration.created');
    expect(event).toMatchObject({
      wallet: 'google',
      objectId: id,
      deviceLibraryIdentifier: null,
      wallets: ['google'],
    });
    const details = await (await api(`${ref}/details`)).json();
    expect(details.wallets).toEqual(['google']);
    expect(details.googleSaveUrl).toMatch(/^https:\/\/pay\.google\.com\/gp\/v\/save\//);
    const search = await (
      await s.api(s.alpha.appKey, '/v1/actions/search_passes_by_user', {
        method: 'POST',
        json: { email: `g-${TEST_DB}@example.com` },
      })
    ).json();
    expect(search.passes[0].wallets).toEqual(['google']);
    // later events of the pass say which wallets hold it
    await api(`${ref}/values/points`, { method: 'PUT', json: { value: 5 } });
    const [updated] = await eventsOf(created.serialNumber, 'pass.updated');
    expect(updated!.wallets).toEqual(['google']);

    // a callback signed for another issuer, or tampered with, is refused and kept nowhere
    const message = {
      classId: `${ISSUER}.t${s.alpha.templateId}`,
      objectId: id,
      eventType: 'del' as const,
      expTimeMillis: Date.now() + 60_000,
      nonce: `n-${TEST_DB}-1`,
    };
    const post = (body: unknown) =>
      fetch(`${s.url}/google/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post(google.signedCallback(message, '999'))).status).toBe(403);
    const good = google.signedCallback(message, ISSUER);
    expect((await post({ ...good, signedMessage: good.signedMessage.replace('del', 'save') })).status).toBe(
      403,
    );
    expect(
      (await post(google.signedCallback({ ...message, expTimeMillis: Date.now() - 1 }, ISSUER))).status,
    ).toBe(403);
    expect((await post({ nonsense: true })).status).toBe(400);
    expect(await eventsOf(created.serialNumber, 'registration.deleted')).toHaveLength(0);
    // the delete, delivered twice, is one event
    expect((await post(good)).status).toBe(200);
    expect((await post(good)).status).toBe(200);
    const deleted = await eventsOf(created.serialNumber, 'registration.deleted');
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({ wallet: 'google', wallets: [] });
    expect((await (await api(`${ref}/details`)).json()).wallets).toEqual([]);
  });

  it("emails both wallets' buttons: the email is read on a device nobody knows when it is sent", async () => {
    const p = await createMemberPass(s, s.alpha);
    const before = smtp.received.length;
    expect((await api(`${p.path}/email`, { method: 'POST', json: { email: 'both@example.com' } })).ok).toBe(
      true,
    );
    await s.workers.drain();
    const [got] = smtp.received.slice(before);
    const html = String(got!.mail.html);
    expect(html).toContain('Add it to Apple Wallet');
    const google = /<a href="([^"]+)">Add it to Google Wallet<\/a>/.exec(html)![1]!.replace(/&amp;/g, '&');
    expect(got!.mail.text).toContain(`Add it to Google Wallet: ${google}`);
    // the link leads to the pass's save link
    const go = await fetch(google, { redirect: 'manual' });
    expect(go.status).toBe(302);
    expect(go.headers.get('location')).toMatch(/^https:\/\/pay\.google\.com\/gp\/v\/save\//);
  });
});
