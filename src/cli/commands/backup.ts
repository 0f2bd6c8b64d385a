// passslot backup FILE | passslot restore FILE: a consistent copy of the embedded SQLite database while the service
// keeps running (SQLite's online backup, all pages in one step under one read transaction: in WAL mode writers go on),
// and its restore into an empty data directory. PostgreSQL is backed up with its own tools (docs/deploy.md).
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { CommandError, type Output, UsageError } from '../io.js';
import { commandConfig } from './service.js';

export const backupHelp = `passslot backup FILE    copy the database of a running (or stopped) Passslot to FILE, consistently
passslot restore FILE   put a backup in place, in an empty data directory (PASSSLOT_DATA_DIR), before starting

The backup holds the secrets (signing keys, webhook secrets, credentials) encrypted under the master key, which it
does not contain: keep master.key (or PASSSLOT_MASTER_KEY) apart from it and safe, and give it to the restored
service. With DATABASE_URL (PostgreSQL), use pg_dump --format=custom and pg_restore (docs/deploy.md).
`;

const DB_FILE = 'passslot.db';

function sqliteDataDir(): string {
  const config = commandConfig();
  if (config.databaseUrl)
    throw new CommandError(
      'DATABASE_URL is set: back up PostgreSQL with pg_dump --format=custom and restore with pg_restore (docs/deploy.md)',
    );
  return config.dataDir;
}

/** What a copy holds: its schema's last migration and its passes; throws when it is not a Passslot database. */
function describeCopy(file: string): { migration: string; passes: number; accounts: number } {
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new CommandError(`${file} is damaged: ${String(integrity)}`);
    const hasSchema = db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'")
      .get();
    if (!hasSchema) throw new CommandError(`${file} is not a Passslot database (it has no migrations table)`);
    const { name } = db.prepare('select name from kysely_migration order by name desc limit 1').get() as {
      name: string;
    };
    const { n: passes } = db.prepare('select count(*) as n from passes').get() as { n: number };
    const { n: accounts } = db.prepare('select count(*) as n from accounts').get() as { n: number };
    return { migration: name, passes, accounts };
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(`${file} is not a Passslot database: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

export async function backupCommand(args: string[], io: Output): Promise<number> {
  const [target] = args;
  if (!target || args.length > 1) throw new UsageError(backupHelp);
  const source = join(sqliteDataDir(), DB_FILE);
  if (!existsSync(source)) throw new CommandError(`there is no database at ${source} (PASSSLOT_DATA_DIR)`);
  const file = resolve(target);
  if (existsSync(file)) throw new CommandError(`${file} exists: give a new file name`);
  // written beside the target and renamed once whole, so a crash never leaves a half copy under its name
  const partial = `${file}.partial`;
  const db = new SQLite(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // every page in one step: one read transaction, so the copy is one committed state of the database
    await db.backup(partial, { progress: () => 0x7fffffff });
  } catch (err) {
    throw new CommandError(`could not back up ${source}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
  const copy = describeCopy(partial);
  renameSync(partial, file);
  io.out(
    `backed up ${source} to ${file}: ${copy.accounts} accounts, ${copy.passes} passes (schema ${copy.migration}). ` +
      'The master key is not in it: keep it apart.',
  );
  return 0;
}

export async function restoreCommand(args: string[], io: Output): Promise<number> {
  const [source] = args;
  if (!source || args.length > 1) throw new UsageError(backupHelp);
  const file = resolve(source);
  if (!existsSync(file)) throw new CommandError(`${file} does not exist`);
  const dataDir = sqliteDataDir();
  const target = join(dataDir, DB_FILE);
  if (existsSync(target))
    throw new CommandError(
      `${dataDir} already has a database: restore into an empty data directory (set PASSSLOT_DATA_DIR)`,
    );
  const copy = describeCopy(file);
  mkdirSync(dataDir, { recursive: true });
  const partial = `${target}.partial`;
  copyFileSync(file, partial);
  renameSync(partial, target);
  const keyNote = readdirSync(dataDir).includes('master.key')
    ? ''
    : ' Put its master key in place first (master.key in the data directory, or PASSSLOT_MASTER_KEY).';
  io.out(
    `restored ${file} into ${dataDir}: ${copy.accounts} accounts, ${copy.passes} passes (schema ${copy.migration}).${keyNote}`,
  );
  return 0;
}
