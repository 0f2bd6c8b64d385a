// Idempotency keys: the first successful answer of a mutating action run with a key is kept for 24 hours per account,
// and the same key with the same input replays it. The same key with another input is refused.
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Db } from './db.js';

export const IDEMPOTENCY_MS = 86_400_000;

export interface IdempotentRun {
  accountId: number;
  key: string;
  /** A hash of the action's name and its validated input. */
  hash: string;
}

export function idempotentRun(accountId: number, key: string, action: string, input: unknown): IdempotentRun {
  if (key.length === 0 || key.length > 255)
    throw new AppError('bad_request', 'Idempotency-Key must be 1 to 255 characters');
  const hash = createHash('sha256')
    .update(`${action}\n${JSON.stringify(input ?? null)}`)
    .digest('hex');
  return { accountId, key, hash };
}

/** The output kept for this key, or undefined when the key is new (or expired). */
export async function replayOf(db: Db, run: IdempotentRun, now: Date): Promise<unknown> {
  const row = await db
    .selectFrom('idempotencyKeys')
    .select(['requestHash', 'body'])
    .where('accountId', '=', run.accountId)
    .where('key', '=', run.key)
    .where('createdAt', '>', new Date(now.getTime() - IDEMPOTENCY_MS).toISOString())
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.requestHash !== run.hash)
    throw new AppError(
      'idempotency_key_reused',
      'This Idempotency-Key was used with a different request; use a new key for a new request',
    );
  const text = Buffer.from(row.body).toString('utf8');
  return text === '' ? {} : JSON.parse(text);
}

export async function keepOutput(
  db: Db,
  run: IdempotentRun,
  status: number,
  output: unknown,
  now: Date,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(output ?? null));
  const createdAt = now.toISOString();
  await db
    .insertInto('idempotencyKeys')
    .values({
      accountId: run.accountId,
      key: run.key,
      requestHash: run.hash,
      statusCode: status,
      contentType: 'application/json',
      body,
      createdAt,
    })
    .onConflict((oc) =>
      oc
        .columns(['accountId', 'key'])
        .doUpdateSet({ requestHash: run.hash, statusCode: status, body, createdAt }),
    )
    .execute();
}
