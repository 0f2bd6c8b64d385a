// The database: SQLite (better-sqlite3, WAL) in the data directory by default, PostgreSQL when DATABASE_URL is set.
// One Kysely query code path for both; migrations run at start.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CamelCasePlugin,
  Kysely,
  type Kysely as KyselyType,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
} from 'kysely';
import pg from 'pg';
import { migrations } from './migrations.js';
import type { Database } from './schema.js';

export type Db = KyselyType<Database>;
export type { Dialect } from './migrations.js';

import type { Dialect } from './migrations.js';

export interface Store {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
}

export function openStore(options: { dataDir: string; databaseUrl?: string; dbPool?: number }): Store {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.dbPool ?? 10 });
    // An idle connection that the server closes (restart, failover) is dropped by the pool and replaced on demand;
    // without a listener the error would end the process.
    pool.on('error', () => undefined);
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      plugins: [new CamelCasePlugin()],
    });
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const sqlite = new SQLite(join(options.dataDir, 'passslot.db'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    plugins: [new CamelCasePlugin()],
  });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs more than running a small query. This keeps the
 * prepared statements by SQL text. Safe because the driver runs one query at a time and reads results eagerly.
 */
function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    let statement = cache.get(source);
    if (!statement) {
      statement = sqlite.prepare(source);
      if (cache.size >= 1000) cache.delete(cache.keys().next().value as string);
      cache.set(source, statement);
    }
    return statement;
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(sqlite, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let fn = bound.get(property);
      if (!fn) {
        fn = value.bind(target);
        bound.set(property, fn);
      }
      return fn;
    },
  });
}

export class MigrationError extends Error {}

/** Brings the schema up to date. Safe to run at every start and from several processes (PostgreSQL locks). */
export async function migrate(store: Store): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(migrations)) out[name] = { up: (db) => m(db, store.dialect) };
      return out;
    },
  };
  const { error, results } = await new Migrator({
    db: store.db,
    provider,
    // migrations are additive and independent, and branches developed side by side may land in either order
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  if (error)
    throw new MigrationError(`database migration failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Now, as the ISO string every time column holds. */
export const isoNow = (clock: () => number = Date.now): string => new Date(clock()).toISOString();

/**
 * The `version` column of the row being updated, plus one, computed by the database: the one way a row's version is
 * bumped, so concurrent changes never write the same version twice (caches key rows by id and version).
 */
export const bumpedVersion = sql<number>`version + 1`;
