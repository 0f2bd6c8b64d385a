// passslot import FILE --template ID: one pass per row of a CSV, on the Passslot at PASSSLOT_URL (through the SDK and
// its retries): the file goes up as one import job, whose progress is shown as a bar on a terminal, then the report of
// the rows that failed (and --report OUT.csv). Exit 0 when every row was done, 1 when some failed, 2 on a usage mistake.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PassslotClient, PassslotError } from '../../client/index.js';
import { csvLine } from '../../csv.js';
import { CommandError, type Output, readInput, UsageError } from '../io.js';
import { remoteConfig } from '../remote.js';
import { progressBar } from './passes.js';

export const importHelp = `passslot import FILE --template ID [--dry-run] [--deliver email|sms] [--report OUT.csv]

Issues one pass per row of a CSV file from the template, on the Passslot at PASSSLOT_URL with the app key in
PASSSLOT_API_KEY. The header names the template's placeholders and, optionally, email, phone, userId, externalId and
serialNumber; a row whose serialNumber or externalId names an existing pass of the template updates it, so running
the same file again is safe. --dry-run checks every row and changes nothing; --deliver sends each new pass by email
or SMS. The rows that failed are listed (and written to --report as CSV).
`;

type Progress = {
  total?: number;
  processed?: number;
  created?: number;
  updated?: number;
  failed?: { row: number; reasons: string[] }[];
};

export async function importCommand(
  args: string[],
  io: Output,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      template: { type: 'string' },
      'dry-run': { type: 'boolean' },
      deliver: { type: 'string' },
      report: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError(importHelp);
  const templateId = Number(values.template);
  if (!Number.isInteger(templateId) || templateId < 1)
    throw new UsageError('--template ID is required (a template id)');
  if (values.deliver !== undefined && values.deliver !== 'email' && values.deliver !== 'sms')
    throw new UsageError('--deliver is email or sms');
  const csv = readInput(file, 'the CSV file').toString('utf8');
  const { url, apiKey } = remoteConfig();
  const client = new PassslotClient({ baseUrl: url, apiKey });
  let started: { jobId: number; rows: number };
  try {
    started = await client.importPasses({
      templateId,
      csv,
      ...(values['dry-run'] ? { dryRun: true } : {}),
      ...(values.deliver ? { deliver: values.deliver as 'email' | 'sms' } : {}),
    });
  } catch (err) {
    if (err instanceof PassslotError)
      throw new CommandError(
        [err.message, ...err.errors.map((e) => `  ${e.field}: ${e.reasons.join('; ')}`)].join('\n'),
      );
    throw err;
  }
  let job: Awaited<ReturnType<typeof client.getJob>>;
  for (;;) {
    job = await client.getJob({ id: started.jobId });
    const p = (job.progress ?? {}) as Progress;
    io.status?.(progressBar(p.processed ?? 0, p.total ?? started.rows));
    if (job.status === 'done' || job.status === 'failed') break;
    await sleep(500);
  }
  if (io.status) io.err('');
  const p = (job.progress ?? {}) as Progress;
  const failed = p.failed ?? [];
  const verb = values['dry-run'] ? 'would be' : '';
  io.out(
    `${started.rows} rows: ${p.created ?? 0} passes ${verb || 'created'}${verb ? ' created' : ''}, ${p.updated ?? 0} ${verb ? 'would be updated' : 'updated'}, ${failed.length} failed` +
      (job.status === 'failed' ? ` (the job failed: ${job.lastError ?? 'unknown error'})` : ''),
  );
  if (failed.length) {
    io.err('failed rows (row, reasons):');
    for (const f of failed) io.err(`  ${f.row}\t${f.reasons.join('; ')}`);
  }
  if (values.report) {
    const lines = [csvLine(['row', 'reasons']), ...failed.map((f) => csvLine([f.row, f.reasons.join('; ')]))];
    try {
      writeFileSync(values.report, `${lines.join('\r\n')}\r\n`);
    } catch (err) {
      throw new CommandError(`cannot write the report ${values.report}: ${(err as Error).message}`);
    }
  }
  return failed.length || job.status === 'failed' ? 1 : 0;
}
