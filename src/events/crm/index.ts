// The sender of integration deliveries: loads the integration and hands the event to its CRM's connector.
import type { App } from '../../app.js';
import type { IntegrationRow } from '../../store/schema.js';
import type { Sender } from '../dispatcher.js';
import { type Outbound, OutboundError } from '../outbound.js';
import { sendToHubSpot } from './hubspot.js';
import { sendToSalesforce } from './salesforce.js';

/** The integrations events are delivered to (Twilio and Stripe integrations take none). */
export const CRM_TYPES = ['hubspot', 'salesforce'] as const;
export type CrmType = (typeof CRM_TYPES)[number];

export function integrationSender(app: App, outbound: Outbound): Sender<IntegrationRow> {
  return {
    load: (id) => app.db.selectFrom('integrations').selectAll().where('id', '=', id).executeTakeFirst(),
    async send(_delivery, event, row, now) {
      try {
        if (row.type === 'hubspot') return await sendToHubSpot(app, outbound, row, event, now);
        if (row.type === 'salesforce') return await sendToSalesforce(app, outbound, row, event, now);
        return { kind: 'skipped', reason: `a ${row.type} integration takes no events` };
      } catch (err) {
        if (err instanceof OutboundError)
          return { kind: 'retry', status: null, latencyMs: 0, error: err.message, excerpt: null };
        throw err;
      }
    },
  };
}
