// The one error of the SDK: what Passslot answered when a call failed ({message, code, errors}, as every error of the
// API), or a network failure (status 0) once the retries are spent.

export interface FieldError {
  field: string;
  reasons: string[];
}

export class PassslotError extends Error {
  override readonly name = 'PassslotError';
  /** The HTTP status; 0 when Passslot could not be reached. */
  readonly status: number;
  /** The stable code (not_found, validation_failed, missing_scope, rate_limited, ...; network_error at status 0). */
  readonly code: string;
  /** What was wrong with which field of the input (validation_failed). */
  readonly errors: FieldError[];
  /** The request id Passslot answered with, to quote. */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    more: { errors?: FieldError[]; requestId?: string; cause?: unknown } = {},
  ) {
    super(message, more.cause === undefined ? undefined : { cause: more.cause });
    this.status = status;
    this.code = code;
    this.errors = more.errors ?? [];
    this.requestId = more.requestId;
  }
}

const isFieldError = (e: unknown): e is FieldError =>
  typeof e === 'object' &&
  e !== null &&
  typeof (e as FieldError).field === 'string' &&
  Array.isArray((e as FieldError).reasons);

/**
 * The error of a failed answer: Passslot's `{message, code, errors}`, or OAuth's `{error, error_description}` from the
 * token endpoint; a body that is neither still gives the status.
 */
export async function errorOf(res: Response): Promise<PassslotError> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the status says it
  }
  const code =
    typeof body.code === 'string'
      ? body.code
      : typeof body.error === 'string'
        ? body.error
        : `http_${res.status}`;
  const message =
    typeof body.message === 'string'
      ? body.message
      : typeof body.error_description === 'string'
        ? body.error_description
        : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${text ? `: ${text.slice(0, 200)}` : ''}`;
  const errors = Array.isArray(body.errors) ? body.errors.filter(isFieldError) : [];
  return new PassslotError(res.status, code, message, { errors, requestId });
}
