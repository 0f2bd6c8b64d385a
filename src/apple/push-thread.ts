// Sending pushes on a thread of their own: the HTTP/2 client's per-stream work (streams, frames, TLS records) is most
// of a push's cost, and on the main thread it competes with the database and the HTTP server. The main thread sends
// batches (the devices of one pass); this thread keeps one ApnsConnection per identity and answers each batch with
// its results. When the thread stops, its batches answer status 0, which the push jobs retry from durable state.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { type ApnsAuth, ApnsConnection, type ApnsResult } from './apns.js';

export interface ApnsIdentity {
  origin: string;
  auth: ApnsAuth;
  ca?: string;
}

interface Batch {
  id: number;
  key: string;
  /** The identity, the first time this thread is sent a batch for the key. */
  identity?: ApnsIdentity;
  tokens: string[];
  topic: string;
  now: number;
}

/** Closes the connection of an identity that was replaced (a new certificate or key). */
interface Retire {
  retire: string;
}

interface Answer {
  id: number;
  results: ApnsResult[];
}

const THREAD_FILE = fileURLToPath(new URL('./push-thread.js', import.meta.url));
const ROLE = 'passslot-push-thread';

/** Whether the compiled thread is there (it is not when the TypeScript sources run directly, as under Vitest). */
export const pushThreadAvailable = (): boolean => existsSync(THREAD_FILE);

/** The main thread's side: batches to the thread, answers back; a thread that stops is replaced. */
export class PushThread {
  private worker!: Worker;
  /** The identities the current thread was given. */
  private readonly known = new Set<string>();
  private readonly pending = new Map<number, { count: number; resolve: (r: ApnsResult[]) => void }>();
  private nextId = 1;
  private closing = false;

  constructor() {
    this.start();
  }

  private start(): void {
    // a fan-out keeps up to a thousand streams in flight per connection, so their objects outlive V8's default
    // young generation and get copied at every scavenge; a larger one let most die young (about +10% pushes/s)
    const worker = new Worker(THREAD_FILE, {
      workerData: ROLE,
      resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    worker.unref();
    worker.on('message', (answer: Answer) => {
      this.pending.get(answer.id)?.resolve(answer.results);
      this.pending.delete(answer.id);
    });
    worker.on('error', () => undefined); // followed by 'exit'
    worker.on('exit', () => {
      for (const { count, resolve } of this.pending.values())
        resolve(Array.from({ length: count }, () => ({ status: 0, reason: 'PushThreadStopped' })));
      this.pending.clear();
      this.known.clear();
      if (!this.closing) this.start();
    });
    this.worker = worker;
  }

  /** Sends one push per token with the identity `key` names (described by `identity` the first time). */
  send(
    key: string,
    identity: () => ApnsIdentity,
    tokens: string[],
    topic: string,
    now: Date,
  ): Promise<ApnsResult[]> {
    if (this.closing) return Promise.resolve(tokens.map(() => ({ status: 0, reason: 'ClientClosed' })));
    return new Promise((resolve) => {
      const batch: Batch = { id: this.nextId++, key, tokens, topic, now: now.getTime() };
      if (!this.known.has(key)) {
        batch.identity = identity();
        this.known.add(key);
      }
      this.pending.set(batch.id, { count: tokens.length, resolve });
      this.worker.postMessage(batch);
    });
  }

  /** Closes the connection of `key` once its streams end. */
  retire(key: string): void {
    this.known.delete(key);
    if (!this.closing) this.worker.postMessage({ retire: key } satisfies Retire);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

// --- the thread
if (workerData === ROLE && parentPort) {
  const port = parentPort;
  const connections = new Map<string, ApnsConnection>();
  port.on('message', (message: Batch | Retire) => {
    if ('retire' in message) {
      connections.get(message.retire)?.close();
      connections.delete(message.retire);
      return;
    }
    const batch = message;
    let connection = connections.get(batch.key);
    if (!connection && batch.identity) {
      const { origin, auth, ca } = batch.identity;
      connection = new ApnsConnection(origin, auth, ca);
      connections.set(batch.key, connection);
    }
    const c = connection;
    const now = new Date(batch.now);
    void Promise.all(
      batch.tokens.map((t) =>
        c ? c.send(t, batch.topic, now) : Promise.resolve({ status: 0, reason: 'UnknownIdentity' }),
      ),
    ).then((results) => port.postMessage({ id: batch.id, results } satisfies Answer));
  });
}
