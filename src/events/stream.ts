// The live event stream: Server-Sent Events, one "id / event / data" message per event, resumable with Last-Event-ID.
// Woken in-process when a transaction with events commits, and polling once a second for other processes. Events
// are read by sequence number; on PostgreSQL a transaction can commit after one with a later number, so numbers
// seen in the last few seconds stay open and a late event is still sent (once).
import type { ServerResponse } from 'node:http';
import type { App } from '../app.js';
import type { StoredEvent } from '../store/events.js';
import { envelopeJson } from './webhooks.js';

const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;
/** PostgreSQL: how long a sequence number may wait for an earlier one to commit. */
const SETTLE_MS = 5000;
const BATCH = 500;

interface Stream {
  res: ServerResponse;
  wake?: () => void;
}

const open = new WeakMap<App, Set<Stream>>();

function streamsOf(app: App): Set<Stream> {
  let streams = open.get(app);
  if (!streams) {
    const created = new Set<Stream>();
    open.set(app, created);
    app.onWake((kind) => {
      if (kind === 'events') for (const s of created) s.wake?.();
    });
    streams = created;
  }
  return streams;
}

/** Ends every open stream of the app (at shutdown: SSE connections never go idle on their own). */
export function closeStreams(app: App): void {
  for (const s of open.get(app) ?? []) s.res.end();
  open.get(app)?.clear();
}

/** Streams the events `read` returns after `afterSeq` to `res` until the client goes away. */
export async function streamEvents(
  app: App,
  res: ServerResponse,
  afterSeq: number,
  read: (afterSeq: number, limit: number) => Promise<StoredEvent[]>,
): Promise<void> {
  const streams = streamsOf(app);
  const stream: Stream = { res };
  streams.add(stream);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');

  let closed = false;
  res.on('close', () => {
    closed = true;
    stream.wake?.();
  });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  // SQLite commits one transaction at a time, so sequence order is commit order; PostgreSQL's is not
  const lateCommits = app.dialect === 'postgres';
  let high = afterSeq; // the highest sequence number sent
  let floor = afterSeq; // every event up to here is settled
  const seen = new Map<number, number>(); // sent above the floor -> its time
  let lastRescan = Date.now();
  let highAt = Date.now();

  const send = async (r: StoredEvent) => {
    if (lateCommits) seen.set(r.seq, Date.parse(r.createdAt));
    if (
      !res.write(`id: ${r.id}\nevent: ${r.type}\ndata: ${envelopeJson({ ...r, created: r.createdAt })}\n\n`)
    )
      await new Promise((resolve) => res.once('drain', resolve));
  };
  try {
    while (!closed) {
      const rows = await read(high, BATCH);
      for (const r of rows) await send(r);
      if (rows.length) {
        high = rows[rows.length - 1]!.seq;
        highAt = Date.now();
      }
      if (lateCommits && Date.now() - lastRescan >= POLL_MS) {
        lastRescan = Date.now();
        for (let from = floor; from < high; ) {
          const late = await read(from, BATCH);
          for (const r of late) if (r.seq < high && !seen.has(r.seq)) await send(r);
          if (late.length < BATCH) break;
          from = late[late.length - 1]!.seq;
        }
        const settledBefore = Date.now() - SETTLE_MS;
        for (const [seq, at] of [...seen].sort((a, b) => a[0] - b[0])) {
          if (at > settledBefore) break;
          floor = seq;
          seen.delete(seq);
        }
        if (seen.size === 0 && Date.now() - highAt > SETTLE_MS) floor = high;
      }
      if (rows.length === BATCH) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, POLL_MS);
        stream.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      stream.wake = undefined;
    }
  } catch (err) {
    app.log.warn({ err }, 'event stream ended by an error');
  } finally {
    clearInterval(heartbeat);
    streams.delete(stream);
    if (!res.writableEnded) res.end();
  }
}
