// Every operation of Passslot is an action: a name, a description written for whoever must pick the right one (a
// person reading the API docs or an agent choosing an MCP tool), the scope it needs, JSON schemas for its input and
// output, and one handler. The REST routes, OpenAPI, the audit log and (later) the MCP tools derive from this registry.
import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import type { App } from '../app.js';
import { AppError, fieldErrors, forbidden, invalid } from '../errors.js';
import { hasScope, type KeyGrant, type Scope } from '../store/keys.js';

export interface ActionContext {
  app: App;
  grant: KeyGrant;
  requestId: string;
}

/** The context of work Passslot does on an account's behalf, outside any app key (jobs, Wallet, pass links). */
export function systemContext(app: App, accountId: number, requestId: string): ActionContext {
  return {
    app,
    grant: { keyId: 0, accountId, scopes: ['*'], templateIds: null, passTypeIds: null, rateLimit: null },
    requestId,
  };
}

export interface Action<I extends TSchema = TSchema, O extends TSchema = TSchema> {
  name: string;
  title: string;
  description: string;
  scope: Scope;
  /** True when the action changes state (audited, idempotent on POST). */
  mutates: boolean;
  input: I;
  output: O;
  handler(ctx: ActionContext, input: Static<I>): Promise<Static<O>>;
}

// The string formats the schemas use.
if (!FormatRegistry.Has('email'))
  FormatRegistry.Set(
    'email',
    (v) => /^[^\s@"<>,;:]+@[^\s@"<>,;:]+\.[^\s@"<>,;:]+$/.test(v) && v.length <= 320,
  );
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set(
    'date-time',
    (v) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v) &&
      !Number.isNaN(Date.parse(v)),
  );

const checkers = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = checkers.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    checkers.set(schema, c);
  }
  return c;
}

/** `/values/firstName` → `values.firstName`; `/images/0` → `images[0]`. */
export function fieldOf(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

/** Validates a value against a schema; throws a 422 with one field error per problem. */
export function validate<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const c = checker(schema);
  if (c.Check(value)) return value as Static<T>;
  const items = [...c.Errors(value)]
    .slice(0, 50)
    .map((e) => ({ field: fieldOf(e.path) || 'body', reason: e.message }));
  throw invalid(fieldErrors(items));
}

export function defineAction<I extends TSchema, O extends TSchema>(action: Action<I, O>): Action<I, O> {
  return action;
}

/** Checks the scope, validates the input and runs the handler. */
export async function runAction<I extends TSchema, O extends TSchema>(
  action: Action<I, O>,
  ctx: ActionContext,
  input: unknown,
): Promise<Static<O>> {
  if (!hasScope(ctx.grant, action.scope))
    throw forbidden(`this app key lacks the scope ${action.scope} (needed by ${action.name})`);
  return action.handler(ctx, validate(action.input, input));
}

export { AppError };
