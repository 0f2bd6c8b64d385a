// The notification field: a message shown on the lock screen when a pass updates, through a back field whose
// changeMessage is "%@".
import type { JsonObject } from '../engine/index.js';

/** The key of the back field that carries notification messages when the template has none. */
export const NOTIFICATION_FIELD_KEY = 'passslot_notification';

function pickStyle(passJson: JsonObject): JsonObject {
  for (const style of ['boardingPass', 'coupon', 'eventTicket', 'generic', 'storeCard', 'posterGeneric'])
    if (passJson[style] !== undefined) return { [style]: passJson[style]! };
  return {};
}

/**
 * Puts a message in the pass's notification field: the back field whose changeMessage is exactly "%@", or a back
 * field Passslot adds. Wallet shows "%@" with the new value on the lock screen when the pass updates.
 */
export function withNotification(passJson: JsonObject, message: string): JsonObject {
  const style = Object.keys(pickStyle(passJson))[0];
  if (!style) return passJson;
  const fields = { ...(passJson[style] as JsonObject) };
  const back = Array.isArray(fields.backFields) ? [...(fields.backFields as JsonObject[])] : [];
  const index = back.findIndex((f) => f.changeMessage === '%@');
  if (index >= 0) back[index] = { ...back[index]!, value: message };
  else back.push({ key: NOTIFICATION_FIELD_KEY, label: 'Message', value: message, changeMessage: '%@' });
  fields.backFields = back;
  return { ...passJson, [style]: fields };
}
