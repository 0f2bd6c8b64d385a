// A webhook receiver for tests: a real HTTP server that answers PassSlot's verification handshake with its token and
// records every other request (raw body, headers, time of arrival). What it answers is up to the test.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; created: string; data: Record<string, unknown> };
  at: number;
  /** The status this request was answered with. */
  status: number;
}

export type Answer = { status: number; body?: string; headers?: Record<string, string> };

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests answered 2xx. */
  delivered(): Received[];
  /** Sets how events are answered (default 200 "ok"). */
  answer(fn: (r: Omit<Received, 'status'>) => Answer | Promise<Answer>): void;
  /** Resolves once `n` requests were answered 2xx. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(options: { verify?: 'echo' | 'wrong' | number } = {}): Promise<Receiver> {
  const received: Received[] = [];
  let answer: (r: Omit<Received, 'status'>) => Answer | Promise<Answer> = () => ({ status: 200, body: 'ok' });
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const json = JSON.parse(body);
      if (json.type === 'webhook.verify') {
        const v = options.verify ?? 'echo';
        if (typeof v === 'number') res.writeHead(v).end('no');
        else
          res.writeHead(200, { 'content-type': 'text/plain' }).end(v === 'echo' ? json.data.token : 'wrong');
        return;
      }
      const r = { path: req.url ?? '/', headers: req.headers, body, json, at: performance.now() };
      let a: Answer;
      try {
        a = await answer(r);
      } catch {
        a = { status: 500 };
      }
      received.push({ ...r, status: a.status });
      if (!res.destroyed) res.writeHead(a.status, a.headers).end(a.body ?? '');
      for (const w of waiters.splice(0)) w();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const delivered = () => received.filter((r) => r.status >= 200 && r.status < 300);
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    delivered,
    answer(fn) {
      answer = fn;
    },
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (delivered().length < n) {
        if (Date.now() > deadline)
          throw new Error(`receiver got ${delivered().length} deliveries, expected ${n}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 100);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return delivered();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
