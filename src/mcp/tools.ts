// The MCP tools, generated from the action registry: one tool per action an app key may run (not the `system`
// actions, nor the live event stream, which is no call-and-answer), named as the action, with its title, description,
// input and output JSON Schemas (the TypeBox schemas are JSON Schema) and annotations. A call runs the action through
// the same door as every edge (scope, validation, idempotency, audit) with the edge `mcp`.
import { randomUUID } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { getJob } from '../actions/bulk.js';
import { actions } from '../actions/index.js';
import { type Action, allows, callable, execute, type FileOut, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { AppError } from '../errors.js';
import type { KeyGrant } from '../store/keys.js';
import type { ToolReader } from './confirm.js';
import type { Progress } from './server.js';

export interface ToolAnnotations {
  title: string;
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface Tool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
  outputSchema: { type: 'object'; [key: string]: unknown };
  annotations: ToolAnnotations;
}

export interface ToolResult {
  content: (
    | { type: 'text'; text: string }
    | { type: 'resource'; resource: { uri: string; mimeType: string; blob: string } }
  )[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

/** A plain JSON Schema of a TypeBox schema (TypeBox's own markers dropped). */
const jsonSchema = (schema: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(schema));

/** MCP wants an object at the root of outputSchema: other outputs (lists, records) are wrapped as {result}. */
const wraps = (action: Action): boolean => action.answers !== 'bytes' && action.output.type !== 'object';

const FILE_OUTPUT = {
  type: 'object',
  properties: {
    contentType: { type: 'string' },
    filename: { type: 'string' },
    size: { type: 'integer', description: 'bytes; the file itself is the resource in the content' },
  },
  required: ['contentType', 'size'],
} as const;

/** Whether a run removes or overwrites something that cannot be had back. */
const destructive = (action: Action): boolean =>
  action.mutates && /^(delete|revoke|rotate|replay|update_passes_of_template)/.test(action.name);
/** Running it again with the same input has no further effect. */
const idempotent = (action: Action): boolean =>
  !action.mutates || /^(set|update|delete|revoke)_/.test(action.name);
/** It reaches beyond Passslot (email, a webhook receiver, a CRM). */
const openWorld = (action: Action): boolean =>
  /^(email_pass|sms_pass|send_pass|create_webhook|update_webhook|create_integration)$/.test(action.name);

/** Sample values by field name, for the example call in each tool's description. */
const SAMPLES: Record<string, unknown> = {
  passTypeIdentifier: 'pass.com.example.member',
  serialNumber: '3f2b8c1e-7d4a-4e55-9a0b-5c1d2e3f4a5b',
  templateId: 1,
  templateName: 'Member Card',
  values: { points: 150 },
  email: 'ada@example.com',
  userId: 'user-42',
  externalId: 'crm-0042',
  message: 'Doors open at 7 pm',
  reason: 'refunded',
  status: 'redeemed',
  price: 25,
  name: 'Summer event',
  url: 'https://hooks.example.com/passslot',
  events: ['pass.*'],
  type: 'strip',
  resolution: 'high',
  deliveryId: 17,
  since: '2026-12-01T00:00:00Z',
  scopes: ['passes:read'],
  channel: 'sms',
  to: '+15558675310',
};

/** A value of a schema's type (a union: of its first branch). */
function sampleOf(schema: TSchema): unknown {
  const one: TSchema = (Array.isArray(schema.anyOf) && schema.anyOf[0]) || schema;
  if ('const' in one) return one.const;
  const samples: Record<string, unknown> = { integer: 1, number: 1, boolean: true, object: {}, array: [] };
  return samples[String(one.type)] ?? 'text';
}

/** An example input: the required fields (and a holder for create_pass), with sample values. */
function exampleOf(action: Action): Record<string, unknown> {
  const schema = action.input as { properties?: Record<string, TSchema>; required?: string[] };
  const wanted = new Set([
    ...(schema.required ?? []),
    ...(action.name === 'create_pass' ? ['templateId', 'email'] : []),
  ]);
  const out: Record<string, unknown> = {};
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (!wanted.has(key)) continue;
    if (key in SAMPLES && !(key === 'id' || (key === 'type' && action.name.includes('integration'))))
      out[key] = SAMPLES[key];
    else if (key === 'id') out[key] = prop.type === 'string' ? SAMPLES.passTypeIdentifier : 1;
    else out[key] = sampleOf(prop);
  }
  return out;
}

/** What the answer holds: the output's top-level fields. */
function returnsOf(action: Action): string {
  if (action.answers === 'bytes') return 'the file, as an embedded resource (and its type and size)';
  const out = action.output as {
    type?: string;
    properties?: Record<string, unknown>;
    items?: { properties?: object };
  };
  if (out.type === 'object' && out.properties && Object.keys(out.properties).length)
    return `{${Object.keys(out.properties).join(', ')}}`;
  if (out.type === 'object' && out.properties) return '{} once done';
  if (out.type === 'object') return 'an object of named values';
  if (out.type === 'array')
    return out.items?.properties
      ? `{result: [{${Object.keys(out.items.properties).join(', ')}}, ...]}`
      : 'a list';
  return 'an object';
}

/** For a model choosing between tools: what it does and when to use it, what it returns, and one example call. */
function describe(action: Action): string {
  const effect = action.mutates ? 'Changes state' : 'Reads only';
  return (
    `${action.description}\n\nReturns ${returnsOf(action)}. ${effect}; needs the scope ${action.scope}.\n` +
    `Example: ${JSON.stringify(exampleOf(action))}`
  );
}

function toolOf(action: Action): Tool {
  const input = jsonSchema(action.input);
  const output = action.answers === 'bytes' ? { ...FILE_OUTPUT } : jsonSchema(action.output);
  return {
    name: action.name,
    title: action.title,
    description: describe(action),
    inputSchema: { ...input, type: 'object' },
    outputSchema: wraps(action)
      ? { type: 'object', properties: { result: output }, required: ['result'] }
      : { ...output, type: 'object' },
    annotations: {
      title: action.title,
      readOnlyHint: !action.mutates,
      destructiveHint: destructive(action),
      idempotentHint: idempotent(action),
      openWorldHint: openWorld(action),
    },
  };
}

/** The actions that are tools, by name, with their tool definitions (built once). */
const TOOLS: ReadonlyMap<string, { action: Action; tool: Tool }> = new Map(
  actions.filter(callable).map((a) => [a.name, { action: a, tool: toolOf(a) }]),
);

/** The tools a credential may call: only those its scopes allow (least privilege). */
export function toolsFor(grant: KeyGrant): Tool[] {
  return [...TOOLS.values()].filter((t) => allows(grant, t.action.scope)).map((t) => t.tool);
}

/** The tool of a name, whether or not the credential may call it; undefined when there is none. */
export const toolNamed = (name: string): { action: Action; tool: Tool } | undefined => TOOLS.get(name);

/**
 * An error as the model reads it: the code, the message, then a line per field with its reasons (as the REST API's
 * `errors`). No structuredContent: it would have to match the tool's outputSchema, which describes a success.
 */
export function errorResult(err: AppError): ToolResult {
  const lines = [
    `${err.code}: ${err.message}`,
    ...err.errors.map((e) => `${e.field}: ${e.reasons.join('; ')}`),
  ];
  return { content: [{ type: 'text', text: lines.join('\n') }], isError: true };
}

const MAX_TEXT = 4000;

/** Reads with the credential's own access. */
export const readerFor =
  (app: App, grant: KeyGrant): ToolReader =>
  async (name, args) => {
    const result = await callTool(app, grant, name, args);
    return result.isError ? undefined : result.structuredContent;
  };

const JOB_POLL_MS = 200;

/** Waits for a background job, reporting its progress, until it is done or failed (or the wait is given up). */
async function followJob(app: App, grant: KeyGrant, jobId: number, progress: Progress): Promise<string> {
  const ctx = systemContext(app, grant.accountId, `mcp-job-${jobId}`, 'mcp');
  const deadline = Date.now() + 10 * 60_000;
  let reported = -1;
  for (;;) {
    const { output: job } = await execute(getJob, ctx, { id: jobId });
    const p = (job.progress ?? {}) as { total?: number; processed?: number; updated?: number };
    if ((p.processed ?? 0) > reported) {
      reported = p.processed ?? 0;
      await progress(reported, p.total || undefined, `${p.updated ?? 0} pass(es) changed`);
    }
    if (job.status === 'done' || job.status === 'failed' || Date.now() > deadline) return job.status;
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
  }
}

/** Runs the tool's action for the credential; failures an agent can act on are results with isError. */
export async function callTool(
  app: App,
  grant: KeyGrant,
  name: string,
  args: unknown,
  requestId: string = randomUUID(),
  progress?: Progress,
): Promise<ToolResult> {
  const found = TOOLS.get(name);
  if (!found) throw new AppError('not_found', `no tool ${name}`);
  const { action } = found;
  try {
    const { output } = await execute(action, { app, grant, requestId, edge: 'mcp' }, args ?? {});
    if (action.answers === 'bytes') {
      const file = output as FileOut;
      return {
        content: [
          {
            type: 'resource',
            resource: {
              uri: `passslot:${action.name}/${file.filename ?? 'file'}`,
              mimeType: file.contentType,
              blob: Buffer.from(file.data).toString('base64'),
            },
          },
        ],
        structuredContent: {
          contentType: file.contentType,
          filename: file.filename,
          size: file.data.byteLength,
        },
      };
    }
    // a bulk change with a progress token: the call follows its job to the end
    const jobId = (output as { jobId?: unknown }).jobId;
    if (progress && typeof jobId === 'number')
      (output as { status: string }).status = await followJob(app, grant, jobId, progress);
    const structured = wraps(action) ? { result: output } : (output as Record<string, unknown>);
    const text = JSON.stringify(output);
    return {
      content: [
        {
          type: 'text',
          text: text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}… (see structuredContent)` : text,
        },
      ],
      structuredContent: structured,
    };
  } catch (err) {
    if (err instanceof AppError) return errorResult(err);
    throw err;
  }
}
