// Passes: issuing, lists, one pass, many passes at once, background jobs, and the images of a pass.
import type { FastifyRequest } from 'fastify';
import { actionsByName } from '../../../actions/index.js';
import { invalid } from '../../../errors.js';
import {
  int,
  num,
  params,
  query,
  requireBody,
  uploadedCsv,
  uploadedImage,
  valuesAndImages,
} from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const PASS = '/v1/passes/:passTypeIdentifier/:serialNumber';

const passRef = (req: FastifyRequest) => ({
  passTypeIdentifier: params(req).passTypeIdentifier,
  serialNumber: params(req).serialNumber,
});

/** The create-pass input: the template, values (and images) from the body, the holder from the query. */
async function createPassInput(
  req: FastifyRequest,
  ref: { templateId: number | string | undefined } | { templateName: string | undefined },
) {
  const q = query(req);
  return {
    ...ref,
    ...(await valuesAndImages(req)),
    email: q.email,
    userId: q.userId,
    externalId: q.externalId,
    phone: q.phone,
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

/** The image routes of an owner (a pass, a template): list, list of a type, delete, set, get. */
export function imageRoutes(
  base: string,
  kind: 'pass' | 'template',
  tag: string,
  owner: (req: FastifyRequest) => Record<string, unknown>,
): RouteSpec[] {
  const slot = (req: FastifyRequest) => ({
    ...owner(req),
    type: params(req).type,
    resolution: params(req).resolution,
  });
  return [
    { method: 'GET', url: `${base}/images`, action: `list_${kind}_images`, tag, input: owner },
    { method: 'GET', url: `${base}/images/:type`, action: `list_${kind}_images`, tag, input: slot },
    { method: 'GET', url: `${base}/images/:type/:resolution`, action: `get_${kind}_image`, tag, input: slot },
    {
      method: 'DELETE',
      url: `${base}/images`,
      action: `delete_${kind}_images`,
      tag,
      reply: 'empty',
      input: owner,
    },
    {
      method: 'DELETE',
      url: `${base}/images/:type`,
      action: `delete_${kind}_images`,
      tag,
      reply: 'empty',
      input: slot,
    },
    {
      method: 'DELETE',
      url: `${base}/images/:type/:resolution`,
      action: `delete_${kind}_images`,
      tag,
      reply: 'empty',
      input: slot,
    },
    {
      method: 'POST',
      url: `${base}/images/:type/:resolution`,
      action: `set_${kind}_image`,
      multipart: true,
      tag,
      input: async (req) => ({ ...slot(req), data: await uploadedImage(req) }),
    },
  ];
}

const tag = 'passes';

export const passRoutes: RouteSpec[] = [
  // issuing
  {
    method: 'POST',
    url: '/v1/templates/:id/pass',
    action: 'create_pass',
    multipart: true,
    tag,
    reply: 'created',
    body: actionsByName.get('create_pass')!.input.properties.values,
    input: (req) => createPassInput(req, { templateId: int(params(req).id) }),
  },
  {
    method: 'POST',
    url: '/v1/templates/:id/passes',
    action: 'create_passes',
    tag,
    input: (req) => ({ ...requireBody(req.body), templateId: int(params(req).id) }),
  },
  {
    method: 'POST',
    url: '/v1/templates/names/:name/pass',
    action: 'create_pass',
    multipart: true,
    tag,
    reply: 'created',
    input: (req) => createPassInput(req, { templateName: params(req).name }),
  },
  // lists
  {
    method: 'GET',
    url: '/v1/passes',
    action: 'get_passes',
    tag,
    reply: { list: 'passes' },
    input: listQuery,
  },
  {
    method: 'GET',
    url: '/v1/passes/:passTypeIdentifier',
    action: 'get_passes_by_pass_type',
    tag,
    reply: { list: 'passes' },
    input: (req) => ({ ...listQuery(req), passTypeIdentifier: params(req).passTypeIdentifier }),
  },
  // one pass
  { method: 'GET', url: PASS, action: 'download_pass', tag, input: passRef },
  { method: 'GET', url: `${PASS}/url`, action: 'get_pass_url', tag, input: passRef },
  { method: 'GET', url: `${PASS}/passjson`, action: 'get_pass_json', tag, input: passRef },
  { method: 'GET', url: `${PASS}/details`, action: 'get_pass_details', tag, input: passRef },
  { method: 'GET', url: `${PASS}/values`, action: 'get_pass_values', tag, input: passRef },
  {
    method: 'PUT',
    url: `${PASS}/values`,
    action: 'update_pass',
    tag,
    input: (req) => ({ ...passRef(req), values: req.body ?? {} }),
  },
  ...(['values', 'value'] as const).map(
    (single): RouteSpec => ({
      method: 'PUT',
      url: `${PASS}/${single}/:name`,
      action: 'update_pass',
      tag,
      input: (req) => {
        const body = requireBody(req.body);
        if (!('value' in body)) throw invalid([{ field: 'value', reasons: ['is required: {"value": ...}'] }]);
        return { ...passRef(req), values: { [params(req).name!]: body.value } };
      },
    }),
  ),
  { method: 'GET', url: `${PASS}/status`, action: 'get_pass_status', tag, input: passRef },
  {
    method: 'PUT',
    url: `${PASS}/status`,
    action: 'set_pass_status',
    tag,
    input: (req) => ({ ...passRef(req), status: requireBody(req.body).status }),
  },
  { method: 'GET', url: `${PASS}/price`, action: 'get_pass_price', tag, input: passRef },
  {
    method: 'PUT',
    url: `${PASS}/price`,
    action: 'set_pass_price',
    tag,
    input: (req) => ({ ...passRef(req), price: requireBody(req.body).price }),
  },
  {
    method: 'DELETE',
    url: `${PASS}/price`,
    action: 'delete_pass_price',
    tag,
    reply: 'empty',
    input: passRef,
  },
  {
    method: 'POST',
    url: `${PASS}/email`,
    action: 'email_pass',
    tag,
    reply: 'empty',
    input: (req) => ({ ...passRef(req), email: requireBody(req.body).email }),
  },
  {
    method: 'POST',
    url: `${PASS}/sms`,
    action: 'sms_pass',
    tag,
    reply: 'accepted',
    input: (req) => {
      const body = requireBody(req.body);
      return { ...passRef(req), to: body.to, message: body.message };
    },
  },
  {
    method: 'POST',
    url: `${PASS}/send`,
    action: 'send_pass',
    tag,
    reply: 'accepted',
    input: (req) => {
      const body = requireBody(req.body);
      return { ...passRef(req), channel: body.channel, to: body.to, message: body.message };
    },
  },
  {
    method: 'POST',
    url: `${PASS}/redeem`,
    action: 'redeem_pass',
    tag,
    input: (req) => ({ ...passRef(req), scanner: requireBody(req.body).scanner }),
  },
  { method: 'POST', url: `${PASS}/push`, action: 'sync_pass_state', tag, reply: 'empty', input: passRef },
  { method: 'DELETE', url: PASS, action: 'delete_pass', tag, reply: 'empty', input: passRef },
  {
    method: 'POST',
    url: `${PASS}/revoke`,
    action: 'revoke_pass',
    tag,
    input: (req) => ({ ...passRef(req), reason: requireBody(req.body).reason }),
  },
  {
    method: 'POST',
    url: `${PASS}/notify`,
    action: 'send_pass_notification',
    tag,
    input: (req) => {
      const body = requireBody(req.body);
      return { ...passRef(req), message: body.message, near: body.near, at: body.at, text: body.text };
    },
  },
  ...imageRoutes(PASS, 'pass', tag, passRef),
  // many passes at once, and background jobs
  {
    method: 'POST',
    url: '/v1/templates/:id/passes/values',
    action: 'update_passes_of_template',
    tag,
    reply: 'accepted',
    input: (req) => ({ ...requireBody(req.body), templateId: int(params(req).id) }),
  },
  {
    method: 'POST',
    url: '/v1/templates/:id/passes/import',
    action: 'import_passes',
    tag,
    reply: 'accepted',
    multipart: true,
    input: async (req) => {
      const q = query(req);
      return {
        templateId: int(params(req).id),
        csv: await uploadedCsv(req),
        ...(q.dryRun !== undefined ? { dryRun: q.dryRun === 'true' || q.dryRun === '1' } : {}),
        deliver: q.deliver,
      };
    },
  },
  {
    method: 'GET',
    url: '/v1/jobs/:id',
    action: 'get_job',
    tag: 'jobs',
    input: (req) => ({ id: int(params(req).id) }),
  },
];
