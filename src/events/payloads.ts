// Every event's data, built in one place, so that an event type has one shape whoever causes it (an action, Wallet,
// a pass page, a worker). Pass events carry PassSlot's fields first, then ours; appendEvent adds the template name
// and the number of devices that have the pass installed.
import type { EventInput, EventType } from '../store/events.js';
import type { PassRow, PassTypeRow } from '../store/schema.js';

type Pass = Pick<
  PassRow,
  | 'id'
  | 'accountId'
  | 'publicId'
  | 'linkToken'
  | 'serialNumber'
  | 'templateId'
  | 'status'
  | 'ownerEmail'
  | 'ownerUserId'
  | 'ownerExternalId'
>;
type PassType = Pick<PassTypeRow, 'passTypeIdentifier'>;

/** The link that installs a pass: `${publicUrl}/p/<public id>?t=<link token>`. */
export const passLink = (publicUrl: string, pass: Pick<PassRow, 'publicId' | 'linkToken'>): string =>
  `${publicUrl}/p/${pass.publicId}?t=${pass.linkToken}`;

/** Where Stripe posts an integration's events (given to Stripe), or Twilio posts message statuses (sent with each SMS). */
export const hookUrl = (publicUrl: string, type: 'stripe' | 'twilio', integrationId: number): string =>
  `${publicUrl}/hooks/${type}/${integrationId}`;

/** What names a pass in its events: PassSlot's pid and serial number, then the pass type and template. */
const passFields = (pass: Pick<Pass, 'publicId' | 'serialNumber' | 'templateId'>, passType: PassType) => ({
  pid: pass.publicId,
  serialNumber: pass.serialNumber,
  passTypeIdentifier: passType.passTypeIdentifier,
  templateId: pass.templateId,
});

/** The events about a pass itself: created, updated, downloaded, status changed, revoked, notified, deleted. */
export function passEvent(
  type: Extract<EventType, `pass.${string}`>,
  publicUrl: string,
  pass: Pass,
  passType: PassType,
  extra: Record<string, unknown> = {},
): EventInput {
  return {
    accountId: pass.accountId,
    type,
    passId: pass.id,
    data: {
      ...passFields(pass, passType),
      url: passLink(publicUrl, pass),
      status: pass.status,
      email: pass.ownerEmail,
      userId: pass.ownerUserId,
      externalId: pass.ownerExternalId,
      ...extra,
    },
  };
}

/** PassSlot's fields naming a pass in its registration and scan events (passPid, passSerialNumber, ...). */
const slotFields = (pass: Pass, passType: PassType) => ({
  passPid: pass.publicId,
  passSerialNumber: pass.serialNumber,
  passTypeIdentifier: passType.passTypeIdentifier,
  passTemplateId: pass.templateId,
  status: pass.status,
  email: pass.ownerEmail,
  userId: pass.ownerUserId,
  externalId: pass.ownerExternalId,
});

/**
 * A device added the pass to Wallet, or removed it (PassSlot's registration fields); `wallet` says which (apple, or
 * google with no device: Google's callbacks name none).
 */
export function registrationEvent(
  type: 'registration.created' | 'registration.deleted',
  pass: Pass,
  passType: PassType,
  deviceLibraryIdentifier: string | null,
  extra: Record<string, unknown> = {},
): EventInput {
  return {
    accountId: pass.accountId,
    type,
    passId: pass.id,
    data: {
      deviceLibraryIdentifier,
      ...slotFields(pass, passType),
      wallet: 'apple',
      ...extra,
    },
  };
}

/** A pass was scanned (PassSlot's scan.performed fields: scanner, passPid, passSerialNumber, ..., action, time). */
export function scanEvent(
  pass: Pass,
  passType: PassType,
  scan: { scanner: number | null; action: string; time: string } & Record<string, unknown>,
): EventInput {
  const { scanner, ...rest } = scan;
  return {
    accountId: pass.accountId,
    type: 'scan.performed',
    passId: pass.id,
    data: {
      scanner,
      ...slotFields(pass, passType),
      ...rest,
    },
  };
}

/** The holder filled in Wallet's personalization form. */
export function personalizedEvent(pass: Pass, passType: PassType, info: Record<string, string>): EventInput {
  return {
    accountId: pass.accountId,
    type: 'pass.personalized',
    passId: pass.id,
    data: { ...passFields(pass, passType), personalization: info },
  };
}

/** Pushes to some devices of a pass kept failing and were given up. */
export function pushFailedEvent(
  pass: Pick<Pass, 'id' | 'accountId' | 'serialNumber'>,
  passType: PassType,
  devices: string[],
  attempts: number,
): EventInput {
  return {
    accountId: pass.accountId,
    type: 'push.failed',
    passId: pass.id,
    data: {
      serialNumber: pass.serialNumber,
      passTypeIdentifier: passType.passTypeIdentifier,
      devices,
      attempts,
    },
  };
}

/** A pass type certificate has 30 days or less left (or has expired). */
export function certificateExpiringEvent(
  passType: Pick<PassTypeRow, 'accountId' | 'passTypeIdentifier' | 'expiresAt'>,
  now: Date,
): EventInput {
  const msLeft = Date.parse(passType.expiresAt) - now.getTime();
  return {
    accountId: passType.accountId,
    type: 'passtype.certificate_expiring',
    data: {
      passTypeIdentifier: passType.passTypeIdentifier,
      certificateExpirationDate: passType.expiresAt,
      daysLeft: Math.max(0, Math.floor(msLeft / 86_400_000)),
      expired: msLeft <= 0,
    },
  };
}

/** A webhook or integration was disabled (410 Gone, failing for days, or by hand). */
export function targetDisabledEvent(
  accountId: number,
  kind: 'webhook' | 'integration',
  id: number,
  reason: string,
): EventInput {
  return { accountId, type: `${kind}.disabled`, data: { id, reason } };
}

/**
 * A message to the pass holder (email or SMS) was sent, delivered, or failed. It names the pass, the channel and the
 * message, never the address or number it went to (pass events carry the holder's email already, and nothing more).
 */
export function deliveryEvent(
  type: 'delivery.sent' | 'delivery.delivered' | 'delivery.failed',
  pass: Pick<Pass, 'id' | 'accountId' | 'publicId' | 'serialNumber' | 'templateId'>,
  passType: PassType,
  message: { id: number; channel: string; errorCode?: string | null; errorMessage?: string | null },
): EventInput {
  return {
    accountId: pass.accountId,
    type,
    passId: pass.id,
    data: {
      ...passFields(pass, passType),
      channel: message.channel,
      messageId: message.id,
      ...(type === 'delivery.failed'
        ? { errorCode: message.errorCode ?? null, errorMessage: message.errorMessage ?? null }
        : {}),
    },
  };
}
