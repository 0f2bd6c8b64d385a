// Apple's pass web service: what Wallet reads from the webServiceURL of every pass (the passes a device should update,
// the latest version of a pass), and the check of the ApplePass token, in constant time. What Wallet changes
// (registrations, personalization, logs) is done by the actions in src/actions/wallet.ts.
import { safeEqual } from '../auth/tokens.js';
import { currentPkpass, type RenderDeps } from '../render/current.js';
import { type HotPass, type HotPassCache, passRef } from '../store/cache.js';
import { hotQueries } from '../store/prepared.js';
import type { PassRow, PassTypeRow } from '../store/schema.js';

/** What the web service needs of the App: the database, the cache of hot passes, and rendering. */
export type WebServiceDeps = RenderDeps & { hotPasses: HotPassCache };

export interface AuthorizedPass {
  pass: PassRow;
  passType: PassTypeRow;
}

/** The token of an `Authorization: ApplePass <token>` header. */
export function applePassToken(header: string | undefined): string | undefined {
  const m = header ? /^ApplePass\s+(\S+)\s*$/.exec(header) : null;
  return m?.[1];
}

/** A pass (deleted ones too: they are served voided) by its identifiers, with its pass type. */
export async function passByIdentifiers(
  app: WebServiceDeps,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<AuthorizedPass | undefined> {
  const [row] = await hotQueries(app.db).anyPassByRef(passTypeIdentifier, serialNumber);
  if (!row) return undefined;
  const { passTypeUpdatedAt, ...pass } = row;
  return { pass, passType: await app.rows.passType(app.db, pass.passTypeId, passTypeUpdatedAt) };
}

/** The pass when the ApplePass token matches its authenticationToken, else undefined (the caller answers 401). */
export async function authorizePass(
  app: WebServiceDeps,
  passTypeIdentifier: string,
  serialNumber: string,
  authorization: string | undefined,
): Promise<AuthorizedPass | undefined> {
  const found = await passByIdentifiers(app, passTypeIdentifier, serialNumber);
  return tokenMatches(authorization, found?.pass.authToken) && found ? found : undefined;
}

/** Compares in constant time, and even when the pass is unknown, so timing does not tell which serials exist. */
function tokenMatches(authorization: string | undefined, expected: string | undefined): boolean {
  const token = applePassToken(authorization);
  return safeEqual(token ?? '', expected ?? 'x'.repeat(43)) && token !== undefined && expected !== undefined;
}

/**
 * Whether Wallet's copy is current: HTTP dates have whole seconds, so the pass is not modified when its version is not
 * newer than If-Modified-Since at one-second granularity.
 */
export function notModifiedSince(
  lastModified: Date,
  ifModifiedSince: string | undefined,
  lastModifiedHttp?: string,
): boolean {
  // Wallet sends back the Last-Modified it was given: the common case needs no date parsing
  if (lastModifiedHttp !== undefined && ifModifiedSince === lastModifiedHttp) return true;
  const since = ifModifiedSince ? Date.parse(ifModifiedSince) : Number.NaN;
  return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
}

/**
 * What Wallet's "latest pass" request needs first: the pass's Last-Modified when the token matches, from the cache of
 * hot passes (one narrow query on a miss), so that the frequent 304 answer costs little. undefined: not authorized.
 */
export async function authorizeLatest(
  app: WebServiceDeps,
  passTypeIdentifier: string,
  serialNumber: string,
  authorization: string | undefined,
): Promise<LatestAuth | undefined> {
  const pass = await app.hotPasses.read(app.db, passTypeIdentifier, serialNumber);
  return pass && tokenMatches(authorization, pass.authToken) ? pass : undefined;
}

/** What answers Wallet's latest-pass request: Last-Modified (also as the HTTP date) and, once served, the file. */
export type LatestAuth = Pick<HotPass, 'lastModified' | 'lastModifiedHttp' | 'pkpass'>;

/**
 * The same from the cache alone, without waiting: undefined when the pass is not cached, false when the token does
 * not match.
 */
export function cachedLatestAuth(
  app: WebServiceDeps,
  passTypeIdentifier: string,
  serialNumber: string,
  authorization: string | undefined,
): LatestAuth | false | undefined {
  const cached = app.hotPasses.get(passRef(passTypeIdentifier, serialNumber));
  if (!cached) return undefined;
  return tokenMatches(authorization, cached.authToken) ? cached : false;
}

/**
 * The serial numbers of the device's passes of a pass type changed after `since` (all of them without a tag), with
 * the latest tag among them. Only passes the device registered are ever listed.
 */
export async function updatedSerials(
  app: WebServiceDeps,
  deviceLibraryIdentifier: string,
  passTypeIdentifier: string,
  since: string | undefined,
): Promise<{ serialNumbers: string[]; lastUpdated: string } | undefined> {
  // update tags start at 0: "after -1" is every pass of the device
  const tag = since !== undefined && /^\d+$/.test(since) ? Number(since) : -1;
  const rows = await hotQueries(app.db).serialsSince(deviceLibraryIdentifier, passTypeIdentifier, tag);
  if (rows.length === 0) return undefined;
  return {
    serialNumbers: rows.map((r) => r.serialNumber),
    lastUpdated: String(Math.max(...rows.map((r) => r.updateTag))),
  };
}

/**
 * The pass for Wallet's "latest pass" request, read after its token was checked: the pass row and its .pkpass, which
 * is kept with the cached token and Last-Modified for the pass's other devices.
 */
export async function latestPassFor(
  app: WebServiceDeps,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<{ pass: PassRow; pkpass: Uint8Array } | undefined> {
  const begun = app.hotPasses.begin();
  const found = await passByIdentifiers(app, passTypeIdentifier, serialNumber);
  if (!found) return undefined;
  // voided when revoked or deleted; from the render cache
  const pkpass = await currentPkpass(app, found.pass, found.passType);
  app.hotPasses.attach(
    passRef(passTypeIdentifier, serialNumber),
    found.pass.id,
    found.pass.modifiedAt,
    pkpass,
    begun,
  );
  return { pass: found.pass, pkpass };
}
