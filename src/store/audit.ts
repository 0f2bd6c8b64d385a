// The execution log (and audit trail): one row per run of a mutating action from any edge (REST, CLI, MCP, jobs,
// pages, Wallet) and per MCP tool call, reads included. Rows of runs that finish together are written in one
// transaction after the current turn of the event loop; close() waits for the last write.
//
// The trail is tamper-evident: each account's rows form a chain, every row carrying the SHA-256 of the one before it
// in the account (prev_hash) and its own (hash, over its content and prev_hash). The chain's head (audit_heads) is
// locked while a batch extends it, so writers in several processes take turns and never fork it.
import { createHash } from 'node:crypto';
import type { Insertable } from 'kysely';
import type { Logger } from 'pino';
import type { Db, Dialect } from './db.js';
import { pruneOldest } from './prune.js';
import type { AuditLogTable } from './schema.js';

export type AuditRow = Omit<Insertable<AuditLogTable>, 'id' | 'seq' | 'prevHash' | 'hash'> & {
  accountId: number;
  createdAt: string;
};

/** The hash before the first row of an account. */
export const GENESIS = '0'.repeat(64);
const CHUNK = 200;

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

/** What a row's hash covers, in a fixed order (the duration in whole milliseconds: PostgreSQL keeps it as a float4). */
export interface Chained {
  accountId: number;
  seq: number;
  createdAt: string;
  edge: string;
  action: string;
  keyId: number | null;
  credential: string | null;
  onBehalfOf: string | null;
  requestId: string;
  target: string | null;
  outcome: number;
  error: string | null;
  durationMs: number;
  input: string | null;
  touched: string | null;
}

export function rowHash(prevHash: string, r: Chained): string {
  const content = JSON.stringify([
    r.accountId,
    r.seq,
    r.createdAt,
    r.edge,
    r.action,
    r.keyId,
    r.credential,
    r.onBehalfOf,
    r.requestId,
    r.target,
    r.outcome,
    r.error,
    Math.round(r.durationMs),
    r.input,
    r.touched,
  ]);
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

export class AuditWriter {
  private rows: AuditRow[] = [];
  private scheduled: Promise<void> | undefined;
  /** The last batch's append: batches extend the chains one after another. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
    private readonly log: Logger,
  ) {}

  /** Queues a row; the promise settles once it is written (or its failure logged). */
  write(row: AuditRow): Promise<void> {
    this.rows.push(row);
    this.scheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.scheduled = undefined;
      const rows = this.rows;
      this.rows = [];
      this.tail = this.tail.then(() =>
        this.append(rows).catch((err) =>
          this.log.error({ err, rows: rows.length }, 'could not write the audit log'),
        ),
      );
      return this.tail;
    });
    return this.scheduled;
  }

  /** Extends each account's chain by its rows, in one transaction. */
  private async append(rows: AuditRow[]): Promise<void> {
    const byAccount = new Map<number, AuditRow[]>();
    for (const r of rows) {
      const list = byAccount.get(r.accountId);
      if (list) list.push(r);
      else byAccount.set(r.accountId, [r]);
    }
    await this.db.transaction().execute(async (trx) => {
      // heads are locked in account order, so two writers never wait on each other in a cycle
      for (const accountId of [...byAccount.keys()].sort((a, b) => a - b)) {
        const headQuery = trx.selectFrom('auditHeads').selectAll().where('accountId', '=', accountId);
        const lockHead = () =>
          (this.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirst();
        let head = await lockHead();
        if (!head) {
          // the account's first record: make its head (another writer may make it first)
          await trx
            .insertInto('auditHeads')
            .values({ accountId, seq: 0, hash: GENESIS })
            .onConflict((oc) => oc.column('accountId').doNothing())
            .execute();
          head = await lockHead();
        }
        if (!head) throw new Error(`no audit head for account ${accountId}`);
        let { seq, hash } = head;
        const chained = byAccount.get(accountId)!.map((r) => {
          seq += 1;
          const full = {
            keyId: null,
            credential: null,
            onBehalfOf: null,
            target: null,
            error: null,
            input: null,
            touched: null,
            ...r,
            seq,
            prevHash: hash,
          };
          hash = rowHash(full.prevHash, full);
          return { ...full, hash };
        });
        for (let i = 0; i < chained.length; i += CHUNK)
          await trx
            .insertInto('auditLog')
            .values(chained.slice(i, i + CHUNK))
            .execute();
        await trx.updateTable('auditHeads').set({ seq, hash }).where('accountId', '=', accountId).execute();
      }
    });
  }

  /** Resolves when every row queued so far is written (readers of the log wait for it: read your own writes). */
  async settled(): Promise<void> {
    while (this.scheduled) await this.scheduled;
    await this.tail;
  }

  close(): Promise<void> {
    return this.settled();
  }
}

export interface ChainBreak {
  accountId: number;
  seq: number;
  id: number;
  reason: string;
}

/**
 * Walks an account's chain from its first kept row (after the records retention pruned, from their anchor); the
 * first row whose hash or link does not hold, or undefined.
 */
export async function verifyChain(db: Db, accountId: number): Promise<{ rows: number; broken?: ChainBreak }> {
  const anchor = await db
    .selectFrom('auditHeads')
    .select(['prunedSeq', 'prunedHash'])
    .where('accountId', '=', accountId)
    .executeTakeFirst();
  const pruned = anchor?.prunedSeq ?? 0;
  let prev = anchor?.prunedHash ?? GENESIS;
  let expectedSeq = pruned + 1;
  let rows = 0;
  for (;;) {
    const page = await db
      .selectFrom('auditLog')
      .selectAll()
      .where('accountId', '=', accountId)
      .where('seq', '>=', expectedSeq)
      .orderBy('seq')
      .limit(1000)
      .execute();
    for (const r of page) {
      const at = { accountId, seq: expectedSeq, id: r.id };
      if (r.seq !== expectedSeq)
        return { rows, broken: { ...at, reason: `record ${expectedSeq} is missing` } };
      if (r.prevHash !== prev)
        return { rows, broken: { ...at, reason: 'its link to the record before does not match' } };
      if (!r.hash || rowHash(prev, { ...r, seq: r.seq }) !== r.hash)
        return {
          rows,
          broken: { ...at, reason: 'its content does not match its hash (changed after it was written)' },
        };
      prev = r.hash;
      expectedSeq += 1;
      rows += 1;
    }
    if (page.length < 1000) break;
  }
  const head = await db
    .selectFrom('auditHeads')
    .selectAll()
    .where('accountId', '=', accountId)
    .executeTakeFirst();
  if (head && (head.seq !== pruned + rows || head.hash !== prev))
    return {
      rows,
      broken: {
        accountId,
        seq: pruned + rows + 1,
        id: 0,
        reason: `records after ${pruned + rows} were removed (the chain's head is at ${head.seq})`,
      },
    };
  return { rows };
}

/**
 * Deletes execution records older than `cutoff`, oldest first (store/prune.ts). Each account's
 * chain keeps its anchor, the seq and hash of its last deleted record, in audit_heads: verifyChain starts from the
 * first kept record, so what remains stays verifiable and a record removed any other way still shows.
 */
export async function pruneAuditLog(db: Db, cutoff: string): Promise<number> {
  return pruneOldest(
    async (after, limit) =>
      (
        await db
          .selectFrom('auditLog')
          .select(['id', 'createdAt'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(limit)
          .execute()
      ).map((r) => ({ key: r.id, at: r.createdAt })),
    (after, upTo) =>
      db.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom('auditLog')
          .select(['accountId', 'seq', 'hash'])
          .where('id', '>', after)
          .where('id', '<=', upTo)
          .where('seq', 'is not', null)
          .execute();
        const anchors = new Map<number, { seq: number; hash: string }>();
        for (const r of rows) {
          const a = anchors.get(r.accountId);
          if (r.hash && (!a || r.seq! > a.seq)) anchors.set(r.accountId, { seq: r.seq!, hash: r.hash });
        }
        for (const [accountId, a] of anchors)
          await trx
            .updateTable('auditHeads')
            .set({ prunedSeq: a.seq, prunedHash: a.hash })
            .where('accountId', '=', accountId)
            .where('prunedSeq', '<', a.seq)
            .execute();
        await trx.deleteFrom('auditLog').where('id', '>', after).where('id', '<=', upTo).execute();
      }),
    cutoff,
  );
}
