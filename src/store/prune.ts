// Pruning a log by age, oldest first, in small batches (retention, jobs/retention.ts; the audit log, store/audit.ts).

/** Rows deleted per batch, each batch its own short statement so writers never wait long behind it. */
export const PRUNE_BATCH = 1000;

/**
 * Deletes the oldest rows of a log, by its increasing key, while they are older than `cutoff`: reads a batch, deletes
 * the part of it that is old enough, and stops at the first row that is not. Returns how many rows went.
 */
export async function pruneOldest(
  read: (after: number, limit: number) => Promise<{ key: number; at: string }[]>,
  remove: (after: number, upTo: number) => Promise<void>,
  cutoff: string,
): Promise<number> {
  let after = 0;
  let removed = 0;
  for (;;) {
    const rows = await read(after, PRUNE_BATCH);
    const end = rows.findIndex((r) => r.at >= cutoff);
    const old = end === -1 ? rows : rows.slice(0, end);
    if (old.length === 0) return removed;
    const upTo = old[old.length - 1]!.key;
    await remove(after, upTo);
    removed += old.length;
    after = upTo;
    if (old.length < rows.length || rows.length < PRUNE_BATCH) return removed;
    // let requests in between batches
    await new Promise((resolve) => setImmediate(resolve));
  }
}
