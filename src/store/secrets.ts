// Secrets at rest (private keys, p12 passwords, webhook secrets, CRM credentials) are encrypted with AES-256-GCM under
// the master key: PASSSLOT_MASTER_KEY, or a random key kept in the data directory with mode 0600.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Secrets {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

export class SecretError extends Error {}

/** The master key from the config, else the key file in the data directory, created on first start. */
export function loadMasterKey(
  configured: Buffer | undefined,
  dataDir: string,
): { key: Buffer; created: boolean } {
  if (configured) return { key: configured, created: false };
  const file = join(dataDir, 'master.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new SecretError(`${file} does not hold a 32-byte base64 key`);
    return { key, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, created: true };
}

export function createSecrets(key: Buffer): Secrets {
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
    },
    decrypt(sealed) {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new SecretError('not a sealed secret');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        throw new SecretError(
          'cannot decrypt a secret: the master key differs from the one it was sealed with',
        );
      }
    },
  };
}
