// Work over many passes, queued as resumable background jobs (run by src/jobs/bulk.ts): a bulk update changes the
// values of every matching pass of a template; get_job reports the progress of any job.
import { Type } from '@sinclair/typebox';
import { notFound } from '../errors.js';
import { enqueueJob, jobReport } from '../store/jobs.js';
import { findTemplate } from './access.js';
import { defineAction } from './registry.js';
import { Id, PassStatus, Values } from './schemas.js';

export interface BulkProgress {
  total: number;
  processed: number;
  updated: number;
  /** The last pass id handled: the job resumes after it. */
  cursor: number;
  /** The passes that failed so far; each, with why, is kept beside the job (get_job answers them as `failed`). */
  failedCount: number;
}

/** A pass the bulk job could not change, and why. */
export interface BulkFailure {
  serialNumber: string;
  reason: string;
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

export interface BulkPayload {
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
    templateId: Id,
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
  input: Type.Object({ id: Id }),
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
      progress: await jobReport(ctx.app.db, row),
      lastError: row.lastError,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  },
});

export const bulkActions = [updatePassesOfTemplate, getJob];
