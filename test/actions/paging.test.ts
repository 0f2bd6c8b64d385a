// The one paginator: a page and its cursor, and cursors the API did not return refused on the `cursor` field.
import { describe, expect, it } from 'vitest';
import { keyOf, pageOf } from '../../src/actions/paging.js';
import { AppError } from '../../src/errors.js';

describe('paging', () => {
  it('cuts a page and gives the key of its last row as an opaque cursor', () => {
    const rows = [{ id: 3 }, { id: 7 }, { id: 12 }];
    const { items, nextCursor } = pageOf(rows, 2, (r) => r.id);
    expect(items).toEqual([{ id: 3 }, { id: 7 }]);
    expect(nextCursor).not.toBe('7');
    expect(keyOf(nextCursor!)).toBe(7);
    expect(pageOf(rows, 3, (r) => r.id).nextCursor).toBeNull();
    expect(keyOf(undefined)).toBeUndefined();
  });

  it('refuses a cursor it did not make (422 on cursor)', () => {
    for (const bad of [
      'nonsense',
      '7',
      Buffer.from('-1').toString('base64url'),
      Buffer.from('{"id":1}').toString('base64url'),
    ]) {
      try {
        keyOf(bad);
        expect.unreachable(`${bad} was accepted`);
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).status).toBe(422);
        expect((err as AppError).errors[0]!.field).toBe('cursor');
      }
    }
  });
});
