// Rows that are read on every request and change rarely (pass types with their certificates, templates), kept in
// memory per version. A lookup names the version it needs (pass type updatedAt, template version), read with the row
// that refers to it, so a change made by any process is never served stale.
import type { Db } from './db.js';
import { hotQueries } from './prepared.js';
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

/** The Last-Modified of a pass's current version (whole seconds). */
export const lastModifiedOf = (pass: { modifiedAt: string | null; updatedAt: string }): Date =>
  new Date(pass.modifiedAt ?? Math.floor(Date.parse(pass.updatedAt) / 1000) * 1000);

/** What the most frequent requests about one pass need: Wallet's "is my copy current?" and the API's values read. */
export interface HotPass {
  id: number;
  accountId: number;
  templateId: number;
  deletedAt: string | null;
  authToken: string;
  modifiedAt: string | null;
  /** Last-Modified of the pass's current version, and as an HTTP date. */
  lastModified: Date;
  lastModifiedHttp: string;
  /** The values, as stored (JSON text). */
  values: string;
  /** The .pkpass of this version, once one was served. */
  pkpass?: Uint8Array;
}

const HOT_PASS_LIMIT = 200_000;
/** Passes with more value text than this are read from the database each time. */
const VALUES_LIMIT = 8 * 1024;
/** At most this many bytes of .pkpass files are kept (after a change, every device of a pass fetches the same file). */
const PKPASS_BYTES_LIMIT = 64 * 1024 * 1024;

/**
 * Passes read by Wallet's conditional request or the API's values read, so that those are answered without a query
 * (and the .pkpass every device fetches after a change, with one). Every transaction that changes a pass writes an
 * event about it, and once it commits the pass is dropped from here (store/events.ts, withEvents), and from the other
 * processes' caches through the bus (store/bus.ts) before the change's answer. The cache is used only while the bus
 * says it may be (`trusted`). A read that began before a change cannot put the old row back: fills are refused once
 * anything was dropped since they began.
 */
export class HotPassCache {
  private readonly byRef = new Map<string, HotPass>();
  private readonly refOf = new Map<number, string>();
  private generation = 0;
  private bytes = 0;

  /** `trusted`: whether the cache may be used now (the bus between processes says so; always with SQLite). */
  constructor(private readonly trusted: () => boolean = () => true) {}

  get(ref: string): HotPass | undefined {
    return this.trusted() ? this.byRef.get(ref) : undefined;
  }

  /** The pass (deleted ones too) from the cache, or read with one query and kept. */
  async read(db: Db, passTypeIdentifier: string, serialNumber: string): Promise<HotPass | undefined> {
    const ref = passRef(passTypeIdentifier, serialNumber);
    const cached = this.get(ref);
    if (cached) return cached;
    const begun = this.begin();
    const [row] = await hotQueries(db).hotPassByRef(passTypeIdentifier, serialNumber);
    if (!row) return undefined;
    const lastModified = lastModifiedOf(row);
    const pass: HotPass = {
      id: row.id,
      accountId: row.accountId,
      templateId: row.templateId,
      deletedAt: row.deletedAt,
      authToken: row.authToken,
      modifiedAt: row.modifiedAt,
      lastModified,
      lastModifiedHttp: lastModified.toUTCString(),
      values: row.values,
    };
    this.fill(ref, pass, begun);
    return pass;
  }

  /** Call before reading a row to fill with; pass the result to fill(). */
  begin(): number {
    return this.trusted() ? this.generation : -1;
  }

  fill(ref: string, pass: HotPass, begun: number): void {
    if (begun !== this.generation || pass.values.length > VALUES_LIMIT) return;
    if (this.byRef.size >= HOT_PASS_LIMIT) {
      this.byRef.clear();
      this.refOf.clear();
      this.bytes = 0;
    }
    this.byRef.set(ref, { ...pass, pkpass: undefined });
    this.refOf.set(pass.id, ref);
  }

  /** Keeps the .pkpass served for a pass, when it is of the version the cache holds and nothing changed since `begun`. */
  attach(ref: string, passId: number, modifiedAt: string | null, pkpass: Uint8Array, begun: number): void {
    const entry = this.byRef.get(ref);
    if (!entry || begun !== this.generation || entry.id !== passId || entry.modifiedAt !== modifiedAt) return;
    if (entry.pkpass || this.bytes + pkpass.byteLength > PKPASS_BYTES_LIMIT) return;
    entry.pkpass = pkpass;
    this.bytes += pkpass.byteLength;
  }

  /** Drops every pass (the bus missed notices, or a change touched too many to list). */
  forgetAll(): void {
    this.generation++;
    this.byRef.clear();
    this.refOf.clear();
    this.bytes = 0;
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

/** The key of a pass in the cache. */
export const passRef = (passTypeIdentifier: string, serialNumber: string): string =>
  `${passTypeIdentifier}\n${serialNumber}`;
