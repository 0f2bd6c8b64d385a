// The one error type of the service: a stable code from the catalogue below (which fixes the HTTP status), a message
// for people, and field errors. The REST API renders it as PassSlot's {"message", "errors": [{"field", "reasons"}]}
// plus "code": PassSlot's clients read message and errors and keep working; programs and agents branch on the code.

export interface FieldError {
  field: string;
  reasons: string[];
}

/** Every error code Passslot answers with, and its HTTP status. A code never changes meaning once released. */
export const ERROR_CODES = {
  /** The request cannot be read: malformed JSON or multipart, a body that is not an object. */
  bad_request: 400,
  /** No app key, or one that is unknown, revoked or rotated. */
  unauthorized: 401,
  /** The app key lacks the scope the action needs. */
  missing_scope: 403,
  /** The app key is restricted to other templates or pass types, or cannot do account-wide things. */
  restricted_key: 403,
  /** Only Passslot itself runs this action (the operator's CLI, workers, Wallet, pass pages). */
  system_only: 403,
  /** A signed request from a service (Twilio's status callbacks) whose signature does not match. */
  invalid_signature: 403,
  /** The template stopped issuing passes (its quantity or date restriction). */
  template_closed: 403,
  /** Nothing of that name in this account (another account's resources are not found either). */
  not_found: 404,
  /** The request conflicts with the current state (a name taken, a pass type in use, a pass busy). */
  conflict: 409,
  /** The client took too long to send its request (its headers, or its whole body). */
  request_timeout: 408,
  /** The body is larger than the limit. */
  body_too_large: 413,
  /** The route does not take this content type (multipart where JSON is expected). */
  unsupported_media_type: 415,
  /** The input breaks the action's schema or Apple's rules; `errors` says where. */
  validation_failed: 422,
  /** The Idempotency-Key was used with another request. */
  idempotency_key_reused: 422,
  /** Too many requests for the key's rate limit; Retry-After says when to try again. */
  rate_limited: 429,
  /** The request's URL and headers are larger than the limit (16 KB). */
  headers_too_large: 431,
  /** Something failed on our side; the answer carries the request id to quote. */
  internal: 500,
  /** This process is stopping (draining) or cannot reach its database: try another one, or again shortly. */
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(message);
    this.status = ERROR_CODES[code];
  }
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);
export const invalid = (errors: FieldError[], message = 'Validation Failed'): AppError =>
  new AppError('validation_failed', message, errors);
export const forbidden = (
  message: string,
  code: Extract<ErrorCode, 'missing_scope' | 'restricted_key' | 'system_only' | 'template_closed'>,
): AppError => new AppError(code, message);
export const badRequest = (message: string, errors: FieldError[] = []): AppError =>
  new AppError('bad_request', message, errors);
export const conflict = (message: string): AppError => new AppError('conflict', message);

/** The code of an HTTP status that did not come from an AppError (Fastify's own 4xx answers). */
export function codeOfStatus(status: number): ErrorCode {
  const found = (Object.entries(ERROR_CODES) as [ErrorCode, number][]).find(([, s]) => s === status);
  return found ? found[0] : status >= 500 ? 'internal' : 'bad_request';
}

/** Groups problem-like items into PassSlot field errors: one entry per field with all its reasons. */
export function fieldErrors(items: readonly { field: string; reason: string }[]): FieldError[] {
  const byField = new Map<string, string[]>();
  for (const { field, reason } of items) byField.set(field, [...(byField.get(field) ?? []), reason]);
  return [...byField].map(([field, reasons]) => ({ field, reasons }));
}
