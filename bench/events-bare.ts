// The baseline of the events benchmark: a plain keep-alive undici client (the same Agent settings as
// src/events/outbound.ts) POSTing a fixed event body with webhook headers to the benchmark's receivers, `concurrency`
// requests in flight, round robin over the URLs. No database, no signing, no retries. Prints "ready", then runs one
// batch per IPC message {urls, count, concurrency, body, headers}; the benchmark times the batch at its receivers.
import { Agent, request } from 'undici';

export interface BareBatch {
  urls: string[];
  count: number;
  concurrency: number;
  body: string;
  headers: Record<string, string>;
}

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 });

async function run({ urls, count, concurrency, body, headers }: BareBatch): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const res = await request(urls[i % urls.length]!, {
          method: 'POST',
          headers,
          body,
          dispatcher: agent,
        });
        await res.body.text();
        if (res.statusCode >= 300) throw new Error(`${urls[i % urls.length]}: HTTP ${res.statusCode}`);
      }
    }),
  );
}

process.on('message', (batch: BareBatch) => {
  run(batch).then(
    () => process.send?.('done'),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
process.once('SIGTERM', () => {
  void agent.close().then(() => process.exit(0));
});
console.log('ready');
