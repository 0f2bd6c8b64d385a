// `passslot passes update --csv` against the real server, run in-process through the command (with its environment
// and output given): rows by email, external id and serial number, the failure report, the progress bar on a terminal,
// and a second run of the same file changing nothing (the rows' Idempotency-Keys replay). The rate-limited run of
// hundreds of rows, spawned as a user runs it, is test/cli/passes-update.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTemplate } from '../../src/actions/accounts.js';
import { passesCommand } from '../../src/cli/commands/passes.js';
import { main } from '../../src/cli/main.js';
import { parseCsv } from '../../src/csv.js';
import { encodePng } from '../../src/engine/png.js';
import { tmpDir } from '../helpers.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
const dir = tmpDir('passslot-csv-');
type Pass = Awaited<ReturnType<typeof createMemberPass>>;
let ada1: Pass;
let ada2: Pass;
let adaOther: Pass;
let bob: Pass;
let plain: Pass;
let otherTemplateId: number;

/** Runs the command in-process; a terminal (with a progress line) unless `tty` is false. */
async function update(csv: string, flags: string[] = [], options: { tty?: boolean; key?: string } = {}) {
  const file = join(dir, `rows-${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(file, csv);
  const out: string[] = [];
  const err: string[] = [];
  const status: string[] = [];
  const code = await passesCommand(
    ['update', '--csv', file, ...flags],
    {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      ...(options.tty === false ? {} : { status: (l: string) => status.push(l) }),
    },
    { PASSSLOT_URL: s.url, PASSSLOT_API_KEY: options.key ?? s.alpha.appKey },
  );
  return { code, out: out.join('\n'), err: err.join('\n'), status, file };
}

/** Versions and values of passes, read from the database (not through the API, whose rate limit is the test's). */
async function state(...passes: Pass[]) {
  const rows = await s.app.db
    .selectFrom('passes')
    .select(['serialNumber', 'version', 'values'])
    .where(
      'serialNumber',
      'in',
      passes.map((p) => p.serialNumber),
    )
    .execute();
  return Object.fromEntries(
    passes.map((p) => {
      const row = rows.find((r) => r.serialNumber === p.serialNumber)!;
      return [p.serialNumber, { version: row.version, values: JSON.parse(row.values) }];
    }),
  );
}

beforeAll(async () => {
  s = await startServer();
  const res = await s.api(s.alpha.appKey, '/v1/templates', {
    method: 'POST',
    json: { name: 'Other', passType: s.alpha.passTypeIdentifier, description: demoTemplate('Other') },
  });
  otherTemplateId = (await res.json()).id;
  ada1 = await createMemberPass(s, s.alpha, memberValues(), '?email=ada@example.com&externalId=crm-ada');
  ada2 = await createMemberPass(s, s.alpha, memberValues(), '?email=ada@example.com&externalId=crm-ada');
  // the new template gets an icon, then a pass of ada's
  const icon = await s.api(s.alpha.appKey, '/v1/actions/set_template_image', {
    method: 'POST',
    json: {
      templateId: otherTemplateId,
      type: 'icon',
      resolution: 'normal',
      data: Buffer.from(encodePng(29, 29)).toString('base64'),
    },
  });
  if (icon.status !== 200) throw new Error(`set-up: ${icon.status} ${await icon.text()}`);
  const other = await s.api(
    s.alpha.appKey,
    `/v1/templates/${otherTemplateId}/pass?email=ada@example.com&externalId=crm-ada`,
    {
      method: 'POST',
      json: memberValues(),
    },
  );
  if (other.status !== 201) throw new Error(`set-up: ${other.status} ${await other.text()}`);
  const o = await other.json();
  adaOther = { ...o, path: `/v1/passes/${o.passTypeIdentifier}/${o.serialNumber}` };
  bob = await createMemberPass(s, s.alpha, memberValues(), '?email=bob@example.com&externalId=crm-bob');
  plain = await createMemberPass(s, s.alpha);
});

afterAll(async () => {
  await s?.close();
});

describe(`passslot passes update --csv on ${TEST_DB}`, () => {
  it('updates every pass of each email once, reports the failed rows, and a second run of the file changes nothing', async () => {
    const csv = [
      'email,points,memberSince',
      'ada@example.com,500,2020',
      'bob@example.com,600,',
      'nobody@example.com,700,',
      ',800,',
      'bob@example.com,900',
      '',
    ].join('\r\n');
    const report = join(dir, 'report.csv');
    const first = await update(csv, ['--report', report]);
    expect(first.code).toBe(1);
    expect(first.out).toBe('2 rows applied (4 passes updated), 3 failed');
    expect(first.err).toContain('failed rows (row, identifier, status, message):');
    // a progress line per row sent (the three valid rows), the last full
    expect(first.status).toHaveLength(3);
    expect(first.status.at(-1)).toMatch(/^\[#{30}\] 3\/3$/);
    const failures = parseCsv(readFileSync(report, 'utf8')).map((r) => r.fields);
    expect(failures).toEqual([
      ['row', 'identifier', 'status', 'message'],
      ['4', 'nobody@example.com', '404', 'no pass held by email nobody@example.com'],
      ['5', '', 'invalid', 'no email'],
      ['6', 'bob@example.com', 'invalid', 'has 2 columns, the header 3'],
    ]);
    const after = await state(ada1, ada2, adaOther, bob, plain);
    for (const p of [ada1, ada2, adaOther])
      expect(after[p.serialNumber]).toMatchObject({
        version: 2,
        values: { points: '500', memberSince: '2020' },
      });
    expect(after[bob.serialNumber]).toMatchObject({
      version: 2,
      values: { points: '600', memberSince: '2024' },
    });
    expect(after[plain.serialNumber]!.version).toBe(1);

    // the same file again: every update replays its first answer; no pass gets a new version
    const again = await update(csv, [], { tty: false });
    expect(again.code).toBe(1);
    expect(again.status).toEqual([]);
    expect(await state(ada1, ada2, adaOther, bob, plain)).toEqual(after);

    // another file (here, another value) is new work
    const changed = await update(csv.replace('ada@example.com,500', 'ada@example.com,501'));
    expect(changed.code).toBe(1);
    const last = await state(ada1, bob);
    expect(last[ada1.serialNumber]).toMatchObject({ version: 3, values: { points: '501' } });
    expect(last[bob.serialNumber]!.version).toBe(3);
  });

  it('updates by external id, only the passes of --template', async () => {
    const before = await state(ada1, ada2, adaOther);
    const r = await update('externalId,points\ncrm-ada,42\n', ['--template', String(otherTemplateId)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('1 row applied (1 pass updated), 0 failed');
    const after = await state(ada1, ada2, adaOther);
    expect(after[adaOther.serialNumber]).toMatchObject({
      version: before[adaOther.serialNumber]!.version + 1,
      values: { points: '42' },
    });
    expect(after[ada1.serialNumber]).toEqual(before[ada1.serialNumber]);
    expect(after[ada2.serialNumber]).toEqual(before[ada2.serialNumber]);
  });

  it('updates by serial number, finding the pass type by listing or taking it from --pass-type or a column', async () => {
    const listed = await update(`serialNumber,points\n${plain.serialNumber},77\nno-such-serial,1\n`);
    expect(listed.code).toBe(1);
    expect(listed.err).toMatch(/3\tno-such-serial\t404\tno pass with serial number no-such-serial/);
    expect((await state(plain))[plain.serialNumber]).toMatchObject({ version: 2, values: { points: '77' } });

    const flagged = await update(`serialNumber,points\n${plain.serialNumber},78\nno-such-serial,1\n`, [
      '--pass-type',
      plain.passTypeIdentifier,
    ]);
    expect(flagged.code).toBe(1);
    // this time the server says so
    expect(flagged.err).toMatch(/3\tno-such-serial\t404\tpass .*no-such-serial not found/);
    expect((await state(plain))[plain.serialNumber]).toMatchObject({ version: 3, values: { points: '78' } });

    const column = await update(
      `serialNumber,passTypeIdentifier,points\n${plain.serialNumber},${plain.passTypeIdentifier},79\n`,
    );
    expect(column.code, column.err).toBe(0);
    expect((await state(plain))[plain.serialNumber]).toMatchObject({ version: 4, values: { points: '79' } });

    // --template and a serial number of another template: not found among the template's passes
    const elsewhere = await update(`serialNumber,points\n${plain.serialNumber},80\n`, [
      '--template',
      String(otherTemplateId),
    ]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err).toContain(`among the passes of template ${otherTemplateId}`);
    expect((await state(plain))[plain.serialNumber]!.version).toBe(4);
  });

  it('refuses a header without a known identifier column as row 1, sending nothing', async () => {
    const before = await state(plain);
    const r = await update(`phone,points\n${plain.serialNumber},1\n`, ['--report', join(dir, 'header.csv')]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('0 rows applied (0 passes updated), 1 failed');
    expect(parseCsv(readFileSync(join(dir, 'header.csv'), 'utf8'))[1]!.fields.slice(0, 3)).toEqual([
      '1',
      '',
      'invalid',
    ]);
    expect(await state(plain)).toEqual(before);
  });

  it('exits 2 on a usage mistake and says what is missing; 1 without a key', async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => err.push(t) };
    expect(await main(['passes', 'update'], io)).toBe(2);
    expect(err.join('\n')).toContain('--csv FILE is required');
    expect(await main(['passes', 'frobnicate'], io)).toBe(2);
    await expect(passesCommand(['update', '--csv', 'x.csv'], io, { PASSSLOT_URL: s.url })).rejects.toThrow(
      /PASSSLOT_API_KEY is not set/,
    );
    // a key that may not list passes: the command says so (exit 1 through main), rather than failing every row
    const writeOnly = (
      await (
        await s.api(s.alpha.appKey, '/v1/keys', {
          method: 'POST',
          json: { name: 'write only', scopes: ['passes:write'] },
        })
      ).json()
    ).key;
    await expect(
      update(`serialNumber,points\n${plain.serialNumber},1\n`, [], { key: writeOnly }),
    ).rejects.toThrow(/cannot list the passes to find their pass types: missing_scope: /);
  });
});
