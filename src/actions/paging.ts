// One paginator for every list: a page is at most `limit` rows in the order of one numeric key (a row id or an event's
// sequence number), and the cursor, opaque to clients, is the key of the page's last row in base64url.
import { Type } from '@sinclair/typebox';
import { invalid } from '../errors.js';

export const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 }));
export const Cursor = Type.Optional(
  Type.String({ maxLength: 100, description: 'the nextCursor of the previous page' }),
);
export const NextCursor = Type.Union([Type.String(), Type.Null()], {
  description: 'give it as cursor for the next page; null at the end',
});

/** The key after (or before) which the page starts; a cursor this API did not return is a 422 on `cursor`. */
export function keyOf(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (/^\d{1,15}$/.test(text) && Buffer.from(text).toString('base64url') === cursor) return Number(text);
  throw invalid([{ field: 'cursor', reasons: ['is not a cursor this API returned'] }]);
}

/** The page of `rows` (queried with limit + 1) and the cursor of the next page. */
export function pageOf<R>(
  rows: R[],
  limit: number,
  key: (row: R) => number,
): { items: R[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > limit && last ? Buffer.from(String(key(last))).toString('base64url') : null,
  };
}

/** A cursor of a list in the order of last change: the last row's change time and id. */
export const changeCursor = (updatedAt: string, id: number): string =>
  Buffer.from(`${updatedAt}|${id}`).toString('base64url');

/** The change time and id after which a page in the order of last change starts; 422 on `cursor` otherwise. */
export function changeKeyOf(cursor: string | undefined): { updatedAt: string; id: number } | undefined {
  if (cursor === undefined) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z)\|(\d{1,15})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  if (!m || changeCursor(m[1]!, Number(m[2])) !== cursor)
    throw invalid([{ field: 'cursor', reasons: ['is not a cursor this API returned (with updatedSince)'] }]);
  return { updatedAt: m[1]!, id: Number(m[2]) };
}
