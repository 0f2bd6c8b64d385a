// The App: what every part of the service receives instead of globals. Built once at start-up (and by each test with
// its own data directory): config, database, secrets, clock, logger, the pass renderer.
import { type Logger, pino } from 'pino';
import { ApnsPool } from './apple/apns-pool.js';
import { Authenticator } from './auth/app-keys.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { Outbound } from './events/outbound.js';
import { GoogleWalletClient } from './google/client.js';
import { Renderer } from './render/renderer.js';
import { ActionStats } from './store/action-stats.js';
import { AuditWriter } from './store/audit.js';
import { type Bus, localBus, PgBus } from './store/bus.js';
import { HotPassCache, RowCache } from './store/cache.js';
import { type Db, type Dialect, migrate, openStore, type Store } from './store/db.js';
import { createSecrets, loadKeyring, readKeyFiles, type Secrets } from './store/secrets.js';

export type { Clock } from './clock.js';

export interface App {
  config: Config;
  store: Store;
  db: Db;
  dialect: Dialect;
  secrets: Secrets;
  clock: Clock;
  log: Logger;
  renderer: Renderer;
  /** Pass type and template rows by version. */
  rows: RowCache;
  /** What the hottest requests about a pass need (Wallet's conditional request, values); store/cache.ts. */
  hotPasses: HotPassCache;
  /** What the other processes on the same PostgreSQL must hear: changes that make caches stale, wakes. */
  bus: Bus;
  /** The APNs connections, on the push thread when the service runs compiled (apple/push-thread.ts). */
  apns: ApnsPool;
  /** The Google Wallet REST client, with its access tokens cached. */
  google: GoogleWalletClient;
  /** App keys verified with a short cache; the key actions clear it. */
  auth: Authenticator;
  /** The execution log's batched writer (every run of a mutating action, every MCP call), chained per account. */
  audit: AuditWriter;
  /** Every action run counted, for GET /v1/actions and /metrics. */
  stats: ActionStats;
  /** The HTTP client for addresses users give (webhooks, CRMs), with the SSRF guard. */
  outbound: Outbound;
  /** Wakes the background workers, here and in the other processes, when durable work was just queued (they also
   * poll). */
  wake(kind: string): void;
  /** Wakes this process's workers only (the bus carried the wake to the others). */
  wakeHere(kind: string): void;
  onWake(listener: (kind: string) => void): void;
  close(): Promise<void>;
}

export interface AppOptions {
  clock?: Clock;
  log?: Logger;
}

const REDACT = ['req.headers.authorization', '*.password', '*.privateKey', '*.p12', '*.secret', '*.key'];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}

/** Opens the database (running migrations) and the secrets. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  const store = openStore(config);
  await migrate(store);
  const { keyring, fromFiles } = loadKeyring(
    { key: config.masterKey, extra: config.extraMasterKeys },
    config.dataDir,
  );
  // with key files, a key this process does not know means another process rotated them: read them again
  const secrets = createSecrets(keyring, fromFiles ? () => readKeyFiles(config.dataDir) : undefined);
  const listeners: ((kind: string) => void)[] = [];
  const clock = options.clock ?? systemClock;
  let bus: Bus = localBus();
  if (store.dialect === 'postgres' && config.databaseUrl) {
    const pgBus = new PgBus(config.databaseUrl, store.db, log);
    await pgBus.start();
    bus = pgBus;
  }
  const wakeHere = (kind: string) => {
    for (const l of listeners) l(kind);
  };
  const app: App = {
    config,
    store,
    db: store.db,
    dialect: store.dialect,
    secrets,
    clock,
    log,
    renderer: new Renderer(config.renderThreads),
    rows: new RowCache(),
    hotPasses: new HotPassCache(() => bus.fresh()),
    bus,
    outbound: new Outbound(config.webhookAllowPrivate),
    auth: new Authenticator(store.db, clock, config.publicUrl, bus),
    audit: new AuditWriter(store.db, store.dialect, log),
    stats: new ActionStats(store.db, log),
    apns: new ApnsPool({ db: store.db, config, secrets }),
    google: new GoogleWalletClient({ apiUrl: config.googleApiUrl, tokenUrl: config.googleTokenUrl }, () =>
      clock.now(),
    ),
    wake: (kind) => {
      wakeHere(kind);
      bus.wakeOthers(kind);
    },
    wakeHere,
    onWake: (listener) => {
      listeners.push(listener);
    },
    close: async () => {
      await bus.close();
      await app.apns.close();
      await app.renderer.close();
      await app.outbound.close();
      await app.google.close();
      await app.audit.close();
      await app.stats.close();
      await store.close();
    },
  };
  bus.onNotice((notice) => {
    if (notice.allPasses) app.hotPasses.forgetAll();
    else if (notice.passes) app.hotPasses.forget(notice.passes);
    if (notice.credentials) app.auth.clear();
    for (const kind of notice.wake ?? []) wakeHere(kind);
  });
  bus.onReset(() => {
    app.hotPasses.forgetAll();
    app.auth.clear();
  });
  return app;
}
