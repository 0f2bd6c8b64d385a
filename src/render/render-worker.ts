// A render worker thread: builds passes with factories it keeps per key (see render-pool.ts).
import { parentPort } from 'node:worker_threads';
import { createPassFactory, loadIdentityFromPem, type PassFactory } from '../engine/index.js';
import { localizationAssets } from './localizations.js';
import { withNotification } from './notification.js';
import { type RenderRequest, type RenderResponse, serializeError } from './render-pool.js';

const factories = new Map<string, PassFactory>();

parentPort?.on('message', (request: RenderRequest) => {
  let response: RenderResponse;
  try {
    let factory = factories.get(request.key);
    if (!factory && request.spec) {
      const { spec } = request;
      factory = createPassFactory({
        identity: loadIdentityFromPem(
          { certificate: spec.certificatePem, privateKey: spec.privateKeyPem },
          { wwdr: spec.wwdrPem },
        ),
        template: spec.template,
        assets: { images: spec.images, localizations: localizationAssets(spec.strings) },
        allowHttpWebService: spec.allowHttpWebService,
      });
      if (factories.size >= 200) factories.delete(factories.keys().next().value as string);
      factories.set(request.key, factory);
    }
    if (!factory) response = { id: request.id, needSpec: true };
    else {
      const { input } = request;
      const built = factory.build({
        values: input.values,
        overrides: input.overrides,
        images: input.images,
        now: new Date(input.now),
        transform:
          input.notification === null ? undefined : (json) => withNotification(json, input.notification!),
      });
      response = {
        id: request.id,
        ok: {
          pkpass: built.pkpass,
          passJson: built.passJson,
          manifest: built.manifest,
          warnings: built.warnings,
        },
      };
    }
  } catch (err) {
    response = { id: request.id, error: serializeError(err) };
  }
  // copied, not transferred: a small Buffer may share Node's pool memory with other Buffers
  parentPort?.postMessage(response);
});
