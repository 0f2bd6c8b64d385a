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

/**
 * Where an action is run from. Edges translate their protocol to an action run and back, nothing more. `trigger`: a
 * service outside calling in (Stripe's and Twilio's signed hooks) and the work it sets off.
 */
export type Edge = 'rest' | 'cli' | 'mcp' | 'job' | 'page' | 'wallet' | 'trigger';

export interface ActionContext {
  app: App;
  grant: KeyGrant;
  requestId: string;
  edge: Edge;
  /** The passes and templates a run touched, for its execution record (execute gives each run its own). */
  touched?: Touched;
}

/** The passes (`passTypeIdentifier/serialNumber`) and templates (ids) a run found or made. */
export interface Touched {
  passes: Set<string>;
  templates: Set<number>;
}

/** Records that the run of `ctx` touched a pass or a template (access.ts calls it for everything it finds). */
export function touch(ctx: ActionContext, what: { pass?: string; template?: number }): void {
  if (!ctx.touched) return;
  if (what.pass && ctx.touched.passes.size < MAX_TOUCHED) ctx.touched.passes.add(what.pass);
  if (what.template !== undefined && ctx.touched.templates.size < MAX_TOUCHED)
    ctx.touched.templates.add(what.template);
}
const MAX_TOUCHED = 100;

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
      credential: 'system',
      onBehalfOf: 'system',
      userId: null,
      grantId: null,
      audience: null,
    },
    requestId,
    edge,
  };
}

/**
 * A key's scope; `system`: only Passslot itself (the operator's CLI, workers, Wallet, pages) runs those; `self`: a
 * person's own credential (an OAuth token, a key of theirs) or an admin key (`*`), for what concerns a person.
 */
export type ActionScope = Scope | 'system' | 'self';

export const allows = (grant: KeyGrant, scope: ActionScope): boolean =>
  scope === 'system'
    ? grant.system === true
    : scope === 'self'
      ? hasScope(grant, '*') || grant.userId !== null
      : hasScope(grant, scope);

/** Why a credential may not run an action that needs `scope`. */
function refusal(name: string, scope: ActionScope): AppError {
  if (scope === 'system')
    return forbidden(`${name} is run by Passslot itself, not with an app key`, 'system_only');
  if (scope === 'self')
    return forbidden(`${name} needs a person's own credential or an admin key (scope *)`, 'missing_scope');
  return forbidden(`this credential lacks the scope ${scope} (needed by ${name})`, 'missing_scope');
}

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

/** Where the input holds a NUL character (in a string or a key): no text of Passslot may, and PostgreSQL refuses it. */
function nulFields(value: unknown, at = ''): string[] {
  if (typeof value === 'string') return value.includes('\u0000') ? [at || 'body'] : [];
  if (!value || typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const field = Array.isArray(value) ? `${at}[${k}]` : at ? `${at}.${k}` : k;
    if (k.includes('\u0000')) out.push(field);
    else out.push(...nulFields(v, field));
    if (out.length >= 50) break;
  }
  return out;
}

/** Validates a value against a schema; throws a 422 with one field error per problem. */
export function validate<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const nul = nulFields(value);
  if (nul.length)
    throw invalid(nul.map((field) => ({ field, reasons: ['must not contain the NUL character (\\u0000)'] })));
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
  outer: ActionContext,
  input: unknown,
  options: RunOptions = {},
): Promise<Run<Static<O>>> {
  const started = performance.now();
  const ctx: ActionContext = { ...outer, touched: { passes: new Set(), templates: new Set() } };
  let checked: unknown = input;
  let outcome = options.status ?? 200;
  let failure: string | null = null;
  let output: unknown;
  let accountId = ctx.grant.accountId;
  try {
    if (!allows(ctx.grant, action.scope)) throw refusal(action.name, action.scope);
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
    output = await action.handler(ctx, valid);
    if (idem) await keepOutput(ctx.app.db, idem, outcome, output, ctx.app.clock.now());
    // an action above every account (creating one) is recorded in the account it made
    if (!accountId) accountId = Number((output as { accountId?: unknown } | undefined)?.accountId) || 0;
    return { output: output as Static<O>, replayed: false };
  } catch (err) {
    outcome = err instanceof AppError ? err.status : 500;
    failure = err instanceof AppError ? err.message : 'internal error';
    throw err;
  } finally {
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    const now = ctx.app.clock.now();
    ctx.app.stats.record(accountId, action.name, ctx.edge, outcome < 400, durationMs, now);
    // every change from any edge, and every call an agent makes (reads included), is recorded
    if ((action.mutates || ctx.edge === 'mcp') && accountId) {
      touchOutput(ctx, output);
      void ctx.app.audit.write({
        accountId,
        keyId: ctx.grant.keyId || null,
        edge: ctx.edge,
        action: action.name,
        target: targetOf(checked),
        outcome,
        error: failure,
        durationMs,
        requestId: ctx.requestId,
        credential: ctx.grant.credential,
        onBehalfOf: ctx.grant.onBehalfOf,
        input: checked === undefined ? null : JSON.stringify(redactInput(checked)),
        touched: touchedJson(ctx.touched!),
        createdAt: now.toISOString(),
      });
    }
  }
}

/** A pass or template an action made (its output names it) is touched too. */
function touchOutput(ctx: ActionContext, output: unknown): void {
  if (!output || typeof output !== 'object' || Array.isArray(output)) return;
  const o = output as Record<string, unknown>;
  if (typeof o.passTypeIdentifier === 'string' && typeof o.serialNumber === 'string')
    touch(ctx, { pass: `${o.passTypeIdentifier}/${o.serialNumber}` });
  if (typeof o.templateId === 'number') touch(ctx, { template: o.templateId });
}

const touchedJson = (t: Touched): string | null =>
  t.passes.size || t.templates.size
    ? JSON.stringify({ passes: [...t.passes], templates: [...t.templates] })
    : null;

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
