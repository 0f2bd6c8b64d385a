// The cache of hot passes (Wallet's conditional requests, the API's values read): filled from reads, emptied of changed passes, and never refilled with
// a row read before a change.
import { describe, expect, it } from 'vitest';
import { HotPassCache } from '../../src/store/cache.js';

const row = (id: number, modifiedAt: string) => ({
  id,
  accountId: 1,
  templateId: 1,
  deletedAt: null,
  values: '{}',
  authToken: 't'.repeat(32),
  modifiedAt,
  lastModified: new Date(0),
  lastModifiedHttp: new Date(0).toUTCString(),
});

describe('HotPassCache', () => {
  it('serves what was filled until the pass changes', () => {
    const c = new HotPassCache();
    c.fill('pt\n1', row(1, 'a'), c.begin());
    c.fill('pt\n2', row(2, 'a'), c.begin());
    expect(c.get('pt\n1')?.modifiedAt).toBe('a');
    c.forget([1]);
    expect(c.get('pt\n1')).toBeUndefined();
    expect(c.get('pt\n2')?.modifiedAt).toBe('a');
  });

  it('refuses a row read before a change committed', () => {
    const c = new HotPassCache();
    const begun = c.begin(); // a read starts and sees the old row...
    c.forget([1]); // ...the change commits...
    c.fill('pt\n1', row(1, 'old'), begun); // ...and the read's old row arrives late
    expect(c.get('pt\n1')).toBeUndefined();
    c.fill('pt\n1', row(1, 'new'), c.begin());
    expect(c.get('pt\n1')?.modifiedAt).toBe('new');
  });

  it('keeps the .pkpass served for the cached version only, and not one read before a change', () => {
    const c = new HotPassCache();
    c.fill('pt\n1', row(1, 'a'), c.begin());
    const file = new Uint8Array([1, 2, 3]);
    c.attach('pt\n1', 1, 'b', file, c.begin()); // of another version
    expect(c.get('pt\n1')?.pkpass).toBeUndefined();
    const begun = c.begin();
    c.forget([2]); // any change meanwhile
    c.attach('pt\n1', 1, 'a', file, begun);
    expect(c.get('pt\n1')?.pkpass).toBeUndefined();
    c.attach('pt\n1', 1, 'a', file, c.begin());
    expect(c.get('pt\n1')?.pkpass).toBe(file);
    c.forget([1]);
    expect(c.get('pt\n1')).toBeUndefined();
  });

  it('leaves passes with large values to the database', () => {
    const c = new HotPassCache();
    c.fill('pt\n1', { ...row(1, 'a'), values: JSON.stringify({ notes: 'x'.repeat(9000) }) }, c.begin());
    expect(c.get('pt\n1')).toBeUndefined();
    c.fill('pt\n2', { ...row(2, 'a'), values: JSON.stringify({ notes: 'x'.repeat(100) }) }, c.begin());
    expect(JSON.parse(c.get('pt\n2')!.values).notes).toHaveLength(100);
  });

  it('keeps nothing and answers nothing while it may not be trusted (the bus between processes is not current)', () => {
    let trusted = false;
    const c = new HotPassCache(() => trusted);
    c.fill('pt\n1', row(1, 'a'), c.begin());
    trusted = true;
    expect(c.get('pt\n1')).toBeUndefined();
    c.fill('pt\n1', row(1, 'a'), c.begin());
    trusted = false;
    expect(c.get('pt\n1')).toBeUndefined();
  });
});
