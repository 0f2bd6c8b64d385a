// Backups. SQLite: `passslot backup` copies the database of the running service while passes are being created, and
// `passslot restore` puts it in an empty data directory, where every pass committed before the backup began is found
// and the secrets open with the same master key. PostgreSQL: the documented pg_dump / pg_restore round trip.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createMemberPass, freshPostgres, startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;
const exec = promisify(execFile);
let s: TestServer;

/** Runs the CLI; resolves with its exit code and output (a failure is an answer, not a throw). */
async function cli(args: string[], env: Record<string, string>) {
  return exec('node', [BIN, ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout,
      stderr: err.stderr,
    }),
  );
}

/** Opens a Passslot on a data directory (and database) and reads what the test checks. */
async function contents(env: Record<string, string>) {
  const app = await createApp(loadConfig({ PASSSLOT_LOG_LEVEL: 'silent', ...env }));
  try {
    const serials = (await app.db.selectFrom('passes').select('serialNumber').execute()).map(
      (r) => r.serialNumber,
    );
    const passType = await app.db.selectFrom('passTypes').select('privateKeyEnc').executeTakeFirstOrThrow();
    return { serials: new Set(serials), privateKey: app.secrets.decrypt(passType.privateKeyEnc) };
  } finally {
    await app.close();
  }
}

describe(`backups on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it.runIf(TEST_DB === 'sqlite')(
    'backs up a running service while it writes, and restores every pass committed before the backup',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'passslot-backup-'));
      const file = join(dir, 'passslot-backup.db');
      const committed: { serialNumber: string; at: number }[] = [];
      let writing = true;
      const writer = (async () => {
        while (writing) {
          const p = await createMemberPass(s, s.alpha);
          committed.push({ serialNumber: p.serialNumber, at: Date.now() });
        }
      })();
      while (committed.length < 20) await new Promise((r) => setTimeout(r, 20));
      const began = Date.now();
      const backup = await cli(['backup', file], { PASSSLOT_DATA_DIR: s.dataDir });
      writing = false;
      await writer;
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stdout).toMatch(/backed up .* passes/);
      expect(backup.stdout).toContain('The master key is not in it');
      const before = committed.filter((c) => c.at < began).map((c) => c.serialNumber);
      expect(before.length).toBeGreaterThanOrEqual(20);
      expect(committed.length).toBeGreaterThan(before.length); // writes went on during the backup

      // into an empty data directory, with the service's master key
      const restored = mkdtempSync(join(tmpdir(), 'passslot-restored-'));
      const restore = await cli(['restore', file], { PASSSLOT_DATA_DIR: restored });
      expect(restore.code, restore.stderr).toBe(0);
      expect(restore.stdout).toContain('Put its master key in place first');
      copyFileSync(join(s.dataDir, 'master.key'), join(restored, 'master.key'));
      const got = await contents({ PASSSLOT_DATA_DIR: restored });
      expect(before.filter((serial) => !got.serials.has(serial))).toEqual([]);
      expect(got.privateKey).toContain('PRIVATE KEY');

      // mistakes: a second restore over a database, a file that is not a backup, a backup over an existing file
      const again = await cli(['restore', file], { PASSSLOT_DATA_DIR: restored });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already has a database');
      const junk = join(dir, 'junk.db');
      writeFileSync(junk, 'not a database at all, just text that is long enough to look like a file');
      const wrong = await cli(['restore', junk], {
        PASSSLOT_DATA_DIR: mkdtempSync(join(tmpdir(), 'passslot-r-')),
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('not a Passslot database');
      const over = await cli(['backup', file], { PASSSLOT_DATA_DIR: s.dataDir });
      expect(over.code).toBe(1);
      expect(over.stderr).toContain('exists');
      expect(existsSync(`${file}.partial`)).toBe(false);
    },
    60_000,
  );

  it.runIf(TEST_DB === 'postgres')(
    'round-trips through pg_dump and pg_restore, and points passslot backup at them',
    async () => {
      for (let i = 0; i < 5; i++) await createMemberPass(s, s.alpha);
      const source = s.app.config.databaseUrl!;
      const dir = mkdtempSync(join(tmpdir(), 'passslot-pgdump-'));
      const dump = join(dir, 'passslot.dump');
      await exec('pg_dump', ['--format=custom', '--no-owner', `--file=${dump}`, source]);
      const target = await freshPostgres();
      try {
        await exec('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump]);
        const before = await contents({ PASSSLOT_DATA_DIR: s.dataDir, DATABASE_URL: source });
        const after = await contents({ PASSSLOT_DATA_DIR: s.dataDir, DATABASE_URL: target.url });
        expect(after.serials).toEqual(before.serials);
        expect(after.serials.size).toBeGreaterThanOrEqual(5);
        expect(after.privateKey).toBe(before.privateKey);
      } finally {
        await target.drop();
      }
      const told = await cli(['backup', join(dir, 'x.db')], {
        PASSSLOT_DATA_DIR: s.dataDir,
        DATABASE_URL: source,
      });
      expect(told.code).toBe(1);
      expect(told.stderr).toContain('pg_dump');
    },
    60_000,
  );
});
