// Writes src/client/actions.gen.ts, the client SDK's types, from the action registry: for every action a credential
// can call (not Passslot's own `system` actions, not live streams), TypeScript types of its input and output emitted
// from its TypeBox (JSON Schema) schemas, the `Actions` map of name → {input, output}, the list pages (`Pages`), the
// runtime facts the client needs (mutates, answers, the items of a page) and one typed method per action.
// `npm run gen:client` runs it; test/client/generated.test.ts fails when the committed file is stale.
//
// The emitter knows the JSON Schema TypeBox writes: object (properties, required, patternProperties and
// additionalProperties as index signatures), array, anyOf/oneOf, allOf, enum, const, the primitive types, and TypeBox's
// Uint8Array (a file's bytes); anything else is `unknown`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { actions } from '../src/actions/index.js';
import { type Action, callable } from '../src/actions/registry.js';

type Schema = Record<string, unknown>;

/** Methods of the client itself, which no action's method may shadow. */
const RESERVED = new Set(['run', 'paginate', 'bulk', 'constructor']);

const pascal = (name: string): string =>
  name.replace(/(^|_)([a-z0-9])/g, (_, _sep: string, c: string) => c.toUpperCase());
const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const quote = (text: string): string =>
  `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;

function literal(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return 'unknown';
}

const propertyKey = (key: string): string => (/^[A-Za-z_$][\w$]*$/.test(key) ? key : quote(key));

/** A type's text, and whether it needs parentheses before `[]`. */
interface Emitted {
  text: string;
  compound: boolean;
}

const atom = (text: string): Emitted => ({ text, compound: false });

function union(members: Emitted[]): Emitted {
  const texts = [...new Set(members.map((m) => m.text))];
  if (texts.length === 0) return atom('never');
  if (texts.includes('unknown')) return atom('unknown');
  if (texts.length === 1) return members.find((m) => m.text === texts[0])!;
  // `&` binds tighter than `|`: no member needs parentheses
  return { text: texts.join(' | '), compound: true };
}

/** A JSDoc comment of `text`, wrapped to the line width, at `indent`. */
export function jsdoc(text: string, indent: string): string {
  const words = text.replace(/\*\//g, '*\\/').split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && indent.length + 3 + line.length + 1 + word.length > 110) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  if (lines.length === 1 && indent.length + lines[0]!.length + 7 <= 110)
    return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

function objectBody(schema: Schema, depth: number): string {
  const pad = '  '.repeat(depth + 1);
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required ?? []) as string[]);
  const lines: string[] = [];
  for (const [key, prop] of Object.entries(properties)) {
    const doc = typeof prop.description === 'string' ? jsdoc(prop.description, pad) : '';
    lines.push(
      `${doc}${pad}${propertyKey(key)}${required.has(key) ? '' : '?'}: ${emit(prop, depth + 1).text};\n`,
    );
  }
  const index = indexType(schema, depth + 1);
  if (index) lines.push(`${pad}[key: string]: ${Object.keys(properties).length ? 'unknown' : index.text};\n`);
  return `{\n${lines.join('')}${'  '.repeat(depth)}}`;
}

/** The type of the values of an object's other keys (patternProperties, additionalProperties), if it has any. */
function indexType(schema: Schema, depth: number): Emitted | undefined {
  const patterns = Object.values((schema.patternProperties ?? {}) as Record<string, Schema>);
  const additional = schema.additionalProperties;
  const members = patterns.map((p) => emit(p, depth));
  if (additional === true) members.push(atom('unknown'));
  else if (additional && typeof additional === 'object') members.push(emit(additional as Schema, depth));
  return members.length ? union(members) : undefined;
}

/** The TypeScript type of a JSON Schema. */
export function emit(schema: Schema, depth = 0): Emitted {
  if ('const' in schema) return atom(literal(schema.const));
  if (Array.isArray(schema.enum)) return union(schema.enum.map((v) => atom(literal(v))));
  const alternatives = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (Array.isArray(alternatives)) return union(alternatives.map((s) => emit(s, depth)));
  if (Array.isArray(schema.allOf)) {
    const parts = (schema.allOf as Schema[]).map((s) => emit(s, depth));
    return { text: parts.map((p) => (p.compound ? `(${p.text})` : p.text)).join(' & '), compound: true };
  }
  if (Array.isArray(schema.type))
    return union((schema.type as string[]).map((type) => emit({ ...schema, type }, depth)));
  switch (schema.type) {
    case 'string':
      return atom('string');
    case 'number':
    case 'integer':
      return atom('number');
    case 'boolean':
      return atom('boolean');
    case 'null':
      return atom('null');
    case 'Uint8Array':
      return atom('Uint8Array');
    case 'array': {
      const item =
        schema.items && !Array.isArray(schema.items) ? emit(schema.items as Schema, depth) : atom('unknown');
      return atom(item.compound ? `(${item.text})[]` : `${item.text}[]`);
    }
    case 'object': {
      const hasProperties = Object.keys((schema.properties ?? {}) as object).length > 0;
      const index = indexType(schema, depth);
      if (!hasProperties) return atom(index ? `Record<string, ${index.text}>` : 'Record<string, never>');
      return atom(objectBody(schema, depth));
    }
    default:
      return atom('unknown');
  }
}

/** A plain JSON Schema of a TypeBox schema (TypeBox's own markers dropped). */
const plain = (schema: TSchema): Schema => JSON.parse(JSON.stringify(schema)) as Schema;

/** A named type: an interface for an object with properties, an alias otherwise. */
function declaration(name: string, schema: Schema, doc: string): string {
  const isInterface =
    schema.type === 'object' && Object.keys((schema.properties ?? {}) as object).length > 0 && !schema.anyOf;
  return isInterface
    ? `${doc}export interface ${name} ${objectBody(schema, 0)}\n`
    : `${doc}export type ${name} = ${emit(schema).text};\n`;
}

/** The property holding a list action's items: its output has nextCursor and one array, and it takes a cursor. */
export function itemsOf(action: Action): string | undefined {
  const output = plain(action.output);
  const input = plain(action.input);
  const outProps = (output.properties ?? {}) as Record<string, Schema>;
  const inProps = (input.properties ?? {}) as Record<string, Schema>;
  if (!('nextCursor' in outProps) || !('cursor' in inProps)) return undefined;
  const arrays = Object.entries(outProps).filter(([, s]) => s.type === 'array');
  return arrays.length === 1 ? arrays[0]![0] : undefined;
}

/** The source of src/client/actions.gen.ts for these actions. */
export function clientSource(all: readonly Action[] = actions): string {
  const callables = all.filter(callable);
  const out: string[] = [
    '// Generated from the action registry by scripts/gen-client.ts (npm run gen:client). Do not edit: change the\n',
    "// actions' schemas and generate again; test/client/generated.test.ts fails when this file is stale.\n",
    "import type { CallOptions } from './options.js';\n\n",
  ];
  for (const action of callables) {
    const base = pascal(action.name);
    out.push(declaration(`${base}Input`, plain(action.input), jsdoc(`The input of ${action.name}.`, '')));
    out.push('\n');
    out.push(
      declaration(
        `${base}Output`,
        plain(action.output),
        jsdoc(
          `The output of ${action.name}${action.answers === 'bytes' ? " (the file's bytes, its content type and name)" : ''}.`,
          '',
        ),
      ),
    );
    out.push('\n');
  }
  out.push(jsdoc('Every action a credential can call: its input and output.', ''));
  out.push('export interface Actions {\n');
  for (const action of callables) {
    const base = pascal(action.name);
    out.push(`  ${action.name}: { input: ${base}Input; output: ${base}Output };\n`);
  }
  out.push('}\n\nexport type ActionName = keyof Actions;\n\n');

  const pages = callables.map((a) => [a, itemsOf(a)] as const).filter(([, items]) => items !== undefined);
  out.push(
    jsdoc(
      'The list actions, a page at a time, and the type of their items (client.paginate iterates over them).',
      '',
    ),
  );
  out.push('export interface Pages {\n');
  for (const [action, items] of pages)
    out.push(`  ${action.name}: ${pascal(action.name)}Output[${quote(items!)}][number];\n`);
  out.push('}\n\nexport type PageName = keyof Pages;\n\n');

  out.push(
    jsdoc(
      'What the client needs to know of each action at run time: whether it changes state (then every call carries an ' +
        "Idempotency-Key), what it answers (JSON or a file's bytes), and the property holding a page's items.",
      '',
    ),
  );
  out.push('export const ACTIONS = {\n');
  for (const action of callables) {
    const items = itemsOf(action);
    out.push(
      `  ${action.name}: { mutates: ${action.mutates}, answers: ${quote(action.answers ?? 'json')}${
        items ? `, items: ${quote(items)}` : ''
      } },\n`,
    );
  }
  out.push('} as const;\n\n');
  out.push('export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];\n\n');

  out.push(jsdoc('One typed method per action, each a `run` of it (camelCase of the action name).', ''));
  out.push('export abstract class ActionMethods {\n');
  out.push(
    "  abstract run<N extends ActionName>(\n    name: N,\n    input: Actions[N]['input'],\n    options?: CallOptions,\n  ): Promise<Actions[N]['output']>;\n",
  );
  for (const action of callables) {
    const method = camel(action.name);
    if (RESERVED.has(method))
      throw new Error(`the action ${action.name} would shadow the client's ${method}()`);
    const base = pascal(action.name);
    const required = ((plain(action.input).required ?? []) as string[]).length > 0;
    out.push('\n');
    out.push(
      jsdoc(
        `${action.title.replace(/[^.?!]$/, '$&.')} ${action.description} (${action.name}, scope ${action.scope})`,
        '  ',
      ),
    );
    out.push(
      `  ${method}(input: ${base}Input${required ? '' : ' = {}'}, options?: CallOptions): Promise<${base}Output> {\n` +
        `    return this.run(${quote(action.name)}, input, options);\n  }\n`,
    );
  }
  out.push('}\n');
  return out.join('');
}

// run as `node dist/scripts/gen-client.js` (npm run gen:client): write the file into the sources
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = fileURLToPath(new URL('../../src/client/actions.gen.ts', import.meta.url));
  writeFileSync(path, clientSource());
  process.stdout.write(`wrote ${path}\n`);
}
