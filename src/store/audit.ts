// The audit log: one row per run of a mutating action, whatever the edge (REST, CLI, MCP, jobs, pages, Wallet).
// Rows of runs that finish together are written in one statement (one commit on SQLite) after the current turn of the
// event loop; close() waits for the last write.
import type { Insertable } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from './db.js';
import { preparedRows } from './prepared.js';
import type { AuditLogTable } from './schema.js';

const AUDIT_COLUMNS = [
  'accountId',
  'keyId',
  'edge',
  'action',
  'target',
  'outcome',
  'durationMs',
  'requestId',
  'input',
  'createdAt',
] as const;
export type AuditRow = Pick<Insertable<AuditLogTable>, (typeof AUDIT_COLUMNS)[number]>;
const insertAudit = preparedRows('auditLog', AUDIT_COLUMNS);

// Input fields never written to the audit log. (Not `key`: pass.json fields have keys, and no action takes a secret key.)
const SECRET_FIELDS =
  /^(password|passwordProtection|privateKey|p12|p8|secret|token|certificate|wwdrCertificate|credentials)$/i;
/** Longer strings (image bytes in base64, files) are recorded by their length only. */
const MAX_STRING = 2048;

/** The input as the audit log keeps it: secrets redacted, long strings replaced by their length. */
export function redactInput(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_STRING ? `[${value.length} characters]` : value;
  if (Array.isArray(value)) return value.map(redactInput);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.test(k) ? '[redacted]' : redactInput(v)]),
    );
  return value;
}

export class AuditWriter {
  private rows: AuditRow[] = [];
  private written: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Queues a row; the promise settles once it is written (or its failure logged). */
  write(row: AuditRow): Promise<void> {
    this.rows.push(row);
    this.written ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      const rows = this.rows;
      this.rows = [];
      this.written = undefined;
      try {
        await insertAudit(this.db, rows);
      } catch (err) {
        this.log.error({ err, rows: rows.length }, 'could not write the audit log');
      }
    });
    return this.written;
  }

  async close(): Promise<void> {
    while (this.written) await this.written;
  }
}
