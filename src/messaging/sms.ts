// SMS delivery: the message's text sent through the account's Twilio integration (credentials decrypted when sent),
// with Passslot's status callback URL so that Twilio tells us when it was sent, delivered or not.
import type { App } from '../app.js';
import { credentialsOf } from '../events/crm/common.js';
import { hookUrl } from '../events/payloads.js';
import { RetryLaterError } from '../store/jobs.js';
import type { ChannelSender } from './messages.js';
import { sendSms, TWILIO_DEFAULTS } from './twilio.js';

interface TwilioSettings {
  baseUrl?: string;
  from?: string;
  messagingServiceSid?: string;
}

export function createSmsSender(app: App): ChannelSender {
  return {
    async send({ message }) {
      const integration = message.integrationId
        ? await app.db
            .selectFrom('integrations')
            .selectAll()
            .where('id', '=', message.integrationId)
            .where('type', '=', 'twilio')
            .executeTakeFirst()
        : undefined;
      if (!integration)
        return {
          kind: 'refused',
          code: 'integration_deleted',
          message: 'the Twilio integration was deleted before the SMS was sent',
        };
      if (!integration.enabled)
        return {
          kind: 'refused',
          code: 'integration_disabled',
          message: 'the Twilio integration is disabled',
        };
      const creds = credentialsOf(app, integration);
      const settings = JSON.parse(integration.settings) as TwilioSettings;
      const outcome = await sendSms(
        app.outbound,
        {
          baseUrl: settings.baseUrl ?? TWILIO_DEFAULTS.baseUrl,
          accountSid: creds.accountSid ?? '',
          authToken: creds.authToken ?? '',
        },
        {
          to: message.recipient,
          sender: settings.messagingServiceSid
            ? { messagingServiceSid: settings.messagingServiceSid }
            : { from: settings.from ?? '' },
          body: message.body ?? '',
          statusCallback: hookUrl(app.config.publicUrl, 'twilio', integration.id),
        },
      );
      if (outcome.kind === 'accepted') return { kind: 'accepted', providerId: outcome.sid };
      if (outcome.kind === 'refused') return outcome;
      throw new RetryLaterError(outcome.error, outcome.retryAfterMs);
    },
  };
}
