// The sender of integration deliveries: loads the integration and hands the event to its CRM's connector.
import type { App } from '../../app.js';
import type { IntegrationRow } from '../../store/schema.js';
import type { Sender } from '../dispatcher.js';
import { type Outbound, OutboundError } from '../outbound.js';
import { sendToHubSpot } from './hubspot.js';
import { sendToSalesforce } from './salesforce.js';

export const INTEGRATION_TYPES = ['hubspot', 'salesforce'] as const;
export type IntegrationType = (typeof INTEGRATION_TYPES)[number];

export function integrationSender(app: App, outbound: Outbound): Sender<IntegrationRow> {
  return {
    load: (id) => app.db.selectFrom('integrations').selectAll().where('id', '=', id).executeTakeFirst(),
    async send(_delivery, event, row, now) {
      try {
        return row.type === 'hubspot'
          ? await sendToHubSpot(app, outbound, row, event, now)
          : await sendToSalesforce(app, outbound, row, event, now);
      } catch (err) {
        if (err instanceof OutboundError)
          return { kind: 'retry', status: null, latencyMs: 0, error: err.message, excerpt: null };
        throw err;
      }
    },
  };
}
