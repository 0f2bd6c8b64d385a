// The bus between the processes that share one PostgreSQL: what a committed change makes stale in the other
// processes' caches (hot passes, verified credentials), and wakes for their workers, over LISTEN/NOTIFY.
//
// The promise: a change is seen by a read on any process once the request that made it has its answer. How:
// - a transaction that changes passes sends its notice with pg_notify inside the transaction, so it is delivered at
//   commit, in commit order, and never lost to a crash between the commit and the notice;
// - every process pings itself on the channel five times a second. A ping it hears back proves it has heard every
//   notice committed before the ping was sent; a process uses its caches only while its last ping heard back was sent
//   less than FRESH_MS ago (and, after it joined or came back from a silence, only once it has been heard for
//   WARMUP_MS, so that everyone counts it). Otherwise it reads the database: a channel that drops or lags never gives a
//   stale answer, and its caches are emptied when it comes back;
// - after its commit, the writer waits (settle) until every process it knows has acknowledged the notice, or FRESH_MS
//   at most: by then a process that did not acknowledge has stopped trusting its caches. A process knows the others
//   from PostgreSQL itself when its channel opens (their listening connections are named passslot-bus:<node> in
//   pg_stat_activity) and from their pings after that.
// SQLite has one process: its bus is local, always fresh, and settles at once.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from './db.js';

export const CHANNEL = 'passslot';
const APP_NAME_PREFIX = 'passslot-bus:';
const PING_MS = 200;
/** A process trusts its caches while its last ping heard back was sent less than this ago. */
export const FRESH_MS = 1000;
/** After it joins (or comes back from a silence longer than FRESH_MS), a process waits this long before caching. */
const WARMUP_MS = 3 * FRESH_MS;
/** A process not heard from for this long is not waited for (one that may trust its caches pings at least every
 * FRESH_MS + PING_MS, or it stops trusting them). */
const SEEN_MS = 3 * FRESH_MS;
/** NOTIFY payloads are limited to 8,000 bytes: longer lists of passes become "every pass". */
const MAX_PAYLOAD = 7000;

/** What a change tells the other processes. */
export interface Notice {
  /** Passes that changed (drop them from the hot pass cache). */
  passes?: number[];
  /** Drop every cached pass. */
  allPasses?: boolean;
  /** Drop every verified credential (a key, token or grant was revoked or changed). */
  credentials?: boolean;
  /** Durable work was queued: wake these workers. */
  wake?: string[];
}

export interface Bus {
  /** This process's name on the bus. */
  readonly nodeId: string;
  /** Whether this process may answer from its caches now. */
  fresh(): boolean;
  /** Within a transaction: tells every other process at commit; returns what to settle() after the commit. */
  announceIn(trx: Db, notice: Notice): Promise<number | undefined>;
  /** Outside a transaction (after a commit): tells every other process and waits until they have heard it. */
  announce(notice: Notice): Promise<void>;
  /** Wakes the other processes' workers of a kind (no waiting: they also poll). */
  wakeOthers(kind: string): void;
  /** Waits until every process heard lately acknowledged the notice `seq`, or FRESH_MS. */
  settle(seq: number | undefined): Promise<void>;
  /** Notices from other processes; `reset` when this process missed some (its caches must be emptied). */
  onNotice(listener: (notice: Notice) => void): void;
  onReset(listener: () => void): void;
  /** The processes heard from lately, this one included. */
  nodes(): string[];
  close(): Promise<void>;
}

/** One process: nothing to tell anyone. */
export function localBus(): Bus {
  return {
    nodeId: 'local',
    fresh: () => true,
    announceIn: async () => undefined,
    announce: async () => undefined,
    wakeOthers: () => undefined,
    settle: async () => undefined,
    onNotice: () => undefined,
    onReset: () => undefined,
    nodes: () => ['local'],
    close: async () => undefined,
  };
}

type Message =
  | ({ t: 'c'; o: string; s: number } & Notice) // a change
  | { t: 'a'; o: string; to: Record<string, number> } // acknowledgements, by origin: notices up to seq heard
  | { t: 'p'; o: string; n: number } // a ping
  | { t: 'w'; o: string; k: string[] } // wakes
  | { t: 'b'; o: string }; // leaving

interface Waiter {
  seq: number;
  waiting: Set<string>;
  done: () => void;
}

/** The bus over PostgreSQL's LISTEN/NOTIFY: one listening connection per process, notices sent through the pool. */
export class PgBus implements Bus {
  readonly nodeId = randomBytes(6).toString('base64url');
  private client: pg.Client | undefined;
  private connected = false;
  private closed = false;
  private seq = 0;
  private ping = 0;
  private readonly pingsSent = new Map<number, number>();
  /** When the last ping heard back was sent, and since when pings have been heard without a gap. */
  private confirmedAt = -Infinity;
  private joinedAt = Infinity;
  /** Whether the other processes were read from pg_stat_activity since the channel opened. */
  private knowsNodes = false;
  private firstPing: (() => void) | undefined;
  private readonly lastHeard = new Map<string, number>();
  private readonly acked = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private ackDue = new Map<string, number>();
  private ackScheduled = false;
  private readonly noticeListeners: ((n: Notice) => void)[] = [];
  private readonly resetListeners: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private reconnectMs = 100;

  constructor(
    private readonly databaseUrl: string,
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.sendPing(), PING_MS).unref();
  }

  /** Connects the listening connection (and keeps reconnecting); resolves once listening. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: `${APP_NAME_PREFIX}${this.nodeId}`,
    });
    client.on('notification', (m) => {
      if (m.channel === CHANNEL && m.payload) this.receive(m.payload);
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.connected = false;
      this.knowsNodes = false;
      this.lostChannel();
      if (this.closed) return;
      this.log.warn({ err }, 'lost the PostgreSQL notification channel; caches off until it is back');
      const wait = this.reconnectMs;
      this.reconnectMs = Math.min(this.reconnectMs * 2, 5000);
      setTimeout(() => void this.connect().catch(() => undefined), wait).unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      // listening first, then asking who else is: a process that connects after this query is heard pinging
      const others = await client.query<{ name: string }>(
        'select application_name as name from pg_stat_activity where datname = current_database() and application_name like $1',
        [`${APP_NAME_PREFIX}%`],
      );
      const now = performance.now();
      for (const { name } of others.rows) {
        const node = name.slice(APP_NAME_PREFIX.length);
        if (node !== this.nodeId) this.lastHeard.set(node, now);
      }
    } catch (err) {
      lost(err as Error);
      throw err;
    }
    this.connected = true;
    this.knowsNodes = true;
    this.reconnectMs = 100;
    const heard = new Promise<void>((resolve) => {
      this.firstPing = resolve;
    });
    void this.sendPing();
    await Promise.race([heard, sleep(FRESH_MS)]);
  }

  /** Whatever was cached may have missed notices: empty it, and start trusting again only after a warm-up. */
  private lostChannel(): void {
    this.confirmedAt = -Infinity;
    this.joinedAt = Infinity;
    for (const l of this.resetListeners) l();
  }

  fresh(): boolean {
    const now = performance.now();
    return this.connected && now - this.confirmedAt < FRESH_MS && now - this.joinedAt >= WARMUP_MS;
  }

  /** Whether this process knows every process that may trust its caches: those are the ones to wait for. */
  private knowsEveryone(): boolean {
    return this.connected && this.knowsNodes && performance.now() - this.confirmedAt < FRESH_MS;
  }

  nodes(): string[] {
    const since = performance.now() - SEEN_MS;
    return [this.nodeId, ...[...this.lastHeard].filter(([, at]) => at >= since).map(([n]) => n)];
  }

  onNotice(listener: (n: Notice) => void): void {
    this.noticeListeners.push(listener);
  }

  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  private payloadOf(notice: Notice): { seq: number; text: string } {
    const seq = ++this.seq;
    let text = JSON.stringify({ t: 'c', o: this.nodeId, s: seq, ...notice });
    if (text.length > MAX_PAYLOAD)
      text = JSON.stringify({
        t: 'c',
        o: this.nodeId,
        s: seq,
        ...notice,
        passes: undefined,
        allPasses: true,
      });
    return { seq, text };
  }

  async announceIn(trx: Db, notice: Notice): Promise<number | undefined> {
    if (!notice.passes?.length && !notice.allPasses && !notice.credentials) {
      // nothing cached is stale: only wakes, which nobody needs to acknowledge
      if (notice.wake?.length)
        await sql`select pg_notify(${CHANNEL}, ${JSON.stringify({ t: 'w', o: this.nodeId, k: notice.wake })})`.execute(
          trx,
        );
      return undefined;
    }
    const { seq, text } = this.payloadOf(notice);
    await sql`select pg_notify(${CHANNEL}, ${text})`.execute(trx);
    return seq;
  }

  async announce(notice: Notice): Promise<void> {
    const { seq, text } = this.payloadOf(notice);
    try {
      await sql`select pg_notify(${CHANNEL}, ${text})`.execute(this.db);
    } catch (err) {
      // not heard by anyone: wait until every process has stopped trusting what it cached before
      this.log.warn({ err }, 'could not announce a change; waiting for the other caches to expire');
      await sleep(FRESH_MS);
      return;
    }
    await this.settle(seq);
  }

  wakeOthers(kind: string): void {
    if (this.connected) void this.send({ t: 'w', o: this.nodeId, k: [kind] });
  }

  settle(seq: number | undefined): Promise<void> {
    if (seq === undefined) return Promise.resolve();
    // when this process may not know every process, wait for all of them to stop trusting their caches
    const sure = this.knowsEveryone();
    const waiting = new Set(
      sure ? this.nodes().filter((n) => n !== this.nodeId && (this.acked.get(n) ?? 0) < seq) : [],
    );
    if (sure && waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        seq,
        waiting,
        done: () => {
          clearTimeout(timeout);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timeout = setTimeout(waiter.done, FRESH_MS);
      this.waiters.add(waiter);
    });
  }

  private receive(payload: string): void {
    let m: Message;
    try {
      m = JSON.parse(payload) as Message;
    } catch {
      return;
    }
    const now = performance.now();
    if (m.o === this.nodeId) {
      if (m.t === 'p') this.heardOwnPing(m.n, now);
      return;
    }
    if (m.t === 'b') {
      this.lastHeard.delete(m.o);
      this.acked.delete(m.o);
      for (const w of this.waiters) this.unwait(w, m.o);
      return;
    }
    this.lastHeard.set(m.o, now);
    if (m.t === 'a') {
      const upTo = m.to[this.nodeId];
      if (upTo === undefined) return;
      this.acked.set(m.o, Math.max(upTo, this.acked.get(m.o) ?? 0));
      for (const w of this.waiters) if (w.seq <= upTo) this.unwait(w, m.o);
      return;
    }
    if (m.t === 'w') {
      for (const l of this.noticeListeners) l({ wake: m.k });
      return;
    }
    if (m.t === 'c') {
      const { t: _t, o: _o, s: _s, ...notice } = m;
      for (const l of this.noticeListeners) l(notice);
      this.ackDue.set(m.o, m.s);
      this.scheduleAck();
    }
  }

  private unwait(w: Waiter, node: string): void {
    w.waiting.delete(node);
    if (w.waiting.size === 0) w.done();
  }

  private heardOwnPing(n: number, now: number): void {
    const sentAt = this.pingsSent.get(n);
    if (sentAt === undefined) return;
    for (const k of this.pingsSent.keys()) if (k <= n) this.pingsSent.delete(k);
    // a silence longer than FRESH_MS (a pause, a lagging channel) is a new start: notices may have been missed
    if (now - this.confirmedAt > FRESH_MS + PING_MS) {
      if (Number.isFinite(this.confirmedAt)) for (const l of this.resetListeners) l();
      this.joinedAt = now;
    }
    this.confirmedAt = sentAt;
    this.firstPing?.();
    this.firstPing = undefined;
  }

  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      const to = Object.fromEntries(this.ackDue);
      this.ackDue = new Map();
      void this.send({ t: 'a', o: this.nodeId, to });
    });
  }

  private async sendPing(): Promise<void> {
    if (!this.connected || this.closed) return;
    const n = ++this.ping;
    this.pingsSent.set(n, performance.now());
    if (this.pingsSent.size > 100) this.pingsSent.delete(this.pingsSent.keys().next().value as number);
    await this.send({ t: 'p', o: this.nodeId, n });
  }

  private async send(m: Message): Promise<void> {
    try {
      await sql`select pg_notify(${CHANNEL}, ${JSON.stringify(m)})`.execute(this.db);
    } catch (err) {
      this.log.debug({ err }, 'bus message not sent');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    if (this.connected) await this.send({ t: 'b', o: this.nodeId });
    this.closed = true;
    for (const w of this.waiters) w.done();
    const client = this.client;
    this.client = undefined;
    this.connected = false;
    await client?.end().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
