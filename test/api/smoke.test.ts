import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPkpass } from '../helpers.js';
import { createMemberPass, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

describe(`the service on ${TEST_DB}`, () => {
  it('creates a pass from a template and serves a .pkpass that OpenSSL verifies', async () => {
    const pass = await createMemberPass(s, s.alpha);
    expect(pass.passTypeIdentifier).toBe(s.alpha.passTypeIdentifier);
    const res = await s.api(s.alpha.appKey, pass.path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.pkpass');
    const { passJson } = verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath);
    expect(passJson).toMatchObject({ serialNumber: pass.serialNumber, webServiceURL: `${s.url}/wallet` });
    expect((passJson.authenticationToken as string).length).toBeGreaterThanOrEqual(32);
  });
});
