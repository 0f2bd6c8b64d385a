// App key authentication, as PassSlot's clients send it: HTTP Basic with the key as user and an empty password, the
// raw key in Authorization, or Bearer <key>.
import { hash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import { type KeyGrant, verifyKey } from '../store/keys.js';

/** The key a request presents, or undefined. */
export function presentedKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, ...rest] = header.trim().split(/\s+/);
  const value = rest.join(' ');
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(0, colon) : decoded;
  }
  if (scheme?.toLowerCase() === 'bearer' && value) return value;
  return rest.length === 0 ? scheme : undefined;
}

const CACHE_MS = 2000;

// Keys are cached by a hash of the Authorization header: no lookup compares the secret itself, and a hit parses nothing.
const cacheKeyOf = (header: string): string => hash('sha256', header, 'base64');

/** Verifies keys with a short in-process cache (the key actions clear it, so a revocation here counts at once). */
export class Authenticator {
  private readonly cache = new Map<string, { grant: KeyGrant; until: number }>();
  constructor(private readonly db: Db) {}

  /** The grant of a key verified in the last seconds, without waiting; undefined when it must be verified. */
  cached(header: string | undefined): KeyGrant | undefined {
    return header ? this.lookup(cacheKeyOf(header)) : undefined;
  }

  private lookup(cacheKey: string): KeyGrant | undefined {
    const hit = this.cache.get(cacheKey);
    return hit && hit.until > Date.now() ? hit.grant : undefined;
  }

  async authenticate(header: string | undefined): Promise<KeyGrant> {
    const cacheKey = header ? cacheKeyOf(header) : undefined;
    const hit = cacheKey ? this.lookup(cacheKey) : undefined;
    if (hit) return hit;
    const now = Date.now();
    const key = presentedKey(header);
    if (!key || !cacheKey)
      throw new AppError(
        'unauthorized',
        'Authentication required: send your app key as HTTP Basic user (curl -u KEY:), or in Authorization',
        [],
        {
          'WWW-Authenticate': 'Basic realm="passslot"',
        },
      );
    const grant = await verifyKey(this.db, key);
    if (!grant) {
      this.cache.delete(cacheKey);
      throw new AppError('unauthorized', 'Invalid app key', [], {
        'WWW-Authenticate': 'Basic realm="passslot"',
      });
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { grant, until: now + CACHE_MS });
    return grant;
  }

  forget(): void {
    this.cache.clear();
  }
}
