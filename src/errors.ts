// The one error type of the service: an HTTP status, a message, and field errors. The REST API renders it as
// PassSlot's {"message", "errors": [{"field", "reasons"}]}.

export interface FieldError {
  field: string;
  reasons: string[];
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string): AppError => new AppError(404, `${what} not found`);
export const invalid = (errors: FieldError[], message = 'Validation Failed'): AppError =>
  new AppError(422, message, errors);
export const forbidden = (message: string): AppError => new AppError(403, message);
export const badRequest = (message: string, errors: FieldError[] = []): AppError =>
  new AppError(400, message, errors);
export const conflict = (message: string): AppError => new AppError(409, message);

/** Groups problem-like items into PassSlot field errors: one entry per field with all its reasons. */
export function fieldErrors(items: readonly { field: string; reason: string }[]): FieldError[] {
  const byField = new Map<string, string[]>();
  for (const { field, reason } of items) byField.set(field, [...(byField.get(field) ?? []), reason]);
  return [...byField].map(([field, reasons]) => ({ field, reasons }));
}
