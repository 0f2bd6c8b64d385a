// Pushes that could not be delivered: the push worker gives up on devices after their retries and says so.
import { Type } from '@sinclair/typebox';
import { pushFailedEvent } from '../events/payloads.js';
import { appendEvent, withEvents } from '../store/events.js';
import { findAnyPass } from './access.js';
import { defineAction } from './registry.js';
import { Empty, PassRef } from './schemas.js';

export const recordPushFailure = defineAction({
  name: 'record_push_failure',
  title: 'Report pushes given up on',
  description:
    'Writes push.failed for the devices of a pass whose pushes kept failing after every retry. Run by the push worker.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    devices: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 10_000 }),
    attempts: Type.Integer({ minimum: 1 }),
  }),
  output: Empty,
  async handler(ctx, input) {
    const { pass, passType } = await findAnyPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await withEvents(ctx.app, (trx) =>
      appendEvent(trx, pushFailedEvent(pass, passType, input.devices, input.attempts), ctx.app.clock.now()),
    );
    return {};
  },
});

export const pushActions = [recordPushFailure];
