// Queries on hot paths, built once with Kysely (so each dialect gets its own SQL) and run with new parameters without
// building and compiling the query again. Placeholders are sentinel values recognised in the compiled parameters.
import { type Compilable, CompiledQuery, type Insertable } from 'kysely';
import type { Db } from './db.js';
import type { Database } from './schema.js';

class Placeholder {
  constructor(readonly index: number) {}
}

interface Compiled {
  sql: string;
  places: number[];
  fixed: readonly unknown[];
}

function compileWithSlots<A extends unknown[]>(
  arity: number,
  build: (...slots: A) => Compilable<unknown>,
): Compiled {
  const slots = Array.from({ length: arity }, (_, i) => new Placeholder(i)) as unknown as A;
  const compiled = build(...slots).compile();
  return {
    sql: compiled.sql,
    places: compiled.parameters.map((p) => (p instanceof Placeholder ? p.index : -1)),
    fixed: compiled.parameters,
  };
}

async function runCompiled<R>(db: Db, c: Compiled, args: readonly unknown[]): Promise<R[]> {
  const parameters = c.places.map((slot, i) => (slot >= 0 ? args[slot] : c.fixed[i]));
  return (await db.executeQuery<R>(CompiledQuery.raw(c.sql, parameters))).rows;
}

/** Returns a function running the query `build` describes, with its arguments in the places of the slots. */
export function prepared<A extends unknown[], R>(
  db: Db,
  arity: A['length'],
  build: (...slots: A) => Compilable<R>,
) {
  const c = compileWithSlots(arity, build);
  return (...args: A): Promise<R[]> => runCompiled<R>(db, c, args);
}

/**
 * Like prepared, for a query run on whichever database or transaction is passed (queries inside transactions):
 * compiled once per dialect.
 */
export function preparedIn<A extends unknown[], R>(
  arity: A['length'],
  build: (db: Db, ...slots: A) => Compilable<R>,
) {
  const byAdapter = new WeakMap<object, Compiled>();
  return (db: Db, ...args: A): Promise<R[]> => {
    const adapter = db.getExecutor().adapter;
    let c = byAdapter.get(adapter);
    if (!c) {
      c = compileWithSlots(arity, (...slots: A) => build(db, ...slots));
      byAdapter.set(adapter, c);
    }
    return runCompiled<R>(db, c, args);
  };
}

/**
 * An insert of rows of the same columns, compiled once per dialect and row count (Kysely builds, freezes and
 * transforms a node per value, which costs more than a small insert, and far more for batches of hundreds). Rows go
 * in statements of at most `perStatement`; with `returningId` the ids of the new rows come back, in order.
 */
export function preparedRows<T extends keyof Database, C extends keyof Insertable<Database[T]> & string>(
  table: T,
  columns: readonly C[],
  options: { returningId?: boolean; perStatement?: number } = {},
) {
  const perStatement = options.perStatement ?? Math.floor(900 / columns.length);
  const byAdapter = new WeakMap<object, Map<number, Compiled>>();
  return async (db: Db, rows: readonly Pick<Insertable<Database[T]>, C>[]): Promise<{ id: number }[]> => {
    const adapter = db.getExecutor().adapter;
    let byCount = byAdapter.get(adapter);
    if (!byCount) {
      byCount = new Map();
      byAdapter.set(adapter, byCount);
    }
    const ids: { id: number }[] = [];
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement);
      let c = byCount.get(chunk.length);
      if (!c) {
        c = compileWithSlots(chunk.length * columns.length, (...slots: unknown[]) => {
          const insert = db
            .insertInto(table)
            .values(
              chunk.map(
                (_, r) =>
                  Object.fromEntries(
                    columns.map((col, k) => [col, slots[r * columns.length + k]]),
                  ) as Insertable<Database[T]>,
              ),
            );
          // every table written this way has an integer id
          return options.returningId
            ? (insert as unknown as { returning(column: 'id'): Compilable<unknown> }).returning('id')
            : insert;
        });
        if (byCount.size >= 64) byCount.clear();
        byCount.set(chunk.length, c);
      }
      const args: unknown[] = [];
      for (const row of chunk) for (const col of columns) args.push(row[col]);
      ids.push(...(await runCompiled<{ id: number }>(db, c, args)));
    }
    return ids;
  };
}

function buildHotQueries(db: Db) {
  return {
    /** A live pass by pass type identifier and serial number, with its pass type's version. */
    passByRef: prepared(db, 2, (passTypeIdentifier: string, serialNumber: string) =>
      db
        .selectFrom('passes')
        .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
        .selectAll('passes')
        .select('passTypes.updatedAt as passTypeUpdatedAt')
        .where('passTypes.passTypeIdentifier', '=', passTypeIdentifier)
        .where('passes.serialNumber', '=', serialNumber)
        .where('passes.deletedAt', 'is', null),
    ),
    /** A pass, deleted ones too (Wallet gets them voided), by pass type identifier and serial number. */
    anyPassByRef: prepared(db, 2, (passTypeIdentifier: string, serialNumber: string) =>
      db
        .selectFrom('passes')
        .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
        .selectAll('passes')
        .select('passTypes.updatedAt as passTypeUpdatedAt')
        .where('passTypes.passTypeIdentifier', '=', passTypeIdentifier)
        .where('passes.serialNumber', '=', serialNumber),
    ),
    /** What the hottest requests about a pass need (deleted ones too: Wallet gets them voided); store/cache.ts. */
    hotPassByRef: prepared(db, 2, (passTypeIdentifier: string, serialNumber: string) =>
      db
        .selectFrom('passes')
        .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
        .select([
          'passes.id',
          'passes.accountId',
          'passes.templateId',
          'passes.deletedAt',
          'passes.authToken',
          'passes.modifiedAt',
          'passes.updatedAt',
          'passes.values',
        ])
        .where('passTypes.passTypeIdentifier', '=', passTypeIdentifier)
        .where('passes.serialNumber', '=', serialNumber),
    ),
    /**
     * The serial numbers and update tags of a device's passes of a pass type changed after a tag (-1: all). From the
     * device to its registrations to their passes: CROSS JOIN fixes this order on SQLite, which would otherwise start
     * from every pass changed since the tag.
     */
    serialsSince: prepared(
      db,
      3,
      (deviceLibraryIdentifier: string, passTypeIdentifier: string, afterTag: number) =>
        db
          .selectFrom('devices')
          .crossJoin('registrations')
          .crossJoin('passes')
          .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
          .select(['passes.serialNumber', 'passes.updateTag'])
          .whereRef('registrations.deviceId', '=', 'devices.id')
          .whereRef('passes.id', '=', 'registrations.passId')
          .where('devices.deviceLibraryIdentifier', '=', deviceLibraryIdentifier)
          .where('passTypes.passTypeIdentifier', '=', passTypeIdentifier)
          .where('passes.updateTag', '>', afterTag)
          .orderBy('passes.updateTag'),
    ),
    /** The cached .pkpass of a pass, with the version it is of. */
    renderOf: prepared(db, 1, (passId: number) =>
      db.selectFrom('passRenders').select(['version', 'pkpass']).where('passId', '=', passId),
    ),
  };
}

const hot = new WeakMap<Db, ReturnType<typeof buildHotQueries>>();

/** The hot queries of one database, prepared once. */
export function hotQueries(db: Db): ReturnType<typeof buildHotQueries> {
  let q = hot.get(db);
  if (!q) {
    q = buildHotQueries(db);
    hot.set(db, q);
  }
  return q;
}
