// What the commands share: usage errors, reading files with clear messages, printing problems.
import { readFileSync } from 'node:fs';
import type { Problem } from '../engine/index.js';

/** A mistake in how the command was called: exit code 2 with the message. */
export class UsageError extends Error {}

/** A failure the user can act on: exit code 1 with the message. */
export class CommandError extends Error {}

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Rewrites the current line of the terminal on stderr (a progress bar); absent when stderr is no terminal. */
  status?(line: string): void;
}

export const stdio: Output = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  ...(process.stderr.isTTY ? { status: (line: string) => process.stderr.write(`\r${line}\x1b[K`) } : {}),
};

export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CommandError(
      `cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

export function readJsonFile(path: string, what: string): unknown {
  const text = readInput(path, what).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CommandError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export function formatProblem(p: Problem): string {
  const where = [p.file, p.path].filter(Boolean).join(' ');
  return `${p.severity === 'error' ? 'error  ' : 'warning'}  ${where ? `${where}: ` : ''}${p.message}`;
}

export function printProblems(io: Output, problems: readonly Problem[]): void {
  for (const p of problems) io.err(formatProblem(p));
}
