// Templates, pass types and scanners over HTTP.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../src/engine/png.js';
import { devIdentity, verifyPkpass } from '../helpers.js';
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

const couponBody = () => ({
  organizationName: 'Megatron',
  description: 'Coupon for ${name}',
  logoText: 'Megatron',
  foregroundColor: 'rgb(255, 255, 255)',
  backgroundColor: 'rgb(200, 0, 0)',
  coupon: {
    primaryFields: [{ key: 'offer', label: 'OFFER', value: '${discount}', changeMessage: 'Now %@ off' }],
    auxiliaryFields: [
      { key: 'expires', label: 'EXPIRES', value: '${expires}', dateStyle: 'PKDateStyleShort' },
    ],
  },
  barcodes: [{ format: 'PKBarcodeFormatPDF417', message: '${code}', messageEncoding: 'iso-8859-1' }],
});

describe(`templates on ${TEST_DB}`, () => {
  it('lists templates as PassSlot does: id, name, formatVersion, passType, description, placeholder', async () => {
    const list = await (await s.api(key, '/v1/templates')).json();
    expect(list).toEqual([
      {
        id: s.alpha.templateId,
        name: 'Member Card',
        formatVersion: 1,
        passType: s.alpha.passTypeIdentifier,
        description: expect.objectContaining({ storeCard: expect.any(Object) }),
        placeholder: ['points', 'firstName', 'lastName', 'memberSince', 'memberId'],
      },
    ]);
  });

  it('creates, reads, updates and deletes a template, and issues passes from it', async () => {
    const created = await s.api(key, '/v1/templates', {
      method: 'POST',
      json: { name: 'Megatron Coupon', passType: s.alpha.passTypeIdentifier, description: couponBody() },
    });
    expect(created.status).toBe(201);
    const t = await created.json();
    expect(t).toMatchObject({
      name: 'Megatron Coupon',
      passType: s.alpha.passTypeIdentifier,
      placeholder: ['name', 'discount', 'expires', 'code'],
    });
    expect(await (await s.api(key, `/v1/templates/${t.id}`)).json()).toEqual(t);
    // template images, then a pass
    for (const [type, res, size] of [
      ['icon', 'normal', 29],
      ['icon', 'high', 58],
      ['strip', 'high', 0],
    ] as const) {
      const form = new FormData();
      form.append(
        'image',
        new Blob([size ? encodePng(size, size) : encodePng(750, 288)], { type: 'image/png' }),
        'i.png',
      );
      expect(
        (await s.api(key, `/v1/templates/${t.id}/images/${type}/${res}`, { method: 'POST', body: form }))
          .status,
      ).toBe(200);
    }
    const images = await (await s.api(key, `/v1/templates/${t.id}/images`)).json();
    expect(images.map((i: any) => `${i.type}/${i.resolution}`).sort()).toEqual([
      'icon/high',
      'icon/normal',
      'strip/high',
    ]);
    const pass = await s.api(key, `/v1/templates/${t.id}/pass`, {
      method: 'POST',
      json: { name: 'Bo', discount: '20%', expires: '2027-01-31T23:59:00Z', code: 'C-1' },
    });
    expect(pass.status, await pass.clone().text()).toBe(201);
    const { serialNumber, passTypeIdentifier } = await pass.json();
    const dl = await s.api(key, `/v1/passes/${passTypeIdentifier}/${serialNumber}`);
    const { passJson, files } = verifyPkpass(Buffer.from(await dl.arrayBuffer()), s.alpha.devCaPath);
    expect(passJson.description).toBe('Coupon for Bo');
    expect(files.has('strip@2x.png')).toBe(true);
    // update: a new body and name; the change is queued for the template's passes
    const body = { ...couponBody(), backgroundColor: 'rgb(0, 0, 200)' };
    const upd = await s.api(key, `/v1/templates/${t.id}`, {
      method: 'PUT',
      json: { id: t.id, name: 'Megatron Coupon 2', passType: s.alpha.passTypeIdentifier, description: body },
    });
    expect(await upd.json()).toEqual({
      id: t.id,
      name: 'Megatron Coupon 2',
      passType: s.alpha.passTypeIdentifier,
      // Passslot's addition: the job that refreshes the template's passes
      jobId: expect.any(Number),
    });
    const jobs = await s.app.db
      .selectFrom('jobs')
      .select('payload')
      .where('kind', '=', 'template_passes')
      .execute();
    expect(jobs.map((j) => JSON.parse(j.payload).templateId)).toContain(t.id);
    expect((await (await s.api(key, `/v1/templates/${t.id}`)).json()).description.backgroundColor).toBe(
      'rgb(0, 0, 200)',
    );
    // delete refused while passes exist, then allowed
    expect((await s.api(key, `/v1/templates/${t.id}`, { method: 'DELETE' })).status).toBe(409);
    await s.api(key, `/v1/passes/${passTypeIdentifier}/${serialNumber}`, { method: 'DELETE' });
    await s.app.db.deleteFrom('passes').where('serialNumber', '=', serialNumber).execute();
    expect((await s.api(key, `/v1/templates/${t.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await s.api(key, `/v1/templates/${t.id}`)).status).toBe(404);
  });

  it('refuses a template Wallet would reject, with paths into the description', async () => {
    const body = couponBody() as any;
    body.coupon.primaryFields[0].changeMessage = 'no escape';
    body.foregroundColor = 'white';
    const res = await s.api(key, '/v1/templates', {
      method: 'POST',
      json: { name: 'Broken', passType: s.alpha.passTypeIdentifier, description: body },
    });
    expect(res.status).toBe(422);
    expect((await res.json()).errors.map((e: any) => e.field).sort()).toEqual([
      'description.coupon.primaryFields[0].changeMessage',
      'description.foregroundColor',
    ]);
    const dup = await s.api(key, '/v1/templates', {
      method: 'POST',
      json: { name: 'Member Card', passType: s.alpha.passTypeIdentifier, description: couponBody() },
    });
    expect(dup.status).toBe(422);
    const noType = await s.api(key, '/v1/templates', {
      method: 'POST',
      json: { name: 'X', passType: 'pass.not.mine', description: couponBody() },
    });
    expect(noType.status).toBe(404);
  });

  it('keeps restrictions and enforces quantity and date restrictions on create', async () => {
    const t = await (
      await s.api(key, '/v1/templates', {
        method: 'POST',
        json: {
          name: 'Limited',
          passType: s.alpha.passTypeIdentifier,
          description: (await (await s.api(key, `/v1/templates/${s.alpha.templateId}`)).json()).description,
        },
      })
    ).json();
    const icon = new FormData();
    icon.append('image', new Blob([encodePng(29, 29)], { type: 'image/png' }), 'icon.png');
    expect(
      (await s.api(key, `/v1/templates/${t.id}/images/icon/normal`, { method: 'POST', body: icon })).status,
    ).toBe(200);
    const restrictions = { quantityRestriction: 1, sharingRestriction: true, passwordProtection: null };
    const put = await s.api(key, `/v1/templates/${t.id}/restrictions`, {
      method: 'PUT',
      body: JSON.stringify(restrictions),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(await put.json()).toEqual({ quantityRestriction: 1, sharingRestriction: true });
    expect(await (await s.api(key, `/v1/templates/${t.id}/restrictions`)).json()).toEqual({
      quantityRestriction: 1,
      sharingRestriction: true,
    });
    expect(
      (await s.api(key, `/v1/templates/${t.id}/pass`, { method: 'POST', json: memberValues() })).status,
    ).toBe(201);
    const over = await s.api(key, `/v1/templates/${t.id}/pass`, { method: 'POST', json: memberValues() });
    expect(over.status).toBe(403);
    expect(await over.json()).toMatchObject({
      code: 'template_closed',
      message: expect.stringContaining('quantityRestriction'),
    });
    await s.api(key, `/v1/templates/${t.id}/restrictions`, {
      method: 'PUT',
      json: { dateRestriction: '2020-01-01T00:00:00Z' },
    });
    expect(
      (await s.api(key, `/v1/templates/${t.id}/pass`, { method: 'POST', json: memberValues() })).status,
    ).toBe(403);
    expect(
      (
        await s.api(key, `/v1/templates/${t.id}/restrictions`, {
          method: 'PUT',
          json: { dateRestriction: 'tomorrow' },
        })
      ).status,
    ).toBe(422);
    const url = await (await s.api(key, `/v1/templates/${t.id}/url`)).json();
    expect(url.url).toMatch(/\/t\/[\w-]{16,}$/);
    // sharingRestriction hides the share button: sharingProhibited in new passes, and existing ones re-rendered
    const before = await createMemberPass(s, s.alpha);
    await s.api(key, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { sharingRestriction: true },
    });
    await s.workers.drain();
    const passJsonOf = async (path: string) =>
      (
        verifyPkpass(Buffer.from(await (await s.api(key, path)).arrayBuffer()), s.alpha.devCaPath)
          .passJson as Record<string, unknown>
      ).sharingProhibited;
    expect(await passJsonOf(before.path)).toBe(true);
    expect(await passJsonOf((await createMemberPass(s, s.alpha)).path)).toBe(true);
    await s.api(key, `/v1/templates/${s.alpha.templateId}/restrictions`, { method: 'PUT', json: {} });
    await s.workers.drain();
    expect(await passJsonOf(before.path)).toBeUndefined();
    // the link is the template's form, which says the offer ended (its dateRestriction is past)
    const form = await request(url.url);
    expect(form.status).toBe(410);
    expect(await form.text()).toContain('This offer has ended.');
  });
});

describe(`pass types on ${TEST_DB}`, () => {
  it('lists and gets pass types as PassSlot does', async () => {
    const list = await (await s.api(key, '/v1/passtypes')).json();
    expect(list).toEqual([
      expect.objectContaining({
        id: s.alpha.passTypeIdentifier,
        teamIdentifier: 'DEVTEAM123',
        organizationName: 'alpha',
        certificateExpirationDate: expect.any(String),
        healthy: true,
      }),
    ]);
    expect((await (await s.api(key, `/v1/passtypes/${s.alpha.passTypeIdentifier}`)).json()).id).toBe(
      s.alpha.passTypeIdentifier,
    );
  });

  it('adds a pass type from a .p12 and from PEM, keeps the key encrypted, and deletes it', async () => {
    const dev = devIdentity({
      passTypeIdentifier: `pass.test.passslot.p12${TEST_DB}`,
      teamIdentifier: 'P12TEAM001',
      organizationName: 'P12 Org',
    });
    const res = await s.api(key, '/v1/passtypes', {
      method: 'POST',
      json: { p12: dev.pki.p12.toString('base64'), password: dev.pki.p12Password },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      id: dev.identity.passTypeIdentifier,
      passTypeIdentifier: dev.identity.passTypeIdentifier,
      teamIdentifier: 'P12TEAM001',
      organizationName: 'P12 Org',
      certificateExpirationDate: dev.identity.expiresAt.toISOString(),
    });
    const row = await s.app.db
      .selectFrom('passTypes')
      .selectAll()
      .where('passTypeIdentifier', '=', dev.identity.passTypeIdentifier)
      .executeTakeFirstOrThrow();
    expect(row.privateKeyEnc).not.toContain('PRIVATE KEY');
    expect(s.app.secrets.decrypt(row.privateKeyEnc)).toContain('BEGIN PRIVATE KEY');
    expect(JSON.stringify(await (await s.api(key, '/v1/passtypes')).json())).not.toContain('PRIVATE');
    expect(
      (
        await s.api(key, '/v1/passtypes', {
          method: 'POST',
          json: { p12: dev.pki.p12.toString('base64'), password: dev.pki.p12Password },
        })
      ).status,
    ).toBe(409);
    const wrong = await s.api(key, '/v1/passtypes', {
      method: 'POST',
      json: { p12: dev.pki.p12.toString('base64'), password: 'nope' },
    });
    expect(wrong.status).toBe(422);
    expect((await wrong.json()).errors[0]).toMatchObject({
      field: 'p12',
      reasons: [expect.stringContaining('wrong password')],
    });
    const pem = devIdentity({
      passTypeIdentifier: `pass.test.passslot.pem${TEST_DB}`,
      teamIdentifier: 'PEMTEAM001',
    });
    const viaPem = await s.api(key, '/v1/passtypes', {
      method: 'POST',
      json: {
        certificate: readFileSync(join(pem.dir, 'pass.pem'), 'utf8'),
        privateKey: readFileSync(join(pem.dir, 'pass.key'), 'utf8'),
        wwdrCertificate: pem.pki.caCertificatePem,
      },
    });
    expect(viaPem.status).toBe(201);
    // a template and pass under the new type sign with its certificate
    const t = await (
      await s.api(key, '/v1/templates', {
        method: 'POST',
        json: {
          name: `PEM ${TEST_DB}`,
          passType: pem.identity.passTypeIdentifier,
          description: (await (await s.api(key, `/v1/templates/${s.alpha.templateId}`)).json()).description,
        },
      })
    ).json();
    const icon = new FormData();
    icon.append('image', new Blob([encodePng(29, 29)], { type: 'image/png' }), 'icon.png');
    await s.api(key, `/v1/templates/${t.id}/images/icon/normal`, { method: 'POST', body: icon });
    const p = await (
      await s.api(key, `/v1/templates/${t.id}/pass`, { method: 'POST', json: memberValues() })
    ).json();
    const dl = await s.api(key, `/v1/passes/${p.passTypeIdentifier}/${p.serialNumber}`);
    expect(verifyPkpass(Buffer.from(await dl.arrayBuffer()), pem.caPath).passJson.teamIdentifier).toBe(
      'PEMTEAM001',
    );
    expect(
      (await s.api(key, `/v1/passtypes/${pem.identity.passTypeIdentifier}`, { method: 'DELETE' })).status,
    ).toBe(409);
    expect(
      (await s.api(key, `/v1/passtypes/${dev.identity.passTypeIdentifier}`, { method: 'DELETE' })).status,
    ).toBe(200);
    expect((await s.api(key, `/v1/passtypes/${dev.identity.passTypeIdentifier}`)).status).toBe(404);
    expect((await s.api(key, '/v1/passtypes', { method: 'POST', json: {} })).status).toBe(422);
  });
});

describe(`scanners on ${TEST_DB}`, () => {
  it('creates, lists, gets, updates and deletes scanners', async () => {
    const res = await s.api(key, '/v1/scanners', {
      method: 'POST',
      json: {
        name: 'Front door',
        type: 'PassVerifier',
        fullAccess: false,
        allowedTemplates: [s.alpha.templateId],
      },
    });
    expect(res.status).toBe(201);
    const sc = await res.json();
    expect(sc).toMatchObject({
      name: 'Front door',
      type: 'PassVerifier',
      fullAccess: false,
      allowedTemplates: [s.alpha.templateId],
    });
    expect(await (await s.api(key, '/v1/scanners')).json()).toEqual([sc]);
    const upd = await s.api(key, `/v1/scanners/${sc.id}`, {
      method: 'PUT',
      json: { name: 'Gate', type: 'Browser', fullAccess: true },
    });
    expect(await upd.json()).toMatchObject({
      id: sc.id,
      name: 'Gate',
      type: 'Browser',
      fullAccess: true,
      allowedTemplates: [],
    });
    expect(
      (
        await s.api(key, '/v1/scanners', {
          method: 'POST',
          json: { name: 'x', type: 'PassVerifier', fullAccess: false },
        })
      ).status,
    ).toBe(422);
    expect(
      (
        await s.api(key, '/v1/scanners', {
          method: 'POST',
          json: { name: 'x', type: 'Laser', fullAccess: true },
        })
      ).status,
    ).toBe(422);
    expect((await s.api(key, `/v1/scanners/${sc.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await s.api(key, `/v1/scanners/${sc.id}`)).status).toBe(404);
  });
});

describe(`OpenAPI on ${TEST_DB}`, () => {
  it('publishes an OpenAPI 3.1 document generated from the routes, and a docs page', async () => {
    const doc = await (await request(`${s.url}/v1/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/v1/templates/{id}/pass'].post.summary).toBe('Create a pass');
    expect(doc.paths['/v1/passes/{passTypeIdentifier}/{serialNumber}/revoke'].post.description).toContain(
      'revoke_pass',
    );
    expect(Object.keys(doc.paths).length).toBeGreaterThan(30);
    const docs = await request(`${s.url}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });

  it('answers health checks', async () => {
    expect(await (await request(`${s.url}/healthz`)).json()).toEqual({
      status: 'ok',
      role: 'all',
      renderThreads: 0,
      pushThread: false,
      node: s.app.bus.nodeId,
      nodes: 1,
      caching: s.app.bus.fresh(),
    });
    expect(await (await request(`${s.url}/readyz`)).json()).toEqual({ status: 'ready' });
  });

  it('does not leak the internals of an unexpected error', async () => {
    const p = await createMemberPass(s, s.alpha);
    // break the stored values behind the API's back: the server must answer 500 without details
    await s.app.db
      .updateTable('passes')
      .set({ values: '{not json' })
      .where('serialNumber', '=', p.serialNumber)
      .execute();
    const res = await s.api(key, `${p.path}/values`);
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({
      message: 'Internal server error',
      code: 'internal',
      requestId: res.headers.get('x-request-id'),
    });
  });
});
