// The database's tables as TypeScript sees them (camelCase; snake_case in SQL through Kysely's CamelCasePlugin).
// Times are ISO 8601 UTC strings with milliseconds, which sort as text on both SQLite and PostgreSQL.
import type { Generated, Insertable, Selectable } from 'kysely';

export interface AccountsTable {
  id: Generated<number>;
  name: string;
  rateLimit: number | null;
  createdAt: string;
  apnsKeyEnc: string | null;
  apnsKeyId: string | null;
  apnsTeamId: string | null;
  googleIssuerId: string | null;
  googleClientEmail: string | null;
  googleKeyEnc: string | null;
  /** The key that signs the account's barcodes (templates with signedBarcodes), sealed; made at first use. */
  barcodeKeyEnc: string | null;
}

export interface AppKeysTable {
  id: Generated<number>;
  accountId: number;
  /** The public part of the key, by which it is found. */
  publicId: string;
  /** SHA-256 of the whole key, hex. */
  secretHash: string;
  name: string;
  scopes: string;
  templateIds: string | null;
  passTypeIds: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** The user on whose behalf the key acts; null for a service key. */
  userId: number | null;
  /** The scanner whose key it is (scope scans:write); null for other keys. */
  scannerId: number | null;
}

export interface UsersTable {
  id: Generated<number>;
  /** Lower-cased. */
  email: string;
  /** scrypt$N$r$p$salt$hash (base64url). */
  passwordHash: string;
  createdAt: string;
  passwordChangedAt: string;
}

export interface MembershipsTable {
  userId: number;
  accountId: number;
  role: string;
  createdAt: string;
}

export interface SessionsTable {
  id: Generated<number>;
  /** SHA-256 of the cookie's token, hex. */
  tokenHash: string;
  userId: number;
  /** The token forms of this session carry (CSRF). */
  csrf: string;
  createdAt: string;
  expiresAt: string;
}

export interface OauthClientsTable {
  id: Generated<number>;
  clientId: string;
  /** SHA-256 of the client secret, hex; null for a public client. */
  secretHash: string | null;
  name: string;
  /** JSON array of exact redirect URIs. */
  redirectUris: string;
  /** none, client_secret_post or client_secret_basic. */
  authMethod: string;
  createdAt: string;
}

export interface OauthGrantsTable {
  id: Generated<number>;
  clientId: string;
  userId: number;
  accountId: number;
  scopes: string;
  /** The audience its tokens are bound to (RFC 8707). */
  resource: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
}

export interface OauthCodesTable {
  id: Generated<number>;
  codeHash: string;
  clientId: string;
  userId: number;
  accountId: number;
  redirectUri: string;
  codeChallenge: string;
  scopes: string;
  resource: string;
  expiresAt: string;
  usedAt: string | null;
  /** The grant its exchange made (revoked if the code is presented again). */
  grantId: number | null;
}

export interface OauthTokensTable {
  id: Generated<number>;
  publicId: string;
  secretHash: string;
  grantId: number;
  /** access or refresh. */
  kind: string;
  createdAt: string;
  expiresAt: string;
  /** A refresh token's use (it rotates: a second use revokes the grant). */
  usedAt: string | null;
  revokedAt: string | null;
}

export interface AuditHeadsTable {
  accountId: number;
  seq: number;
  hash: string;
  /** The last record pruned by retention (0: none), and its hash: where verification of what remains starts. */
  prunedSeq: Generated<number>;
  prunedHash: Generated<string | null>;
}

export interface ActionStatsTable {
  accountId: number;
  /** The hour's start, ISO 8601. */
  hour: string;
  action: string;
  edge: string;
  calls: number;
  errors: number;
  /** Runs per duration bucket: DURATION_BUCKETS_MS (store/action-stats.ts), then one for longer. */
  b0: number;
  b1: number;
  b2: number;
  b3: number;
  b4: number;
  b5: number;
  b6: number;
  b7: number;
  b8: number;
  b9: number;
  b10: number;
  b11: number;
}

export interface PassTypesTable {
  id: Generated<number>;
  accountId: number;
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  certificatePem: string;
  /** The private key (PEM), encrypted with the master key. */
  privateKeyEnc: string;
  wwdrPem: string | null;
  expiresAt: string;
  unhealthyReason: string | null;
  /** When the account was last told (an event) that the certificate expires soon. */
  expiryWarnedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TemplatesTable {
  id: Generated<number>;
  accountId: number;
  passTypeId: number;
  name: string;
  /** pass.json body with placeholders (JSON). */
  body: string;
  placeholders: string;
  restrictions: string;
  linkToken: string;
  /** JSON: how the template's public form asks for values (actions/forms.ts); null: inferred. */
  form: string | null;
  /** JSON {email?: {subject?, text?, html?}, sms?}: what its passes say when sent (actions/template-messages.ts). */
  messages: string | null;
  /** JSON {lang: {text: translation}}: the pass.strings of each language (actions/template-localizations.ts). */
  localizations: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ImagesTable {
  id: Generated<number>;
  accountId: number;
  ownerKind: 'template' | 'pass';
  ownerId: number;
  /** icon, logo, strip, ... */
  type: string;
  /** 1, 2 or 3 (PassSlot's normal, high, ultra). */
  scale: number;
  width: number;
  height: number;
  data: Uint8Array;
  createdAt: string;
}

export interface PassesTable {
  id: Generated<number>;
  accountId: number;
  passTypeId: number;
  templateId: number;
  serialNumber: string;
  authToken: string;
  publicId: string;
  linkToken: string;
  values: string;
  status: string;
  price: number | null;
  ownerEmail: string | null;
  ownerUserId: string | null;
  ownerExternalId: string | null;
  /** The holder's phone number, E.164. */
  ownerPhone: string | null;
  notification: string | null;
  voided: number;
  version: number;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  /** Wallet's update tag: from the pass type's counter, in commit order. */
  updateTag: Generated<number>;
  /** Last-Modified of the current version (whole seconds, strictly increasing per pass). */
  modifiedAt: string | null;
  personalization: string | null;
  /** JSON {locations?, maxDistance?, relevantDates?}: the pass's own, over its template's. */
  relevance: string | null;
  /** Times the pass was redeemed (redeem_pass), against the template's redemptionRestriction. */
  redemptions: number;
}

export interface PassRendersTable {
  passId: number;
  version: number;
  pkpass: Uint8Array;
  passJson: string;
  /** The message of its first barcode: what a scanner reads (POST /v1/scans finds the pass by it). */
  barcode: string | null;
  createdAt: string;
}

export interface EventsTable {
  seq: Generated<number>;
  id: string;
  accountId: number;
  type: string;
  passId: number | null;
  data: string;
  createdAt: string;
}

/** A long job's input, kept apart from its row (which is rewritten with every progress save). */
export interface JobInputsTable {
  jobId: number;
  data: string;
}

/** One item a long job could not do (a CSV row, a pass), with why, as JSON; in the order they failed. */
export interface JobFailuresTable {
  jobId: number;
  seq: number;
  data: string;
}

export interface JobsTable {
  id: Generated<number>;
  accountId: number;
  kind: string;
  payload: string;
  status: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  runAt: string;
  lockedUntil: string | null;
  lockedBy: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  /** Progress and report of long jobs (JSON). */
  result: string | null;
  /** Groups jobs about one thing, e.g. `push:<passTypeId>:<passId>`, for coalescing. */
  groupKey: string | null;
}

export interface IdempotencyKeysTable {
  accountId: number;
  key: string;
  requestHash: string;
  statusCode: number;
  contentType: string;
  body: Uint8Array;
  createdAt: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  accountId: number;
  keyId: number | null;
  /** Where the action was run from: rest, cli, mcp, job, page or wallet. */
  edge: string;
  action: string;
  target: string | null;
  outcome: number;
  durationMs: number;
  requestId: string;
  input: string | null;
  createdAt: string;
  /** key:ID, oauth:CLIENT_ID/grant:ID, or system. */
  credential: string | null;
  /** The user's email, the key's name, or system. */
  onBehalfOf: string | null;
  /** The error's message when the run failed. */
  error: string | null;
  /** JSON {passes: [...], templates: [...], count}. */
  touched: string | null;
  /** Position in the account's chain, from 1. */
  seq: number | null;
  prevHash: string | null;
  hash: string | null;
}

export interface ScannersTable {
  id: Generated<number>;
  accountId: number;
  name: string;
  type: string;
  fullAccess: number;
  allowedTemplates: string;
  createdAt: string;
  updatedAt: string;
}

export interface DevicesTable {
  id: Generated<number>;
  deviceLibraryIdentifier: string;
  pushToken: string;
  createdAt: string;
  updatedAt: string;
}

export interface RegistrationsTable {
  deviceId: number;
  passId: number;
  createdAt: string;
}

export interface WalletLogsTable {
  id: Generated<number>;
  passId: number | null;
  message: string;
  createdAt: string;
}

export interface PushLogTable {
  id: Generated<number>;
  passId: number;
  deviceLibraryIdentifier: string;
  pushToken: string;
  status: number;
  reason: string | null;
  apnsId: string | null;
  createdAt: string;
}

/** The last update tag given to a pass of each pass type. */
export interface UpdateTagsTable {
  passTypeId: number;
  tag: number;
}

/** Columns shared by webhooks and integrations: the targets the delivery engine sends events to. */
interface TargetColumns {
  id: Generated<number>;
  accountId: number;
  description: string;
  /** JSON array of event type patterns: "*", "pass.*", "registration.created". */
  events: string;
  enabled: number;
  disabledReason: string | null;
  /** Since when every attempt has failed (null while the target answers). */
  failingSince: string | null;
  lastSuccessAt: string | null;
  /** Bumped on every change, so cached copies (decrypted secrets) know they are stale. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface WebhooksTable extends TargetColumns {
  url: string;
  /** The signing secret (whsec_...), encrypted with the master key. */
  secretEnc: string;
  /** The secret before the last rotation, still signing until previousSecretUntil. */
  previousSecretEnc: string | null;
  previousSecretUntil: string | null;
}

export interface IntegrationsTable extends TargetColumns {
  type: string;
  /** JSON: base URLs, object and external id field. */
  settings: string;
  /** JSON: CRM property or field name -> the event field it takes. */
  mapping: string;
  /** JSON credentials (tokens, client secret), encrypted with the master key. */
  credentialsEnc: string;
}

export interface DeliveriesTable {
  id: Generated<number>;
  accountId: number;
  targetKind: 'webhook' | 'integration';
  targetId: number;
  eventId: string;
  /** Deliveries of one pass to one target go out in order. */
  passId: number | null;
  status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  nextAttemptAt: string;
  lockedUntil: string | null;
  lockedBy: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
}

export interface DeliveryAttemptsTable {
  id: Generated<number>;
  deliveryId: number;
  attemptedAt: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

/** A message sent to a pass holder: an email or an SMS, queued with a job of its channel's kind. */
export interface MessagesTable {
  id: Generated<number>;
  accountId: number;
  passId: number;
  channel: 'email' | 'sms';
  /** The address or E.164 number it goes to. */
  recipient: string;
  /** The SMS text (emails are built when sent). */
  body: string | null;
  /** The Twilio integration that sends an SMS. */
  integrationId: number | null;
  /** queued (ours), accepted (the provider took it), sent, delivered, failed. */
  status: MessageStatus;
  /** The provider's id of the message (Twilio's SM... sid). */
  providerId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: string;
  updatedAt: string;
}
export type MessageStatus = 'queued' | 'accepted' | 'sent' | 'delivered' | 'failed';

/** A Stripe event as received (its signature verified), worked off by a `stripe_event` job. */
export interface StripeEventsTable {
  id: Generated<number>;
  accountId: number;
  integrationId: number;
  /** Stripe's evt_... id: one row per event and integration, whatever Stripe retries. */
  eventId: string;
  type: string;
  /** The event as Stripe sent it (JSON). */
  payload: string;
  /** pending, done, ignored (nothing to do), failed (could not be done). */
  status: 'pending' | 'done' | 'ignored' | 'failed';
  /** Why it was ignored or failed, or what could not be delivered. */
  note: string | null;
  passId: number | null;
  createdAt: string;
  processedAt: string | null;
}

/** A Checkout Session fulfilled: claimed by the first paid event about it, then the one pass it issued. */
export interface StripeCheckoutsTable {
  id: Generated<number>;
  accountId: number;
  integrationId: number;
  /** cs_...: one row per session and integration. */
  sessionId: string;
  /** pi_...: how a refund (charge.refunded) finds the pass. */
  paymentIntent: string | null;
  /** The event that claimed the session; only its job issues the pass. */
  eventId: string;
  passId: number | null;
  createdAt: string;
  updatedAt: string;
}

/** What Google Wallet holds of a pass: its object, as last sent (src/jobs/google.ts), and whether a holder saved it. */
export interface GoogleObjectsTable {
  passId: number;
  accountId: number;
  objectId: string;
  /** 1 once Google has the object (inserted through the REST API, or saved from a link). */
  inserted: number;
  /** The pass version Google has. */
  syncedVersion: number;
  /** The last notification sent with addMessage. */
  message: string | null;
  /** Google's refusal of the last sync, kept until one succeeds. */
  error: string | null;
  /** 1 while the pass is in a holder's Google Wallet (save and delete callbacks). */
  saved: number;
  updatedAt: string;
}

/** A template's Google Wallet class, and the template version it was last sent at. */
export interface GoogleClassesTable {
  classId: string;
  accountId: number;
  templateId: number;
  templateVersion: number;
  updatedAt: string;
}

/** Nonces of Google's callbacks already handled (Google may deliver one twice). */
export interface GoogleCallbacksTable {
  nonce: string;
  createdAt: string;
}

export interface Database {
  accounts: AccountsTable;
  appKeys: AppKeysTable;
  passTypes: PassTypesTable;
  templates: TemplatesTable;
  images: ImagesTable;
  passes: PassesTable;
  passRenders: PassRendersTable;
  events: EventsTable;
  jobs: JobsTable;
  jobInputs: JobInputsTable;
  jobFailures: JobFailuresTable;
  idempotencyKeys: IdempotencyKeysTable;
  auditLog: AuditLogTable;
  auditHeads: AuditHeadsTable;
  actionStats: ActionStatsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  oauthClients: OauthClientsTable;
  oauthGrants: OauthGrantsTable;
  oauthCodes: OauthCodesTable;
  oauthTokens: OauthTokensTable;
  scanners: ScannersTable;
  devices: DevicesTable;
  registrations: RegistrationsTable;
  walletLogs: WalletLogsTable;
  pushLog: PushLogTable;
  updateTags: UpdateTagsTable;
  webhooks: WebhooksTable;
  integrations: IntegrationsTable;
  deliveries: DeliveriesTable;
  deliveryAttempts: DeliveryAttemptsTable;
  messages: MessagesTable;
  stripeEvents: StripeEventsTable;
  stripeCheckouts: StripeCheckoutsTable;
  googleObjects: GoogleObjectsTable;
  googleClasses: GoogleClassesTable;
  googleCallbacks: GoogleCallbacksTable;
}

export type Account = Selectable<AccountsTable>;
export type AppKeyRow = Selectable<AppKeysTable>;
export type PassTypeRow = Selectable<PassTypesTable>;
export type TemplateRow = Selectable<TemplatesTable>;
export type PassRow = Selectable<PassesTable>;
export type ImageRow = Selectable<ImagesTable>;
export type JobRow = Selectable<JobsTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type IntegrationRow = Selectable<IntegrationsTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
export type NewJob = Insertable<JobsTable>;
export type MessageRow = Selectable<MessagesTable>;
export type StripeEventRow = Selectable<StripeEventsTable>;
