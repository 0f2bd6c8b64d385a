// Secrets at rest (private keys, p12 passwords, webhook secrets, CRM credentials) are encrypted with AES-256-GCM under
// the master key: PASSSLOT_MASTER_KEY, or a random key kept in the data directory with mode 0600. A sealed secret
// names its key (`v2.<key id>.…`, the id a hash of the key), so a key can be rotated without downtime: older keys stay
// readable from PASSSLOT_EXTRA_MASTER_KEYS or master.key.previous until `passslot rotate-master-key` has re-encrypted
// everything, and a process meeting a key it does not know reads the key files again (another process rotated them).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.js';

export interface Secrets {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
  /** Is this sealed under the current key? (rotate-master-key re-encrypts what is not) */
  isCurrent(sealed: string): boolean;
}

export class SecretError extends Error {}

/** The current key seals; the others only open what they sealed. */
export interface Keyring {
  current: Buffer;
  others: Buffer[];
}

const KEY_FILE = 'master.key';
const PREVIOUS_FILE = 'master.key.previous';

/** A key's id in sealed secrets: 8 characters of its SHA-256 (it tells keys apart, it reveals nothing usable). */
export const keyId = (key: Buffer): string =>
  createHash('sha256').update(key).digest('base64url').slice(0, 8);

const parseKeyLine = (line: string, file: string): Buffer => {
  const key = Buffer.from(line.trim(), 'base64');
  if (key.length !== 32) throw new SecretError(`${file} does not hold 32-byte base64 keys`);
  return key;
};

/** The keys of the data directory's files (master.key, and master.key.previous if any). */
export function readKeyFiles(dataDir: string): Keyring | undefined {
  const file = join(dataDir, KEY_FILE);
  if (!existsSync(file)) return undefined;
  const current = parseKeyLine(readFileSync(file, 'utf8'), file);
  const previousFile = join(dataDir, PREVIOUS_FILE);
  const others = existsSync(previousFile)
    ? readFileSync(previousFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => parseKeyLine(l, previousFile))
    : [];
  return { current, others };
}

/**
 * The keyring: the configured key (with the configured extra keys), else the data directory's key files, created on
 * first start.
 */
export function loadKeyring(
  configured: { key?: Buffer; extra: Buffer[] },
  dataDir: string,
): { keyring: Keyring; fromFiles: boolean } {
  if (configured.key)
    return {
      keyring: { current: configured.key, others: configured.extra },
      fromFiles: false,
    };
  const existing = readKeyFiles(dataDir);
  if (existing)
    return {
      keyring: { ...existing, others: [...existing.others, ...configured.extra] },
      fromFiles: true,
    };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(join(dataDir, KEY_FILE), `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { keyring: { current: key, others: configured.extra }, fromFiles: true };
}

/**
 * Makes a new master key in the data directory: the current one moves to master.key.previous (still read), the new
 * one becomes master.key. Returns the new keyring. Each file is written whole and renamed into place.
 */
export function rotateKeyFiles(dataDir: string): Keyring {
  const old = readKeyFiles(dataDir);
  if (!old) throw new SecretError(`there is no ${KEY_FILE} in ${dataDir}`);
  const next = randomBytes(32);
  const write = (name: string, text: string) => {
    const tmp = join(dataDir, `${name}.tmp`);
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, join(dataDir, name));
  };
  // the old key first joins the readable ones, then the new key takes its place: a reader in between has both
  write(PREVIOUS_FILE, [old.current, ...old.others].map((k) => `${k.toString('base64')}\n`).join(''));
  write(KEY_FILE, `${next.toString('base64')}\n`);
  return { current: next, others: [old.current, ...old.others] };
}

/** Forgets the previous keys of the data directory (after rotate-master-key re-encrypted everything). */
export function forgetPreviousKeyFiles(dataDir: string): void {
  const file = join(dataDir, PREVIOUS_FILE);
  if (existsSync(file)) writeFileSync(file, '', { mode: 0o600 });
}

export function createSecrets(initial: Keyring, reload?: () => Keyring | undefined): Secrets {
  let ring = initial;
  let byId = new Map<string, Buffer>();
  const index = () => {
    byId = new Map([...ring.others, ring.current].map((k) => [keyId(k), k]));
  };
  index();
  let currentId = keyId(ring.current);
  const keyFor = (id: string): Buffer | undefined => {
    let key = byId.get(id);
    if (!key && reload) {
      const fresh = reload();
      if (fresh) {
        // the new current key seals from now on; every key stays readable
        ring = {
          current: fresh.current,
          others: [...new Set([...fresh.others, ...ring.others, ring.current])],
        };
        currentId = keyId(ring.current);
        index();
        key = byId.get(id);
      }
    }
    return key;
  };
  const open = (key: Buffer, iv: string, tag: string, body: string): string => {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  };
  const wrongKey = () =>
    new SecretError('cannot decrypt a secret: the master key differs from the one it was sealed with');
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', ring.current, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `v2.${currentId}.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
    },
    decrypt(sealed) {
      const parts = sealed.split('.');
      if (parts[0] === 'v2' && parts.length === 5) {
        const key = keyFor(parts[1]!);
        if (!key) throw wrongKey();
        try {
          return open(key, parts[2]!, parts[3]!, parts[4]!);
        } catch {
          throw wrongKey();
        }
      }
      // v1 (before keys had ids): whichever key opens it
      if (parts[0] === 'v1' && parts.length === 4) {
        for (const key of [ring.current, ...ring.others])
          try {
            return open(key, parts[1]!, parts[2]!, parts[3]!);
          } catch {
            // the next key
          }
        throw wrongKey();
      }
      throw new SecretError('not a sealed secret');
    },
    isCurrent(sealed) {
      return sealed.startsWith(`v2.${currentId}.`);
    },
  };
}

/** Every column holding sealed secrets, by table. */
const SEALED_COLUMNS = [
  ['accounts', 'apnsKeyEnc'],
  ['accounts', 'googleKeyEnc'],
  ['accounts', 'barcodeKeyEnc'],
  ['passTypes', 'privateKeyEnc'],
  ['webhooks', 'secretEnc'],
  ['webhooks', 'previousSecretEnc'],
  ['integrations', 'credentialsEnc'],
] as const;

/**
 * Seals again under the current key every secret sealed under another (rotate-master-key), a page at a time; each
 * row is written only if its secret did not change meanwhile (a change seals under the current key anyway). Returns
 * how many were sealed again and how many are left under other keys (0 once done).
 */
export async function resealSecrets(db: Db, secrets: Secrets): Promise<{ resealed: number; left: number }> {
  let resealed = 0;
  let left = 0;
  for (const [table, column] of SEALED_COLUMNS) {
    // one table at a time, typed as the first of its kind (each has an integer id and the text column)
    const t = table as 'webhooks';
    const c = column as 'secretEnc';
    let after = 0;
    for (;;) {
      const rows = await db
        .selectFrom(t)
        .select(['id', `${c} as sealed`])
        .where('id', '>', after)
        .where(c, 'is not', null)
        .orderBy('id')
        .limit(500)
        .execute();
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      for (const row of rows) {
        if (secrets.isCurrent(row.sealed)) continue;
        const result = await db
          .updateTable(t)
          .set({ [c]: secrets.encrypt(secrets.decrypt(row.sealed)) })
          .where('id', '=', row.id)
          .where(c, '=', row.sealed)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 1) resealed++;
        else left++;
      }
    }
  }
  return { resealed, left };
}
