// PassSlot's v1 REST API (and Passslot's additions in the same style), each route mapping HTTP onto one action.
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireUnrestricted } from '../../actions/access.js';
import { EventFilter, eventsAfter, resolveFilter } from '../../actions/events.js';
import { imageBytes } from '../../actions/images.js';
import { actionsByName } from '../../actions/index.js';
import { passFile, requireBody } from '../../actions/passes.js';
import { type Action, type ActionContext, runAction, validate } from '../../actions/registry.js';
import { IMAGE_TYPES, type ImageInput, RESOLUTIONS, type Resolution } from '../../actions/schemas.js';
import type { App } from '../../app.js';
import { PKPASS_MIME } from '../../engine/index.js';
import { AppError, badRequest, forbidden, invalid } from '../../errors.js';
import { closeStreams, streamEvents } from '../../events/stream.js';
import { hasScope } from '../../store/keys.js';
import type { Authenticator } from '../auth.js';

type Query = Record<string, string | undefined>;
type Params = Record<string, string>;
type InputOf = (req: FastifyRequest) => unknown | Promise<unknown>;
type Reply =
  | 'json'
  | 'created'
  | 'empty'
  | ((out: unknown, req: FastifyRequest, reply: FastifyReply) => unknown);

interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  action: string;
  input: InputOf;
  reply?: Reply;
  tag: string;
  body?: TSchema;
  query?: TSchema;
  /** The route reads multipart/form-data (others refuse it rather than ignore it). */
  multipart?: boolean;
}

const params = (req: FastifyRequest): Params => req.params as Params;
const query = (req: FastifyRequest): Query => req.query as Query;
/** A query value that looks like an integer becomes a number; anything else is left for validation to refuse. */
const num = (v: string | undefined): number | string | undefined =>
  v !== undefined && /^-?\d+$/.test(v) ? Number(v) : v;
const int = (v: string): number | string => (/^\d+$/.test(v) ? Number(v) : v);
const passRef = (req: FastifyRequest) => ({
  passTypeIdentifier: params(req).passTypeIdentifier,
  serialNumber: params(req).serialNumber,
});

const PASS = '/v1/passes/:passTypeIdentifier/:serialNumber';

function sendEmpty(reply: FastifyReply): FastifyReply {
  // PassSlot's SDKs expect an empty body with a non-JSON content type for push, delete and email.
  return reply.status(200).type('text/plain; charset=utf-8').send('');
}

const IMAGE_PART = new RegExp(`^(${IMAGE_TYPES.join('|')})(?:@?([23])x)?$`);

function imagePart(name: string): { type: (typeof IMAGE_TYPES)[number]; resolution: Resolution } | undefined {
  const m = IMAGE_PART.exec(name);
  if (!m) return undefined;
  return {
    type: m[1] as (typeof IMAGE_TYPES)[number],
    resolution: m[2] === '3' ? 'ultra' : m[2] === '2' ? 'high' : 'normal',
  };
}

function jsonText(text: string, field: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid([{ field, reasons: [`is not valid JSON: ${(err as Error).message}`] }]);
  }
}

/** The parts of a multipart body; a malformed body is a 400, not a 500. */
async function* partsOf(req: FastifyRequest) {
  try {
    for await (const part of req.parts()) yield part;
  } catch (err) {
    if (err instanceof AppError || (err as { statusCode?: number }).statusCode) throw err;
    throw badRequest(`Malformed multipart body: ${(err as Error).message}`);
  }
}

/** The create-pass input from JSON (the body is the values) or multipart (a `values` part and image parts). */
async function createPassInput(
  req: FastifyRequest,
  ref: { templateId: number | string } | { templateName: string },
) {
  const q = query(req);
  let values: unknown = {};
  const images: ImageInput[] = [];
  if (req.isMultipart()) {
    for await (const part of partsOf(req)) {
      if (part.type === 'file') {
        const buf = await part.toBuffer();
        if (part.fieldname === 'values') values = jsonText(buf.toString('utf8'), 'values');
        else {
          const slot = imagePart(part.fieldname);
          if (!slot)
            throw invalid([
              {
                field: part.fieldname,
                reasons: [`is not an image part: use ${IMAGE_TYPES.join(', ')} with @2x or @3x`],
              },
            ]);
          images.push({ ...slot, data: buf.toString('base64') });
        }
      } else if (part.fieldname === 'values')
        // @fastify/multipart parses a field sent with Content-Type application/json (the Ruby SDK) itself
        values = typeof part.value === 'string' ? jsonText(part.value, 'values') : part.value;
    }
  } else values = req.body ?? {};
  return {
    ...ref,
    values,
    email: q.email,
    userId: q.userId,
    externalId: q.externalId,
    images: images.length ? images : undefined,
  };
}

async function uploadedImage(req: FastifyRequest): Promise<string> {
  if (!req.isMultipart()) throw badRequest('send the image as multipart/form-data in a part named "image"');
  for await (const part of partsOf(req))
    if (part.type === 'file' && part.fieldname === 'image') return (await part.toBuffer()).toString('base64');
  throw invalid([
    { field: 'image', reasons: ['is required: a multipart part named "image" with a PNG, JPEG or GIF file'] },
  ]);
}

/** A page of a list: the items as the body (PassSlot's lists are arrays), the next page in a Link header. */
function listReply(app: App, key = 'passes') {
  return (out: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const page = out as Record<string, unknown> & { nextCursor: string | null };
    if (page.nextCursor) {
      const next = new URL(req.url, app.config.publicUrl);
      next.searchParams.set('cursor', page.nextCursor);
      reply.header('Link', `<${next.toString()}>; rel="next"`);
    }
    return reply.send(page[key]);
  };
}

const listQuery = (req: FastifyRequest) => {
  const q = query(req);
  return {
    email: q.email,
    userId: q.userId,
    externalId: q.externalId,
    status: q.status,
    templateId: num(q.templateId),
    updatedSince: q.updatedSince,
    limit: num(q.limit),
    cursor: q.cursor,
  };
};

export async function v1Routes(api: FastifyInstance, app: App, auth: Authenticator): Promise<void> {
  const ctxOf = (req: FastifyRequest): ActionContext => ({ app, grant: req.grant!, requestId: req.id });

  function route(spec: RouteSpec): void {
    const action = actionsByName.get(spec.action) as Action | undefined;
    if (!action) throw new Error(`no action ${spec.action}`);
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
        ...(spec.reply === 'empty' || typeof spec.reply === 'function'
          ? {}
          : { response: { [spec.reply === 'created' ? 201 : 200]: action.output } }),
      },
      handler: async (req, reply) => {
        if (!spec.multipart && req.isMultipart())
          throw new AppError(415, `${spec.method} ${spec.url} takes a JSON body, not multipart/form-data`);
        const out = await runAction(action, ctxOf(req), await spec.input(req));
        if (spec.action.endsWith('_app_key')) auth.forget();
        if (spec.reply === 'empty') return sendEmpty(reply);
        if (typeof spec.reply === 'function') return spec.reply(out, req, reply);
        return reply
          .status(spec.reply === 'created' ? 201 : 200)
          .type('application/json; charset=utf-8')
          .send(out);
      },
    });
  }

  // --- passes: issuing
  route({
    method: 'POST',
    url: '/v1/templates/:id/pass',
    action: 'create_pass',
    multipart: true,
    tag: 'passes',
    reply: 'created',
    body: actionsByName.get('create_pass')!.input.properties.values,
    input: (req) => createPassInput(req, { templateId: int(params(req).id!) }),
  });
  route({
    method: 'POST',
    url: '/v1/templates/names/:name/pass',
    action: 'create_pass',
    multipart: true,
    tag: 'passes',
    reply: 'created',
    input: (req) => createPassInput(req, { templateName: params(req).name! }),
  });

  // --- passes: lists
  route({
    method: 'GET',
    url: '/v1/passes',
    action: 'get_passes',
    tag: 'passes',
    reply: listReply(app),
    input: listQuery,
  });
  route({
    method: 'GET',
    url: '/v1/passes/:passTypeIdentifier',
    action: 'get_passes_by_pass_type',
    tag: 'passes',
    reply: listReply(app),
    input: (req) => ({ ...listQuery(req), passTypeIdentifier: params(req).passTypeIdentifier }),
  });

  // --- one pass
  api.get(
    PASS,
    {
      config: { action: 'download_pass' },
      schema: { summary: 'Download the .pkpass of a pass', tags: ['passes'] },
    },
    async (req, reply) => {
      const bytes = await passFile(ctxOf(req), params(req).passTypeIdentifier!, params(req).serialNumber!);
      return reply
        .type(PKPASS_MIME)
        .header(
          'Content-Disposition',
          `attachment; filename="${encodeURIComponent(params(req).serialNumber!)}.pkpass"`,
        )
        .send(Buffer.from(bytes));
    },
  );
  route({ method: 'GET', url: `${PASS}/url`, action: 'get_pass_url', tag: 'passes', input: passRef });
  route({ method: 'GET', url: `${PASS}/passjson`, action: 'get_pass_json', tag: 'passes', input: passRef });
  route({ method: 'GET', url: `${PASS}/details`, action: 'get_pass_details', tag: 'passes', input: passRef });
  route({ method: 'GET', url: `${PASS}/values`, action: 'get_pass_values', tag: 'passes', input: passRef });
  route({
    method: 'PUT',
    url: `${PASS}/values`,
    action: 'update_pass',
    tag: 'passes',
    input: (req) => ({ ...passRef(req), values: req.body ?? {} }),
  });
  for (const single of ['values', 'value'])
    route({
      method: 'PUT',
      url: `${PASS}/${single}/:name`,
      action: 'update_pass',
      tag: 'passes',
      input: (req) => {
        const body = requireBody(req.body);
        if (!('value' in body)) throw invalid([{ field: 'value', reasons: ['is required: {"value": ...}'] }]);
        return { ...passRef(req), values: { [params(req).name!]: body.value } };
      },
    });
  route({ method: 'GET', url: `${PASS}/status`, action: 'get_pass_status', tag: 'passes', input: passRef });
  route({
    method: 'PUT',
    url: `${PASS}/status`,
    action: 'set_pass_status',
    tag: 'passes',
    input: (req) => ({ ...passRef(req), status: requireBody(req.body).status }),
  });
  route({ method: 'GET', url: `${PASS}/price`, action: 'get_pass_price', tag: 'passes', input: passRef });
  route({
    method: 'PUT',
    url: `${PASS}/price`,
    action: 'set_pass_price',
    tag: 'passes',
    input: (req) => ({ ...passRef(req), price: requireBody(req.body).price }),
  });
  route({
    method: 'DELETE',
    url: `${PASS}/price`,
    action: 'delete_pass_price',
    tag: 'passes',
    reply: 'empty',
    input: passRef,
  });
  route({
    method: 'POST',
    url: `${PASS}/email`,
    action: 'email_pass',
    tag: 'passes',
    reply: 'empty',
    input: (req) => ({ ...passRef(req), email: requireBody(req.body).email }),
  });
  route({
    method: 'POST',
    url: `${PASS}/push`,
    action: 'sync_pass_state',
    tag: 'passes',
    reply: 'empty',
    input: passRef,
  });
  route({
    method: 'DELETE',
    url: PASS,
    action: 'delete_pass',
    tag: 'passes',
    reply: 'empty',
    input: passRef,
  });
  route({
    method: 'POST',
    url: `${PASS}/revoke`,
    action: 'revoke_pass',
    tag: 'passes',
    input: (req) => ({ ...passRef(req), reason: requireBody(req.body).reason }),
  });
  route({
    method: 'POST',
    url: `${PASS}/notify`,
    action: 'send_pass_notification',
    tag: 'passes',
    input: (req) => ({ ...passRef(req), message: requireBody(req.body).message }),
  });

  // --- images of passes and templates
  for (const [base, owner, tag] of [
    [PASS, (req: FastifyRequest) => passRef(req), 'passes'],
    ['/v1/templates/:id', (req: FastifyRequest) => ({ templateId: int(params(req).id!) }), 'templates'],
  ] as const) {
    const slot = (req: FastifyRequest) => ({
      ...owner(req),
      type: params(req).type,
      resolution: params(req).resolution,
    });
    route({ method: 'GET', url: `${base}/images`, action: 'list_images', tag, input: owner });
    route({ method: 'GET', url: `${base}/images/:type`, action: 'list_images', tag, input: slot });
    route({
      method: 'DELETE',
      url: `${base}/images`,
      action: 'delete_images',
      tag,
      reply: 'empty',
      input: owner,
    });
    route({
      method: 'DELETE',
      url: `${base}/images/:type`,
      action: 'delete_images',
      tag,
      reply: 'empty',
      input: slot,
    });
    route({
      method: 'DELETE',
      url: `${base}/images/:type/:resolution`,
      action: 'delete_images',
      tag,
      reply: 'empty',
      input: slot,
    });
    route({
      method: 'POST',
      url: `${base}/images/:type/:resolution`,
      action: 'set_image',
      multipart: true,
      tag,
      input: async (req) => ({ ...slot(req), data: await uploadedImage(req) }),
    });
    api.get(
      `${base}/images/:type/:resolution`,
      { config: { action: 'get_image' }, schema: { summary: 'Get one image (PNG bytes)', tags: [tag] } },
      async (req, reply) => {
        const p = params(req);
        if (!(p.resolution! in RESOLUTIONS))
          throw invalid([{ field: 'resolution', reasons: ['must be normal, high or ultra'] }]);
        const bytes = await imageBytes(ctxOf(req), {
          ...owner(req),
          type: p.type!,
          resolution: p.resolution as Resolution,
        } as Parameters<typeof imageBytes>[1]);
        return reply.type('image/png').send(Buffer.from(bytes));
      },
    );
  }

  // --- templates
  route({
    method: 'GET',
    url: '/v1/templates',
    action: 'list_pass_templates',
    tag: 'templates',
    input: () => ({}),
  });
  route({
    method: 'POST',
    url: '/v1/templates',
    action: 'create_template',
    tag: 'templates',
    reply: 'created',
    input: (req) => requireBody(req.body),
  });
  route({
    method: 'GET',
    url: '/v1/templates/:id',
    action: 'get_template',
    tag: 'templates',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'PUT',
    url: '/v1/templates/:id',
    action: 'update_template',
    tag: 'templates',
    input: (req) => {
      const { id: _ignored, ...body } = requireBody(req.body);
      return { ...body, id: int(params(req).id!) };
    },
  });
  route({
    method: 'DELETE',
    url: '/v1/templates/:id',
    action: 'delete_template',
    tag: 'templates',
    reply: 'empty',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'GET',
    url: '/v1/templates/:id/url',
    action: 'get_template_url',
    tag: 'templates',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'GET',
    url: '/v1/templates/:id/restrictions',
    action: 'get_template_restrictions',
    tag: 'templates',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'PUT',
    url: '/v1/templates/:id/restrictions',
    action: 'set_template_restrictions',
    tag: 'templates',
    input: (req) => ({ ...requireBody(req.body), id: int(params(req).id!) }),
  });

  // --- many passes at once, and background jobs
  route({
    method: 'POST',
    url: '/v1/templates/:id/passes/values',
    action: 'update_passes_of_template',
    tag: 'passes',
    reply: (out, _req, reply) => reply.status(202).type('application/json; charset=utf-8').send(out),
    input: (req) => ({ ...requireBody(req.body), templateId: int(params(req).id!) }),
  });
  route({
    method: 'GET',
    url: '/v1/jobs/:id',
    action: 'get_job',
    tag: 'jobs',
    input: (req) => ({ id: int(params(req).id!) }),
  });

  // --- pass types
  route({
    method: 'GET',
    url: '/v1/passtypes',
    action: 'get_pass_types',
    tag: 'passtypes',
    input: () => ({}),
  });
  route({
    method: 'GET',
    url: '/v1/passtypes/:id',
    action: 'get_pass_type',
    tag: 'passtypes',
    input: (req) => ({ id: params(req).id }),
  });
  route({
    method: 'POST',
    url: '/v1/passtypes',
    action: 'create_pass_type',
    tag: 'passtypes',
    reply: 'created',
    input: (req) => requireBody(req.body),
  });
  route({
    method: 'PUT',
    url: '/v1/passtypes/:id',
    action: 'update_pass_type',
    tag: 'passtypes',
    input: (req) => ({ ...requireBody(req.body), id: params(req).id }),
  });
  route({
    method: 'PUT',
    url: '/v1/apns-key',
    action: 'set_apns_key',
    tag: 'passtypes',
    input: (req) => requireBody(req.body),
  });
  route({
    method: 'DELETE',
    url: '/v1/apns-key',
    action: 'delete_apns_key',
    tag: 'passtypes',
    reply: 'empty',
    input: () => ({}),
  });
  route({
    method: 'DELETE',
    url: '/v1/passtypes/:id',
    action: 'delete_pass_type',
    tag: 'passtypes',
    reply: 'empty',
    input: (req) => ({ id: params(req).id }),
  });

  // --- scanners
  route({ method: 'GET', url: '/v1/scanners', action: 'list_scanners', tag: 'scanners', input: () => ({}) });
  route({
    method: 'POST',
    url: '/v1/scanners',
    action: 'create_scanner',
    tag: 'scanners',
    reply: 'created',
    input: (req) => requireBody(req.body),
  });
  route({
    method: 'GET',
    url: '/v1/scanners/:id',
    action: 'get_scanner',
    tag: 'scanners',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'PUT',
    url: '/v1/scanners/:id',
    action: 'update_scanner',
    tag: 'scanners',
    input: (req) => ({ ...requireBody(req.body), id: int(params(req).id!) }),
  });
  route({
    method: 'DELETE',
    url: '/v1/scanners/:id',
    action: 'delete_scanner',
    tag: 'scanners',
    reply: 'empty',
    input: (req) => ({ id: int(params(req).id!) }),
  });

  // --- app keys and audit
  route({ method: 'GET', url: '/v1/keys', action: 'list_app_keys', tag: 'keys', input: () => ({}) });
  route({
    method: 'POST',
    url: '/v1/keys',
    action: 'create_app_key',
    tag: 'keys',
    reply: 'created',
    input: (req) => requireBody(req.body),
  });
  route({
    method: 'POST',
    url: '/v1/keys/:id/rotate',
    action: 'rotate_app_key',
    tag: 'keys',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'DELETE',
    url: '/v1/keys/:id',
    action: 'revoke_app_key',
    tag: 'keys',
    reply: 'empty',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  route({
    method: 'GET',
    url: '/v1/audit',
    action: 'list_audit_log',
    tag: 'audit',
    input: (req) => {
      const q = query(req);
      return { action: q.action, keyId: num(q.keyId), since: q.since, limit: num(q.limit), cursor: q.cursor };
    },
  });

  // --- events, webhooks and CRM integrations
  route({
    method: 'GET',
    url: '/v1/events',
    action: 'list_events',
    tag: 'events',
    reply: listReply(app, 'events'),
    input: (req) => {
      const q = query(req);
      return {
        type: q.type,
        passTypeIdentifier: q.passTypeIdentifier,
        serialNumber: q.serialNumber,
        since: q.since,
        limit: num(q.limit),
        cursor: q.cursor,
      };
    },
  });
  api.get(
    '/v1/events/stream',
    {
      config: { action: 'stream_events' },
      schema: {
        summary: 'Stream events live (Server-Sent Events)',
        description:
          'Sends each new event of the account as it happens: `id` (the event id), `event` (its type) and `data` (the ' +
          'envelope). Reconnecting with the Last-Event-ID header (or ?lastEventId=) resumes after that event. Filters as ' +
          'GET /v1/events: type, passTypeIdentifier and serialNumber. Scope `events:read`.',
        tags: ['events'],
      },
    },
    async (req, reply) => {
      const ctx = ctxOf(req);
      const q = query(req);
      if (!hasScope(ctx.grant, 'events:read'))
        throw forbidden('this app key lacks the scope events:read (needed by the event stream)');
      requireUnrestricted(ctx, 'read the account-wide event feed');
      const filter = await resolveFilter(
        ctx,
        validate(EventFilter, {
          type: q.type,
          passTypeIdentifier: q.passTypeIdentifier,
          serialNumber: q.serialNumber,
        }),
      );
      const last = req.headers['last-event-id'] ?? q.lastEventId;
      let after: number;
      if (typeof last === 'string' && last) {
        const row = await app.db
          .selectFrom('events')
          .select('seq')
          .where('accountId', '=', ctx.grant.accountId)
          .where('id', '=', last)
          .executeTakeFirst();
        if (!row) throw invalid([{ field: 'Last-Event-ID', reasons: [`no event ${last} on this account`] }]);
        after = row.seq;
      } else {
        const row = await app.db
          .selectFrom('events')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .where('accountId', '=', ctx.grant.accountId)
          .executeTakeFirst();
        after = Number(row?.seq ?? 0);
      }
      reply.hijack();
      await streamEvents(app, reply.raw, after, (seq, limit) => eventsAfter(ctx, filter, seq, limit));
    },
  );
  route({
    method: 'GET',
    url: '/v1/events/:id',
    action: 'get_event',
    tag: 'events',
    input: (req) => ({ id: params(req).id }),
  });
  for (const [base, kind, tag] of [
    ['/v1/webhooks', 'webhook', 'webhooks'],
    ['/v1/integrations', 'integration', 'integrations'],
  ] as const) {
    const id = (req: FastifyRequest) => int(params(req).id!);
    route({ method: 'GET', url: base, action: `list_${kind}s`, tag, input: () => ({}) });
    route({
      method: 'POST',
      url: base,
      action: `create_${kind}`,
      tag,
      reply: 'created',
      input: (req) => requireBody(req.body),
    });
    route({
      method: 'GET',
      url: `${base}/:id`,
      action: `get_${kind}`,
      tag,
      input: (req) => ({ id: id(req) }),
    });
    route({
      method: 'PUT',
      url: `${base}/:id`,
      action: `update_${kind}`,
      tag,
      input: (req) => ({ ...requireBody(req.body), id: id(req) }),
    });
    route({
      method: 'DELETE',
      url: `${base}/:id`,
      action: `delete_${kind}`,
      tag,
      reply: 'empty',
      input: (req) => ({ id: id(req) }),
    });
    route({
      method: 'GET',
      url: `${base}/:id/deliveries`,
      action: `list_${kind}_deliveries`,
      tag,
      reply: listReply(app, 'deliveries'),
      input: (req) => {
        const q = query(req);
        return { id: id(req), status: q.status, limit: num(q.limit), cursor: q.cursor };
      },
    });
    route({
      method: 'POST',
      url: `${base}/:id/deliveries/:deliveryId/retry`,
      action: `retry_${kind}_delivery`,
      tag,
      input: (req) => ({ id: id(req), deliveryId: int(params(req).deliveryId!) }),
    });
    route({
      method: 'POST',
      url: `${base}/:id/replay`,
      action: `replay_${kind}`,
      tag,
      input: (req) => ({ ...requireBody(req.body), id: id(req) }),
    });
  }
  route({
    method: 'POST',
    url: '/v1/webhooks/:id/rotate-secret',
    action: 'rotate_webhook_secret',
    tag: 'webhooks',
    input: (req) => ({ id: int(params(req).id!) }),
  });
  api.addHook('preClose', async () => closeStreams(app));

  api.get('/v1/openapi.json', { schema: { hide: true } }, async () => api.swagger());
}
