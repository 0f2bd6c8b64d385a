// The import job: the rows of a CSV, a few at a time (so render threads sign in parallel), each through the actions
// (create_pass or update_pass, then send_pass) under an idempotency key of the job and the row; progress, counts and
// the failed rows are saved on the job after every batch, so a restarted process continues where the last stopped.
import type { ImportFailure, ImportPayload, ImportProgress } from '../actions/imports.js';
import { sendPass } from '../actions/messages.js';
import { createPass, updatePass } from '../actions/passes.js';
import { type ActionContext, runAction, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { parseCsv } from '../csv.js';
import { compileTemplate, type JsonObject } from '../engine/index.js';
import { AppError } from '../errors.js';
import { jobInput, saveJobProgress } from '../store/jobs.js';
import type { JobRow } from '../store/schema.js';

const BATCH = 100;
const PARALLEL = 4;

/** Why an action refused a row, in words a spreadsheet user can act on. */
function reasonsOf(err: unknown): string[] {
  if (err instanceof AppError)
    return err.errors.length ? err.errors.map((e) => `${e.field}: ${e.reasons.join('; ')}`) : [err.message];
  return [(err as Error).message];
}

export function importJobHandler(app: App): (job: JobRow) => Promise<void> {
  return async (job) => {
    const payload = JSON.parse(job.payload) as ImportPayload;
    const [header, ...rows] = parseCsv(await jobInput(app.db, job.id));
    const columns = header!.fields.map((c) => c.trim());
    const progress: ImportProgress = job.result
      ? ({ failedCount: 0, ...JSON.parse(job.result) } as ImportProgress)
      : {
          total: rows.length,
          processed: 0,
          created: 0,
          updated: 0,
          cursor: 0,
          failedCount: 0,
          dryRun: payload.dryRun,
        };
    const ctx: ActionContext = systemContext(app, job.accountId, `job-${job.id}`, 'job');
    const template = await app.db
      .selectFrom('templates')
      .innerJoin('passTypes', 'passTypes.id', 'templates.passTypeId')
      .select([
        'templates.id',
        'templates.body',
        'templates.placeholders',
        'templates.passTypeId',
        'passTypes.passTypeIdentifier',
      ])
      .where('templates.id', '=', payload.templateId)
      .executeTakeFirstOrThrow();
    const placeholders = new Set(JSON.parse(template.placeholders) as string[]);
    const compiled = compileTemplate(JSON.parse(template.body) as JsonObject);

    /** The pass a row names, when it names one that exists (each lookup by an index: a row costs the same at 100,000). */
    const existing = async (cells: Record<string, string>) => {
      let q = app.db
        .selectFrom('passes')
        .select(['serialNumber', 'values'])
        .where('templateId', '=', payload.templateId)
        .where('deletedAt', 'is', null);
      if (cells.serialNumber)
        q = q.where('passTypeId', '=', template.passTypeId).where('serialNumber', '=', cells.serialNumber);
      else if (cells.externalId)
        q = q.where('accountId', '=', job.accountId).where('ownerExternalId', '=', cells.externalId);
      else return undefined;
      return q.orderBy('id').executeTakeFirst();
    };

    let failed: ImportFailure[] = [];
    const one = async (row: { row: number; fields: string[] }): Promise<void> => {
      try {
        if (row.fields.length !== columns.length)
          throw new Error(`has ${row.fields.length} cells; the header has ${columns.length}`);
        const cells = Object.fromEntries(columns.map((c, i) => [c, row.fields[i]!.trim()]));
        // an empty cell is no value: an update leaves it, a new pass must have it
        const values = Object.fromEntries(
          Object.entries(cells).filter(([k, v]) => placeholders.has(k) && v !== ''),
        );
        const found = await existing(cells);
        if (!found && cells.serialNumber)
          throw new Error(`no pass of this template has the serial number ${cells.serialNumber}`);
        const key = `import:${job.id}:${row.row}`;
        if (payload.dryRun) {
          compiled.render(found ? { ...JSON.parse(found.values), ...values } : values);
          if (found) progress.updated++;
          else progress.created++;
          return;
        }
        if (found) {
          await runAction(
            updatePass,
            ctx,
            { passTypeIdentifier: template.passTypeIdentifier, serialNumber: found.serialNumber, values },
            { idempotencyKey: key },
          );
          progress.updated++;
          return;
        }
        const created = await runAction(
          createPass,
          ctx,
          {
            templateId: payload.templateId,
            values,
            ...(cells.email ? { email: cells.email } : {}),
            ...(cells.phone ? { phone: cells.phone } : {}),
            ...(cells.userId ? { userId: cells.userId } : {}),
            ...(cells.externalId ? { externalId: cells.externalId } : {}),
          },
          { idempotencyKey: key },
        );
        progress.created++;
        if (payload.deliver)
          await runAction(
            sendPass,
            ctx,
            {
              passTypeIdentifier: created.passTypeIdentifier,
              serialNumber: created.serialNumber,
              channel: payload.deliver,
            },
            { idempotencyKey: `${key}:send` },
          ).catch((err: unknown) => {
            failed.push({
              row: row.row,
              reasons: [`issued, but not sent: ${reasonsOf(err).join('; ')}`],
            });
          });
      } catch (err) {
        failed.push({ row: row.row, reasons: reasonsOf(err) });
      } finally {
        progress.processed++;
      }
    };

    while (progress.cursor < rows.length) {
      const batch = rows.slice(progress.cursor, progress.cursor + BATCH);
      for (let i = 0; i < batch.length; i += PARALLEL)
        await Promise.all(batch.slice(i, i + PARALLEL).map(one));
      progress.cursor += batch.length;
      failed.sort((a, b) => a.row - b.row);
      await saveJobProgress(app.db, job.id, progress, app.clock.now(), failed);
      failed = [];
    }
  };
}
