// Apple's pass web service (../shared/reference/apple-wallet.md part C): what Wallet asks of the webServiceURL of
// every pass. Registration changes and their events are written in one transaction; tokens compare in constant time.
import { timingSafeEqual } from 'node:crypto';
import { currentPkpass } from '../actions/pass-ops.js';
import { systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { type HotPass, passRef } from '../store/cache.js';
import type { Db } from '../store/db.js';
import { appendEvent, withEvents } from '../store/events.js';
import { hotQueries } from '../store/prepared.js';
import type { PassRow, PassTypeRow } from '../store/schema.js';

export interface AuthorizedPass {
  pass: PassRow;
  passType: PassTypeRow;
}

const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The token of an `Authorization: ApplePass <token>` header. */
export function applePassToken(header: string | undefined): string | undefined {
  const m = header ? /^ApplePass\s+(\S+)\s*$/.exec(header) : null;
  return m?.[1];
}

/** A pass (deleted ones too: they are served voided) by its identifiers, with its pass type. */
export async function passByIdentifiers(
  app: App,
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
  app: App,
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
  app: App,
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
  app: App,
  passTypeIdentifier: string,
  serialNumber: string,
  authorization: string | undefined,
): LatestAuth | false | undefined {
  const cached = app.hotPasses.get(passRef(passTypeIdentifier, serialNumber));
  if (!cached) return undefined;
  return tokenMatches(authorization, cached.authToken) ? cached : false;
}

function registrationEventData(
  pass: PassRow,
  passType: PassTypeRow,
  deviceLibraryIdentifier: string,
  extra: Record<string, unknown>,
) {
  return {
    deviceLibraryIdentifier,
    passPid: pass.publicId,
    passSerialNumber: pass.serialNumber,
    passTypeIdentifier: passType.passTypeIdentifier,
    passTemplateId: pass.templateId,
    status: pass.status,
    email: pass.ownerEmail,
    userId: pass.ownerUserId,
    externalId: pass.ownerExternalId,
    ...extra,
  };
}

async function devicesInstalled(db: Db, passId: number): Promise<number> {
  const { n } = await db
    .selectFrom('registrations')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('passId', '=', passId)
    .executeTakeFirstOrThrow();
  return Number(n);
}

/** Registers a device for a pass: 201 when new, 200 when it was registered (its push token is updated). */
export async function registerDevice(
  app: App,
  found: AuthorizedPass,
  deviceLibraryIdentifier: string,
  pushToken: string,
): Promise<201 | 200> {
  const now = app.clock.now().toISOString();
  return withEvents(app, async (trx) => {
    let device = await trx
      .selectFrom('devices')
      .selectAll()
      .where('deviceLibraryIdentifier', '=', deviceLibraryIdentifier)
      .executeTakeFirst();
    if (!device) {
      device = await trx
        .insertInto('devices')
        .values({ deviceLibraryIdentifier, pushToken, createdAt: now, updatedAt: now })
        .returningAll()
        .executeTakeFirstOrThrow();
    } else if (device.pushToken !== pushToken) {
      await trx
        .updateTable('devices')
        .set({ pushToken, updatedAt: now })
        .where('id', '=', device.id)
        .execute();
    }
    const existing = await trx
      .selectFrom('registrations')
      .select('passId')
      .where('deviceId', '=', device.id)
      .where('passId', '=', found.pass.id)
      .executeTakeFirst();
    if (existing) return 200;
    await trx
      .insertInto('registrations')
      .values({ deviceId: device.id, passId: found.pass.id, createdAt: now })
      .execute();
    await appendEvent(
      trx,
      {
        accountId: found.pass.accountId,
        type: 'registration.created',
        passId: found.pass.id,
        data: registrationEventData(found.pass, found.passType, deviceLibraryIdentifier, {
          devicesInstalled: await devicesInstalled(trx, found.pass.id),
        }),
      },
      app.clock.now(),
    );
    return 201;
  });
}

/**
 * Removes a device's registration for a pass (Wallet unregistered it, or APNs said its token is dead) with a
 * registration.deleted event; a device left with no registration is removed. Returns whether one existed.
 */
export async function unregisterDevice(
  app: App,
  found: AuthorizedPass,
  deviceLibraryIdentifier: string,
  reason: string,
): Promise<boolean> {
  return withEvents(app, async (trx) => {
    const device = await trx
      .selectFrom('devices')
      .select('id')
      .where('deviceLibraryIdentifier', '=', deviceLibraryIdentifier)
      .executeTakeFirst();
    if (!device) return false;
    const deleted = await trx
      .deleteFrom('registrations')
      .where('deviceId', '=', device.id)
      .where('passId', '=', found.pass.id)
      .executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) return false;
    const left = await trx
      .selectFrom('registrations')
      .select('passId')
      .where('deviceId', '=', device.id)
      .limit(1)
      .executeTakeFirst();
    if (!left) await trx.deleteFrom('devices').where('id', '=', device.id).execute();
    await appendEvent(
      trx,
      {
        accountId: found.pass.accountId,
        type: 'registration.deleted',
        passId: found.pass.id,
        data: registrationEventData(found.pass, found.passType, deviceLibraryIdentifier, {
          reason,
          devicesInstalled: await devicesInstalled(trx, found.pass.id),
        }),
      },
      app.clock.now(),
    );
    return true;
  });
}

/**
 * The serial numbers of the device's passes of a pass type changed after `since` (all of them without a tag), with
 * the latest tag among them. Only passes the device registered are ever listed.
 */
export async function updatedSerials(
  app: App,
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

/** The current .pkpass of a pass (voided when revoked or deleted), from the render cache. */
export async function latestPass(app: App, found: AuthorizedPass): Promise<Uint8Array> {
  const ctx = systemContext(app, found.pass.accountId, 'wallet', 'wallet');
  return currentPkpass(ctx, found.pass, found.passType);
}

/**
 * The pass for Wallet's "latest pass" request, read after its token was checked: the pass row and its .pkpass, which
 * is kept with the cached token and Last-Modified for the pass's other devices.
 */
export async function latestPassFor(
  app: App,
  passTypeIdentifier: string,
  serialNumber: string,
): Promise<{ pass: PassRow; pkpass: Uint8Array } | undefined> {
  const begun = app.hotPasses.begin();
  const found = await passByIdentifiers(app, passTypeIdentifier, serialNumber);
  if (!found) return undefined;
  const pkpass = await latestPass(app, found);
  app.hotPasses.attach(
    passRef(passTypeIdentifier, serialNumber),
    found.pass.id,
    found.pass.modifiedAt,
    pkpass,
    begun,
  );
  return { pass: found.pass, pkpass };
}

const PASS_TYPE_ID = /\bpass\.[A-Za-z0-9.-]+[A-Za-z0-9]/g;

/** Stores Wallet's log messages, linked to the pass they name when a message names one of ours. */
export async function storeLogs(app: App, messages: string[]): Promise<void> {
  const now = app.clock.now().toISOString();
  for (const raw of messages.slice(0, 100)) {
    const message = raw.slice(0, 4000);
    let passId: number | null = null;
    const types = [...new Set(message.match(PASS_TYPE_ID) ?? [])].slice(0, 3);
    const words = [...new Set(message.split(/[^A-Za-z0-9._:-]+/).filter((w) => w.length >= 4))].slice(0, 200);
    if (types.length && words.length) {
      const row = await app.db
        .selectFrom('passes')
        .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
        .select('passes.id')
        .where('passTypes.passTypeIdentifier', 'in', types)
        .where('passes.serialNumber', 'in', words)
        .executeTakeFirst();
      passId = row?.id ?? null;
    }
    await app.db.insertInto('walletLogs').values({ passId, message, createdAt: now }).execute();
  }
}

export interface Personalization {
  personalizationToken: string;
  requiredPersonalizationInfo: Record<string, string>;
}

const PERSONAL_FIELDS = [
  'fullName',
  'givenName',
  'familyName',
  'emailAddress',
  'postalCode',
  'ISOCountryCode',
  'phoneNumber',
];

/**
 * Stores what Wallet's personalization sent as the pass's owner and returns the personalization token signed with
 * the pass type certificate (a detached CMS signature, as for manifests).
 */
export async function personalize(app: App, found: AuthorizedPass, input: Personalization): Promise<Buffer> {
  const info: Record<string, string> = {};
  for (const k of PERSONAL_FIELDS) {
    const v = input.requiredPersonalizationInfo[k];
    if (typeof v === 'string' && v.length <= 500) info[k] = v;
  }
  const now = app.clock.now();
  await withEvents(app, async (trx) => {
    await trx
      .updateTable('passes')
      .set({
        personalization: JSON.stringify(info),
        ownerEmail: info.emailAddress ?? found.pass.ownerEmail,
        updatedAt: now.toISOString(),
      })
      .where('id', '=', found.pass.id)
      .execute();
    await appendEvent(
      trx,
      {
        accountId: found.pass.accountId,
        type: 'pass.personalized',
        passId: found.pass.id,
        data: {
          pid: found.pass.publicId,
          serialNumber: found.pass.serialNumber,
          passTypeIdentifier: found.passType.passTypeIdentifier,
          templateId: found.pass.templateId,
          personalization: info,
        },
      },
      now,
    );
  });
  const identity = app.renderer.identity(found.passType, app.secrets);
  return identity.signer.sign(Buffer.from(input.personalizationToken, 'utf8'), now);
}
