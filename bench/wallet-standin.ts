// The APNs stand-in of the wallet benchmark, in a child process of its own so that its CPU is measured apart from the
// service's and the simulated devices'. It trusts the account's development CA (BENCH_CLIENT_CA), listens on PORT and
// prints "listening". Over IPC it sends the parent, every 10 ms, the device tokens it answered 200 since the last
// batch (the parent plays those devices), on {type: 'stats'} the arrival times' summary, on {type: 'reset'} a fresh start.
import { readFileSync } from 'node:fs';
import { startApnsStandin } from '../src/dev/apns-standin.js';

const now = (): number => performance.timeOrigin + performance.now();

const standin = await startApnsStandin({
  port: Number(process.env.PORT),
  certsDir: process.env.BENCH_CERTS_DIR ?? '',
  clientCas: [readFileSync(process.env.BENCH_CLIENT_CA ?? '', 'utf8')],
  maxConcurrentStreams: Number(process.env.BENCH_APNS_STREAMS ?? 1000),
});

let times = new Float64Array(1 << 17);
let n200 = 0;
const statuses: Record<string, number> = {};
let batch: string[] = [];

standin.onPush((record) => {
  // the stand-in keeps every record; the benchmark needs none of them
  if (standin.received.length >= 1000) standin.received.length = 0;
  statuses[record.status] = (statuses[record.status] ?? 0) + 1;
  if (record.status !== 200) return;
  if (n200 === times.length) {
    const bigger = new Float64Array(times.length * 2);
    bigger.set(times);
    times = bigger;
  }
  times[n200++] = now();
  batch.push(record.token);
});

setInterval(() => {
  if (batch.length === 0) return;
  process.send?.({ type: 'pushes', tokens: batch, at: now() });
  batch = [];
}, 10).unref();

export interface StandinStats {
  type: 'stats';
  statuses: Record<string, number>;
  count: number;
  first: number;
  last: number;
  /** Pushes per whole second after the first one. */
  perSecond: number[];
  /** Runs of pushes with less than BURST_GAP_MS between consecutive ones. */
  bursts: number;
  medianBurst: number;
  medianGapMs: number;
}

const BURST_GAP_MS = 1;

function stats(): StandinStats {
  const t = times.subarray(0, n200);
  const first = t[0] ?? 0;
  const last = t[n200 - 1] ?? 0;
  const perSecond: number[] = [];
  for (const x of t) {
    const s = Math.floor((x - first) / 1000);
    perSecond[s] = (perSecond[s] ?? 0) + 1;
  }
  const sizes: number[] = [];
  const gaps: number[] = [];
  let size = n200 ? 1 : 0;
  for (let i = 1; i < n200; i++) {
    const gap = t[i]! - t[i - 1]!;
    if (gap >= BURST_GAP_MS) {
      sizes.push(size);
      gaps.push(gap);
      size = 0;
    }
    size++;
  }
  if (size) sizes.push(size);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return {
    type: 'stats',
    statuses,
    count: n200,
    first,
    last,
    perSecond: Array.from(perSecond, (x) => x ?? 0),
    bursts: sizes.length,
    medianBurst: median(sizes),
    medianGapMs: median(gaps),
  };
}

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send?.(stats());
  // a new fan-out: forget the arrivals so far
  if (message.type === 'reset') {
    n200 = 0;
    for (const k of Object.keys(statuses)) delete statuses[k];
  }
});
process.once('SIGTERM', () => {
  void standin.close().then(() => process.exit(0));
});
process.once('disconnect', () => {
  void standin.close().then(() => process.exit(0));
});
console.log('listening');
