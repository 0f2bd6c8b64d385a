// Every environment variable Passslot reads, parsed and validated once. Nothing else reads process.env.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

export interface Config {
  /** PORT, default 3000. */
  port: number;
  /** HOST, default 127.0.0.1. */
  host: string;
  /** PASSSLOT_DATA_DIR, default ./data: the SQLite database, the master key file, the development identity. */
  dataDir: string;
  /** DATABASE_URL: postgres://... to use PostgreSQL instead of the embedded SQLite. */
  databaseUrl?: string;
  /** PASSSLOT_PUBLIC_URL, default http://localhost:PORT: base of pass links and of every pass's webServiceURL. */
  publicUrl: string;
  /** PASSSLOT_MASTER_KEY: 32 bytes as base64 or hex; else a key file in the data directory (mode 0600). */
  masterKey?: Buffer;
  /** PASSSLOT_EXTRA_MASTER_KEYS: comma-separated keys that only open secrets (the previous or next key during a
   * rotation, docs/deploy.md). */
  extraMasterKeys: Buffer[];
  /** PASSSLOT_SMTP_URL: smtp://user:pass@host:port (smtps:// for implicit TLS). Unset: emails wait in the queue. */
  smtpUrl?: string;
  /** PASSSLOT_SMTP_FROM, default "Passslot <passes@localhost>". */
  smtpFrom: string;
  /** REDIS_URL: share rate limits between processes. */
  redisUrl?: string;
  /** PASSSLOT_RATE_LIMIT: requests per minute per app key, default 600. */
  rateLimitPerMinute: number;
  /** PASSSLOT_LOG_LEVEL, default info (silent in tests). */
  logLevel: string;
  /** PASSSLOT_ROLE, default all: `api` serves HTTP only, `worker` runs the background workers (pushes, emails, SMS,
   * deliveries, jobs) and serves only /healthz, /readyz and /metrics. PASSSLOT_WORKERS=false is the same as api. */
  role: 'all' | 'api' | 'worker';
  /** Whether this process runs the background workers (role all or worker). */
  runWorkers: boolean;
  /** PASSSLOT_DB_POOL, default 10: PostgreSQL connections per process (one more listens for the bus). */
  dbPool: number;
  /** PASSSLOT_JOB_LEASE_SECONDS, default 60: how long a claimed job is held; a job of a process that died is taken
   * again by another once its lease has run out. */
  jobLeaseSeconds: number;
  /** PASSSLOT_DRAIN_SECONDS, default 0: on SIGTERM, how long /readyz answers 503 (so the load balancer stops sending
   * new requests) before the server stops accepting connections and finishes those in flight. */
  drainSeconds: number;
  /** PASSSLOT_APNS_URL, default https://api.push.apple.com (a local stand-in in development and tests). */
  apnsUrl: string;
  /** PASSSLOT_APNS_CA: path of a PEM file of extra CAs to trust for APNs (NODE_EXTRA_CA_CERTS works too); read when
   * a connection opens, so a stand-in's certificate may appear after the service started. */
  apnsCaFile?: string;
  /** PASSSLOT_GOOGLE_API_URL, default https://walletobjects.googleapis.com (`passslot dev google` in development). */
  googleApiUrl: string;
  /** PASSSLOT_GOOGLE_TOKEN_URL, default https://oauth2.googleapis.com/token: where service account JWTs buy tokens. */
  googleTokenUrl: string;
  /** PASSSLOT_GOOGLE_KEYS_URL, default https://pay.google.com/gp/m/issuer/keys: the keys that sign Google's
   * save and delete callbacks. */
  googleKeysUrl: string;
  /** PASSSLOT_PUSH_DEBOUNCE_MS, default 200: changes to one pass within this window make one push per device. */
  pushDebounceMs: number;
  /** PASSSLOT_RENDER_THREADS: worker threads that build (sign) passes; default one per core but one, at most 4. */
  renderThreads: number;
  /** PASSSLOT_WEBHOOK_ALLOW_PRIVATE, default false: let webhooks, CRM and Twilio base URLs reach private, loopback
   * and link-local addresses (tests, intranets). */
  webhookAllowPrivate: boolean;
  /** PASSSLOT_METRICS_TOKEN: when set, GET /metrics (Prometheus) needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** PASSSLOT_RETENTION_DAYS, default 90: events, execution records, push and Wallet logs, delivery attempts and
   * failed deliveries older than this are pruned. */
  retentionDays: number;
}

export class ConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

function url(env: NodeJS.ProcessEnv, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol))
    throw new ConfigError(
      `${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}, got "${raw}"`,
    );
  return raw;
}

function masterKey(raw: string | undefined, name = 'PASSSLOT_MASTER_KEY'): Buffer | undefined {
  if (!raw) return undefined;
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) throw new ConfigError(`${name} must be 32 bytes, as 64 hex digits or base64`);
  return key;
}

function roleOf(env: NodeJS.ProcessEnv): Pick<Config, 'role' | 'runWorkers'> {
  const raw = env.PASSSLOT_ROLE || (env.PASSSLOT_WORKERS === 'false' ? 'api' : 'all');
  if (raw !== 'all' && raw !== 'api' && raw !== 'worker')
    throw new ConfigError(`PASSSLOT_ROLE must be all, api or worker, got "${raw}"`);
  if (raw === 'worker' && env.PASSSLOT_WORKERS === 'false')
    throw new ConfigError('PASSSLOT_ROLE=worker runs the workers: PASSSLOT_WORKERS=false contradicts it');
  return { role: raw, runWorkers: raw !== 'api' };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = int(env, 'PORT', 3000, 0, 65535);
  const publicUrl = (
    url(env, 'PASSSLOT_PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`
  ).replace(/\/+$/, '');
  return {
    port,
    host: env.HOST || '127.0.0.1',
    dataDir: resolve(env.PASSSLOT_DATA_DIR || './data'),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    publicUrl,
    masterKey: masterKey(env.PASSSLOT_MASTER_KEY),
    extraMasterKeys: (env.PASSSLOT_EXTRA_MASTER_KEYS ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean)
      .map((k) => masterKey(k, 'each of PASSSLOT_EXTRA_MASTER_KEYS')!),
    smtpUrl: url(env, 'PASSSLOT_SMTP_URL', ['smtp:', 'smtps:']),
    smtpFrom: env.PASSSLOT_SMTP_FROM || 'Passslot <passes@localhost>',
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    rateLimitPerMinute: int(env, 'PASSSLOT_RATE_LIMIT', 600, 1, 1_000_000_000),
    logLevel: env.PASSSLOT_LOG_LEVEL || 'info',
    ...roleOf(env),
    dbPool: int(env, 'PASSSLOT_DB_POOL', 10, 1, 1000),
    jobLeaseSeconds: int(env, 'PASSSLOT_JOB_LEASE_SECONDS', 60, 5, 86_400),
    drainSeconds: int(env, 'PASSSLOT_DRAIN_SECONDS', 0, 0, 3600),
    apnsUrl: (url(env, 'PASSSLOT_APNS_URL', ['https:']) ?? 'https://api.push.apple.com').replace(/\/+$/, ''),
    apnsCaFile: env.PASSSLOT_APNS_CA ? resolve(env.PASSSLOT_APNS_CA) : undefined,
    googleApiUrl: (
      url(env, 'PASSSLOT_GOOGLE_API_URL', ['https:', 'http:']) ?? 'https://walletobjects.googleapis.com'
    ).replace(/\/+$/, ''),
    googleTokenUrl:
      url(env, 'PASSSLOT_GOOGLE_TOKEN_URL', ['https:', 'http:']) ?? 'https://oauth2.googleapis.com/token',
    googleKeysUrl:
      url(env, 'PASSSLOT_GOOGLE_KEYS_URL', ['https:', 'http:']) ?? 'https://pay.google.com/gp/m/issuer/keys',
    pushDebounceMs: int(env, 'PASSSLOT_PUSH_DEBOUNCE_MS', 200, 0, 60_000),
    renderThreads: int(
      env,
      'PASSSLOT_RENDER_THREADS',
      Math.max(0, Math.min(4, availableParallelism() - 1)),
      0,
      64,
    ),
    webhookAllowPrivate: bool(env, 'PASSSLOT_WEBHOOK_ALLOW_PRIVATE', false),
    metricsToken: env.PASSSLOT_METRICS_TOKEN || undefined,
    retentionDays: int(env, 'PASSSLOT_RETENTION_DAYS', 90, 1, 36_500),
  };
}

/** What the commands that talk to a running Passslot read (passslot mcp, passslot passes update). */
export interface ClientConfig {
  /** PASSSLOT_URL, default http://127.0.0.1:3000: the Passslot to drive. */
  url: string;
  /** PASSSLOT_API_KEY: the app key to drive it with. */
  apiKey?: string;
}

export function loadClientConfig(env: NodeJS.ProcessEnv = process.env): ClientConfig {
  return {
    url: (url(env, 'PASSSLOT_URL', ['http:', 'https:']) ?? 'http://127.0.0.1:3000').replace(/\/+$/, ''),
    apiKey: env.PASSSLOT_API_KEY || undefined,
  };
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}
