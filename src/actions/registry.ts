// Every operation of Passslot is an action: a name, a description written for whoever must pick the right one (a
// person reading the API docs or an agent choosing an MCP tool), the scope it needs, JSON schemas for its input and
// output, and one handler. The REST routes, the CLI, OpenAPI, the audit log and (later) the MCP tools derive from this
// registry, and every edge runs actions through execute/runAction below.
import { FormatRegistry, type Static, type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import type { App } from '../app.js';
import { AppError, fieldErrors, forbidden, invalid } from '../errors.js';
import { redactInput } from '../store/audit.js';
import { idempotentRun, keepOutput, replayOf } from '../store/idempotency.js';
import { hasScope, type KeyGrant, type Scope } from '../store/keys.js';

/** Where an action is run from. Edges translate their protocol to an action run and back, nothing more. */
export type Edge = 'rest' | 'cli' | 'mcp' | 'job' | 'page' | 'wallet';

export interface ActionContext {
  app: App;
  grant: KeyGrant;
  requestId: string;
  edge: Edge;
}

/**
 * The context of work Passslot does itself, outside any app key: the operator's CLI, jobs, Wallet's web service and
 * pass pages (whose callers proved who they are with a pass's own token). `accountId` 0 is above every account.
 */
export function systemContext(app: App, accountId: number, requestId: string, edge: Edge): ActionContext {
  return {
    app,
    grant: {
      keyId: 0,
      accountId,
      scopes: ['*'],
      templateIds: null,
      passTypeIds: null,
      rateLimit: null,
      system: true,
    },
    requestId,
    edge,
  };
}

/** A key's scope, or `system`: only Passslot itself (the operator's CLI, workers, Wallet, pages) runs those. */
export type ActionScope = Scope | 'system';

export const allows = (grant: KeyGrant, scope: ActionScope): boolean =>
  scope === 'system' ? grant.system === true : hasScope(grant, scope);

/** What an action answers: JSON (the default), a file's bytes, or a live stream of events. */
export type Answer = 'json' | 'bytes' | 'stream';

export const FileOut = Type.Object({
  contentType: Type.String(),
  filename: Type.Optional(Type.String()),
  data: Type.Uint8Array(),
});
export type FileOut = Static<typeof FileOut>;

export interface Action<I extends TSchema = TSchema, O extends TSchema = TSchema> {
  name: string;
  title: string;
  description: string;
  scope: ActionScope;
  /** True when the action changes state: its runs are audited and may carry an idempotency key. */
  mutates: boolean;
  /** Default json. A `bytes` action's output is a FileOut; a `stream` action's an event feed. */
  answers?: Answer;
  input: I;
  output: O;
  handler(ctx: ActionContext, input: Static<I>): Promise<Static<O>>;
}

/**
 * Whether a credential can call the action and get its answer: every action but Passslot's own (`system`) and the
 * live streams (no call-and-answer). These are the MCP tools, what POST /v1/actions/:name runs, and the SDK's methods.
 */
export const callable = (action: Action): boolean => action.scope !== 'system' && action.answers !== 'stream';

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

export interface RunOptions {
  /** Replays the first successful output of this key and input (mutating actions only). */
  idempotencyKey?: string;
  /** The status the edge answers a success with (201 for a create on REST), for the audit record. */
  status?: number;
}

export interface Run<T> {
  output: T;
  /** The output is the one kept for the idempotency key, not a new run. */
  replayed: boolean;
}

/** The audit record's target: the pass, template or other resource the input names. */
function targetOf(input: unknown): string | null {
  if (!input || typeof input !== 'object') return null;
  const i = input as Record<string, unknown>;
  if (typeof i.passTypeIdentifier === 'string' && typeof i.serialNumber === 'string')
    return `${i.passTypeIdentifier}/${i.serialNumber}`;
  const id = i.templateId ?? i.id ?? i.templateName ?? i.passTypeIdentifier;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
}

/**
 * The door every edge goes through: checks the scope (and, in the handlers, the key's template and pass type
 * restrictions), validates the input, applies the idempotency key, runs the handler, and writes the audit record of a
 * mutating action, and of any MCP tool call, whatever the outcome.
 */
export async function execute<I extends TSchema, O extends TSchema>(
  action: Action<I, O>,
  ctx: ActionContext,
  input: unknown,
  options: RunOptions = {},
): Promise<Run<Static<O>>> {
  const started = performance.now();
  let checked: unknown = input;
  let outcome = options.status ?? 200;
  let accountId = ctx.grant.accountId;
  try {
    if (!allows(ctx.grant, action.scope))
      throw action.scope === 'system'
        ? forbidden(`${action.name} is run by Passslot itself, not with an app key`, 'system_only')
        : forbidden(
            `this app key lacks the scope ${action.scope} (needed by ${action.name})`,
            'missing_scope',
          );
    const valid = validate(action.input, input);
    checked = valid;
    const idem =
      options.idempotencyKey !== undefined && action.mutates
        ? idempotentRun(ctx.grant.accountId, options.idempotencyKey, action.name, valid)
        : undefined;
    if (idem) {
      const kept = await replayOf(ctx.app.db, idem, ctx.app.clock.now());
      if (kept !== undefined) return { output: kept as Static<O>, replayed: true };
    }
    const output = await action.handler(ctx, valid);
    if (idem) await keepOutput(ctx.app.db, idem, outcome, output, ctx.app.clock.now());
    // an action above every account (creating one) is recorded in the account it made
    if (!accountId) accountId = Number((output as { accountId?: unknown } | undefined)?.accountId) || 0;
    return { output, replayed: false };
  } catch (err) {
    outcome = err instanceof AppError ? err.status : 500;
    throw err;
  } finally {
    // every change from any edge, and every call an agent makes (reads included), is recorded
    if ((action.mutates || ctx.edge === 'mcp') && accountId)
      void ctx.app.audit.write({
        accountId,
        keyId: ctx.grant.keyId || null,
        edge: ctx.edge,
        action: action.name,
        target: targetOf(checked),
        outcome,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        requestId: ctx.requestId,
        input: checked === undefined ? null : JSON.stringify(redactInput(checked)),
        createdAt: ctx.app.clock.now().toISOString(),
      });
  }
}

/** Runs an action through the door (execute) and returns its output. */
export async function runAction<I extends TSchema, O extends TSchema>(
  action: Action<I, O>,
  ctx: ActionContext,
  input: unknown,
  options?: RunOptions,
): Promise<Static<O>> {
  return (await execute(action, ctx, input, options)).output;
}

export { AppError };
