import { describe, expect, it } from 'vitest';
import {
  checkImage,
  checkImageSet,
  decodeStringsText,
  encodeStrings,
  parseImageName,
  parseStrings,
  readImageHeader,
} from '../../src/engine/index.js';
import { encodePng } from '../../src/engine/png.js';

describe('images', () => {
  it('reads PNG, JPEG and GIF sizes from their headers', () => {
    expect(readImageHeader(encodePng(58, 40))).toEqual({ format: 'png', width: 58, height: 40 });
    const gif = Buffer.from('474946383961' + '0a00' + '0500' + '000000', 'hex');
    expect(readImageHeader(gif)).toEqual({ format: 'gif', width: 10, height: 5 });
    // SOI, APP0 (length 16), SOF0 with height 7 and width 9
    const jpeg = Buffer.concat([
      Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'),
      Buffer.from('ffc0001108000700090301220002110103110100', 'hex'),
    ]);
    expect(readImageHeader(jpeg)).toEqual({ format: 'jpeg', width: 9, height: 7 });
    expect(readImageHeader(Buffer.from('not an image at all'))).toBeUndefined();
  });

  it('parses image names with their scale', () => {
    expect(parseImageName('logo@2x.png')).toEqual({ kind: 'logo', scale: 2 });
    expect(parseImageName('icon.png')).toEqual({ kind: 'icon', scale: 1 });
    expect(parseImageName('artwork@3x.png')).toEqual({ kind: 'artwork', scale: 3 });
    expect(parseImageName('icon@4x.png')).toBeUndefined();
    expect(parseImageName('photo.png')).toBeUndefined();
  });

  it('accepts Apple sizes and warns on others', () => {
    expect(checkImage('icon@2x.png', 'icon@2x.png', encodePng(76, 76))).toEqual([]);
    expect(checkImage('icon@2x.png', 'icon@2x.png', encodePng(58, 58))).toEqual([]); // legacy 29 pt
    const off = checkImage('icon@2x.png', 'icon@2x.png', encodePng(50, 50));
    expect(off).toEqual([expect.objectContaining({ severity: 'warning', path: 'icon@2x.png' })]);
    expect(off[0]!.message).toContain('76×76');
    const bigLogo = checkImage('logo.png', 'logo.png', encodePng(200, 50));
    expect(bigLogo[0]).toMatchObject({
      severity: 'warning',
      message: expect.stringContaining('fit within 160×50'),
    });
  });

  it('refuses files that are not PNG', () => {
    expect(checkImage('icon.png', 'icon.png', Buffer.from('GIF89a\x01\x00\x01\x00'))[0]).toMatchObject({
      severity: 'error',
      message: expect.stringContaining('GIF file; Wallet needs PNG'),
    });
    expect(checkImage('icon.png', 'icon.png', Buffer.from('hello'))[0]).toMatchObject({ severity: 'error' });
  });

  it('warns about images the style does not show', () => {
    expect(checkImage('strip.png', 'strip.png', encodePng(375, 123), 'generic')[0]).toMatchObject({
      severity: 'warning',
      message: 'is not shown on a generic pass',
    });
  });

  it('requires an icon and warns about missing @2x and @3x', () => {
    expect(checkImageSet(['logo.png'])).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'icon.png', severity: 'error' })]),
    );
    const warnings = checkImageSet(['icon.png', 'logo.png', 'en.lproj/logo@2x.png']);
    expect(warnings.map((p) => `${p.severity} ${p.path}`)).toEqual([
      'warning icon@2x.png',
      'warning icon@3x.png',
    ]);
  });
});

describe('pass.strings', () => {
  it('is written as UTF-16LE with a BOM and escapes quotes, backslashes and newlines', () => {
    const bytes = encodeStrings({ 'SEAT "A"': 'Siège\n"1"\\b', café: 'ok' });
    expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    const text = bytes.subarray(2).toString('utf16le');
    expect(text).toBe('"SEAT \\"A\\"" = "Siège\\n\\"1\\"\\\\b";\n"café" = "ok";\n');
  });

  it('round-trips through the parser, with comments', () => {
    const table = { a: 'x "y" \\ z\nnew line', ключ: '値' };
    const { text, encoding } = decodeStringsText(encodeStrings(table));
    expect(encoding).toBe('utf-16le');
    expect(parseStrings(`/* header */\n${text}// trailing\n`)).toEqual(table);
  });

  it('reads UTF-8 and UTF-16BE files and reports syntax errors with the line', () => {
    expect(decodeStringsText(Buffer.from('"a" = "b";', 'utf8')).text).toBe('"a" = "b";');
    const be = Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('"a" = "b";', 'utf16le').swap16()]);
    expect(parseStrings(decodeStringsText(be).text)).toEqual({ a: 'b' });
    expect(() => parseStrings('"a" = "b";\n"c" "d";')).toThrow(/expected = after "c" at line 2/);
    expect(() => parseStrings('"a" = "b"')).toThrow(/expected ;/);
  });
});
