// Rows that are read on every request and change rarely (pass types with their certificates, templates), kept in
// memory per version. A lookup names the version it needs (pass type updatedAt, template version), read with the row
// that refers to it, so a change made by any process is never served stale.
import type { Db } from './db.js';
import type { PassTypeRow, TemplateRow } from './schema.js';

const LIMIT = 1000;

export class RowCache {
  private readonly passTypes = new Map<string, PassTypeRow>();
  private readonly templates = new Map<string, TemplateRow>();

  async passType(db: Db, id: number, updatedAt?: string): Promise<PassTypeRow> {
    const hit = updatedAt ? this.passTypes.get(`${id}:${updatedAt}`) : undefined;
    if (hit) return hit;
    const row = await db.selectFrom('passTypes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    remember(this.passTypes, `${row.id}:${row.updatedAt}`, row);
    return row;
  }

  async template(db: Db, id: number, version?: number): Promise<TemplateRow> {
    const hit = version !== undefined ? this.templates.get(`${id}:${version}`) : undefined;
    if (hit) return hit;
    const row = await db.selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    remember(this.templates, `${row.id}:${row.version}`, row);
    return row;
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= LIMIT) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

/** What Wallet's conditional request needs of a pass. */
export interface PassAuth {
  id: number;
  authToken: string;
  modifiedAt: string | null;
  /** Last-Modified of the pass's current version, and as an HTTP date. */
  lastModified: Date;
  lastModifiedHttp: string;
  /** The .pkpass of this version, once one was served. */
  pkpass?: Uint8Array;
}

const PASS_AUTH_LIMIT = 200_000;
/** At most this many bytes of .pkpass files are kept (after a change, every device of a pass fetches the same file). */
const PKPASS_BYTES_LIMIT = 64 * 1024 * 1024;

/**
 * The token and Last-Modified of passes Wallet asked about, so that its most frequent request (is my copy current?)
 * is answered without a query, and the .pkpass its devices then fetch with one. Only where one process writes (SQLite): every transaction that changes a pass writes
 * an event about it, and once it commits the pass is dropped from here (store/events.ts, withEvents). A read that
 * began before a change cannot put the old row back: fills are refused once anything was dropped since they began.
 */
export class PassAuthCache {
  private readonly byRef = new Map<string, PassAuth>();
  private readonly refOf = new Map<number, string>();
  private generation = 0;
  private bytes = 0;

  constructor(readonly enabled: boolean) {}

  get(ref: string): PassAuth | undefined {
    return this.enabled ? this.byRef.get(ref) : undefined;
  }

  /** Call before reading a row to fill with; pass the result to fill(). */
  begin(): number {
    return this.generation;
  }

  fill(ref: string, row: PassAuth, begun: number): void {
    if (!this.enabled || begun !== this.generation) return;
    if (this.byRef.size >= PASS_AUTH_LIMIT) {
      this.byRef.clear();
      this.refOf.clear();
      this.bytes = 0;
    }
    this.byRef.set(ref, {
      id: row.id,
      authToken: row.authToken,
      modifiedAt: row.modifiedAt,
      lastModified: row.lastModified,
      lastModifiedHttp: row.lastModifiedHttp,
    });
    this.refOf.set(row.id, ref);
  }

  /** Keeps the .pkpass served for a pass, when it is of the version the cache holds and nothing changed since `begun`. */
  attach(ref: string, passId: number, modifiedAt: string | null, pkpass: Uint8Array, begun: number): void {
    const entry = this.byRef.get(ref);
    if (!entry || begun !== this.generation || entry.id !== passId || entry.modifiedAt !== modifiedAt) return;
    if (entry.pkpass || this.bytes + pkpass.byteLength > PKPASS_BYTES_LIMIT) return;
    entry.pkpass = pkpass;
    this.bytes += pkpass.byteLength;
  }

  forget(passIds: Iterable<number>): void {
    this.generation++;
    for (const id of passIds) {
      const ref = this.refOf.get(id);
      if (ref === undefined) continue;
      this.bytes -= this.byRef.get(ref)?.pkpass?.byteLength ?? 0;
      this.refOf.delete(id);
      this.byRef.delete(ref);
    }
  }
}
