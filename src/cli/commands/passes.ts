// passslot passes update --csv FILE: changes the values of many passes from a spreadsheet, on a running Passslot,
// through the SDK (so with its retries): one row per pass (or per holder, whose passes are all updated), a progress
// bar on a terminal, and a report of the rows that failed. Each update carries an Idempotency-Key made of the file's
// content, the row and the pass, so a retry, or running the same file again (within the server's 24 hours), never
// applies a row twice.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PassslotClient, PassslotError } from '../../client/index.js';
import { CsvError, csvLine, parseCsv } from '../../csv.js';
import { CommandError, type Output, readInput, UsageError } from '../io.js';
import { remoteConfig } from '../remote.js';

export const passesHelp = `passslot passes update --csv FILE [--report OUT.csv] [--template ID] [--pass-type ID]
                       [--concurrency N]

Changes the values of many passes from a CSV file, on the Passslot at PASSSLOT_URL (default http://127.0.0.1:3000)
with the app key in PASSSLOT_API_KEY (it needs passes:read and passes:write).

The header's first column says how a row finds its passes:
  serialNumber   the pass of that serial number
  email          every pass held by that email
  externalId     every pass held by that external id (a CRM id)
The other columns are placeholder names, and a row's cells their new values (an empty cell leaves the value as it
is). With serial numbers, the pass type comes from a passTypeIdentifier column, or --pass-type; without either (or
with --template) the passes are listed once to find each serial number's.

  --csv FILE          the file (RFC 4180: quotes, commas and line breaks in quoted cells; "-" for stdin)
  --report OUT.csv    write the failed rows as CSV: row,identifier,status,message
  --template ID       only the passes of this template
  --pass-type ID      the pass type of every serial number
  --concurrency N     rows in flight at once (default 4)

Rate limits (429) and unavailable servers are waited for and retried. Every update carries an Idempotency-Key made of
the file's content, the row and the pass: running the same file again does not apply a row twice.
Exit status 0 when every row succeeded, 1 when some failed, 2 on a usage mistake.
`;

const IDENTIFIERS = ['serialNumber', 'email', 'externalId'] as const;
type Identifier = (typeof IDENTIFIERS)[number];
const PASS_TYPE_COLUMN = 'passTypeIdentifier';

/** A row to run: which passes it names and the values to set. */
interface Row {
  row: number;
  identifier: string;
  passTypeIdentifier?: string;
  values: Record<string, string>;
}

/** A row that failed: before it was sent (status `invalid`), or with Passslot's status (0: not reached). */
interface Failure {
  row: number;
  identifier: string;
  status: number | 'invalid';
  message: string;
}

interface Plan {
  kind: Identifier;
  rows: Row[];
  failures: Failure[];
}

/** The rows of the file that can be sent, and those that cannot (with why). */
export function planRows(records: { row: number; fields: string[] }[]): Plan | Failure {
  const [header, ...data] = records;
  if (!header) return { row: 1, identifier: '', status: 'invalid', message: 'the file is empty' };
  const columns = header.fields.map((c) => c.trim());
  const kind = columns[0] as Identifier;
  const headerFailure = (message: string): Failure => ({
    row: header.row,
    identifier: '',
    status: 'invalid',
    message,
  });
  if (!IDENTIFIERS.includes(kind))
    return headerFailure(
      `unknown identifier column "${columns[0]}": the first column is serialNumber, email or externalId`,
    );
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dup !== undefined) return headerFailure(`the column "${dup}" appears twice`);
  if (columns.some((c) => c === '')) return headerFailure('a column has no name');
  const valueColumns = columns.slice(1).filter((c) => c !== PASS_TYPE_COLUMN || kind !== 'serialNumber');
  if (valueColumns.length === 0) return headerFailure('no placeholder columns: nothing to set');
  const plan: Plan = { kind, rows: [], failures: [] };
  for (const { row, fields } of data) {
    if (fields.length === 1 && fields[0] === '') continue; // a blank line
    const identifier = fields[0]?.trim() ?? '';
    const fail = (message: string) => plan.failures.push({ row, identifier, status: 'invalid', message });
    if (fields.length !== columns.length) {
      fail(`has ${fields.length} columns, the header ${columns.length}`);
      continue;
    }
    if (identifier === '') {
      fail(`no ${kind}`);
      continue;
    }
    const cell = (name: string) => fields[columns.indexOf(name)]!;
    const values = Object.fromEntries(
      valueColumns.map((c) => [c, cell(c)] as const).filter(([, v]) => v !== ''),
    );
    if (Object.keys(values).length === 0) {
      fail('every value is empty: nothing to set');
      continue;
    }
    const passType =
      kind === 'serialNumber' && columns.includes(PASS_TYPE_COLUMN) ? cell(PASS_TYPE_COLUMN).trim() : '';
    plan.rows.push({ row, identifier, values, ...(passType ? { passTypeIdentifier: passType } : {}) });
  }
  return plan;
}

/** `[#########---------] 120/300` */
export function progressBar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

/** The Idempotency-Key of a row's update of a pass: the same for the same file, row and pass, on any run. */
export function rowKey(
  fileHash: string,
  row: number,
  passTypeIdentifier: string,
  serialNumber: string,
): string {
  const digest = createHash('sha256')
    .update(`${fileHash}\n${row}\n${passTypeIdentifier}\n${serialNumber}`)
    .digest('base64url');
  return `csv-${digest}`;
}

const positiveInt = (text: string | undefined, flag: string, fallback?: number): number | undefined => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number from 1`);
  return n;
};

export async function passesCommand(
  args: string[],
  io: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'update') throw new UsageError('usage: passslot passes update --csv FILE [options]');
  const { values: flags, positionals } = parseArgs({
    args: rest,
    options: {
      csv: { type: 'string' },
      report: { type: 'string' },
      template: { type: 'string' },
      'pass-type': { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  if (!flags.csv) throw new UsageError('--csv FILE is required');
  const templateId = positiveInt(flags.template, '--template');
  const concurrency = positiveInt(flags.concurrency, '--concurrency', 4)!;
  const config = remoteConfig(env);

  const bytes = readInput(flags.csv, 'the CSV file');
  const fileHash = createHash('sha256').update(bytes).digest('hex');
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(bytes.toString('utf8'));
  } catch (err) {
    if (err instanceof CsvError) throw new CommandError(`${flags.csv} is not valid CSV: ${err.message}`);
    throw err;
  }
  const planned = planRows(records);
  const retried = new Map<string, number>();
  const client = new PassslotClient({
    baseUrl: config.url,
    apiKey: config.apiKey,
    onRetry: (r) => {
      const why = r.status === 429 ? 'rate limited' : r.status ? `status ${r.status}` : 'network error';
      retried.set(why, (retried.get(why) ?? 0) + 1);
    },
  });

  const failures: Failure[] = 'rows' in planned ? [...planned.failures] : [planned];
  let updated = 0;
  let rowsDone = 0;
  if ('rows' in planned && planned.rows.length > 0) {
    const { kind, rows } = planned;
    const update = (row: Row, passTypeIdentifier: string, serialNumber: string) =>
      client.updatePass(
        { passTypeIdentifier, serialNumber, values: row.values },
        { idempotencyKey: rowKey(fileHash, row.row, passTypeIdentifier, serialNumber) },
      );
    const passTypes =
      kind === 'serialNumber'
        ? await serialPassTypes(client, rows, flags['pass-type'], templateId).catch((err: unknown) => {
            if (!(err instanceof PassslotError)) throw err;
            throw new CommandError(
              `cannot list the passes to find their pass types: ${err.code}: ${err.message}`,
            );
          })
        : undefined;
    const report = await client.bulk(
      rows,
      async (row) => {
        if (passTypes) {
          const passTypeIdentifier = passTypes(row);
          await update(row, passTypeIdentifier, row.identifier);
          return 1;
        }
        const found: { passTypeIdentifier: string; serialNumber: string }[] = [];
        for await (const pass of client.paginate('search_passes_by_user', {
          [kind]: row.identifier,
          ...(templateId ? { templateId } : {}),
          limit: 1000,
        }))
          found.push(pass);
        if (found.length === 0)
          throw new PassslotError(
            404,
            'not_found',
            `no pass held by ${kind} ${row.identifier}${templateId ? ` of template ${templateId}` : ''}`,
          );
        // every pass of the holder; one that fails does not stop the others (a run of the same file again retries
        // only those, the others replay)
        const failed: string[] = [];
        let status = 0;
        for (const pass of found) {
          try {
            await update(row, pass.passTypeIdentifier, pass.serialNumber);
          } catch (err) {
            if (!(err instanceof PassslotError)) throw err;
            status ||= err.status;
            failed.push(`${pass.passTypeIdentifier}/${pass.serialNumber}: ${err.message}`);
          }
        }
        if (failed.length)
          throw new PassslotError(
            status,
            'partial',
            `${failed.length} of ${found.length} passes failed: ${failed.join('; ')}`,
          );
        return found.length;
      },
      {
        concurrency,
        onProgress: io.status ? (done, total) => io.status!(progressBar(done, total)) : undefined,
      },
    );
    if (io.status) io.err('');
    rowsDone = report.succeeded.length;
    updated = report.succeeded.reduce((n, s) => n + s.result, 0);
    for (const f of report.failed)
      failures.push({ row: f.item.row, identifier: f.item.identifier, status: f.status, message: f.message });
  }

  failures.sort((a, b) => a.row - b.row);
  const retries = [...retried].map(([why, n]) => `${n} ${why}`).join(', ');
  io.out(
    `${rowsDone} row${rowsDone === 1 ? '' : 's'} applied (${updated} pass${updated === 1 ? '' : 'es'} updated), ` +
      `${failures.length} failed${retries ? `; requests retried: ${retries}` : ''}`,
  );
  if (failures.length) {
    io.err('failed rows (row, identifier, status, message):');
    for (const f of failures) io.err(`  ${f.row}\t${f.identifier || '-'}\t${f.status}\t${f.message}`);
  }
  if (flags.report) {
    const lines = [csvLine(['row', 'identifier', 'status', 'message'])];
    for (const f of failures) lines.push(csvLine([f.row, f.identifier, f.status, f.message]));
    try {
      writeFileSync(flags.report, `${lines.join('\r\n')}\r\n`);
    } catch (err) {
      throw new CommandError(`cannot write the report ${flags.report}: ${(err as Error).message}`);
    }
  }
  return failures.length ? 1 : 0;
}

/**
 * How a serial number row finds its pass type: its passTypeIdentifier column, else --pass-type, else the pass of
 * that serial number among the account's passes (of --template), listed once. With --template, a serial number
 * that is not among the template's passes is not found, whatever its pass type.
 */
async function serialPassTypes(
  client: PassslotClient,
  rows: Row[],
  passTypeFlag: string | undefined,
  templateId: number | undefined,
): Promise<(row: Row) => string> {
  const needsList = templateId !== undefined || rows.some((r) => !r.passTypeIdentifier && !passTypeFlag);
  if (!needsList) return (row) => (row.passTypeIdentifier ?? passTypeFlag)!;
  const bySerial = new Map<string, string[]>();
  for await (const pass of client.paginate('get_passes', {
    ...(templateId ? { templateId } : {}),
    limit: 1000,
  }))
    bySerial.set(pass.serialNumber, [...(bySerial.get(pass.serialNumber) ?? []), pass.passTypeIdentifier]);
  const where = templateId ? ` among the passes of template ${templateId}` : '';
  return (row) => {
    const listed = bySerial.get(row.identifier) ?? [];
    const wanted = row.passTypeIdentifier ?? passTypeFlag;
    const matching = wanted ? listed.filter((pt) => pt === wanted) : listed;
    if (matching.length === 0)
      throw new PassslotError(404, 'not_found', `no pass with serial number ${row.identifier}${where}`);
    if (matching.length > 1)
      throw new PassslotError(
        409,
        'conflict',
        `serial number ${row.identifier} is a pass of ${matching.join(' and ')}: give its passTypeIdentifier`,
      );
    return matching[0]!;
  };
}
