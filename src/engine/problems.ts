// A problem found in a pass: where (a JSON path into pass.json, or a file name in the package), what, and how bad.
// An error blocks signing; a warning does not.

export type Severity = 'error' | 'warning';

export interface Problem {
  /** A JSON path into pass.json (`eventTicket.primaryFields[0].changeMessage`), or a file of the package. */
  path: string;
  message: string;
  severity: Severity;
  /** The package file the path is in, when it is not evident (the doctor sets `pass.json` for pass.json rules). */
  file?: string;
}

export const hasErrors = (problems: readonly Problem[]): boolean =>
  problems.some((p) => p.severity === 'error');

/** Joins a JSON path: `eventTicket` + `primaryFields` + 0 → `eventTicket.primaryFields[0]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/** Thrown when a pass cannot be built; carries every problem found, errors and warnings. */
export class PassProblemsError extends Error {
  constructor(readonly problems: Problem[]) {
    const errors = problems.filter((p) => p.severity === 'error');
    super(
      `the pass has ${errors.length} error${errors.length === 1 ? '' : 's'}: ${errors
        .slice(0, 5)
        .map((p) => `${p.path || '(pass)'}: ${p.message}`)
        .join('; ')}${errors.length > 5 ? '; ...' : ''}`,
    );
  }
}

/** Collects problems under a path prefix. */
export class Collector {
  readonly problems: Problem[] = [];
  error(path: string, message: string): void {
    this.problems.push({ path, message, severity: 'error' });
  }
  warn(path: string, message: string): void {
    this.problems.push({ path, message, severity: 'warning' });
  }
}
