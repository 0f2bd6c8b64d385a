// The job over many passes: a template change re-renders and pushes every pass of the template; a bulk update changes
// the values of every matching pass. Each pass's change is written by the same pass-version writer the actions use,
// under the system principal (the action that queued the job is the audit record). Progress and a report of each
// pass that failed are kept on the job row, so a restarted process continues where the last one stopped.
import type { BulkFailure, BulkPayload, BulkProgress } from '../actions/bulk.js';
import { writePassVersion } from '../actions/pass-versions.js';
import { systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { AppError } from '../errors.js';
import { saveJobProgress } from '../store/jobs.js';
import type { JobRow, PassRow } from '../store/schema.js';

const BATCH = 50;

function matches(pass: PassRow, filter: NonNullable<BulkPayload['filter']>): boolean {
  if (filter.status && pass.status !== filter.status) return false;
  if (filter.email && pass.ownerEmail !== filter.email) return false;
  if (filter.userId && pass.ownerUserId !== filter.userId) return false;
  if (filter.externalId && pass.ownerExternalId !== filter.externalId) return false;
  if (filter.values) {
    const values = JSON.parse(pass.values) as Record<string, unknown>;
    for (const [k, v] of Object.entries(filter.values)) if (values[k] !== v) return false;
  }
  return true;
}

/** The job handler for `template_passes` and `bulk_values`. */
export function bulkJobHandler(app: App): (job: JobRow) => Promise<void> {
  return async (job) => {
    const payload = JSON.parse(job.payload) as BulkPayload;
    const progress: BulkProgress = job.result
      ? ({ failedCount: 0, ...JSON.parse(job.result) } as BulkProgress)
      : { total: 0, processed: 0, updated: 0, cursor: 0, failedCount: 0 };
    const ctx = systemContext(app, job.accountId, `job-${job.id}`, 'job');
    if (progress.total === 0) {
      const { n } = await app.db
        .selectFrom('passes')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('templateId', '=', payload.templateId)
        .where('deletedAt', 'is', null)
        .executeTakeFirstOrThrow();
      progress.total = Number(n);
    }
    for (;;) {
      const rows = await app.db
        .selectFrom('passes')
        .selectAll()
        .where('templateId', '=', payload.templateId)
        .where('deletedAt', 'is', null)
        .where('id', '>', progress.cursor)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      if (rows.length === 0) break;
      const failed: BulkFailure[] = [];
      const one = async (pass: PassRow): Promise<void> => {
        progress.processed++;
        if (payload.filter && !matches(pass, payload.filter)) return;
        try {
          const passType = await app.rows.passType(app.db, pass.passTypeId);
          await writePassVersion(
            ctx,
            { pass, passType },
            payload.values
              ? (current) => ({
                  values: JSON.stringify({ ...JSON.parse(current.values), ...payload.values }),
                })
              : {},
            {
              type: 'pass.updated',
              extra: { reason: payload.values ? 'bulk update' : 'template changed', job: job.id },
            },
          );
          progress.updated++;
        } catch (err) {
          const reason =
            err instanceof AppError && err.errors.length
              ? `${err.message}: ${err.errors.map((e) => `${e.field} ${e.reasons.join(', ')}`).join('; ')}`
              : (err as Error).message;
          failed.push({ serialNumber: pass.serialNumber, reason });
        }
      };
      // a few passes at a time, so render threads sign in parallel; progress is saved per batch, after all of it
      const parallel = Math.max(1, app.renderer.threads + 1);
      for (let i = 0; i < rows.length; i += parallel) await Promise.all(rows.slice(i, i + parallel).map(one));
      progress.cursor = rows[rows.length - 1]!.id;
      // progress is durable after every batch, and the lease is extended while the job works
      await saveJobProgress(app.db, job.id, progress, app.clock.now(), failed);
    }
  };
}
