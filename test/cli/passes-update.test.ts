// `passslot passes update --csv` as a user runs it (spawned, output piped) against the real server on SQLite, with
// the account held to 120 requests a minute: 233 rows, of which 228 update a pass and 5 are refused (unknown serial
// numbers, no identifier, wrong column counts). The command goes over the limit, is answered 429, waits as told and
// carries on; every valid row is applied exactly once, and the report lists the others. Lasts one rate limit window
// (the run needs 229 requests: one to list the passes, one per update).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountKey, setAccountRateLimit } from '../../src/actions/accounts.js';
import { runAction, systemContext } from '../../src/actions/registry.js';
import { csvLine, parseCsv } from '../../src/csv.js';
import { createMemberPass, memberValues, startServer, type TestServer } from '../api/harness.js';
import { tmpDir, until } from '../helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'passslot.js');
const PASSES = 232;
const UPDATED = 228;
const RATE_LIMIT = 120;

let s: TestServer;
const passes: Awaited<ReturnType<typeof createMemberPass>>[] = [];

beforeAll(async () => {
  s = await startServer();
  for (let i = 0; i < PASSES; i += 8)
    passes.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(8, PASSES - i) }, () => createMemberPass(s, s.alpha, memberValues())),
      )),
    );
  await runAction(setAccountRateLimit, systemContext(s.app, s.alpha.accountId, 'test', 'cli'), {
    rateLimit: RATE_LIMIT,
  });
}, 120_000);

afterAll(async () => {
  await s?.close();
});

const memberIdOf = (i: number) => (i === 0 ? 'M "zero", 0' : `CSV-${i}`);

describe('passslot passes update --csv under a rate limit', () => {
  it('applies each of 228 rows exactly once through 429s, and reports the 5 refused rows', {
    timeout: 180_000,
  }, async () => {
    const dir = tmpDir('passslot-csv-');
    const lines = [csvLine(['serialNumber', 'points', 'memberId'])];
    const refused: [number, string][] = [];
    const refuse = (line: string, identifier: string) => {
      lines.push(line);
      refused.push([lines.length, identifier]);
    };
    for (let i = 0; i < UPDATED; i++) {
      lines.push(csvLine([passes[i]!.serialNumber, 1000 + i, memberIdOf(i)]));
      if (i === 10) refuse('no-such-serial-1,1,X', 'no-such-serial-1');
      if (i === 50) refuse(',2,X', '');
      if (i === 100) refuse(`${passes[PASSES - 1]!.serialNumber},3`, passes[PASSES - 1]!.serialNumber);
      if (i === 150)
        refuse(`${passes[PASSES - 2]!.serialNumber},4,X,extra`, passes[PASSES - 2]!.serialNumber);
      if (i === 200) refuse('no-such-serial-2,5,X', 'no-such-serial-2');
    }
    const file = join(dir, 'points.csv');
    writeFileSync(file, `${lines.join('\r\n')}\r\n`);
    const report = join(dir, 'report.csv');
    const key = await createAccountKey(s.app, 'alpha', ['passes:read', 'passes:write']);

    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, 'passes', 'update', '--csv', file, '--report', report],
        { env: { ...process.env, PASSSLOT_URL: s.url, PASSSLOT_API_KEY: key } },
        (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
    });

    expect(result.code, result.stderr).toBe(1);
    const summary =
      /^228 rows applied \(228 passes updated\), 5 failed; requests retried: (\d+) rate limited\n$/.exec(
        result.stdout,
      );
    expect(summary, result.stdout).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(0);
    expect(result.stderr).not.toContain('\r'); // no progress bar when stderr is not a terminal

    const failed = parseCsv(readFileSync(report, 'utf8')).map((r) => r.fields);
    expect(failed[0]).toEqual(['row', 'identifier', 'status', 'message']);
    expect(failed.slice(1).map(([row, identifier, status]) => [Number(row), identifier, status])).toEqual(
      refused.map(([row, identifier], i) => [row, identifier, i === 0 || i === 4 ? '404' : 'invalid']),
    );

    // every valid row's pass has its values and exactly one new version; the others are untouched
    const rows = await s.app.db
      .selectFrom('passes')
      .select(['serialNumber', 'version', 'values'])
      .where('accountId', '=', s.alpha.accountId)
      .execute();
    const bySerial = new Map(rows.map((r) => [r.serialNumber, r]));
    const wrong: string[] = [];
    passes.forEach((p, i) => {
      const row = bySerial.get(p.serialNumber)!;
      const values = JSON.parse(row.values);
      const expected =
        i < UPDATED
          ? { version: 2, points: String(1000 + i), memberId: memberIdOf(i) }
          : { version: 1, points: 120, memberId: 'M-0001' };
      if (
        row.version !== expected.version ||
        values.points !== expected.points ||
        values.memberId !== expected.memberId
      )
        wrong.push(`${i}: version ${row.version}, ${row.values}`);
    });
    expect(wrong).toEqual([]);
    // and the audit log has one successful update_pass run per updated pass, from the rest edge
    const runs = await until('the audit records of the updates', async () => {
      const all = await s.app.db
        .selectFrom('auditLog')
        .select(['target', 'outcome', 'edge'])
        .where('action', '=', 'update_pass')
        .execute();
      return all.length >= UPDATED && all;
    });
    const perPass = new Map<string, number>();
    for (const r of runs) perPass.set(r.target!, (perPass.get(r.target!) ?? 0) + 1);
    expect(runs.every((r) => r.outcome === 200 && r.edge === 'rest')).toBe(true);
    expect(perPass.size).toBe(UPDATED);
    expect([...perPass.values()].every((n) => n === 1)).toBe(true);
  });
});
