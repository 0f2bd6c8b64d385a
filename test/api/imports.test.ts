// CSV import over HTTP: a text/csv body or a multipart upload, a job with progress and a report of the rows that
// failed, dry runs that change nothing, re-runs that update rather than duplicate, delivery by email; and the
// `passslot import` command driving it through the SDK.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/store/jobs.js';
import { startServer, TEST_DB, type TestServer } from './harness.js';

const BIN = new URL('../../bin/passslot.js', import.meta.url).pathname;
let s: TestServer;

const HEADER = 'firstName,lastName,memberSince,points,memberId,email,externalId';
const csvOf = (tag: string) =>
  [
    HEADER,
    `Ada,Lovelace,2024,10,M-1,ada@example.com,${tag}-1`,
    `Bob,"Smith, Jr.",2023,20,M-2,bob@example.com,${tag}-2`,
    `Cy,,2022,30,M-3,cy@example.com,${tag}-3`, // no lastName: refused
    `Dee,Jones,2021,40,M-4,dee@example.com,${tag}-4`,
    'Eve,Short', // two cells: refused
  ].join('\r\n');

async function finished(jobId: number) {
  await s.workers.drain();
  const job = await (await s.api(s.alpha.appKey, `/v1/jobs/${jobId}`)).json();
  expect(job.status).toBe('done');
  return job.progress;
}

const upload = (csv: string, query = '') =>
  s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/passes/import${query}`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv' },
    body: csv,
  });

const byExternal = (id: string) =>
  s.app.db
    .selectFrom('passes')
    .selectAll()
    .where('ownerExternalId', '=', id)
    .where('deletedAt', 'is', null)
    .execute();

describe(`CSV import on ${TEST_DB}`, () => {
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('checks every row in a dry run and changes nothing', async () => {
    const res = await upload(csvOf('dry'), '?dryRun=true');
    expect(res.status).toBe(202);
    const { jobId, rows, dryRun } = await res.json();
    expect({ rows, dryRun }).toEqual({ rows: 5, dryRun: true });
    const p = await finished(jobId);
    expect(p).toMatchObject({ total: 5, processed: 5, created: 3, updated: 0 });
    expect(p.failed.map((f: { row: number }) => f.row)).toEqual([4, 6]);
    expect(await byExternal('dry-1')).toHaveLength(0);
  });

  it('issues a pass per row with its holder, reports the rows that failed, and updates on a re-run', async () => {
    const { jobId } = await (await upload(csvOf('run'))).json();
    const p = await finished(jobId);
    expect(p).toMatchObject({ total: 5, processed: 5, created: 3, updated: 0 });
    expect(p.failed).toEqual([
      { row: 4, reasons: [expect.stringContaining('lastName')] },
      { row: 6, reasons: ['has 2 cells; the header has 7'] },
    ]);
    const [bob] = await byExternal('run-2');
    expect(JSON.parse(bob!.values)).toMatchObject({ lastName: 'Smith, Jr.', points: '20' });
    expect(bob!.ownerEmail).toBe('bob@example.com');
    // the same file again, with new points: the three passes are updated, none made twice
    const again = await (await upload(csvOf('run').replace(',10,', ',11,'))).json();
    expect(await finished(again.jobId)).toMatchObject({ created: 0, updated: 3 });
    expect(await byExternal('run-1')).toHaveLength(1);
    expect(JSON.parse((await byExternal('run-1'))[0]!.values).points).toBe('11');
  });

  it('keeps the CSV beside the job and reports failed rows of every batch, in row order', async () => {
    // 230 rows: three batches of the job; rows 50, 150 and 231 (file rows, the header being row 1) lack lastName
    const lines = Array.from(
      { length: 230 },
      (_, i) => `Ann,${[48, 148, 229].includes(i) ? '' : `N${i}`},2024,${i},M-${i},,big-${i}`,
    );
    const csv = [HEADER, ...lines].join('\n');
    const { jobId } = await (await upload(csv)).json();
    const job = await s.app.db
      .selectFrom('jobs')
      .select('payload')
      .where('id', '=', jobId)
      .executeTakeFirstOrThrow();
    expect(job.payload.length).toBeLessThan(200); // the CSV is not in the row rewritten by every progress save
    const p = await finished(jobId);
    expect(p).toMatchObject({ total: 230, processed: 230, created: 227 });
    expect(p.failed.map((f: { row: number }) => f.row)).toEqual([50, 150, 231]);
    expect(p.failed[2].reasons[0]).toContain('lastName');
    // the job's input and failures go with it
    await s.app.db.deleteFrom('jobs').where('id', '=', jobId).execute();
    expect(await s.app.db.selectFrom('jobInputs').selectAll().where('jobId', '=', jobId).execute()).toEqual(
      [],
    );
    expect(await s.app.db.selectFrom('jobFailures').selectAll().where('jobId', '=', jobId).execute()).toEqual(
      [],
    );
  });

  it('resumes after a crash from the last saved batch, without making a row twice', async () => {
    const csv = [
      HEADER,
      ...Array.from({ length: 150 }, (_, i) => `Ann,R${i},2024,${i},M-${i},,res-${i}`),
    ].join('\n');
    // queued, not due, as if the process went down before a worker woke
    const jobId = await enqueueJob(
      s.app.db,
      {
        accountId: s.alpha.accountId,
        kind: 'import',
        payload: { templateId: s.alpha.templateId, dryRun: false, deliver: null },
        input: csv,
        runAt: new Date('9999-01-01T00:00:00Z'),
      },
      new Date(),
    );
    // a worker did the first batch (100 rows), saved its progress with one failed row, and died
    await s.app.db
      .insertInto('jobFailures')
      .values({ jobId, seq: 0, data: JSON.stringify({ row: 7, reasons: ['from before the crash'] }) })
      .execute();
    await s.app.db
      .updateTable('jobs')
      .set({
        status: 'running',
        attempts: 1,
        lockedBy: 'dead-worker',
        lockedUntil: new Date(Date.now() - 1000).toISOString(),
        runAt: new Date().toISOString(),
        result: JSON.stringify({
          total: 150,
          processed: 100,
          created: 99,
          updated: 0,
          cursor: 100,
          failedCount: 1,
          dryRun: false,
        }),
      })
      .where('id', '=', jobId)
      .execute();
    const p = await finished(jobId);
    expect(p).toMatchObject({ total: 150, processed: 150, created: 149 });
    expect(p.failed).toEqual([{ row: 7, reasons: ['from before the crash'] }]);
    expect(await byExternal('res-99')).toHaveLength(0); // in the batch saved before the crash: not redone
    expect(await byExternal('res-100')).toHaveLength(1);
    expect(await byExternal('res-149')).toHaveLength(1);
  });

  it('takes a multipart upload and sends each new pass by email', async () => {
    const form = new FormData();
    form.append(
      'file',
      new Blob([`${HEADER}\nFay,Fox,2020,5,M-9,fay@example.com,mp-1\n`], { type: 'text/csv' }),
      'members.csv',
    );
    const res = await s.api(
      s.alpha.appKey,
      `/v1/templates/${s.alpha.templateId}/passes/import?deliver=email`,
      {
        method: 'POST',
        body: form,
      },
    );
    expect(res.status).toBe(202);
    expect(await finished((await res.json()).jobId)).toMatchObject({ created: 1, failed: [] });
    const emails = await s.app.db.selectFrom('jobs').select('payload').where('kind', '=', 'email').execute();
    expect(emails.length).toBeGreaterThan(0);
  });

  it('refuses a header naming columns the template does not have, before any job', async () => {
    const res = await upload('firstName,shoeSize\nAda,38\n');
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.errors[0].field).toBe('csv');
    expect(body.errors[0].reasons[0]).toContain('unknown columns in the header: shoeSize');
    expect((await upload('')).status).toBe(422);
  });

  it('is driven by passslot import, with a report of the failed rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passslot-import-'));
    const file = join(dir, 'members.csv');
    writeFileSync(file, csvOf('cli'));
    // the workers of the test server run the job while the command waits
    const draining = setInterval(() => void s.workers.drain(), 200);
    try {
      const run = promisify(execFile)(
        'node',
        [BIN, 'import', file, '--template', String(s.alpha.templateId), '--report', join(dir, 'report.csv')],
        { env: { ...process.env, PASSSLOT_URL: s.url, PASSSLOT_API_KEY: s.alpha.appKey } },
      );
      const failed = await run.then(
        () => undefined,
        (err: { code: number; stdout: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toContain('5 rows: 3 passes created, 0 updated, 2 failed');
      expect(readFileSync(join(dir, 'report.csv'), 'utf8').split('\r\n')[0]).toBe('row,reasons');
      expect(await byExternal('cli-4')).toHaveLength(1);
    } finally {
      clearInterval(draining);
    }
  }, 30_000);
});
