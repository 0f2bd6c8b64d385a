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
