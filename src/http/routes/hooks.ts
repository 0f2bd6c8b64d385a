// Inbound hooks: services outside calling Passslot, each proving who it is with a signature over what it sent.
// Stripe's events (POST /hooks/stripe/:id, JSON) and Twilio's SMS status callbacks (POST /hooks/twilio/:id,
// form-encoded). Both signatures cover the bytes as sent, so these routes keep the raw body (a parser of their own,
// in their own encapsulated context) and hand it to the action, which verifies, records and answers.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { receiveGoogleCallback } from '../../actions/google.js';
import { receiveTwilioStatus } from '../../actions/messages.js';
import { runAction, systemContext } from '../../actions/registry.js';
import { receiveStripeEvent } from '../../actions/stripe.js';
import type { App } from '../../app.js';

/** The largest hook body taken: Stripe's events are a few kilobytes, Twilio's callbacks less. */
const MAX_HOOK_BODY = 1024 * 1024;

const integrationId = (req: FastifyRequest): number => {
  const id = (req.params as { id?: string }).id ?? '';
  return /^\d{1,9}$/.test(id) ? Number(id) : 0;
};
const rawBody = (req: FastifyRequest): string => (typeof req.body === 'string' ? req.body : '');
const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export async function hookRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  await fastify.register(async (hooks) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_HOOK_BODY }, (_req, body, done) =>
      done(null, body),
    );

    hooks.post('/hooks/stripe/:id', { schema: { hide: true } }, async (req, reply) => {
      await runAction(receiveStripeEvent, systemContext(app, 0, req.id, 'trigger'), {
        integrationId: integrationId(req),
        payload: rawBody(req),
        signature: header(req, 'stripe-signature'),
      });
      return reply.status(200).send({ received: true });
    });

    // Google Wallet's save and delete callbacks (the URL set on every class as callbackOptions.url)
    hooks.post('/google/callback', { schema: { hide: true } }, async (req, reply) => {
      await runAction(receiveGoogleCallback, systemContext(app, 0, req.id, 'trigger'), {
        payload: rawBody(req),
      });
      return reply.status(200).send({ received: true });
    });

    hooks.post('/hooks/twilio/:id', { schema: { hide: true } }, async (req, reply) => {
      await runAction(receiveTwilioStatus, systemContext(app, 0, req.id, 'trigger'), {
        integrationId: integrationId(req),
        // the URL Twilio was given (PASSSLOT_PUBLIC_URL), not the Host this request came through: that is what it signed
        url: `${app.config.publicUrl}${req.url}`,
        params: Object.fromEntries(new URLSearchParams(rawBody(req))),
        signature: header(req, 'x-twilio-signature'),
      });
      return reply.status(204).send();
    });
  });
}
