// The CLI as an edge: local commands run actions through the door with the system principal (the operator at the
// machine), and translate the action's errors into the command's: bad input is a usage error (exit 2), anything else
// the user can act on exits 1.
import { randomUUID } from 'node:crypto';
import type { Static, TSchema } from '@sinclair/typebox';
import { type Action, runAction, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { AppError } from '../errors.js';
import { CommandError, UsageError } from './io.js';

function describe(err: AppError): string {
  const fields = err.errors.map((e) => `  ${e.field}: ${e.reasons.join('; ')}`);
  return [err.message, ...fields].join('\n');
}

/** Runs an action for the operator, in the account `accountId` (0: above every account). */
export async function runForOperator<I extends TSchema, O extends TSchema>(
  app: App,
  action: Action<I, O>,
  accountId: number,
  input: unknown,
): Promise<Static<O>> {
  try {
    return await runAction(action, systemContext(app, accountId, `cli-${randomUUID()}`, 'cli'), input);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    if (err.code === 'bad_request' || err.code === 'validation_failed') throw new UsageError(describe(err));
    throw new CommandError(describe(err));
  }
}
