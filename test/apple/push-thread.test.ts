// The push thread as the compiled service runs it (dist/, built before the tests): batches out, results back over a
// real HTTP/2 connection to the stand-in; a thread that dies answers its waiting batches with status 0 (which push
// jobs retry) and is replaced by one that is given the identities again.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApnsIdentity } from '../../src/apple/push-thread.js';
import { type ApnsStandin, startApnsStandin } from '../../src/dev/apns-standin.js';
import { createDevPki } from '../../src/engine/index.js';
import { tmpDir } from '../helpers.js';

type PushThreadModule = typeof import('../../src/apple/push-thread.js');
const COMPILED = join(import.meta.dirname, '..', '..', 'dist', 'src', 'apple', 'push-thread.js');

const pki = createDevPki({ passTypeIdentifier: 'pass.test.passslot.thread', teamIdentifier: 'THREADTEAM' });
const topic = 'pass.test.passslot.thread';
const token = (n: number) => n.toString(16).padStart(64, '0');
let standin: ApnsStandin;
let silent: Server;
const held: Socket[] = [];
let mod: PushThreadModule;

beforeAll(async () => {
  mod = (await import(COMPILED)) as PushThreadModule;
  standin = await startApnsStandin({
    certsDir: tmpDir('passslot-push-thread-'),
    clientCas: [pki.caCertificatePem],
  });
  // a server that accepts connections and never answers: pushes to it wait
  silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const s of held) s.destroy();
  silent?.close();
  await standin?.close();
});

const identity = (origin: string) => (): ApnsIdentity => ({
  origin,
  auth: { kind: 'certificate', certificatePem: pki.certificatePem, privateKeyPem: pki.privateKeyPem },
  ca: standin.serverCertificatePem,
});

describe('the push thread', () => {
  it('sends a batch, survives its thread dying mid-batch, and sends again after the restart', async () => {
    expect(mod.pushThreadAvailable()).toBe(true);
    const thread = new mod.PushThread();
    try {
      let asked = 0;
      const toStandin = () => {
        asked++;
        return identity(standin.url)();
      };
      const first = await thread.send('standin', toStandin, [token(1), token(2)], topic, new Date());
      expect(first.map((r) => r.status)).toEqual([200, 200]);
      expect(asked).toBe(1);
      const again = await thread.send('standin', toStandin, [token(3)], topic, new Date());
      expect(again[0]!.status).toBe(200);
      expect(asked).toBe(1); // the thread kept the identity
      expect(standin.received.filter((r) => r.topic === topic && r.status === 200)).toHaveLength(3);

      // a batch that cannot finish, then the thread dies (a message it cannot read throws in it)
      const waiting = thread.send(
        'silent',
        identity(`https://127.0.0.1:${(silent.address() as { port: number }).port}`),
        [token(4), token(5)],
        topic,
        new Date(),
      );
      (thread as unknown as { worker: { postMessage(m: unknown): void } }).worker.postMessage(42);
      expect(await waiting).toEqual([
        { status: 0, reason: 'PushThreadStopped' },
        { status: 0, reason: 'PushThreadStopped' },
      ]);

      // the replacement is given the identity again
      const after = await thread.send('standin', toStandin, [token(6)], topic, new Date());
      expect(after[0]!.status).toBe(200);
      expect(asked).toBe(2);
    } finally {
      await thread.close();
    }
  });
});
