// passslot/client: the SDK. Every action a credential can call, typed from the action registry, over
// POST /v1/actions/:name; it imports nothing from the server.
//
//   import { PassslotClient } from 'passslot/client';
//   const passslot = new PassslotClient({ baseUrl: 'https://passes.example.com', apiKey: process.env.PASSSLOT_API_KEY! });
//   const pass = await passslot.getPassDetails({ passTypeIdentifier: 'pass.com.example.member', serialNumber: '…' });
export * from './actions.gen.js';
export { type BulkOptions, type BulkReport, PassslotClient } from './client.js';
export { type FieldError, PassslotError } from './errors.js';
export type {
  ApiKeyCredentials,
  CallOptions,
  OAuthCredentials,
  PassslotClientOptions,
  RetryInfo,
  RetryOptions,
  Tokens,
} from './options.js';
export { backoffMs, serverDelayMs } from './retry.js';
