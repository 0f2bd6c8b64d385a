// Who is calling the API: an app key, as PassSlot's clients send it (HTTP Basic with the key as user and an empty
// password, the raw key in Authorization, or Bearer <key>), or an OAuth access token (Bearer psa_…) bound to the
// resource it was issued for (/mcp, /v1, or the whole service).
import { hash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import { type KeyGrant, verifyKey } from '../store/keys.js';
import { audienceAccepts, isAccessToken, verifyAccessToken } from './oauth.js';

/** The key or token a request presents, or undefined. */
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

// Credentials are cached by a hash of the Authorization header: no lookup compares the secret itself, and a hit parses
// nothing.
const cacheKeyOf = (header: string): string => hash('sha256', header, 'base64');

/** What the authenticator needs of the bus between processes (store/bus.ts). */
interface CredentialBus {
  fresh(): boolean;
  announce(notice: { credentials: true }): Promise<void>;
}

/**
 * Verifies keys and tokens with a short in-process cache. Revoking actions clear it in every process (through the
 * bus) before they answer, so a revocation counts at once everywhere; the cache is used only while the bus is fresh.
 */
export class Authenticator {
  private readonly cache = new Map<string, { grant: KeyGrant; until: number }>();
  /** Counts clears: a verification that began before one is not kept (it may have read what was just revoked). */
  private generation = 0;
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly publicUrl: string,
    private readonly bus: CredentialBus,
  ) {}

  /** The challenge of a 401 on `path`: where to find how to get a token (RFC 9728), and Basic for app keys. */
  challenge(path: string, error?: string): string[] {
    const resource = path === '/mcp' || path.startsWith('/mcp?') ? 'mcp' : 'v1';
    const base = this.publicUrl.replace(/\/+$/, '');
    return [
      `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/${resource}"${error ? `, error="${error}"` : ''}`,
      'Basic realm="passslot"',
    ];
  }

  /** The grant of a credential verified in the last seconds, without waiting; undefined when it must be verified. */
  cached(header: string | undefined, path: string): KeyGrant | undefined {
    const hit = header ? this.lookup(cacheKeyOf(header)) : undefined;
    return hit && this.fits(hit, path) ? hit : undefined;
  }

  private fits(grant: KeyGrant, path: string): boolean {
    return grant.audience === null || audienceAccepts(grant.audience, this.publicUrl, path);
  }

  private lookup(cacheKey: string): KeyGrant | undefined {
    if (!this.bus.fresh()) return undefined;
    const hit = this.cache.get(cacheKey);
    return hit && hit.until > Date.now() ? hit.grant : undefined;
  }

  async authenticate(header: string | undefined, path: string): Promise<KeyGrant> {
    const cacheKey = header ? cacheKeyOf(header) : undefined;
    let grant = cacheKey ? this.lookup(cacheKey) : undefined;
    const presented = presentedKey(header);
    if (!grant) {
      if (!presented || !cacheKey)
        throw new AppError(
          'unauthorized',
          'Authentication required: send your app key as HTTP Basic user (curl -u KEY:), or in Authorization, ' +
            'or an OAuth access token as Bearer',
          [],
          { 'WWW-Authenticate': this.challenge(path) },
        );
      const begun = this.generation;
      grant = isAccessToken(presented)
        ? await verifyAccessToken(this.db, presented, this.clock.now())
        : await verifyKey(this.db, presented);
      if (!grant) {
        this.cache.delete(cacheKey);
        throw new AppError(
          'unauthorized',
          presented && isAccessToken(presented)
            ? 'Invalid access token: it expired or was revoked (refresh it, or authorize again)'
            : 'Invalid app key',
          [],
          { 'WWW-Authenticate': this.challenge(path, 'invalid_token') },
        );
      }
      if (this.cache.size > 10_000) this.cache.clear();
      if (begun === this.generation) this.cache.set(cacheKey, { grant, until: Date.now() + CACHE_MS });
    }
    if (!this.fits(grant, path))
      throw new AppError(
        'unauthorized',
        `This access token is for ${grant.audience}, not for ${path.startsWith('/mcp') ? '/mcp' : '/v1'}: ask for a token with that resource`,
        [],
        { 'WWW-Authenticate': this.challenge(path, 'invalid_token') },
      );
    return grant;
  }

  /** After a change to keys, tokens, grants or their accounts has committed: no process uses what it verified before. */
  async forget(): Promise<void> {
    this.clear();
    await this.bus.announce({ credentials: true });
  }

  /** Drops what this process verified (another process changed credentials, or the bus missed notices). */
  clear(): void {
    this.generation++;
    this.cache.clear();
  }
}
