// How actions fare: every run (reads too, from every edge) is counted in memory, per account, hour, action and edge,
// and added to action_stats every few seconds with one upsert per row (so many processes add up); GET /v1/actions
// reads the last 24 hours from there. The same runs feed Prometheus counters and a duration histogram (/metrics).
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { Db } from './db.js';
import type { ActionStatsTable } from './schema.js';

/** Upper bounds of the duration buckets, in milliseconds; a last bucket holds longer runs. */
export const DURATION_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500] as const;
const BUCKETS = DURATION_BUCKETS_MS.length + 1;
const FLUSH_MS = 5000;

type BucketColumn = `b${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11}`;
const bucketColumns = Array.from({ length: BUCKETS }, (_, i) => `b${i}` as BucketColumn);

interface Pending {
  accountId: number;
  hour: string;
  action: string;
  edge: string;
  calls: number;
  errors: number;
  buckets: number[];
}

const bucketOf = (ms: number): number => {
  const i = DURATION_BUCKETS_MS.findIndex((b) => ms <= b);
  return i < 0 ? BUCKETS - 1 : i;
};

/** The q-quantile (0..1) of bucketed durations: interpolated within the bucket where it falls. */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      const low = i === 0 ? 0 : DURATION_BUCKETS_MS[i - 1]!;
      const high = DURATION_BUCKETS_MS[i] ?? DURATION_BUCKETS_MS[DURATION_BUCKETS_MS.length - 1]! * 2;
      return Math.round((low + ((rank - seen) / n) * (high - low)) * 100) / 100;
    }
    seen += n;
  }
  return null;
}

export class ActionStats {
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** The Prometheus registry of this process (an App's own, so tests with several apps do not mix). */
  readonly registry = new Registry();
  private readonly runs: Counter<'action' | 'edge' | 'outcome'>;
  private readonly durations: Histogram<'action' | 'edge'>;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'passslot_' });
    this.runs = new Counter({
      name: 'passslot_action_runs_total',
      help: 'Runs of each action from each edge, by outcome (ok or error)',
      labelNames: ['action', 'edge', 'outcome'],
      registers: [this.registry],
    });
    this.durations = new Histogram({
      name: 'passslot_action_duration_seconds',
      help: 'How long runs of each action took, by edge',
      labelNames: ['action', 'edge'],
      buckets: DURATION_BUCKETS_MS.map((ms) => ms / 1000),
      registers: [this.registry],
    });
  }

  record(accountId: number, action: string, edge: string, ok: boolean, ms: number, now: Date): void {
    this.runs.inc({ action, edge, outcome: ok ? 'ok' : 'error' });
    this.durations.observe({ action, edge }, ms / 1000);
    if (!accountId) return;
    const hour = `${now.toISOString().slice(0, 13)}:00:00.000Z`;
    const key = `${accountId} ${hour} ${action} ${edge}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { accountId, hour, action, edge, calls: 0, errors: 0, buckets: new Array(BUCKETS).fill(0) };
      this.pending.set(key, p);
    }
    p.calls += 1;
    if (!ok) p.errors += 1;
    p.buckets[bucketOf(ms)]! += 1;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_MS).unref();
  }

  /** Adds what was counted since the last flush to the table. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    this.flushing = (async () => {
      try {
        for (const p of batch) {
          const row: ActionStatsTable = {
            accountId: p.accountId,
            hour: p.hour,
            action: p.action,
            edge: p.edge,
            calls: p.calls,
            errors: p.errors,
            ...(Object.fromEntries(bucketColumns.map((c, i) => [c, p.buckets[i]!])) as Record<
              BucketColumn,
              number
            >),
          };
          const add = (c: 'calls' | 'errors' | BucketColumn) =>
            sql<number>`action_stats.${sql.ref(snake(c))} + ${row[c]}`;
          await this.db
            .insertInto('actionStats')
            .values(row)
            .onConflict((oc) =>
              oc
                .columns(['accountId', 'hour', 'action', 'edge'])
                .doUpdateSet(
                  Object.fromEntries(
                    (['calls', 'errors', ...bucketColumns] as const).map((c) => [c, add(c)]),
                  ),
                ),
            )
            .execute();
        }
      } catch (err) {
        this.log.error({ err, rows: batch.length }, 'could not write action statistics');
      }
    })();
    await this.flushing;
    this.flushing = undefined;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

const snake = (c: string): string => c.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

export interface ActionSummary {
  action: string;
  calls: number;
  errors: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  edges: Record<string, number>;
}

/** Each action's runs on the account since `since` (hours are counted whole). */
export async function summarize(db: Db, accountId: number, since: Date): Promise<ActionSummary[]> {
  const hour = `${since.toISOString().slice(0, 13)}:00:00.000Z`;
  const rows = await db
    .selectFrom('actionStats')
    .selectAll()
    .where('accountId', '=', accountId)
    .where('hour', '>=', hour)
    .execute();
  const by = new Map<
    string,
    { calls: number; errors: number; buckets: number[]; edges: Record<string, number> }
  >();
  for (const r of rows) {
    let a = by.get(r.action);
    if (!a) {
      a = { calls: 0, errors: 0, buckets: new Array(BUCKETS).fill(0), edges: {} };
      by.set(r.action, a);
    }
    a.calls += Number(r.calls);
    a.errors += Number(r.errors);
    a.edges[r.edge] = (a.edges[r.edge] ?? 0) + Number(r.calls);
    bucketColumns.forEach((c, i) => {
      a.buckets[i]! += Number(r[c]);
    });
  }
  return [...by.entries()]
    .map(([action, a]) => ({
      action,
      calls: a.calls,
      errors: a.errors,
      errorRate: a.calls ? Math.round((a.errors / a.calls) * 10_000) / 10_000 : 0,
      p50Ms: quantileMs(a.buckets, 0.5),
      p95Ms: quantileMs(a.buckets, 0.95),
      edges: a.edges,
    }))
    .sort((x, y) => y.calls - x.calls || x.action.localeCompare(y.action));
}
