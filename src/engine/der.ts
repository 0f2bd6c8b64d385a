// A small DER (ASN.1 Distinguished Encoding Rules) writer and reader: just what the CMS signature, the development
// PKI and the doctor need. Written by hand because the signature is on the hot path (see signature.ts).

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one tag-length-value with the given contents, concatenated. */
export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = contents.length === 1 ? contents[0]! : Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...contents: Uint8Array[]): Buffer => tlv(Tag.sequence, ...contents);

/** A DER SET OF: elements sorted by their encodings, as X.690 11.6 requires. */
export const setOf = (...elements: Uint8Array[]): Buffer =>
  tlv(Tag.set, ...[...elements].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));

/** [n] EXPLICIT (constructed, context-specific). */
export const explicit = (n: number, ...contents: Uint8Array[]): Buffer => tlv(0xa0 | n, ...contents);

export const nullValue = (): Buffer => Buffer.from([Tag.null, 0]);

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map((p) => BigInt(p));
  const [first, second, ...rest] = parts;
  if (first === undefined || second === undefined) throw new Error(`bad OID ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let n = arc >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(Tag.oid, Buffer.from(bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes or a number. */
export function integer(value: number | bigint | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number' || typeof value === 'bigint') {
    let hex = BigInt(value).toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    bytes = Buffer.from(hex, 'hex');
  } else {
    bytes = Buffer.from(value);
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && (bytes[start + 1]! & 0x80) === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(Tag.integer, bytes);
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(Tag.octetString, bytes);
export const bitString = (bytes: Uint8Array): Buffer => tlv(Tag.bitString, Buffer.from([0]), bytes);
export const utf8String = (text: string): Buffer => tlv(Tag.utf8String, Buffer.from(text, 'utf8'));
export const printableString = (text: string): Buffer => tlv(Tag.printableString, Buffer.from(text, 'ascii'));
export const boolean = (value: boolean): Buffer => tlv(Tag.boolean, Buffer.from([value ? 0xff : 0]));

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** UTCTime for years 1950-2049 and GeneralizedTime after, as RFC 5280 4.1.2.5 asks. Seconds precision. */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest = `${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(
    date.getUTCMinutes(),
  )}${pad2(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.utcTime, Buffer.from(`${pad2(y % 100)}${rest}`, 'ascii'));
  return tlv(Tag.generalizedTime, Buffer.from(`${y}${rest}`, 'ascii'));
}

// ---------------------------------------------------------------------------------------------------------------
// Reader

export interface Node {
  tag: number;
  /** Offset of the tag byte in the buffer. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just after the last content byte. */
  end: number;
  buf: Uint8Array;
}

export class DerError extends Error {}

export function read(buf: Uint8Array, offset = 0, limit = buf.length): Node {
  if (offset + 2 > limit) throw new DerError(`truncated DER at byte ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tags are not supported (byte ${offset})`);
  let length = buf[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new DerError(`unsupported length encoding at byte ${offset}`);
    if (contentStart + count > limit) throw new DerError(`truncated DER length at byte ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`DER value at byte ${offset} runs past its container`);
  return { tag, start: offset, contentStart, end, buf };
}

export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let at = node.contentStart; at < node.end; ) {
    const child = read(node.buf, at, node.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

export const content = (node: Node): Buffer =>
  Buffer.from(node.buf.buffer, node.buf.byteOffset + node.contentStart, node.end - node.contentStart);
export const encoded = (node: Node): Buffer =>
  Buffer.from(node.buf.buffer, node.buf.byteOffset + node.start, node.end - node.start);

export function readOid(node: Node): string {
  if (node.tag !== Tag.oid) throw new DerError(`expected an OID at byte ${node.start}`);
  const bytes = content(node);
  const arcs: bigint[] = [];
  let value = 0n;
  for (const byte of bytes) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  const [first = 0n, ...rest] = arcs;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...rest].join('.');
}

export function readTime(node: Node): Date {
  const text = content(node).toString('ascii');
  const m =
    node.tag === Tag.utcTime
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(text)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(text);
  if (!m) throw new DerError(`unreadable time "${text}"`);
  let year = Number(m[1]);
  if (node.tag === Tag.utcTime) year += year < 50 ? 2000 : 1900;
  return new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)),
  );
}

/** Expects a node with the given tag, else throws a DerError naming what was being read. */
export function expect(node: Node | undefined, tag: number, what: string): Node {
  if (!node || node.tag !== tag) throw new DerError(`${what}: unexpected structure`);
  return node;
}
