// Google Wallet: the account's connection, a template's class, a pass's save link.
import { int, params, requireBody } from '../../inputs.js';
import type { RouteSpec } from '../route.js';

const tag = 'google';

export const googleRoutes: RouteSpec[] = [
  {
    method: 'PUT',
    url: '/v1/google-wallet',
    action: 'set_google_wallet',
    tag,
    input: (req) => requireBody(req.body),
  },
  { method: 'GET', url: '/v1/google-wallet', action: 'get_google_wallet', tag, input: () => ({}) },
  {
    method: 'DELETE',
    url: '/v1/google-wallet',
    action: 'delete_google_wallet',
    tag,
    reply: 'empty',
    input: () => ({}),
  },
  {
    method: 'GET',
    url: '/v1/templates/:id/google',
    action: 'get_template_google',
    tag,
    input: (req) => ({ id: int(params(req).id) }),
  },
  {
    method: 'GET',
    url: '/v1/passes/:passTypeIdentifier/:serialNumber/google',
    action: 'get_pass_google',
    tag,
    input: (req) => ({
      passTypeIdentifier: params(req).passTypeIdentifier,
      serialNumber: params(req).serialNumber,
    }),
  },
];
