// The CSV reader and writer of `passslot passes update`, and how it turns a file into rows to send and rows refused
// before sending (with their row numbers), its progress bar and its idempotency keys.
import { describe, expect, it } from 'vitest';
import { planRows, progressBar, rowKey } from '../src/cli/commands/passes.js';
import { CsvError, csvLine, parseCsv } from '../src/csv.js';

const fields = (text: string) => parseCsv(text).map((r) => r.fields);

describe('parseCsv (RFC 4180)', () => {
  it('reads fields and records, CRLF or LF, with a last line with or without its line break', () => {
    expect(fields('a,b\r\n1,2\r\n')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(fields('a,b\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(fields('a,,\n')).toEqual([['a', '', '']]);
    expect(fields('')).toEqual([]);
  });

  it('reads quoted fields with commas, line breaks and doubled quotes, and skips a byte order mark', () => {
    const records = parseCsv('\ufeffname,note\r\n"Lovelace, Ada","said ""hi""\r\nthen left"\r\n"",x\r\n');
    expect(records.map((r) => r.fields)).toEqual([
      ['name', 'note'],
      ['Lovelace, Ada', 'said "hi"\r\nthen left'],
      ['', 'x'],
    ]);
    // a record spanning two lines is one row, as a spreadsheet counts
    expect(records.map((r) => r.row)).toEqual([1, 2, 3]);
  });

  it('refuses an unclosed quote and text after a closing quote, naming the row', () => {
    expect(() => parseCsv('a\n"open,1\n')).toThrow(CsvError);
    expect(() => parseCsv('a\n"open,1\n')).toThrow(/^row 2: /);
    expect(() => parseCsv('a,b\n"x"y,1\n')).toThrow(/row 2: a quoted field must end/);
  });

  it('writes what it reads back (csvLine quotes only what needs it)', () => {
    const row = ['plain', 'with, comma', 'with "quote"', 'two\nlines', ' padded', 12];
    expect(csvLine(row)).toBe('plain,"with, comma","with ""quote""","two\nlines"," padded",12');
    expect(fields(`${csvLine(row)}\n`)).toEqual([row.map(String)]);
  });
});

describe('planRows', () => {
  const plan = (text: string) => planRows(parseCsv(text));

  it('sends rows by serial number with their non-empty values and an optional pass type column', () => {
    expect(plan('serialNumber,passTypeIdentifier,points,tier\nS1,pass.a,10,gold\nS2,,,silver\n')).toEqual({
      kind: 'serialNumber',
      rows: [
        { row: 2, identifier: 'S1', passTypeIdentifier: 'pass.a', values: { points: '10', tier: 'gold' } },
        { row: 3, identifier: 'S2', values: { tier: 'silver' } },
      ],
      failures: [],
    });
  });

  it('refuses, with the row number, rows with the wrong column count, no identifier or nothing to set; skips blank lines', () => {
    const p = plan('email,points\na@x.io,1\n\nb@x.io\n,5\nc@x.io,1,2\nd@x.io,\n"e@x.io",7\n');
    expect('rows' in p && p.rows.map((r) => [r.row, r.identifier])).toEqual([
      [2, 'a@x.io'],
      [8, 'e@x.io'],
    ]);
    expect('rows' in p && p.failures.map((f) => [f.row, f.identifier, f.status, f.message])).toEqual([
      [4, 'b@x.io', 'invalid', 'has 1 columns, the header 2'],
      [5, '', 'invalid', 'no email'],
      [6, 'c@x.io', 'invalid', 'has 3 columns, the header 2'],
      [7, 'd@x.io', 'invalid', 'every value is empty: nothing to set'],
    ]);
  });

  it('refuses a header with an unknown identifier column, a repeated or unnamed column, or nothing to set (row 1)', () => {
    expect(plan('phone,points\n555,1\n')).toMatchObject({
      row: 1,
      status: 'invalid',
      message: /unknown identifier column "phone"/,
    });
    expect(plan('email,points,points\n')).toMatchObject({ row: 1, message: /"points" appears twice/ });
    expect(plan('email,,points\n')).toMatchObject({ row: 1, message: /no name/ });
    expect(plan('serialNumber,passTypeIdentifier\nS1,pass.a\n')).toMatchObject({
      row: 1,
      message: /nothing to set/,
    });
    expect(plan('')).toMatchObject({ row: 1, message: 'the file is empty' });
  });
});

describe('progress and keys', () => {
  it('draws a progress bar', () => {
    expect(progressBar(0, 300, 10)).toBe('[----------] 0/300');
    expect(progressBar(120, 300, 10)).toBe('[####------] 120/300');
    expect(progressBar(300, 300, 10)).toBe('[##########] 300/300');
  });

  it('makes the same Idempotency-Key for the same file, row and pass, and another for any other', () => {
    const key = rowKey('hash1', 2, 'pass.a', 'S1');
    expect(key).toMatch(/^csv-[A-Za-z0-9_-]{43}$/);
    expect(rowKey('hash1', 2, 'pass.a', 'S1')).toBe(key);
    expect(
      new Set([
        key,
        rowKey('hash2', 2, 'pass.a', 'S1'),
        rowKey('hash1', 3, 'pass.a', 'S1'),
        rowKey('hash1', 2, 'pass.b', 'S1'),
        rowKey('hash1', 2, 'pass.a', 'S2'),
      ]).size,
    ).toBe(5);
  });
});
