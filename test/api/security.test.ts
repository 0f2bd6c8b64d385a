// Security of the v1 API: the three ways to present an app key, refusals (401 without a valid key, 403 without the
// scope or outside a key's restrictions), revocation and rotation, rate limits (in memory and shared through Redis),
// Idempotency-Key, and the audit log.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountKey } from '../../src/actions/accounts.js';
import { createDevPki } from '../../src/engine/index.js';
import { encodePng } from '../../src/engine/png.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

async function body(res: Response): Promise<any> {
  const text = await res.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function ok(res: Response, status = 200): Promise<any> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** A request with exactly this Authorization header (or none). */
const raw = (path: string, authorization?: string, init: RequestInit = {}) =>
  fetch(`${s.url}${path}`, {
    ...init,
    headers: { ...(authorization === undefined ? {} : { authorization }), ...(init.headers as object) },
  });

async function expect401(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const b = await body(res);
  expect(typeof b.message).toBe('string');
  expect(b.message.length).toBeGreaterThan(0);
  expect(b.code).toBe('unauthorized');
  // OAuth clients read the first challenge (Bearer, with where to find the metadata); app keys go as Basic
  expect(res.headers.get('www-authenticate')).toMatch(
    /^Bearer resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/v1"/,
  );
  expect(res.headers.get('www-authenticate')).toMatch(/, Basic realm="passslot"$/);
  return b;
}

/** A new template has no images: give it the icons every pass needs. */
async function addIcons(srv: TestServer, key: string, templateId: number) {
  for (const [resolution, size] of [
    ['normal', 29],
    ['high', 58],
    ['ultra', 87],
  ] as const) {
    const form = new FormData();
    const png = encodePng(size, size, () => [10, 120, 60, 255]);
    form.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'icon.png');
    await ok(
      await srv.api(key, `/v1/templates/${templateId}/images/icon/${resolution}`, {
        method: 'POST',
        body: form,
      }),
    );
  }
}

async function newKey(srv: TestServer, key: string, input: Record<string, unknown>) {
  return ok(await srv.api(key, '/v1/keys', { method: 'POST', json: input }), 201) as Promise<{
    id: number;
    key: string;
  }>;
}

describe(`authentication on ${TEST_DB}`, () => {
  it('accepts the key as HTTP Basic user, as the raw Authorization header and as Bearer', async () => {
    const key = s.alpha.appKey;
    const forms = [
      `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
      `Basic ${Buffer.from(key).toString('base64')}`,
      key,
      `Bearer ${key}`,
      `bearer ${key}`,
    ];
    for (const authorization of forms) {
      const res = await raw('/v1/templates', authorization);
      expect(res.status, authorization).toBe(200);
      expect((await body(res)).map((t: any) => t.id)).toEqual([s.alpha.templateId]);
    }
  });

  it('refuses a missing, wrong or malformed key with 401 and a JSON message', async () => {
    const key = s.alpha.appKey;
    const [, publicId, secret] = /^psk_([0-9a-f]{16})_(.+)$/.exec(key)!;
    const flipped = `psk_${publicId}_${secret!.startsWith('A') ? 'B' : 'A'}${secret!.slice(1)}`;
    const unknown = `psk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    const refused = [
      `Basic ${Buffer.from(`${flipped}:`).toString('base64')}`, // right public part, wrong secret
      `Bearer ${unknown}`,
      unknown,
      `Basic ${Buffer.from(`${key.slice(0, -1)}:`).toString('base64')}`, // truncated
      `Bearer ${key}x`,
      'garbage',
      'Basic',
      'Basic !!!not-base64!!!',
      `Basic ${Buffer.from(':').toString('base64')}`,
      'Bearer',
      `Token ${key}`,
      `Bearer ${key} extra`,
      `${key.toUpperCase()}`,
    ];
    for (const authorization of refused) {
      const res = await raw('/v1/passes', authorization);
      expect(res.status, authorization).toBe(401);
      await expect401(res);
    }
    const none = await expect401(await raw('/v1/passes'));
    expect(none.message).toMatch(/app key/i);
    // a write without a key does nothing either
    await expect401(
      await raw(`/v1/templates/${s.alpha.templateId}/pass`, undefined, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(memberValues()),
      }),
    );
    expect(await ok(await s.api(key, '/v1/passes'))).toEqual([]);
  });
});

describe(`scopes and restrictions on ${TEST_DB}`, () => {
  it('gives a passes:read key 403 naming the missing scope on writes and other areas', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const { key } = await newKey(s, s.alpha.appKey, { name: 'reader', scopes: ['passes:read'] });
    expect((await s.api(key, pass.path)).status).toBe(200);
    expect((await ok(await s.api(key, `${pass.path}/status`))).status).toBe('valid');
    const refusals: [string, string, RequestInit & { json?: unknown }, string][] = [
      [
        `${pass.path}/status`,
        'passes:write',
        { method: 'PUT', json: { status: 'redeemed' } },
        'set_pass_status',
      ],
      [
        `/v1/templates/${s.alpha.templateId}/pass`,
        'passes:write',
        { method: 'POST', json: memberValues() },
        'create_pass',
      ],
      [pass.path, 'passes:write', { method: 'DELETE' }, 'delete_pass'],
      ['/v1/templates', 'templates:read', {}, 'list_pass_templates'],
      ['/v1/passtypes', 'passtypes:read', {}, 'get_pass_types'],
      ['/v1/scanners', 'scanners:read', {}, 'list_scanners'],
      ['/v1/audit', 'audit:read', {}, 'list_audit_log'],
      ['/v1/keys', '*', { method: 'POST', json: { name: 'escalate', scopes: ['*'] } }, 'create_app_key'],
    ];
    for (const [path, scope, init, action] of refusals) {
      const res = await s.api(key, path, init);
      expect(res.status, path).toBe(403);
      const b = await body(res);
      expect(b.message, path).toContain(`scope ${scope}`);
      expect(b.message, path).toContain(action);
    }
    // nothing changed
    expect((await ok(await s.api(s.alpha.appKey, `${pass.path}/status`))).status).toBe('valid');
    expect((await ok(await s.api(s.alpha.appKey, '/v1/passes'))).map((p: any) => p.serialNumber)).toContain(
      pass.serialNumber,
    );
    expect((await ok(await s.api(s.alpha.appKey, '/v1/keys'))).map((k: any) => k.name)).not.toContain(
      'escalate',
    );
  });

  describe('keys restricted to templates and pass types', () => {
    let other: {
      templateId: number;
      passTypeIdentifier: string;
      pass: Awaited<ReturnType<typeof createMemberPass>>;
    };
    let main: Awaited<ReturnType<typeof createMemberPass>>;
    let sameTypeTemplateId: number;
    let sameTypePass: Awaited<ReturnType<typeof createMemberPass>>;

    beforeAll(async () => {
      const k = s.alpha.appKey;
      main = await createMemberPass(s, s.alpha);
      const description = (await ok(await s.api(k, `/v1/templates/${s.alpha.templateId}`))).description;
      // a second template on the same pass type
      sameTypeTemplateId = (
        await ok(
          await s.api(k, '/v1/templates', {
            method: 'POST',
            json: { name: 'Same type', passType: s.alpha.passTypeIdentifier, description },
          }),
          201,
        )
      ).id;
      await addIcons(s, k, sameTypeTemplateId);
      sameTypePass = await createMemberPass(s, { ...s.alpha, templateId: sameTypeTemplateId });
      // a second pass type with its own template and pass
      const pki = createDevPki({
        passTypeIdentifier: `pass.dev.passslot.second.${randomBytes(3).toString('hex')}`,
        organizationName: 'alpha',
      });
      const pt = await ok(
        await s.api(k, '/v1/passtypes', {
          method: 'POST',
          json: {
            certificate: pki.certificatePem,
            privateKey: pki.privateKeyPem,
            wwdrCertificate: pki.caCertificatePem,
          },
        }),
        201,
      );
      const templateId = (
        await ok(
          await s.api(k, '/v1/templates', {
            method: 'POST',
            json: { name: 'Second type', passType: pt.passTypeIdentifier, description },
          }),
          201,
        )
      ).id;
      await addIcons(s, k, templateId);
      other = {
        templateId,
        passTypeIdentifier: pt.passTypeIdentifier,
        pass: await createMemberPass(s, { ...s.alpha, templateId }),
      };
      expect(other.pass.passTypeIdentifier).toBe(pt.passTypeIdentifier);
    });

    it('refuses a key restricted to another template on this pass (403) and filters its lists', async () => {
      const { key } = await newKey(s, s.alpha.appKey, {
        name: 'only same-type',
        scopes: ['passes:read', 'passes:write', 'templates:read'],
        templateIds: [sameTypeTemplateId],
      });
      const denied = await s.api(key, main.path);
      expect(denied.status).toBe(403);
      const refusal = await body(denied);
      expect(refusal.code).toBe('restricted_key');
      // the message tells the key's holder which templates it may use
      expect(refusal.message).toContain(String(sameTypeTemplateId));
      for (const [path, init] of [
        [`${main.path}/details`, {}],
        [`${main.path}/status`, { method: 'PUT', json: { status: 'redeemed' } }],
        [`/v1/templates/${s.alpha.templateId}`, {}],
        [`/v1/templates/${s.alpha.templateId}/pass`, { method: 'POST', json: memberValues() }],
      ] as const)
        expect((await s.api(key, path, init as any)).status, path).toBe(403);
      expect((await ok(await s.api(s.alpha.appKey, `${main.path}/status`))).status).toBe('valid');
      // its own template and pass work
      expect((await s.api(key, sameTypePass.path)).status).toBe(200);
      await ok(
        await s.api(key, `/v1/templates/${sameTypeTemplateId}/pass`, {
          method: 'POST',
          json: memberValues(),
        }),
        201,
      );
      // lists show only what it may touch
      const passes = await ok(await s.api(key, '/v1/passes'));
      expect(passes.length).toBeGreaterThanOrEqual(2);
      expect(passes.every((p: any) => p.templateId === sameTypeTemplateId)).toBe(true);
      const byType = await ok(await s.api(key, `/v1/passes/${s.alpha.passTypeIdentifier}`));
      expect(byType.map((p: any) => p.serialNumber)).not.toContain(main.serialNumber);
      expect(byType.map((p: any) => p.serialNumber)).toContain(sameTypePass.serialNumber);
      expect((await ok(await s.api(key, '/v1/templates'))).map((t: any) => t.id)).toEqual([
        sameTypeTemplateId,
      ]);
      // the unrestricted key sees all of them
      const all = (await ok(await s.api(s.alpha.appKey, '/v1/passes'))).map((p: any) => p.serialNumber);
      expect(all).toEqual(
        expect.arrayContaining([main.serialNumber, sameTypePass.serialNumber, other.pass.serialNumber]),
      );
    });

    it('refuses a key restricted to another pass type (403) and filters its lists', async () => {
      const { key } = await newKey(s, s.alpha.appKey, {
        name: 'only second type',
        scopes: ['passes:read', 'passes:write', 'templates:read', 'passtypes:read'],
        passTypeIds: [other.passTypeIdentifier],
      });
      const denied = await s.api(key, main.path);
      expect(denied.status).toBe(403);
      const refusal = await body(denied);
      expect(refusal.code).toBe('restricted_key');
      expect(refusal.message).toContain(other.passTypeIdentifier);
      for (const [path, init] of [
        [`${sameTypePass.path}/values`, {}],
        [`${main.path}/values`, { method: 'PUT', json: { points: 1 } }],
        [`/v1/passes/${s.alpha.passTypeIdentifier}`, {}],
        [`/v1/passtypes/${s.alpha.passTypeIdentifier}`, {}],
        [`/v1/templates/${s.alpha.templateId}/pass`, { method: 'POST', json: memberValues() }],
      ] as const)
        expect((await s.api(key, path, init as any)).status, path).toBe(403);
      expect((await ok(await s.api(s.alpha.appKey, `${main.path}/values`))).points).toBe(120);
      expect((await s.api(key, other.pass.path)).status).toBe(200);
      const passes = await ok(await s.api(key, '/v1/passes'));
      expect(passes.map((p: any) => p.serialNumber)).toEqual([other.pass.serialNumber]);
      expect((await ok(await s.api(key, '/v1/passtypes'))).map((p: any) => p.passTypeIdentifier)).toEqual([
        other.passTypeIdentifier,
      ]);
      expect((await ok(await s.api(key, '/v1/templates'))).map((t: any) => t.id)).toEqual([other.templateId]);
    });

    it('does not let a restricted key mint a key with more access than its own', async () => {
      const { key } = await newKey(s, s.alpha.appKey, {
        name: 'restricted admin',
        scopes: ['*'],
        templateIds: [sameTypeTemplateId],
      });
      expect((await s.api(key, main.path)).status).toBe(403);
      const res = await s.api(key, '/v1/keys', {
        method: 'POST',
        json: { name: 'escalated', scopes: ['*'] },
      });
      if (res.status === 201) {
        // if a key may be made at all, it keeps its maker's restrictions
        const made = await body(res);
        expect((await s.api(made.key, main.path)).status).toBe(403);
      } else expect(res.status).toBe(403);
    });

    it('does not let a restricted key take over an unrestricted key by rotating it', async () => {
      const { key } = await newKey(s, s.alpha.appKey, {
        name: 'restricted rotator',
        scopes: ['*'],
        templateIds: [sameTypeTemplateId],
      });
      const victim = await newKey(s, s.alpha.appKey, { name: 'unrestricted victim', scopes: ['*'] });
      const res = await s.api(key, `/v1/keys/${victim.id}/rotate`, { method: 'POST' });
      if (res.status === 200) {
        // a rotation it may make must not hand it a secret with more access than its own
        const rotated = await body(res);
        expect((await s.api(rotated.key, main.path)).status).toBe(403);
      } else {
        expect(res.status).toBe(403);
        expect((await s.api(victim.key, main.path)).status).toBe(200);
      }
    });
  });
});

describe(`revocation and rotation on ${TEST_DB}`, () => {
  it('refuses a revoked key at once (401)', async () => {
    const k = await newKey(s, s.alpha.appKey, { name: 'to revoke', scopes: ['*'] });
    expect((await s.api(k.key, '/v1/passes')).status).toBe(200); // now in the authentication cache
    const revoked = await s.api(s.alpha.appKey, `/v1/keys/${k.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    await expect401(await s.api(k.key, '/v1/passes'));
    await expect401(await raw('/v1/passes', `Bearer ${k.key}`));
    const listed = (await ok(await s.api(s.alpha.appKey, '/v1/keys'))).find((x: any) => x.id === k.id);
    expect(listed.revokedAt).toEqual(expect.any(String));
    // a revoked key cannot be revived by rotation, nor revoked twice
    expect((await s.api(s.alpha.appKey, `/v1/keys/${k.id}/rotate`, { method: 'POST' })).status).toBe(404);
    expect((await s.api(s.alpha.appKey, `/v1/keys/${k.id}`, { method: 'DELETE' })).status).toBe(404);
    await expect401(await s.api(k.key, '/v1/passes'));
  });

  it("refuses a rotated key's old secret (401) and accepts the new one", async () => {
    const k = await newKey(s, s.alpha.appKey, { name: 'to rotate', scopes: ['passes:read'] });
    expect((await s.api(k.key, '/v1/passes')).status).toBe(200);
    const rotated = await ok(await s.api(s.alpha.appKey, `/v1/keys/${k.id}/rotate`, { method: 'POST' }));
    expect(rotated.id).toBe(k.id);
    expect(rotated.key).not.toBe(k.key);
    expect(rotated.scopes).toEqual(['passes:read']);
    await expect401(await s.api(k.key, '/v1/passes'));
    expect((await s.api(rotated.key, '/v1/passes')).status).toBe(200);
    expect((await raw('/v1/passes', `Bearer ${rotated.key}`)).status).toBe(200);
    // same scopes as before
    expect((await s.api(rotated.key, '/v1/templates')).status).toBe(403);
  });
});

/** Stores an app key of alpha's with a chosen id and secret (so two servers can hold the same key). */
async function insertKey(srv: TestServer, id: number, key: string) {
  await srv.app.db
    .insertInto('appKeys')
    .values({
      id,
      accountId: srv.alpha.accountId,
      publicId: /^psk_([0-9a-f]{16})_/.exec(key)![1]!,
      secretHash: createHash('sha256').update(key).digest('hex'),
      name: `shared ${id}`,
      scopes: JSON.stringify(['*']),
      templateIds: null,
      passTypeIds: null,
      createdAt: new Date().toISOString(),
    } as any)
    .execute();
}

describe(`rate limits on ${TEST_DB}`, () => {
  it('answers the 6th request in the window with 429, its headers and a JSON message; another key has its own budget', async () => {
    const r = await startServer({ env: { PASSSLOT_RATE_LIMIT: '5' } });
    try {
      const k = r.alpha.appKey;
      for (let i = 1; i <= 5; i++) {
        const res = await r.api(k, '/v1/passes');
        expect(res.status, `request ${i}`).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBe('5');
        expect(res.headers.get('ratelimit-remaining')).toBe(String(5 - i));
        expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
      }
      // the 6th, a write, is refused and not run
      const limited = await r.api(k, `/v1/templates/${r.alpha.templateId}/pass`, {
        method: 'POST',
        json: memberValues(),
      });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('content-type')).toMatch(/^application\/json/);
      expect(limited.headers.get('ratelimit-limit')).toBe('5');
      expect(limited.headers.get('ratelimit-remaining')).toBe('0');
      const reset = Number(limited.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
      const retry = Number(limited.headers.get('retry-after'));
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(60);
      const msg = (await body(limited)).message;
      expect(msg).toMatch(/rate limit/i);
      expect(msg).toContain('5');
      expect((await r.api(k, '/v1/passes')).status).toBe(429);

      // another key of the same account, and a key of another account, each have a budget of their own
      const second = await createAccountKey(r.app, 'alpha', ['*']);
      const res2 = await r.api(second, '/v1/passes');
      expect(res2.status).toBe(200);
      expect(res2.headers.get('ratelimit-remaining')).toBe('4');
      expect(await body(res2)).toEqual([]); // the refused create did not run
      const beta = await r.account('beta');
      const res3 = await r.api(beta.appKey, '/v1/passes');
      expect(res3.status).toBe(200);
      expect(res3.headers.get('ratelimit-remaining')).toBe('4');
    } finally {
      await r.close();
    }
  });

  it('shares the budget of a key between two servers through Redis', async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    await redis.connect();
    // the same key (same id, same secret) in both servers' databases, with an id no other run uses
    const keyId = randomInt(100_000_000, 2_000_000_000);
    const key = `psk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    const redisKey = `passslot-rl-key:${keyId}`;
    const otherKeyId = keyId + 1;
    const otherKey = `psk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    const env = { REDIS_URL, PASSSLOT_RATE_LIMIT: '5' };
    const servers: TestServer[] = [];
    try {
      expect(await redis.exists(redisKey)).toBe(0);
      for (let i = 0; i < 2; i++) {
        const srv = await startServer({ env });
        servers.push(srv);
        await insertKey(srv, keyId, key);
      }
      const [one, two] = servers as [TestServer, TestServer];
      // Each server's Redis client connects in the background: a request made before it is ready is not counted
      // (skipOnError). Wait until one is counted.
      const counted = async (srv: TestServer, expectRemaining: number) => {
        for (let attempt = 0; attempt < 50; attempt++) {
          const res = await srv.api(key, '/v1/passes');
          expect(res.status).toBe(200);
          const remaining = res.headers.get('ratelimit-remaining');
          if (remaining !== '5') {
            expect(remaining).toBe(String(expectRemaining));
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('the server never counted a request in Redis');
      };
      await counted(one, 4);
      expect(await redis.get(redisKey)).toBe('1');
      const ttl = await redis.pttl(redisKey);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      // server 2 sees the request counted on server 1
      await counted(two, 3);
      expect(await redis.get(redisKey)).toBe('2');
      let res = await one.api(key, '/v1/passes');
      expect(res.headers.get('ratelimit-remaining')).toBe('2');
      res = await two.api(key, '/v1/passes');
      expect(res.headers.get('ratelimit-remaining')).toBe('1');
      res = await one.api(key, '/v1/passes');
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      // the 6th request over both servers is refused, on either
      res = await two.api(key, '/v1/passes');
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toEqual(expect.any(String));
      expect((await one.api(key, '/v1/passes')).status).toBe(429);
      // another key on those servers is not affected
      await insertKey(one, otherKeyId, otherKey);
      const other = await one.api(otherKey, '/v1/passes');
      expect(other.status).toBe(200);
      expect(['4', '5']).toContain(other.headers.get('ratelimit-remaining'));
    } finally {
      for (const srv of servers) await srv.close();
      await redis.del(redisKey, `passslot-rl-key:${otherKeyId}`);
      redis.disconnect();
    }
  });
});

describe(`Idempotency-Key on ${TEST_DB}`, () => {
  it('replays the first answer for the same key and body, refuses another body, and is per account', async () => {
    const k = s.alpha.appKey;
    const idem = `idem-${randomBytes(6).toString('hex')}`;
    const path = `/v1/templates/${s.alpha.templateId}/pass`;
    const values = memberValues({ memberId: idem });
    const before = (await ok(await s.api(k, '/v1/passes'))).length;

    const first = await s.api(k, path, {
      method: 'POST',
      json: values,
      headers: { 'idempotency-key': idem },
    });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();
    const second = await s.api(k, path, {
      method: 'POST',
      json: values,
      headers: { 'idempotency-key': idem },
    });
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await second.text()).toBe(firstBody);
    const passes = await ok(await s.api(k, '/v1/passes'));
    expect(passes).toHaveLength(before + 1);
    expect(passes.map((p: any) => p.serialNumber)).toContain(JSON.parse(firstBody).serialNumber);

    // the same key with another body: 422, nothing made
    const other = await s.api(k, path, {
      method: 'POST',
      json: { ...values, points: 1 },
      headers: { 'idempotency-key': idem },
    });
    expect(other.status).toBe(422);
    expect((await body(other)).code).toBe('idempotency_key_reused');
    expect(await ok(await s.api(k, '/v1/passes'))).toHaveLength(before + 1);
    // without the key, the same request makes another pass
    await ok(await s.api(k, path, { method: 'POST', json: values }), 201);
    expect(await ok(await s.api(k, '/v1/passes'))).toHaveLength(before + 2);

    // another account with the same Idempotency-Key and the same request: never alpha's answer
    const beta = await s.account(`beta-idem-${randomBytes(3).toString('hex')}`);
    const stolen = await s.api(beta.appKey, path, {
      method: 'POST',
      json: values,
      headers: { 'idempotency-key': idem },
    });
    expect(stolen.status).toBe(404);
    expect(stolen.headers.get('idempotent-replayed')).toBeNull();
    expect(await stolen.text()).not.toContain(JSON.parse(firstBody).serialNumber);
    // and a third account's own request with alpha's Idempotency-Key runs as a new request
    const gamma = await s.account(`gamma-idem-${randomBytes(3).toString('hex')}`);
    const own = await s.api(gamma.appKey, `/v1/templates/${gamma.templateId}/pass`, {
      method: 'POST',
      json: values,
      headers: { 'idempotency-key': idem },
    });
    expect(own.status).toBe(201);
    expect(own.headers.get('idempotent-replayed')).toBeNull();
    expect((await body(own)).passTypeIdentifier).toBe(gamma.passTypeIdentifier);
    expect(await ok(await s.api(gamma.appKey, '/v1/passes'))).toHaveLength(1);
    expect(await ok(await s.api(beta.appKey, '/v1/passes'))).toHaveLength(0);
    // and alpha's key still replays alpha's answer
    const third = await s.api(k, path, {
      method: 'POST',
      json: values,
      headers: { 'idempotency-key': idem },
    });
    expect(await third.text()).toBe(firstBody);
  });
});

describe(`the audit log on ${TEST_DB}`, () => {
  it('records mutating actions with edge, action, target, outcome, key and input, with secrets redacted', async () => {
    const k = s.alpha.appKey;
    const keys = await ok(await s.api(k, '/v1/keys'));
    const alphaKeyId = keys.find((x: any) => x.name === 'initial key').id;
    const created = await s.api(k, `/v1/templates/${s.alpha.templateId}/pass`, {
      method: 'POST',
      json: memberValues(),
    });
    expect(created.status).toBe(201);
    const pass = await body(created);
    const ref = `${pass.passTypeIdentifier}/${pass.serialNumber}`;
    const status = await s.api(k, `/v1/passes/${ref}/status`, {
      method: 'PUT',
      json: { status: 'redeemed' },
    });
    const badStatus = await s.api(k, `/v1/passes/${ref}/status`, {
      method: 'PUT',
      json: { status: 'stolen' },
    });
    const missing = await s.api(k, `/v1/passes/${pass.passTypeIdentifier}/no-such-serial`, {
      method: 'DELETE',
    });
    const read = await s.api(k, `/v1/passes/${ref}/details`);
    const passType = await s.api(k, '/v1/passtypes', {
      method: 'POST',
      json: { p12: Buffer.from('not a p12').toString('base64'), password: 'hunter2-secret' },
    });
    const pem = createDevPki({
      passTypeIdentifier: `pass.dev.passslot.audit.${randomBytes(3).toString('hex')}`,
    });
    const pemType = await s.api(k, '/v1/passtypes', {
      method: 'POST',
      json: {
        certificate: pem.certificatePem,
        privateKey: pem.privateKeyPem,
        wwdrCertificate: pem.caCertificatePem,
      },
    });
    expect(pemType.status).toBe(201);
    const madeKey = await s.api(k, '/v1/keys', {
      method: 'POST',
      json: { name: 'audited', scopes: ['passes:read'] },
    });
    const made = await body(madeKey);
    const rotate = await s.api(k, `/v1/keys/${made.id}/rotate`, { method: 'POST' });
    const rotated = await body(rotate);
    const restrictions = await s.api(k, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { quantityRestriction: 500 },
    });
    expect(restrictions.status).toBe(200);
    const denied = await s.api(rotated.key, `/v1/passes/${ref}`, {
      method: 'DELETE',
    });
    expect(denied.status).toBe(403);
    await ok(await s.api(k, `/v1/templates/${s.alpha.templateId}/restrictions`, { method: 'PUT', json: {} }));

    const res = await s.api(k, '/v1/audit?limit=1000');
    expect(res.status).toBe(200);
    const text = await res.clone().text();
    const { entries } = await body(res);
    const entry = (r: Response) => {
      const found = entries.filter((e: any) => e.requestId === r.headers.get('x-request-id'));
      expect(found, `audit entry of ${r.url}`).toHaveLength(1);
      return found[0];
    };
    expect(entry(created)).toMatchObject({
      action: 'create_pass',
      target: String(s.alpha.templateId),
      outcome: 201,
      keyId: alphaKeyId,
      edge: 'rest',
      // the action's input, whatever the edge: the template and the values
      input: { templateId: s.alpha.templateId, values: memberValues() },
    });
    expect(entry(status)).toMatchObject({
      action: 'set_pass_status',
      target: ref,
      outcome: 200,
      input: { status: 'redeemed' },
    });
    expect(entry(badStatus)).toMatchObject({ action: 'set_pass_status', outcome: 422 });
    expect(entry(missing)).toMatchObject({
      action: 'delete_pass',
      target: `${pass.passTypeIdentifier}/no-such-serial`,
      outcome: 404,
    });
    expect(entry(passType)).toMatchObject({
      action: 'create_pass_type',
      outcome: 422,
      input: { p12: '[redacted]', password: '[redacted]' },
    });
    expect(entry(pemType)).toMatchObject({
      action: 'create_pass_type',
      outcome: 201,
      input: { certificate: '[redacted]', privateKey: '[redacted]', wwdrCertificate: '[redacted]' },
    });
    expect(entry(madeKey)).toMatchObject({ action: 'create_app_key', outcome: 201 });
    expect(entry(rotate)).toMatchObject({ action: 'rotate_app_key', target: String(made.id), outcome: 200 });
    expect(entry(denied)).toMatchObject({ action: 'delete_pass', outcome: 403, keyId: made.id });
    expect(entry(restrictions)).toMatchObject({
      action: 'set_template_restrictions',
      target: String(s.alpha.templateId),
      outcome: 200,
      input: { quantityRestriction: 500 },
    });
    // reads are not audited
    expect(entries.filter((e: any) => e.requestId === read.headers.get('x-request-id'))).toEqual([]);
    expect(entries.some((e: any) => e.action === 'get_pass_details')).toBe(false);
    // no secret is in the log: passwords, private keys, app keys
    for (const secret of ['hunter2-secret', 'PRIVATE KEY', made.key, rotated.key, s.alpha.appKey])
      expect(text, `the audit log holds ${secret.slice(0, 12)}`).not.toContain(secret);
  });

  it("keeps a template's distribution password (passwordProtection) out of the audit log", async () => {
    const k = s.alpha.appKey;
    const secret = `open-sesame-${randomBytes(4).toString('hex')}`;
    const res = await s.api(k, `/v1/templates/${s.alpha.templateId}/restrictions`, {
      method: 'PUT',
      json: { passwordProtection: secret },
    });
    expect(res.status).toBe(200);
    await ok(await s.api(k, `/v1/templates/${s.alpha.templateId}/restrictions`, { method: 'PUT', json: {} }));
    const audit = await s.api(k, '/v1/audit?action=set_template_restrictions&limit=1000');
    const text = await audit.text();
    const entry = JSON.parse(text).entries.find((e: any) => e.requestId === res.headers.get('x-request-id'));
    expect(entry).toMatchObject({ action: 'set_template_restrictions', outcome: 200 });
    expect(entry.input.passwordProtection).toBe('[redacted]');
    expect(text).not.toContain(secret);
  });
});

describe(`limits on what a client sends on ${TEST_DB}`, () => {
  /** A tiny PNG that declares a huge image: the signature and an IHDR chunk only. */
  const bomb = (width: number, height: number) => {
    const ihdr = Buffer.alloc(25);
    ihdr.writeUInt32BE(13, 0);
    ihdr.write('IHDR', 4, 'latin1');
    ihdr.writeUInt32BE(width, 8);
    ihdr.writeUInt32BE(height, 12);
    ihdr.writeUInt8(8, 16);
    ihdr.writeUInt8(6, 17);
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr]);
  };

  it('refuses an image that declares 30000×30000 pixels, for a pass and for a template, before decoding it', async () => {
    const s = await startServer();
    try {
      const p = await createMemberPass(s, s.alpha);
      for (const path of [
        `${p.path}/images/strip/normal`,
        `/v1/templates/${s.alpha.templateId}/images/strip/normal`,
      ]) {
        const form = new FormData();
        form.append('image', new Blob([bomb(30000, 30000)], { type: 'image/png' }), 'strip.png');
        const res = await s.api(s.alpha.appKey, path, { method: 'POST', body: form });
        expect(res.status, path).toBe(422);
        expect((await res.json()).errors[0].reasons[0]).toBe(
          'the image is 30000×30000 pixels; at most 4096×4096',
        );
      }
      // and inside a create's JSON
      const create = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/pass`, {
        method: 'POST',
        json: {
          ...memberValues(),
          images: [{ type: 'strip', resolution: 'normal', data: bomb(20000, 10).toString('base64') }],
        },
      });
      expect(create.status).toBe(422);
    } finally {
      await s.close();
    }
  });

  it('drops a client that sends its headers one byte at a time', async () => {
    const s = await startServer();
    const { connect } = await import('node:net');
    const url = new URL(s.url);
    const started = Date.now();
    try {
      const closed = await new Promise<{ answer: string; seconds: number }>((resolve) => {
        const socket = connect(Number(url.port), url.hostname);
        let answer = '';
        const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
        let i = 0;
        const drip = setInterval(() => {
          if (i < request.length && !socket.destroyed) socket.write(request[i++]!);
        }, 1000);
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('close', () => {
          clearInterval(drip);
          resolve({ answer, seconds: (Date.now() - started) / 1000 });
        });
      });
      expect(closed.answer).toMatch(/^HTTP\/1.1 408/);
      // dropped once the 10 seconds for headers are over (checked every second)
      expect(closed.seconds).toBeGreaterThanOrEqual(9);
      expect(closed.seconds).toBeLessThan(15);
    } finally {
      await s.close();
    }
  }, 30_000);
});
