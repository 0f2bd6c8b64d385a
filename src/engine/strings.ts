// Localization: `<lang>.lproj/pass.strings` files, `"key" = "value";` lines, written as UTF-16LE with a BOM.

export const LPROJ_DIR = /^([a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)\.lproj$/;

const escapeText = (s: string): string =>
  s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');

/** Encodes a strings table as UTF-16LE with a byte-order mark. */
export function encodeStrings(table: Readonly<Record<string, string>>): Buffer {
  const text = Object.entries(table)
    .map(([k, v]) => `"${escapeText(k)}" = "${escapeText(v)}";\n`)
    .join('');
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

/** Decodes a .strings file's bytes to text: UTF-16 (either order, by BOM) or UTF-8. */
export function decodeStringsText(bytes: Uint8Array): {
  text: string;
  encoding: 'utf-16le' | 'utf-16be' | 'utf-8';
} {
  const b = Buffer.from(bytes);
  if (b[0] === 0xff && b[1] === 0xfe)
    return { text: b.subarray(2).toString('utf16le'), encoding: 'utf-16le' };
  if (b[0] === 0xfe && b[1] === 0xff)
    return { text: Buffer.from(b.subarray(2)).swap16().toString('utf16le'), encoding: 'utf-16be' };
  const start = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  return { text: b.subarray(start).toString('utf8'), encoding: 'utf-8' };
}

export class StringsSyntaxError extends Error {}

const UNESCAPE: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', "'": "'" };

/** Parses `.strings` text (`"key" = "value";` with comments). Throws StringsSyntaxError with the line number. */
export function parseStrings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const line = (): number => text.slice(0, i).split('\n').length;
  const skip = (): void => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i]!)) i++;
      if (text.startsWith('/*', i)) {
        const end = text.indexOf('*/', i + 2);
        if (end < 0) throw new StringsSyntaxError(`unclosed comment at line ${line()}`);
        i = end + 2;
      } else if (text.startsWith('//', i)) {
        const end = text.indexOf('\n', i);
        i = end < 0 ? text.length : end + 1;
      } else return;
    }
  };
  const quoted = (): string => {
    if (text[i] !== '"') throw new StringsSyntaxError(`expected a quoted string at line ${line()}`);
    i++;
    let s = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const next = text[i + 1] ?? '';
        if (next === 'U' || next === 'u') {
          s += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        s += UNESCAPE[next] ?? next;
        i += 2;
      } else s += text[i++];
    }
    if (i >= text.length) throw new StringsSyntaxError(`unterminated string at line ${line()}`);
    i++;
    return s;
  };
  for (skip(); i < text.length; skip()) {
    const key = quoted();
    skip();
    if (text[i] !== '=') throw new StringsSyntaxError(`expected = after "${key}" at line ${line()}`);
    i++;
    skip();
    const value = quoted();
    skip();
    if (text[i] !== ';')
      throw new StringsSyntaxError(`expected ; after the value of "${key}" at line ${line()}`);
    i++;
    out[key] = value;
  }
  return out;
}
