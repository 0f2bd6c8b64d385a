// Work over many passes: bulk updates with a filter and a report, template changes re-rendering every pass, jobs
// resuming after a crash, and replacing a pass type certificate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki } from '../../src/engine/index.js';
import { enqueueJob } from '../../src/store/jobs.js';
import { verifyPkpass } from '../helpers.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';

let s: TestServer;
let key: string;
beforeAll(async () => {
  s = await startServer();
  key = s.alpha.appKey;
});
afterAll(async () => {
  await s?.close();
});

async function job(id: number) {
  return (await s.api(key, `/v1/jobs/${id}`)).json();
}

async function passJsonOf(path: string) {
  const res = await s.api(key, path);
  return verifyPkpass(Buffer.from(await res.arrayBuffer()), s.alpha.devCaPath).passJson;
}

describe(`bulk updates on ${TEST_DB}`, () => {
  it('changes every matching pass in the background, pushes each, and reports progress', async () => {
    const team = await Promise.all(
      ['2019', '2020', '2020', '2020', '2021'].map((since, i) =>
        createMemberPass(s, s.alpha, memberValues({ memberSince: since, memberId: `B-${i}` })),
      ),
    );
    const pushesBefore = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'push').execute();
    const res = await s.api(key, `/v1/templates/${s.alpha.templateId}/passes/values`, {
      method: 'POST',
      json: { filter: { values: { memberSince: '2020' } }, values: { points: 777 } },
    });
    expect(res.status).toBe(202);
    const { jobId } = await res.json();
    expect(['pending', 'running', 'done']).toContain((await job(jobId)).status);
    await s.workers.drain();
    const done = await job(jobId);
    expect(done).toMatchObject({ kind: 'bulk_values', status: 'done', progress: { updated: 3, failed: [] } });
    expect(done.progress.processed).toBe(done.progress.total);
    for (const [i, p] of team.entries()) {
      const points = (await (await s.api(key, `${p.path}/values`)).json()).points;
      expect(points).toBe(i >= 1 && i <= 3 ? 777 : 120);
      if (points === 777)
        expect(((await passJsonOf(p.path)).storeCard as any).headerFields[0].value).toBe(777);
    }
    const pushesAfter = await s.app.db.selectFrom('jobs').select('id').where('kind', '=', 'push').execute();
    expect(pushesAfter.length - pushesBefore.length).toBe(3);
  });

  it('reports each pass that failed and why', async () => {
    await createMemberPass(s, s.alpha, memberValues({ memberSince: 'broken-group' }));
    const res = await s.api(key, `/v1/templates/${s.alpha.templateId}/passes/values`, {
      method: 'POST',
      json: { filter: { values: { memberSince: 'broken-group' } }, values: { points: { not: 'a scalar' } } },
    });
    // the values are checked when the job changes each pass: an object is refused per pass, with the reason
    if (res.status === 422) {
      expect((await res.json()).errors[0].field).toBe('values.points');
      return;
    }
    const { jobId } = await res.json();
    await s.workers.drain();
    const report = await job(jobId);
    expect(report.progress.failed).toEqual([
      expect.objectContaining({ reason: expect.stringContaining('values.points') }),
    ]);
  });

  it('reports a pass that Wallet would reject, naming the field', async () => {
    const p = await createMemberPass(s, s.alpha, memberValues({ memberSince: 'strict-group' }));
    const res = await s.api(key, `/v1/templates/${s.alpha.templateId}/passes/values`, {
      method: 'POST',
      json: { filter: { values: { memberSince: 'strict-group' } }, values: { points: null } },
    });
    expect(res.status).toBe(202);
    const { jobId } = await res.json();
    await s.workers.drain();
    const report = await job(jobId);
    expect(report.status).toBe('done');
    expect(report.progress.failed).toEqual([
      { serialNumber: p.serialNumber, reason: expect.stringContaining('storeCard.headerFields[0].value') },
    ]);
    expect((await (await s.api(key, `${p.path}/values`)).json()).points).toBe(120);
  });

  it('resumes after a crash from the last durable batch, without redoing passes', async () => {
    const passes = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        createMemberPass(s, s.alpha, memberValues({ memberSince: 'resume', memberId: `R-${i}` })),
      ),
    );
    const rows = await s.app.db
      .selectFrom('passes')
      .select(['id', 'serialNumber', 'version'])
      .where(
        'serialNumber',
        'in',
        passes.map((p) => p.serialNumber),
      )
      .orderBy('id')
      .execute();
    // queued without waking the workers, as if the process that queued it went down before running it
    const jobId = await enqueueJob(
      s.app.db,
      {
        accountId: s.alpha.accountId,
        kind: 'bulk_values',
        payload: {
          templateId: s.alpha.templateId,
          filter: { values: { memberSince: 'resume' } },
          values: { points: 5 },
        },
        runAt: new Date('9999-01-01T00:00:00Z'), // not due: nothing runs it before the simulated crash below
      },
      new Date(),
    );
    // a worker took the job, did the first two passes, saved its progress and died: its lease ran out
    const crashedCursor = rows[1]!.id;
    await s.app.db
      .updateTable('jobs')
      .set({
        status: 'running',
        attempts: 1,
        lockedBy: 'dead-worker',
        lockedUntil: new Date(Date.now() - 1000).toISOString(),
        result: JSON.stringify({
          total: 99,
          processed: 0,
          updated: 2,
          cursor: crashedCursor,
          failedCount: 0,
        }),
      })
      .where('id', '=', jobId)
      .execute();
    await s.workers.drain();
    const report = await job(jobId);
    expect(report).toMatchObject({ status: 'done', attempts: 2, progress: { updated: 4 } });
    const after = await s.app.db
      .selectFrom('passes')
      .select(['id', 'version'])
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('id')
      .execute();
    expect(after.map((r) => r.version)).toEqual([1, 1, 2, 2]); // the first two were not redone
  });

  it('re-renders and pushes every pass of a template when the template changes', async () => {
    const p = await createMemberPass(s, s.alpha);
    const t = await (await s.api(key, `/v1/templates/${s.alpha.templateId}`)).json();
    const res = await s.api(key, `/v1/templates/${s.alpha.templateId}`, {
      method: 'PUT',
      json: { description: { ...t.description, backgroundColor: 'rgb(10, 120, 40)' } },
    });
    expect(res.status).toBe(200);
    await s.workers.drain();
    expect((await passJsonOf(p.path)).backgroundColor).toBe('rgb(10, 120, 40)');
    const jobs = await s.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('kind', '=', 'template_passes')
      .execute();
    expect(jobs.at(-1)).toMatchObject({ status: 'done' });
    expect(JSON.parse(jobs.at(-1)!.result!).failedCount).toBe(0);
    const details = await (await s.api(key, `${p.path}/details`)).json();
    expect(details.version).toBe(2);
  });
});

describe(`pass type certificates on ${TEST_DB}`, () => {
  it('replaces a certificate for the same pass type id and refuses one for another', async () => {
    const renewed = createDevPki({
      passTypeIdentifier: s.alpha.passTypeIdentifier,
      teamIdentifier: 'DEVTEAM123',
      organizationName: 'alpha',
      days: 400,
    });
    const res = await s.api(key, `/v1/passtypes/${s.alpha.passTypeIdentifier}`, {
      method: 'PUT',
      json: {
        certificate: renewed.certificatePem,
        privateKey: renewed.privateKeyPem,
        wwdrCertificate: renewed.caCertificatePem,
      },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ id: s.alpha.passTypeIdentifier, healthy: true });
    expect(Date.parse(body.certificateExpirationDate)).toBeGreaterThan(Date.now() + 390 * 86_400_000);
    const other = createDevPki({ passTypeIdentifier: 'pass.some.other.type' });
    const wrong = await s.api(key, `/v1/passtypes/${s.alpha.passTypeIdentifier}`, {
      method: 'PUT',
      json: { certificate: other.certificatePem, privateKey: other.privateKeyPem },
    });
    expect(wrong.status).toBe(422);
  });
});

describe(`housekeeping on ${TEST_DB}`, () => {
  it('forgets finished jobs after a week and idempotency keys after a day, and keeps the rest', async () => {
    const { pruneOldRows } = await import('../../src/jobs/retention.js');
    const old = new Date(Date.now() - 8 * 86_400_000).toISOString();
    const oldJob = await enqueueJob(
      s.app.db,
      { accountId: s.alpha.accountId, kind: 'noop', payload: {} },
      new Date(),
    );
    const pendingOld = await enqueueJob(
      s.app.db,
      { accountId: s.alpha.accountId, kind: 'noop', payload: {} },
      new Date(),
    );
    await s.app.db
      .updateTable('jobs')
      .set({ status: 'done', updatedAt: old })
      .where('id', '=', oldJob)
      .execute();
    await s.app.db.updateTable('jobs').set({ updatedAt: old }).where('id', '=', pendingOld).execute();
    await s.api(key, `/v1/templates/${s.alpha.templateId}/pass`, {
      method: 'POST',
      json: memberValues(),
      headers: { 'idempotency-key': 'old-key' },
    });
    await s.app.db
      .updateTable('idempotencyKeys')
      .set({ createdAt: old })
      .where('key', '=', 'old-key')
      .execute();
    await pruneOldRows(s.app);
    const ids = (
      await s.app.db.selectFrom('jobs').select('id').where('id', 'in', [oldJob, pendingOld]).execute()
    ).map((r) => r.id);
    expect(ids).toEqual([pendingOld]);
    expect(
      await s.app.db
        .selectFrom('idempotencyKeys')
        .select('key')
        .where('key', '=', 'old-key')
        .executeTakeFirst(),
    ).toBeUndefined();
  });
});
