// The pass endpoints of PassSlot's v1 API and Passslot's additions, black-box over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../src/engine/png.js';
import { verifyPkpass } from '../helpers.js';
import { createMemberPass, memberValues, request, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let key: string;
beforeAll(async () => {
  s = await startServer();
  key = s.alpha.appKey;
});
afterAll(async () => {
  await s?.close();
});

async function download(path: string) {
  const res = await s.api(key, path);
  expect(res.status).toBe(200);
  return verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath);
}

async function jobs(kind: string) {
  return s.app.db.selectFrom('jobs').selectAll().where('kind', '=', kind).orderBy('id').execute();
}

async function events(type: string) {
  return s.app.db.selectFrom('events').selectAll().where('type', '=', type).orderBy('seq').execute();
}

describe(`passes on ${TEST_DB}`, () => {
  it('creates a pass by template name, with owner fields from the query string', async () => {
    const res = await s.api(
      key,
      `/v1/templates/names/${encodeURIComponent('Member Card')}/pass?email=ada@example.com&userId=u1&externalId=crm-9`,
      {
        method: 'POST',
        json: memberValues(),
      },
    );
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toEqual({
      serialNumber: expect.any(String),
      passTypeIdentifier: s.alpha.passTypeIdentifier,
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/p\/[\w-]+\?t=[\w-]{20,}$/),
    });
    const details = await (
      await s.api(key, `/v1/passes/${body.passTypeIdentifier}/${body.serialNumber}/details`)
    ).json();
    expect(details).toMatchObject({
      owner: { email: 'ada@example.com', userId: 'u1', externalId: 'crm-9' },
      status: 'valid',
      version: 1,
      template: { id: s.alpha.templateId, name: 'Member Card' },
    });
    const created = await events('pass.created');
    expect(JSON.parse(created.at(-1)!.data)).toMatchObject({
      serialNumber: body.serialNumber,
      passTypeIdentifier: body.passTypeIdentifier,
      templateId: s.alpha.templateId,
      url: body.url,
      email: 'ada@example.com',
    });
  });

  it('creates a pass with per-pass images from a multipart request', async () => {
    const form = new FormData();
    form.append(
      'values',
      new Blob([JSON.stringify(memberValues({ firstName: 'Grace' }))], { type: 'application/json' }),
      'values.json',
    );
    form.append('thumbnail', new Blob([encodePng(90, 90)], { type: 'image/png' }), 'thumb.png');
    form.append(
      'logo@2x',
      new Blob([encodePng(100, 100, () => [255, 0, 0, 255])], { type: 'image/png' }),
      'logo.png',
    );
    const res = await s.api(key, `/v1/templates/${s.alpha.templateId}/pass`, { method: 'POST', body: form });
    expect(res.status, await res.clone().text()).toBe(201);
    const { serialNumber, passTypeIdentifier } = await res.json();
    const { files, passJson } = await download(`/v1/passes/${passTypeIdentifier}/${serialNumber}`);
    expect(Buffer.from(files.get('logo@2x.png')!).equals(encodePng(100, 100, () => [255, 0, 0, 255]))).toBe(
      true,
    );
    expect(files.has('thumbnail.png')).toBe(true);
    expect((passJson.storeCard as any).primaryFields[0].value).toBe('Grace Lovelace');
    const images = await (await s.api(key, `/v1/passes/${passTypeIdentifier}/${serialNumber}/images`)).json();
    expect(images).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'logo', resolution: 'high', width: 100, height: 100 }),
        expect.objectContaining({ type: 'thumbnail', resolution: 'normal' }),
      ]),
    );
  });

  it('lists passes as a PassSlot array, filters them and pages with a Link header', async () => {
    for (let i = 0; i < 5; i++)
      await createMemberPass(
        s,
        s.alpha,
        memberValues({ memberId: `L-${i}` }),
        i % 2 ? '?email=odd@example.com' : '',
      );
    const all = await (await s.api(key, '/v1/passes?limit=1000')).json();
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(all[0]).toEqual(
      expect.objectContaining({
        serialNumber: expect.any(String),
        passType: s.alpha.passTypeIdentifier,
        passTypeIdentifier: s.alpha.passTypeIdentifier,
        templateId: s.alpha.templateId,
        status: 'valid',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        url: expect.any(String),
      }),
    );
    const odd = await (await s.api(key, '/v1/passes?email=odd@example.com')).json();
    expect(odd).toHaveLength(2);
    expect(odd.every((p: any) => p.email === 'odd@example.com')).toBe(true);
    // pages of 2, following Link rel="next" to the end, cover the whole list once
    const seen: string[] = [];
    let next: string | null = `/v1/passes/${s.alpha.passTypeIdentifier}?limit=2`;
    while (next) {
      const res = await s.api(key, next);
      const page = await res.json();
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((p: any) => p.serialNumber));
      const link = res.headers.get('link');
      next = link
        ? new URL(/<([^>]+)>; rel="next"/.exec(link)![1]!).pathname +
          new URL(/<([^>]+)>/.exec(link)![1]!).search
        : null;
    }
    expect(seen).toEqual(all.map((p: any) => p.serialNumber));
    const since = await (
      await s.api(
        key,
        `/v1/passes?updatedSince=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      )
    ).json();
    expect(since).toEqual([]);
    expect((await s.api(key, '/v1/passes?limit=5000')).status).toBe(422);
    expect((await s.api(key, '/v1/passes?cursor=nonsense')).status).toBe(422);
  });

  it('lists the changes since a time in the order they happened, a page at a time, with a cursor of its own', async () => {
    const start = new Date().toISOString();
    const made = [];
    for (let i = 0; i < 3; i++)
      made.push(await createMemberPass(s, s.alpha, memberValues({ memberId: `CH-${i}` })));
    await new Promise((r) => setTimeout(r, 5));
    // the first one changes last
    const put = await s.api(key, `${made[0]!.path}/values/points`, { method: 'PUT', json: { value: 9 } });
    expect(put.status).toBe(200);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const q = `/v1/passes?updatedSince=${encodeURIComponent(start)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await s.api(key, q);
      expect(res.status).toBe(200);
      seen.push(...(await res.json()).map((p: any) => p.serialNumber));
      const link = res.headers.get('link');
      if (!link) break;
      cursor = new URL(/<([^>]+)>/.exec(link)![1]!).searchParams.get('cursor')!;
    }
    expect(seen).toEqual([made[1]!.serialNumber, made[2]!.serialNumber, made[0]!.serialNumber]);
    // an id cursor is not a cursor of this order, and the other way round
    const idCursor = Buffer.from('1').toString('base64url');
    const wrong = await s.api(key, `/v1/passes?updatedSince=${encodeURIComponent(start)}&cursor=${idCursor}`);
    expect(wrong.status).toBe(422);
    expect((await wrong.json()).errors[0].field).toBe('cursor');
  });

  it('searches passes by user and refuses a search without a person', async () => {
    await createMemberPass(s, s.alpha, memberValues(), '?externalId=crm-search');
    const res = await s.api(key, '/v1/passes?externalId=crm-search&status=valid');
    expect((await res.json()).map((p: any) => p.externalId)).toEqual(['crm-search']);
  });

  it('serves url, passjson, values, status and price', async () => {
    const p = await createMemberPass(s, s.alpha);
    expect(await (await s.api(key, `${p.path}/url`)).json()).toEqual({ url: p.url });
    const passjson = await (await s.api(key, `${p.path}/passjson`)).json();
    expect(passjson).toMatchObject({
      serialNumber: p.serialNumber,
      passTypeIdentifier: p.passTypeIdentifier,
      formatVersion: 1,
      webServiceURL: `${s.url}/wallet`,
    });
    expect(await (await s.api(key, `${p.path}/values`)).json()).toEqual(memberValues());
    expect(await (await s.api(key, `${p.path}/status`)).json()).toEqual({ status: 'valid' });
    const put = await s.api(key, `${p.path}/status`, { method: 'PUT', json: { status: 'redeemed' } });
    expect(await put.json()).toEqual({ status: 'redeemed' });
    expect((await s.api(key, `${p.path}/status`, { method: 'PUT', json: { status: 'lost' } })).status).toBe(
      422,
    );
    expect(await (await s.api(key, `${p.path}/price`)).json()).toEqual({ price: null });
    expect(
      await (await s.api(key, `${p.path}/price`, { method: 'PUT', json: { price: 9.15 } })).json(),
    ).toEqual({ price: 9.15 });
    expect(await (await s.api(key, `${p.path}/status`)).json()).toEqual({ status: 'unpaid' });
    const del = await s.api(key, `${p.path}/price`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await (await s.api(key, `${p.path}/price`)).json()).toEqual({ price: null });
    const changed = (await events('pass.status_changed'))
      .map((e) => JSON.parse(e.data))
      .filter((d) => d.serialNumber === p.serialNumber);
    expect(changed.map((d) => [d.oldStatus, d.newStatus])).toEqual([
      ['valid', 'redeemed'],
      ['redeemed', 'unpaid'],
      ['unpaid', 'valid'],
    ]);
  });

  it('updates values (merging), re-renders a new version and queues one push per change; status alone does not push', async () => {
    const p = await createMemberPass(s, s.alpha);
    const before = (await jobs('push')).length;
    // read first: on SQLite the read is cached, and the change must drop it
    expect(await (await s.api(key, `${p.path}/values`)).json()).toEqual(memberValues());
    const res = await s.api(key, `${p.path}/values`, { method: 'PUT', json: { points: 500 } });
    expect(await res.json()).toEqual(memberValues({ points: 500 }));
    expect(await (await s.api(key, `${p.path}/values`)).json()).toEqual(memberValues({ points: 500 }));
    for (const single of ['values', 'value']) {
      const one = await s.api(key, `${p.path}/${single}/firstName`, {
        method: 'PUT',
        json: { value: single },
      });
      expect(one.status).toBe(200);
      expect((await one.json()).firstName).toBe(single);
    }
    const { passJson } = await download(p.path);
    expect((passJson.storeCard as any).headerFields[0].value).toBe(500);
    expect((passJson.storeCard as any).primaryFields[0].value).toBe('value Lovelace');
    expect((await jobs('push')).length).toBe(before + 3);
    await s.api(key, `${p.path}/status`, { method: 'PUT', json: { status: 'locked' } });
    expect((await jobs('push')).length).toBe(before + 3);
    const details = await (await s.api(key, `${p.path}/details`)).json();
    expect(details.version).toBe(4);
  });

  it('refuses values that break the template or Wallet, saving nothing', async () => {
    const p = await createMemberPass(s, s.alpha);
    const bad = await s.api(key, `${p.path}/values`, { method: 'PUT', json: { points: { nested: true } } });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].field).toBe('values.points');
    expect(await (await s.api(key, `${p.path}/values`)).json()).toEqual(memberValues());
  });

  it('revokes a pass: status invalid, voided, pushed, event', async () => {
    const p = await createMemberPass(s, s.alpha);
    const res = await s.api(key, `${p.path}/revoke`, { method: 'POST', json: { reason: 'refunded' } });
    expect(await res.json()).toEqual({ status: 'invalid', voided: true });
    expect((await download(p.path)).passJson.voided).toBe(true);
    const ev = (await events('pass.revoked'))
      .map((e) => JSON.parse(e.data))
      .find((d) => d.serialNumber === p.serialNumber);
    expect(ev).toMatchObject({ reason: 'refunded', status: 'invalid' });
    expect((await jobs('push')).some((j) => JSON.parse(j.payload).reason === 'pass.revoked')).toBe(true);
  });

  it('notifies: the message goes into a %@ back field and a push is queued', async () => {
    const p = await createMemberPass(s, s.alpha);
    const res = await s.api(key, `${p.path}/notify`, {
      method: 'POST',
      json: { message: 'Double points today!' },
    });
    expect(await res.json()).toEqual({ message: 'Double points today!' });
    const back = ((await download(p.path)).passJson.storeCard as any).backFields;
    expect(back).toContainEqual({
      key: 'passslot_notification',
      label: 'Message',
      value: 'Double points today!',
      changeMessage: '%@',
    });
    expect((await s.api(key, `${p.path}/notify`, { method: 'POST', json: {} })).status).toBe(422);
  });

  it('surfaces a pass near a place or at a time: its own relevance in pass.json, and a push', async () => {
    const p = await createMemberPass(s, s.alpha);
    const pushes = (await jobs('push')).length;
    const near = await s.api(key, `${p.path}/notify`, {
      method: 'POST',
      json: { near: { latitude: 48.8584, longitude: 2.2945, radiusMeters: 80, text: 'Your table is ready' } },
    });
    expect(near.status).toBe(200);
    let passJson = (await download(p.path)).passJson;
    expect(passJson.locations).toEqual([
      { latitude: 48.8584, longitude: 2.2945, relevantText: 'Your table is ready' },
    ]);
    expect(passJson.maxDistance).toBe(80);
    expect((await jobs('push')).length).toBeGreaterThan(pushes);
    const at = await s.api(key, `${p.path}/notify`, {
      method: 'POST',
      json: { at: '2027-03-01T19:00:00Z', text: 'Doors open at 7' },
    });
    expect(at.status).toBe(200);
    passJson = (await download(p.path)).passJson;
    expect(passJson.relevantDates).toEqual([
      { startDate: '2027-03-01T18:00:00.000Z', endDate: '2027-03-01T20:00:00.000Z' },
    ]);
    // the place stays; the time's text is in the notification field
    expect(passJson.locations).toHaveLength(1);
    expect(JSON.stringify(passJson.storeCard)).toContain('Doors open at 7');
    const errorsOf = async (json: unknown) =>
      (await (await s.api(key, `${p.path}/notify`, { method: 'POST', json })).json()).errors.map(
        (e: { field: string }) => e.field,
      );
    expect(await errorsOf({ message: 'x', at: '2027-03-01T19:00:00Z' })).toEqual(['message']);
    expect(await errorsOf({ at: '2027-03-01T19:00:00Z' })).toEqual(['text']);
    expect(await errorsOf({ near: { latitude: 100, longitude: 0, text: 'x' } })).toEqual(['near.latitude']);
  });

  it('push re-renders and queues a push even without a change', async () => {
    const p = await createMemberPass(s, s.alpha);
    const before = (await jobs('push')).length;
    const res = await s.api(key, `${p.path}/push`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await jobs('push')).length).toBe(before + 1);
    expect((await (await s.api(key, `${p.path}/details`)).json()).version).toBe(2);
  });

  it('deletes a pass: gone from the API, voided in its cached render for devices, an event', async () => {
    const p = await createMemberPass(s, s.alpha);
    expect((await s.api(key, `${p.path}/values`)).status).toBe(200); // cached on SQLite, dropped by the delete
    const res = await s.api(key, p.path, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect((await s.api(key, p.path)).status).toBe(404);
    expect((await s.api(key, `${p.path}/values`)).status).toBe(404);
    const row = await s.app.db
      .selectFrom('passes')
      .select(['id', 'deletedAt'])
      .where('serialNumber', '=', p.serialNumber)
      .executeTakeFirstOrThrow();
    expect(row.deletedAt).not.toBeNull();
    const render = await s.app.db
      .selectFrom('passRenders')
      .select('passJson')
      .where('passId', '=', row.id)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(render.passJson).voided).toBe(true);
    expect(
      (await events('pass.deleted')).some((e) => JSON.parse(e.data).serialNumber === p.serialNumber),
    ).toBe(true);
  });

  it('manages pass images: post (JPEG converted to PNG), get bytes, delete', async () => {
    const p = await createMemberPass(s, s.alpha);
    const sharp = (await import('sharp')).default;
    const jpeg = await sharp({ create: { width: 90, height: 90, channels: 3, background: '#336699' } })
      .jpeg()
      .toBuffer();
    const form = new FormData();
    form.append('image', new Blob([jpeg], { type: 'image/jpeg' }), 'thumb.jpg');
    const res = await s.api(key, `${p.path}/images/thumbnail/normal`, { method: 'POST', body: form });
    expect(await res.json()).toMatchObject({
      type: 'thumbnail',
      resolution: 'normal',
      width: 90,
      height: 90,
      contentType: 'image/png',
    });
    const img = await s.api(key, `${p.path}/images/thumbnail/normal`);
    expect(img.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await img.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await download(p.path)).files.has('thumbnail.png')).toBe(true);
    const notImage = new FormData();
    notImage.append('image', new Blob([Buffer.from('hello')], { type: 'image/png' }), 'x.png');
    const bad = await s.api(key, `${p.path}/images/logo/normal`, { method: 'POST', body: notImage });
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors[0].reasons[0]).toContain('not a PNG, JPEG or GIF');
    expect((await s.api(key, `${p.path}/images/thumbnail`, { method: 'DELETE' })).status).toBe(200);
    expect((await s.api(key, `${p.path}/images/thumbnail/normal`)).status).toBe(404);
    expect((await download(p.path)).files.has('thumbnail.png')).toBe(false);
  });

  it('serves the pass link: a page with the Add to Apple Wallet button on an iPhone, the .pkpass from it', async () => {
    const p = await createMemberPass(s, s.alpha);
    const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148';
    const phone = await request(p.url, { headers: { 'user-agent': iphone } });
    expect(phone.headers.get('content-type')).toContain('text/html');
    const href = /<a class="button" href="([^"]+)">Add to Apple Wallet<\/a>/.exec(await phone.text())![1]!;
    const file = await request(new URL(href.replace(/&amp;/g, '&'), p.url), {
      headers: { 'user-agent': iphone },
    });
    expect(file.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    verifyPkpass(Buffer.from(await file.arrayBuffer()), s.alpha.devCaPath);
    // Wallet fetching the link itself gets the file
    const wallet = await request(p.url, {
      headers: { 'user-agent': 'Passbook/1.0 CFNetwork/1568.100.1 Darwin/24.0.0' },
    });
    expect(wallet.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    expect((await request(p.url.replace(/t=[^&]+/, 't=wrong'))).status).toBe(404);
    expect(
      (await events('pass.downloaded')).some((e) => JSON.parse(e.data).serialNumber === p.serialNumber),
    ).toBe(true);
  });

  it('answers bad input with 4xx and PassSlot error bodies', async () => {
    const create = `/v1/templates/${s.alpha.templateId}/pass`;
    const malformed = await s.api(key, create, {
      method: 'POST',
      body: '{"firstName": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      code: 'bad_request',
      message: expect.stringContaining('JSON'),
    });
    const missing = await s.api(key, create, { method: 'POST', json: { firstName: 'x' } });
    expect(missing.status).toBe(422);
    expect((await missing.json()).errors.map((e: any) => e.field)).toEqual([
      'values.points',
      'values.lastName',
      'values.memberSince',
      'values.memberId',
    ]);
    const wrongType = await s.api(key, create, { method: 'POST', json: [1, 2] });
    expect(wrongType.status).toBe(422);
    expect((await s.api(key, '/v1/templates/999999/pass', { method: 'POST', json: {} })).status).toBe(404);
    expect((await s.api(key, `/v1/passes/${s.alpha.passTypeIdentifier}/no-such-serial`)).status).toBe(404);
    const huge = await s.api(key, create, {
      method: 'POST',
      body: `{"a":"${'x'.repeat(13 * 1024 * 1024)}"}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(huge.status).toBe(413);
    const badEmail = await s.api(key, `${(await createMemberPass(s, s.alpha)).path}/email`, {
      method: 'POST',
      json: { email: 'not-an-email' },
    });
    expect(badEmail.status).toBe(422);
    expect((await badEmail.json()).errors[0].field).toBe('email');
  });
});
