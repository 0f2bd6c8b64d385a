// Zip archives. Writing is a STORE-only writer (pass images are already compressed and pass.json is small), by hand
// because it is on the hot path: entries that repeat across passes (template images) arrive with their CRC-32
// computed once, and the whole archive is written into one buffer. Reading any zip (deflated or not) uses fflate.
import { crc32 } from 'node:zlib';
import { unzipSync } from 'fflate';

export interface ZipInput {
  /** UTF-8 bytes of the entry's path. */
  nameBytes: Buffer;
  data: Uint8Array;
  /** CRC-32 of data; computed when absent. */
  crc?: number;
}

function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/** Writes a zip with every entry stored (method 0), all at the archive root as named. */
export function writeStoredZip(entries: readonly ZipInput[], modified: Date): Buffer {
  const { time, date } = dosDateTime(modified);
  let size = 22;
  for (const e of entries) size += 30 + 46 + 2 * e.nameBytes.length + e.data.length;
  const out = Buffer.allocUnsafe(size);
  const offsets: number[] = [];
  const crcs: number[] = [];
  let at = 0;
  for (const e of entries) {
    const crc = e.crc ?? crc32(e.data);
    crcs.push(crc);
    offsets.push(at);
    out.writeUInt32LE(0x04034b50, at);
    out.writeUInt16LE(20, at + 4); // version needed
    out.writeUInt16LE(0x0800, at + 6); // flags: UTF-8 names
    out.writeUInt16LE(0, at + 8); // stored
    out.writeUInt16LE(time, at + 10);
    out.writeUInt16LE(date, at + 12);
    out.writeUInt32LE(crc, at + 14);
    out.writeUInt32LE(e.data.length, at + 18);
    out.writeUInt32LE(e.data.length, at + 22);
    out.writeUInt16LE(e.nameBytes.length, at + 26);
    out.writeUInt16LE(0, at + 28);
    at += 30;
    at += e.nameBytes.copy(out, at);
    out.set(e.data, at);
    at += e.data.length;
  }
  const central = at;
  entries.forEach((e, i) => {
    out.writeUInt32LE(0x02014b50, at);
    out.writeUInt16LE(20, at + 4); // version made by
    out.writeUInt16LE(20, at + 6);
    out.writeUInt16LE(0x0800, at + 8);
    out.writeUInt16LE(0, at + 10);
    out.writeUInt16LE(time, at + 12);
    out.writeUInt16LE(date, at + 14);
    out.writeUInt32LE(crcs[i]!, at + 16);
    out.writeUInt32LE(e.data.length, at + 20);
    out.writeUInt32LE(e.data.length, at + 24);
    out.writeUInt16LE(e.nameBytes.length, at + 28);
    out.writeUInt32LE(0, at + 30); // extra length, comment length
    out.writeUInt32LE(0, at + 34); // disk number, internal attributes
    out.writeUInt32LE(0, at + 38); // external attributes
    out.writeUInt32LE(offsets[i]!, at + 42);
    at += 46;
    at += e.nameBytes.copy(out, at);
  });
  out.writeUInt32LE(0x06054b50, at);
  out.writeUInt32LE(0, at + 4);
  out.writeUInt16LE(entries.length, at + 8);
  out.writeUInt16LE(entries.length, at + 10);
  out.writeUInt32LE(at - central, at + 12);
  out.writeUInt32LE(central, at + 16);
  out.writeUInt16LE(0, at + 20);
  return out;
}

export class ZipError extends Error {}

/** Reads every entry of a zip archive (directories appear with a trailing slash and no data). */
export function readZip(bytes: Uint8Array): Map<string, Uint8Array> {
  try {
    return new Map(Object.entries(unzipSync(bytes)));
  } catch (err) {
    throw new ZipError(`not a readable zip archive: ${(err as Error).message}`);
  }
}
