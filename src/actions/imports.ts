// CSV import: one pass per row of a spreadsheet, as a background job with progress and a report of each row that
// failed and why. The header names the template's placeholders and, optionally, email, phone, userId, externalId and
// serialNumber. A row naming a pass that exists (by serialNumber, or by externalId on the template) updates it instead
// of making a second, so a re-run of the same file is safe; each row runs under an idempotency key of the job and the
// row, so a job resumed after a crash does not make any row twice. `dryRun` checks every row and changes nothing.
import { type Static, Type } from '@sinclair/typebox';
import { CsvError, parseCsv } from '../csv.js';
import { invalid } from '../errors.js';
import { enqueueJob } from '../store/jobs.js';
import { findTemplateAndPassType } from './access.js';
import { defineAction } from './registry.js';
import { Id } from './schemas.js';

/** The columns a row may have besides the template's placeholders. */
export const OWNER_COLUMNS = ['email', 'phone', 'userId', 'externalId', 'serialNumber'] as const;
export const MAX_IMPORT_ROWS = 200_000;

/** The job's payload; the CSV itself is the job's input (store/jobs.ts jobInput). */
export interface ImportPayload {
  templateId: number;
  dryRun: boolean;
  deliver: 'email' | 'sms' | null;
}

export interface ImportProgress {
  total: number;
  processed: number;
  created: number;
  updated: number;
  /** Rows done, in file order: the job resumes after them. */
  cursor: number;
  /** Rows failed so far; each, with why, is kept beside the job (get_job answers them as `failed`). */
  failedCount: number;
  dryRun: boolean;
}

/** A row the import could not do (numbered as in the file, the header being row 1), and why. */
export interface ImportFailure {
  row: number;
  reasons: string[];
}

export const importPasses = defineAction({
  name: 'import_passes',
  title: 'Import passes from a CSV',
  description:
    'Issues (or updates) one pass per row of a CSV in the background and answers the job (get_job reports progress ' +
    'and the rows that failed, with their row numbers and reasons). The header names the template’s placeholders and ' +
    'optionally email, phone, userId, externalId and serialNumber; a row whose serialNumber or externalId names an ' +
    'existing pass of the template updates it, so a re-run of the same file is safe. dryRun checks every row and ' +
    'changes nothing; deliver sends each new pass by email or sms. Example: {"templateId": 3, "csv": ' +
    '"firstName,email\\nAda,ada@example.com\\n", "dryRun": true}.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    templateId: Id,
    csv: Type.String({
      minLength: 1,
      maxLength: 50 * 1024 * 1024,
      description: 'the CSV text, header first',
    }),
    dryRun: Type.Optional(Type.Boolean()),
    deliver: Type.Optional(Type.Union([Type.Literal('email'), Type.Literal('sms')])),
  }),
  output: Type.Object({
    jobId: Type.Integer(),
    rows: Type.Integer({ description: 'the rows after the header' }),
    dryRun: Type.Boolean(),
  }),
  async handler(ctx, input) {
    const { template } = await findTemplateAndPassType(ctx, { id: input.templateId });
    let records: ReturnType<typeof parseCsv>;
    try {
      records = parseCsv(input.csv);
    } catch (err) {
      if (err instanceof CsvError) throw invalid([{ field: 'csv', reasons: [err.message] }]);
      throw err;
    }
    const [header, ...rows] = records;
    if (!header || rows.length === 0)
      throw invalid([{ field: 'csv', reasons: ['needs a header row and at least one row'] }]);
    if (rows.length > MAX_IMPORT_ROWS)
      throw invalid([
        { field: 'csv', reasons: [`has ${rows.length} rows; at most ${MAX_IMPORT_ROWS} in one import`] },
      ]);
    const placeholders = JSON.parse(template.placeholders) as string[];
    const known = new Set<string>([...placeholders, ...OWNER_COLUMNS]);
    const columns = header.fields.map((c) => c.trim());
    const unknown = columns.filter((c) => !known.has(c));
    const twice = columns.filter((c, i) => columns.indexOf(c) !== i);
    if (unknown.length || twice.length)
      throw invalid([
        {
          field: 'csv',
          reasons: [
            ...(unknown.length
              ? [
                  `unknown columns in the header: ${unknown.join(', ')} (the template's placeholders are ${placeholders.join(', ')}; also ${OWNER_COLUMNS.join(', ')})`,
                ]
              : []),
            ...(twice.length ? [`columns named twice: ${[...new Set(twice)].join(', ')}`] : []),
          ],
        },
      ]);
    const payload: ImportPayload = {
      templateId: template.id,
      dryRun: input.dryRun ?? false,
      deliver: input.deliver ?? null,
    };
    const jobId = await enqueueJob(
      ctx.app.db,
      { accountId: ctx.grant.accountId, kind: 'import', payload, input: input.csv },
      ctx.app.clock.now(),
    );
    ctx.app.wake('import');
    return { jobId, rows: rows.length, dryRun: payload.dryRun };
  },
});

export type ImportOut = Static<typeof importPasses.output>;
export const importActions = [importPasses];
