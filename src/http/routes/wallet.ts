// Apple's pass web service under `${PASSSLOT_PUBLIC_URL}/wallet` (the webServiceURL of every pass), with Apple's
// exact answers: register 201/200/401, unregister 200/401, serials 200/204, latest pass 200/304/401, log 200,
// personalize 200.
import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Action, runAction, systemContext } from '../../actions/registry.js';
import { personalizePass, recordWalletLogs, registerDevice, unregisterDevice } from '../../actions/wallet.js';
import type { App } from '../../app.js';
import {
  authorizeLatest,
  authorizePass,
  latestPassFor,
  notModifiedSince,
  passByIdentifiers,
  updatedSerials,
} from '../../apple/webservice.js';
import { PKPASS_MIME } from '../../engine/index.js';
import { AppError } from '../../errors.js';
import { lastModifiedOf } from '../../store/cache.js';

type RegistrationParams = {
  deviceLibraryIdentifier: string;
  passTypeIdentifier: string;
  serialNumber: string;
};

const unauthorized = (reply: FastifyReply) => reply.status(401).type('text/plain; charset=utf-8').send('');
const bad = (reply: FastifyReply, message: string) =>
  reply.status(400).type('application/json; charset=utf-8').send({ message });

export async function walletRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  /** Runs a Wallet action for the pass's account; bad input is Apple's 400. */
  async function run<I extends TSchema, O extends TSchema>(
    req: FastifyRequest,
    accountId: number,
    action: Action<I, O>,
    input: unknown,
  ): Promise<Static<O>> {
    try {
      return await runAction(action, systemContext(app, accountId, req.id, 'wallet'), input);
    } catch (err) {
      if (err instanceof AppError && err.code === 'validation_failed')
        throw new AppError(
          'bad_request',
          err.errors.map((e) => `${e.field} ${e.reasons.join('; ')}`).join('; '),
        );
      throw err;
    }
  }

  await fastify.register(
    async (wallet) => {
      // Apple's protocol, documented by Apple: not part of the API's OpenAPI document
      wallet.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, hide: true };
      });
      const registration =
        '/v1/devices/:deviceLibraryIdentifier/registrations/:passTypeIdentifier/:serialNumber';

      wallet.post(registration, async (req, reply) => {
        const p = req.params as RegistrationParams;
        const found = await authorizePass(
          app,
          p.passTypeIdentifier,
          p.serialNumber,
          req.headers.authorization,
        );
        if (!found) return unauthorized(reply);
        const pushToken = (req.body as { pushToken?: unknown } | undefined)?.pushToken;
        if (typeof pushToken !== 'string') return bad(reply, 'the body must be {"pushToken": "<hex>"}');
        const { created } = await run(req, found.pass.accountId, registerDevice, { ...p, pushToken });
        return reply
          .status(created ? 201 : 200)
          .type('text/plain; charset=utf-8')
          .send('');
      });

      wallet.delete(registration, async (req, reply) => {
        const p = req.params as RegistrationParams;
        const found = await authorizePass(
          app,
          p.passTypeIdentifier,
          p.serialNumber,
          req.headers.authorization,
        );
        if (!found) return unauthorized(reply);
        await run(req, found.pass.accountId, unregisterDevice, { ...p, reason: 'unregistered' });
        return reply.status(200).type('text/plain; charset=utf-8').send('');
      });

      // No authentication, as Apple specifies: the device library identifier is enough.
      wallet.get(
        '/v1/devices/:deviceLibraryIdentifier/registrations/:passTypeIdentifier',
        async (req, reply) => {
          const p = req.params as Omit<RegistrationParams, 'serialNumber'>;
          const { passesUpdatedSince } = req.query as { passesUpdatedSince?: string };
          const result = await updatedSerials(
            app,
            p.deviceLibraryIdentifier,
            p.passTypeIdentifier,
            passesUpdatedSince,
          );
          if (!result) return reply.status(204).send();
          return reply.status(200).type('application/json').send(result);
        },
      );

      wallet.get('/v1/passes/:passTypeIdentifier/:serialNumber', async (req, reply) => {
        const p = req.params as Omit<RegistrationParams, 'deviceLibraryIdentifier'>;
        const auth = await authorizeLatest(
          app,
          p.passTypeIdentifier,
          p.serialNumber,
          req.headers.authorization,
        );
        if (!auth) return unauthorized(reply);
        if (notModifiedSince(auth.lastModified, req.headers['if-modified-since'], auth.lastModifiedHttp))
          return reply.status(304).header('Last-Modified', auth.lastModifiedHttp).send();
        const latest = await latestPassFor(app, p.passTypeIdentifier, p.serialNumber);
        if (!latest) return unauthorized(reply);
        return reply
          .status(200)
          .type(PKPASS_MIME)
          .header('Last-Modified', lastModifiedOf(latest.pass).toUTCString()) // the version actually sent
          .send(Buffer.from(latest.pkpass));
      });

      wallet.post('/v1/log', async (req, reply) => {
        const logs = (req.body as { logs?: unknown } | undefined)?.logs;
        if (Array.isArray(logs))
          await run(req, 0, recordWalletLogs, {
            logs: logs.filter((l): l is string => typeof l === 'string').slice(0, 100),
          });
        return reply.status(200).type('text/plain; charset=utf-8').send('');
      });

      wallet.post('/v1/passes/:passTypeIdentifier/:serialNumber/personalize', async (req, reply) => {
        const p = req.params as Omit<RegistrationParams, 'deviceLibraryIdentifier'>;
        const body = req.body as
          | { personalizationToken?: unknown; requiredPersonalizationInfo?: unknown }
          | undefined;
        const found = await passByIdentifiers(app, p.passTypeIdentifier, p.serialNumber);
        if (!found || found.pass.deletedAt)
          return reply.status(404).type('text/plain; charset=utf-8').send('');
        if (
          typeof body?.personalizationToken !== 'string' ||
          typeof body.requiredPersonalizationInfo !== 'object' ||
          body.requiredPersonalizationInfo === null
        )
          return bad(
            reply,
            'the body must be a PersonalizationDictionary: {"personalizationToken", "requiredPersonalizationInfo"}',
          );
        const { signature } = await run(req, found.pass.accountId, personalizePass, {
          ...p,
          personalizationToken: body.personalizationToken,
          requiredPersonalizationInfo: body.requiredPersonalizationInfo,
        });
        return reply.status(200).type('application/octet-stream').send(Buffer.from(signature, 'base64'));
      });
    },
    { prefix: '/wallet' },
  );
}
