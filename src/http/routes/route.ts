// A v1 route is data: its method and URL, the action it runs, how the request becomes the action's input, and how the
// output becomes the answer. One function registers every route, so each one goes through the same door (execute:
// scope, key restrictions, validation, idempotency, audit) and answers the same way.
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventFeed } from '../../actions/events.js';
import { actionsByName } from '../../actions/index.js';
import { type Action, type ActionContext, execute, type FileOut } from '../../actions/registry.js';
import type { App } from '../../app.js';
import { AppError } from '../../errors.js';
import { streamEvents } from '../../events/stream.js';

/** How a JSON output is answered: 200, 201, 202, an empty 200 (PassSlot's SDKs expect it), or a page as an array. */
export type ReplyKind = 'json' | 'created' | 'accepted' | 'empty' | { list: string };

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  action: string;
  tag: string;
  input: (req: FastifyRequest) => unknown | Promise<unknown>;
  reply?: ReplyKind;
  /** For OpenAPI: the body and query the route reads, when not the action's input itself. */
  body?: TSchema;
  query?: TSchema;
  /** The route reads multipart/form-data (others refuse it rather than ignore it). */
  multipart?: boolean;
}

const statusOf = (kind: ReplyKind | undefined): number =>
  kind === 'created' ? 201 : kind === 'accepted' ? 202 : 200;

function sendFile(reply: FastifyReply, file: FileOut): FastifyReply {
  reply.type(file.contentType);
  if (file.filename)
    reply.header('Content-Disposition', `attachment; filename="${encodeURIComponent(file.filename)}"`);
  return reply.send(Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength));
}

/** A page of a list: the items as the body (PassSlot's lists are arrays), the next page in a Link header. */
function sendPage(
  app: App,
  req: FastifyRequest,
  reply: FastifyReply,
  key: string,
  out: unknown,
): FastifyReply {
  const page = out as Record<string, unknown> & { nextCursor: string | null };
  if (page.nextCursor) {
    const next = new URL(req.url, app.config.publicUrl);
    next.searchParams.set('cursor', page.nextCursor);
    reply.header('Link', `<${next.toString()}>; rel="next"`);
  }
  return reply.type('application/json; charset=utf-8').send(page[key]);
}

/** The door's context for a request: the app key's grant, the request id, the edge `rest`. */
const ctxOf = (app: App, req: FastifyRequest): ActionContext => ({
  app,
  grant: req.grant!,
  requestId: req.id,
  edge: 'rest',
});

/**
 * Runs an action for the request's app key through the door (execute) and answers its output: a file's bytes, a live
 * stream, or JSON as `kind` says. A POST's Idempotency-Key is passed on, and a replay says so (Idempotent-Replayed).
 * Every route answers through here, the table's and POST /v1/actions/:name alike.
 */
export async function runAndAnswer(
  app: App,
  req: FastifyRequest,
  reply: FastifyReply,
  action: Action,
  input: unknown,
  kind?: ReplyKind,
): Promise<FastifyReply> {
  const key = req.headers['idempotency-key'];
  const run = await execute(action, ctxOf(app, req), input, {
    idempotencyKey: req.method === 'POST' && typeof key === 'string' ? key : undefined,
    status: statusOf(kind),
  });
  if (run.replayed) reply.header('Idempotent-Replayed', 'true');
  const answers = action.answers ?? 'json';
  if (answers === 'bytes') return sendFile(reply, run.output as FileOut);
  if (answers === 'stream') {
    const feed = run.output as EventFeed;
    reply.hijack();
    await streamEvents(app, reply.raw, feed.after, feed.read);
    return reply;
  }
  if (kind === 'empty') return reply.status(200).type('text/plain; charset=utf-8').send('');
  if (typeof kind === 'object') return sendPage(app, req, reply, kind.list, run.output);
  return reply.status(statusOf(kind)).type('application/json; charset=utf-8').send(run.output);
}

/** Refuses a multipart body on a route that reads JSON (rather than ignoring it). */
export function refuseMultipart(req: FastifyRequest, route: string): void {
  if (req.isMultipart())
    throw new AppError('unsupported_media_type', `${route} takes a JSON body, not multipart/form-data`);
}

/** Registers the routes; each maps HTTP onto its action and nothing more. */
export function registerRoutes(api: FastifyInstance, app: App, specs: readonly RouteSpec[]): void {
  for (const spec of specs) {
    const action = actionsByName.get(spec.action) as Action | undefined;
    if (!action) throw new Error(`the route ${spec.method} ${spec.url} names no action ${spec.action}`);
    const answers = action.answers ?? 'json';
    api.route({
      method: spec.method,
      url: spec.url,
      config: { action: action.name },
      schema: {
        summary: action.title,
        description: `${action.description}\n\nAction: \`${action.name}\`; scope \`${action.scope}\`.`,
        tags: [spec.tag],
        ...(spec.body ? { body: spec.body } : {}),
        ...(spec.query ? { querystring: spec.query } : {}),
        ...(answers !== 'json' || spec.reply === 'empty' || typeof spec.reply === 'object'
          ? {}
          : { response: { [statusOf(spec.reply)]: action.output } }),
      },
      handler: async (req, reply) => {
        if (!spec.multipart) refuseMultipart(req, `${spec.method} ${spec.url}`);
        return runAndAnswer(app, req, reply, action, await spec.input(req), spec.reply);
      },
    });
  }
}
