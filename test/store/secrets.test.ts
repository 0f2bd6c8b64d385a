// Secrets at rest: sealed under the current key with its id, opened by whichever key of the ring sealed them
// (secrets sealed before keys had ids too), refused under a key the ring does not have.
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecrets, keyId, SecretError } from '../../src/store/secrets.js';

/** A secret sealed the way Passslot did before keys had ids (v1). */
function sealV1(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
}

describe('secrets at rest', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  it('seals under the current key, naming it, and opens with any key of the ring', () => {
    const before = createSecrets({ current: oldKey, others: [] });
    const sealedOld = before.encrypt('signing key');
    expect(sealedOld.startsWith(`v2.${keyId(oldKey)}.`)).toBe(true);
    const after = createSecrets({ current: newKey, others: [oldKey] });
    expect(after.decrypt(sealedOld)).toBe('signing key');
    expect(after.isCurrent(sealedOld)).toBe(false);
    const sealedNew = after.encrypt('webhook secret');
    expect(after.isCurrent(sealedNew)).toBe(true);
    expect(after.decrypt(sealedNew)).toBe('webhook secret');
    // the old ring alone cannot open what the new key sealed, and says why
    expect(() => before.decrypt(sealedNew)).toThrow(SecretError);
    expect(() => before.decrypt(sealedNew)).toThrow(/master key differs/);
    // a tampered secret does not open
    const parts = sealedNew.split('.');
    parts[4] = Buffer.from('tampered').toString('base64url');
    expect(() => after.decrypt(parts.join('.'))).toThrow(SecretError);
    expect(() => after.decrypt('plain text')).toThrow(/not a sealed secret/);
  });

  it('opens secrets sealed before keys had ids, with any key of the ring', () => {
    const v1 = sealV1(oldKey, 'p12 password');
    expect(createSecrets({ current: newKey, others: [oldKey] }).decrypt(v1)).toBe('p12 password');
    expect(() => createSecrets({ current: newKey, others: [] }).decrypt(v1)).toThrow(SecretError);
  });

  it('reads the key files again when it meets a key it does not know (another process rotated them)', () => {
    let reloads = 0;
    const running = createSecrets({ current: oldKey, others: [] }, () => {
      reloads++;
      return { current: newKey, others: [oldKey] };
    });
    const sealedNew = createSecrets({ current: newKey, others: [] }).encrypt('credentials');
    expect(running.decrypt(sealedNew)).toBe('credentials');
    expect(reloads).toBe(1);
    // from then on it seals under the new key, and still opens the old
    expect(running.isCurrent(running.encrypt('x'))).toBe(true);
    expect(running.decrypt(createSecrets({ current: oldKey, others: [] }).encrypt('y'))).toBe('y');
    expect(reloads).toBe(1);
  });
});
