// Work over many passes, as resumable background jobs: a template change re-renders and pushes every pass of the
// template; a bulk update changes the values of every matching pass. Progress and a report of each pass that failed
// are kept on the job row, so a restarted process continues where the last one stopped.
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import { AppError, notFound } from '../errors.js';
import { enqueueJob } from '../store/jobs.js';
import type { JobRow, PassRow } from '../store/schema.js';
import { findTemplate } from './access.js';
import { writePassVersion } from './pass-ops.js';
import { defineAction, systemContext } from './registry.js';
import { PassStatus, Values } from './schemas.js';

const BATCH = 50;

export interface BulkProgress {
  total: number;
  processed: number;
  updated: number;
  /** The last pass id handled: the job resumes after it. */
  cursor: number;
  failed: { serialNumber: string; reason: string }[];
}

const Filter = Type.Object(
  {
    status: Type.Optional(PassStatus),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    userId: Type.Optional(Type.String({ maxLength: 200 })),
    externalId: Type.Optional(Type.String({ maxLength: 200 })),
    values: Type.Optional(Values),
  },
  {
    additionalProperties: false,
    description: 'which passes: all the given conditions hold (values: each named value is equal)',
  },
);

interface BulkPayload {
  templateId: number;
  /** Absent for a template refresh. */
  filter?: {
    status?: string;
    email?: string;
    userId?: string;
    externalId?: string;
    values?: Record<string, unknown>;
  };
  values?: Record<string, unknown>;
}

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
      ? (JSON.parse(job.result) as BulkProgress)
      : { total: 0, processed: 0, updated: 0, cursor: 0, failed: [] };
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
          progress.failed.push({ serialNumber: pass.serialNumber, reason });
        }
      };
      // a few passes at a time, so render threads sign in parallel; progress is saved per batch, after all of it
      const parallel = Math.max(1, app.renderer.threads + 1);
      for (let i = 0; i < rows.length; i += parallel) await Promise.all(rows.slice(i, i + parallel).map(one));
      progress.cursor = rows[rows.length - 1]!.id;
      // progress is durable after every batch, and the lease is extended while the job works
      await app.db
        .updateTable('jobs')
        .set({
          result: JSON.stringify(progress),
          lockedUntil: new Date(app.clock.now().getTime() + 60_000).toISOString(),
          updatedAt: app.clock.now().toISOString(),
        })
        .where('id', '=', job.id)
        .execute();
    }
  };
}

const JobOut = Type.Object({
  id: Type.Integer(),
  kind: Type.String(),
  status: Type.String({ description: 'pending, running, done or failed' }),
  attempts: Type.Integer(),
  progress: Type.Union([Type.Unknown(), Type.Null()], {
    description: 'total, processed, updated and failed passes',
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const updatePassesOfTemplate = defineAction({
  name: 'update_passes_of_template',
  title: 'Change the values of many passes',
  description:
    'Changes placeholder values of every pass of a template that matches a filter (e.g. every ticket of one event ' +
    'gets a new venue), in the background; each changed pass is pushed to its phones. Returns a job id; ' +
    'get_job shows progress and, at the end, each pass that failed and why.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    templateId: Type.Integer({ minimum: 1 }),
    filter: Type.Optional(Filter),
    values: Values,
  }),
  output: Type.Object({ jobId: Type.Integer(), status: Type.String() }),
  async handler(ctx, input) {
    const template = await findTemplate(ctx, { id: input.templateId });
    const jobId = await enqueueJob(
      ctx.app.db,
      {
        accountId: ctx.grant.accountId,
        kind: 'bulk_values',
        payload: {
          templateId: template.id,
          filter: input.filter ?? {},
          values: input.values,
        } satisfies BulkPayload,
      },
      ctx.app.clock.now(),
    );
    ctx.app.wake('bulk_values');
    return { jobId, status: 'pending' };
  },
});

export const getJob = defineAction({
  name: 'get_job',
  title: 'Get a background job',
  description:
    'Returns a background job (bulk update, template refresh, email, push): its status, progress and report.',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  output: JobOut,
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', input.id)
      .where('accountId', '=', ctx.grant.accountId)
      .executeTakeFirst();
    if (!row) throw notFound(`job ${input.id}`);
    return {
      id: row.id,
      kind: row.kind,
      status: row.status,
      attempts: row.attempts,
      progress: row.result ? JSON.parse(row.result) : null,
      lastError: row.lastError,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  },
});

export const bulkActions = [updatePassesOfTemplate, getJob];
