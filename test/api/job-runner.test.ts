// The job runner takes work queued while a long job runs at once: the pushes and Google syncs a template job queues
// go out while it is still re-rendering, not after it ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers } from '../../src/jobs/runner.js';
import { enqueueJob } from '../../src/store/jobs.js';
import { startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s?.close();
});

describe(`the job runner on ${TEST_DB}`, () => {
  it('runs a job queued while a long one runs without waiting for the long one to end', async () => {
    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const order: string[] = [];
    const workers = startWorkers(s.app, {
      poll: false,
      handlers: {
        slow: async () => {
          order.push('slow started');
          await slowHeld;
          order.push('slow ended');
        },
        quick: async () => {
          order.push('quick');
        },
      },
    });
    try {
      const now = s.app.clock.now();
      await enqueueJob(s.app.db, { accountId: s.alpha.accountId, kind: 'slow', payload: {} }, now);
      s.app.wake('slow');
      for (let i = 0; i < 100 && !order.includes('slow started'); i++)
        await new Promise((r) => setTimeout(r, 20));
      await enqueueJob(s.app.db, { accountId: s.alpha.accountId, kind: 'quick', payload: {} }, now);
      s.app.wake('quick');
      for (let i = 0; i < 100 && !order.includes('quick'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(order).toEqual(['slow started', 'quick']);
    } finally {
      releaseSlow();
      await workers.stop();
    }
    expect(order).toEqual(['slow started', 'quick', 'slow ended']);
  });
});
