// What Apple Wallet tells Passslot about the passes it holds: devices registering and unregistering for a pass's
// updates, personalization, and log messages. These are `system` actions: Wallet's web service runs them once the
// device proved itself with the pass's own token (src/apple/webservice.ts), and the push worker runs
// unregister_device when APNs says a push token is dead.
import { Type } from '@sinclair/typebox';
import { notFound } from '../errors.js';
import { personalizedEvent, registrationEvent } from '../events/payloads.js';
import type { Db } from '../store/db.js';
import { appendEvent, withEvents } from '../store/events.js';
import { findAnyPass } from './access.js';
import { defineAction } from './registry.js';
import { PassRef } from './schemas.js';

const DeviceId = Type.String({
  pattern: '^[A-Za-z0-9._:-]{1,200}$',
  description: "Wallet's device library identifier",
});

async function devicesInstalled(db: Db, passId: number): Promise<number> {
  const { n } = await db
    .selectFrom('registrations')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('passId', '=', passId)
    .executeTakeFirstOrThrow();
  return Number(n);
}

export const registerDevice = defineAction({
  name: 'register_device',
  title: 'Register a device for the updates of a pass',
  description:
    'A device added the pass to Wallet: its push token is kept, and a registration.created event written. Answers ' +
    'whether the registration is new (an existing one only gets its push token updated).',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    deviceLibraryIdentifier: DeviceId,
    pushToken: Type.String({ pattern: '^[A-Za-z0-9]{1,200}$', description: 'the APNs device token (hex)' }),
  }),
  output: Type.Object({ created: Type.Boolean() }),
  async handler(ctx, input) {
    const found = await findAnyPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const now = ctx.app.clock.now().toISOString();
    const { deviceLibraryIdentifier, pushToken } = input;
    const created = await withEvents(ctx.app, async (trx) => {
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
      if (existing) return false;
      await trx
        .insertInto('registrations')
        .values({ deviceId: device.id, passId: found.pass.id, createdAt: now })
        .execute();
      await appendEvent(
        trx,
        registrationEvent('registration.created', found.pass, found.passType, deviceLibraryIdentifier, {
          devicesInstalled: await devicesInstalled(trx, found.pass.id),
        }),
        ctx.app.clock.now(),
      );
      return true;
    });
    return { created };
  },
});

export const unregisterDevice = defineAction({
  name: 'unregister_device',
  title: 'Unregister a device from the updates of a pass',
  description:
    "Removes a device's registration for a pass (Wallet removed the pass, or APNs said the push token is dead) with " +
    'a registration.deleted event; a device left with no registration is forgotten. Answers whether one existed.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    deviceLibraryIdentifier: DeviceId,
    reason: Type.String({ maxLength: 500, description: 'why: unregistered, or the APNs answer' }),
  }),
  output: Type.Object({ removed: Type.Boolean() }),
  async handler(ctx, input) {
    const found = await findAnyPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const removed = await withEvents(ctx.app, async (trx) => {
      const device = await trx
        .selectFrom('devices')
        .select('id')
        .where('deviceLibraryIdentifier', '=', input.deviceLibraryIdentifier)
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
        registrationEvent('registration.deleted', found.pass, found.passType, input.deviceLibraryIdentifier, {
          reason: input.reason,
          devicesInstalled: await devicesInstalled(trx, found.pass.id),
        }),
        ctx.app.clock.now(),
      );
      return true;
    });
    return { removed };
  },
});

const PERSONAL_FIELDS = [
  'fullName',
  'givenName',
  'familyName',
  'emailAddress',
  'postalCode',
  'ISOCountryCode',
  'phoneNumber',
];

export const personalizePass = defineAction({
  name: 'personalize_pass',
  title: "Store what a holder gave Wallet's personalization form",
  description:
    "Keeps the holder's details sent by Wallet's personalization (their email becomes the pass's owner email), " +
    'writes pass.personalized, and answers the personalization token signed with the pass type certificate (base64).',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    personalizationToken: Type.String({ minLength: 1, maxLength: 10_000 }),
    requiredPersonalizationInfo: Type.Record(Type.String(), Type.Unknown()),
  }),
  output: Type.Object({
    signature: Type.String({ description: 'a detached CMS signature of the token, base64' }),
  }),
  async handler(ctx, input) {
    const found = await findAnyPass(ctx, input.passTypeIdentifier, input.serialNumber);
    if (found.pass.deletedAt) throw notFound(`pass ${input.passTypeIdentifier}/${input.serialNumber}`);
    const info: Record<string, string> = {};
    for (const k of PERSONAL_FIELDS) {
      const v = input.requiredPersonalizationInfo[k];
      if (typeof v === 'string' && v.length <= 500) info[k] = v;
    }
    const now = ctx.app.clock.now();
    await withEvents(ctx.app, async (trx) => {
      await trx
        .updateTable('passes')
        .set({
          personalization: JSON.stringify(info),
          ownerEmail: info.emailAddress ?? found.pass.ownerEmail,
          updatedAt: now.toISOString(),
        })
        .where('id', '=', found.pass.id)
        .execute();
      await appendEvent(trx, personalizedEvent(found.pass, found.passType, info), now);
    });
    const identity = ctx.app.renderer.identity(found.passType, ctx.app.secrets);
    const signature = identity.signer.sign(Buffer.from(input.personalizationToken, 'utf8'), now);
    return { signature: Buffer.from(signature).toString('base64') };
  },
});

const PASS_TYPE_ID = /\bpass\.[A-Za-z0-9.-]+[A-Za-z0-9]/g;

export const recordWalletLogs = defineAction({
  name: 'record_wallet_logs',
  title: "Keep Wallet's log messages",
  description:
    'Stores the log messages Wallet sends about problems with passes, linked to the pass a message names when it ' +
    'names one of ours (get_pass_details shows them).',
  scope: 'system',
  mutates: true,
  input: Type.Object({ logs: Type.Array(Type.String(), { maxItems: 100 }) }),
  output: Type.Object({ stored: Type.Integer() }),
  async handler(ctx, input) {
    const now = ctx.app.clock.now().toISOString();
    for (const raw of input.logs) {
      const message = raw.slice(0, 4000);
      let passId: number | null = null;
      const types = [...new Set(message.match(PASS_TYPE_ID) ?? [])].slice(0, 3);
      const words = [...new Set(message.split(/[^A-Za-z0-9._:-]+/).filter((w) => w.length >= 4))].slice(
        0,
        200,
      );
      if (types.length && words.length) {
        const row = await ctx.app.db
          .selectFrom('passes')
          .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
          .select('passes.id')
          .where('passTypes.passTypeIdentifier', 'in', types)
          .where('passes.serialNumber', 'in', words)
          .executeTakeFirst();
        passId = row?.id ?? null;
      }
      await ctx.app.db.insertInto('walletLogs').values({ passId, message, createdAt: now }).execute();
    }
    return { stored: input.logs.length };
  },
});

export const walletActions = [registerDevice, unregisterDevice, personalizePass, recordWalletLogs];
