// POST /v1/actions/:name runs any action a credential may call, by name, with the action's input as the JSON body:
// the one transport of the client SDK (src/client/), whose types come from the same registry. It goes through the same
// door and answers the same way as every route of the table (runAndAnswer: scope, key restrictions, validation, the
// Idempotency-Key, the audit record): the output as JSON with 200, or a file's bytes with its content type.
import type { FastifyInstance } from 'fastify';
import { actions, actionsByName } from '../../../actions/index.js';
import { callable } from '../../../actions/registry.js';
import type { App } from '../../../app.js';
import { AppError, badRequest, notFound } from '../../../errors.js';
import { params, requireBody } from '../../inputs.js';
import { type RouteSpec, refuseMultipart, runAndAnswer } from '../route.js';

export const RUN_ROUTE = '/v1/actions/:name';

const DESCRIPTION = `Runs the action \`name\` with the JSON body as its input (no body: \`{}\`), exactly as the route of \
the table that runs it would, and answers its output: JSON with 200, or a file's bytes with its content type (\
\`download_pass\`, \`get_pass_image\`, \`get_template_image\`). Each action's input and output schemas are those of its \
MCP tool and of the SDK's types (\`passslot/client\`). The scope needed is the action's; a POST's \`Idempotency-Key\` \
replays a mutating action's first answer (\`Idempotent-Replayed: true\`). Passslot's own actions (Wallet, pass pages, \
accounts) are not found here, and the live event stream is a 400: it is \`GET /v1/events/stream\`.`;

/** Registers POST /v1/actions/:name; `specs` (the route table) names where a live stream is served instead. */
export function registerRunRoute(api: FastifyInstance, app: App, specs: readonly RouteSpec[]): void {
  api.route({
    method: 'POST',
    url: RUN_ROUTE,
    schema: {
      summary: 'Run an action by name',
      description: DESCRIPTION,
      tags: ['actions'],
      params: {
        type: 'object',
        properties: {
          name: {
            type: 'string',
            description: 'the action, e.g. get_pass_details',
            enum: actions.filter(callable).map((a) => a.name),
          },
        },
        required: ['name'],
      },
      body: {
        type: 'object',
        additionalProperties: true,
        description:
          'the action\'s input, e.g. {"passTypeIdentifier": "pass.com.example", "serialNumber": "…"}',
      },
    },
    handler: async (req, reply) => {
      const name = params(req).name!;
      const action = actionsByName.get(name);
      if (!action) throw notFound(`action "${name}"`);
      if (action.scope === 'system')
        throw new AppError(
          'not_found',
          `${name} is run by Passslot itself; it cannot be run through the API`,
        );
      if (!callable(action)) {
        const route = specs.find((s) => s.action === name);
        throw badRequest(
          `${name} answers a live stream, not one answer${route ? `: use ${route.method} ${route.url}` : ''}`,
        );
      }
      refuseMultipart(req, `POST /v1/actions/${name}`);
      return runAndAnswer(app, req, reply, action, requireBody(req.body));
    },
  });
}
