// The MCP tools, generated from the action registry: one tool per action an app key may run (not the `system`
// actions, nor the live event stream, which is no call-and-answer), named as the action, with its title, description,
// input and output JSON Schemas (the TypeBox schemas are JSON Schema) and annotations. A call runs the action through
// the same door as every edge (scope, validation, idempotency, audit) with the edge `mcp`.
import { randomUUID } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { actions } from '../actions/index.js';
import { type Action, allows, execute, type FileOut } from '../actions/registry.js';
import type { App } from '../app.js';
import { AppError } from '../errors.js';
import type { KeyGrant } from '../store/keys.js';

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
  /^(email_pass|create_webhook|update_webhook)$/.test(action.name);

function describe(action: Action): string {
  const effect = action.mutates ? 'Changes state.' : 'Reads only.';
  return `${action.description}\n\n${effect} Needs the scope ${action.scope}.`;
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
  actions
    .filter((a) => a.scope !== 'system' && a.answers !== 'stream')
    .map((a) => [a.name, { action: a, tool: toolOf(a) }]),
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

/** Runs the tool's action for the credential; failures an agent can act on are results with isError. */
export async function callTool(
  app: App,
  grant: KeyGrant,
  name: string,
  args: unknown,
  requestId: string = randomUUID(),
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
