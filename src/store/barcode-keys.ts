// Signed barcodes: a template with signedBarcodes gives each pass the code `PS1:<serial number>:<signature>`, the
// signature an HMAC-SHA256 of the serial number under a key of the account's (made at first use, sealed at rest),
// cut to 96 bits: short enough for a QR code, and a forged or edited code is refused by arithmetic, before any
// lookup. The key never changes, so codes stay good across master key rotations (the key is sealed again, not
// replaced) and certificate renewals.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from './db.js';
import { preparedIn } from './prepared.js';
import type { Secrets } from './secrets.js';

const PREFIX = 'PS1:';
const SIGNATURE_CHARS = 16; // 96 bits, base64url

const keyRow = preparedIn(1, (db, accountId: number) =>
  db.selectFrom('accounts').select('barcodeKeyEnc').where('id', '=', accountId),
);
const setKey = preparedIn(2, (db, sealed: string, accountId: number) =>
  db
    .updateTable('accounts')
    .set({ barcodeKeyEnc: sealed })
    .where('id', '=', accountId)
    .where('barcodeKeyEnc', 'is', null),
);

/** The accounts' keys, unsealed once per App (a key never changes); by the App's secrets, one per App. */
const keysOf = new WeakMap<Secrets, Map<number, Buffer>>();

/** The account's barcode key, made (once, whichever process comes first) when it has none. */
export async function barcodeKeyOf(deps: { db: Db; secrets: Secrets }, accountId: number): Promise<Buffer> {
  const keys = keysOf.get(deps.secrets) ?? new Map<number, Buffer>();
  keysOf.set(deps.secrets, keys);
  const known = keys.get(accountId);
  if (known) return known;
  let [row] = await keyRow(deps.db, accountId);
  if (!row?.barcodeKeyEnc) {
    await setKey(deps.db, deps.secrets.encrypt(randomBytes(32).toString('base64')), accountId);
    [row] = await keyRow(deps.db, accountId);
  }
  if (!row?.barcodeKeyEnc) throw new Error(`no account ${accountId}`);
  const key = Buffer.from(deps.secrets.decrypt(row.barcodeKeyEnc), 'base64');
  keys.set(accountId, key);
  return key;
}

const signatureOf = (key: Buffer, serialNumber: string): string =>
  createHmac('sha256', key).update(serialNumber).digest('base64url').slice(0, SIGNATURE_CHARS);

/** The signed code of a pass. */
export const signedCode = (key: Buffer, serialNumber: string): string =>
  `${PREFIX}${serialNumber}:${signatureOf(key, serialNumber)}`;

/** Whether a code has the signed form (then it must verify). */
export const isSignedCode = (code: string): boolean => code.startsWith(PREFIX);

/** Whether a signed code's signature is the key's for its serial number (constant time). */
export function verifySignedCode(key: Buffer, code: string): boolean {
  const at = code.lastIndexOf(':');
  if (!isSignedCode(code) || at <= PREFIX.length) return false;
  const given = Buffer.from(code.slice(at + 1));
  const expected = Buffer.from(signatureOf(key, code.slice(PREFIX.length, at)));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
