// Random tokens for URLs and credentials, and their constant-time comparison.
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** A random token of `bytes` bytes, base64url (16 bytes and more: at least 128 bits). */
export const randomToken = (bytes: number): string => randomBytes(bytes).toString('base64url');

/** Compares two secrets in time that does not depend on where they differ (only on their lengths). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
