// Templates: a pass.json body with `${name}` placeholders in any string value, anywhere in the tree.
//
// A placeholder that is the whole string takes the value's JSON type (a number stays a number); inside a longer string
// it becomes text. `$${name}` stands for a literal `${name}`. Values are scalars only, and are placed as values, never
// parsed, so no value can change the template's structure or inject JSON. Object keys are never rendered.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
export type PlaceholderValue = string | number | boolean | null;
export type Values = Record<string, PlaceholderValue>;

const PLACEHOLDER = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
export const PLACEHOLDER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

type Part = string | { name: string };
type Compiled =
  | { kind: 'const'; value: JsonValue }
  | { kind: 'whole'; name: string }
  | { kind: 'text'; parts: Part[] }
  | { kind: 'array'; items: Compiled[] }
  | { kind: 'object'; entries: [string, Compiled][] };

export class MissingValuesError extends Error {
  constructor(readonly names: string[]) {
    super(`missing values for placeholder${names.length > 1 ? 's' : ''}: ${names.join(', ')}`);
  }
}

export class ValueTypeError extends Error {
  constructor(
    readonly placeholder: string,
    readonly got: string,
  ) {
    super(`value "${placeholder}" must be a string, number, boolean or null, not ${got}`);
  }
}

function compileString(text: string, names: Set<string>): Compiled {
  const parts: Part[] = [];
  let last = 0;
  let hasPlaceholder = false;
  for (const m of text.matchAll(PLACEHOLDER)) {
    const at = m.index ?? 0;
    if (at > last) parts.push(text.slice(last, at));
    if (m[1]) {
      parts.push(`\${${m[2]}}`); // escaped: literal text
    } else {
      parts.push({ name: m[2]! });
      names.add(m[2]!);
      hasPlaceholder = true;
    }
    last = at + m[0].length;
  }
  if (!hasPlaceholder) {
    return { kind: 'const', value: parts.length === 0 ? text : [...parts, text.slice(last)].join('') };
  }
  if (last < text.length) parts.push(text.slice(last));
  const only = parts[0];
  if (parts.length === 1 && typeof only === 'object') return { kind: 'whole', name: only.name };
  // merge adjacent literal parts
  const merged: Part[] = [];
  for (const p of parts) {
    const prev = merged[merged.length - 1];
    if (typeof p === 'string' && typeof prev === 'string') merged[merged.length - 1] = prev + p;
    else merged.push(p);
  }
  return { kind: 'text', parts: merged };
}

function compileNode(node: JsonValue, names: Set<string>): Compiled {
  if (typeof node === 'string') return compileString(node, names);
  if (Array.isArray(node)) {
    const items = node.map((n) => compileNode(n, names));
    return items.every((i) => i.kind === 'const') ? { kind: 'const', value: node } : { kind: 'array', items };
  }
  if (node !== null && typeof node === 'object') {
    const entries = Object.entries(node).map(([k, v]): [string, Compiled] => [k, compileNode(v, names)]);
    return entries.every(([, c]) => c.kind === 'const')
      ? { kind: 'const', value: node }
      : { kind: 'object', entries };
  }
  return { kind: 'const', value: node };
}

/** Sets an own property, including one named `__proto__` (as JSON.parse does), never the prototype. */
function setKey(obj: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function copy(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(copy);
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const k of Object.keys(value)) setKey(out, k, copy(value[k]!));
    return out;
  }
  return value;
}

const asText = (value: PlaceholderValue): string => (value === null ? '' : String(value));

function renderNode(node: Compiled, values: Values): JsonValue {
  switch (node.kind) {
    case 'const':
      return copy(node.value);
    case 'whole':
      return values[node.name]!;
    case 'text': {
      let out = '';
      for (const p of node.parts) out += typeof p === 'string' ? p : asText(values[p.name]!);
      return out;
    }
    case 'array':
      return node.items.map((i) => renderNode(i, values));
    case 'object': {
      const out: JsonObject = {};
      for (const [k, v] of node.entries) setKey(out, k, renderNode(v, values));
      return out;
    }
  }
}

export interface Template {
  /** The placeholder names, in order of first appearance. */
  readonly placeholders: readonly string[];
  /** Renders pass.json; throws MissingValuesError naming every missing value, ValueTypeError for a non-scalar. */
  render(values: Readonly<Record<string, unknown>>): JsonObject;
  /** Renders any string with the same rules, as text (for localized strings). */
  renderText(text: string, values: Readonly<Record<string, unknown>>): string;
}

/** Checks that every placeholder has a scalar value; returns the values narrowed. */
export function checkValues(
  placeholders: readonly string[],
  values: Readonly<Record<string, unknown>>,
): Values {
  const missing = placeholders.filter((n) => !Object.hasOwn(values, n) || values[n] === undefined);
  if (missing.length > 0) throw new MissingValuesError(missing);
  for (const n of placeholders) {
    const v = values[n];
    if (v !== null && typeof v === 'object')
      throw new ValueTypeError(n, Array.isArray(v) ? 'an array' : 'an object');
    if (typeof v === 'number' && !Number.isFinite(v)) throw new ValueTypeError(n, String(v));
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean' && v !== null)
      throw new ValueTypeError(n, typeof v);
  }
  return values as Values;
}

/** Compiles a pass.json template once; render it for each pass. */
export function compileTemplate(body: JsonObject): Template {
  const names = new Set<string>();
  const root = compileNode(body, names);
  const placeholders = [...names];
  return {
    placeholders,
    render(values) {
      const checked = checkValues(placeholders, values);
      return renderNode(root, checked) as JsonObject;
    },
    renderText(text, values) {
      const names = new Set<string>();
      const compiled = compileString(text, names);
      const checked = checkValues([...names], values);
      return asText(renderNode(compiled, checked) as PlaceholderValue);
    },
  };
}

/** The placeholder names of any JSON value (for template listings). */
export function placeholdersOf(body: JsonValue): string[] {
  const names = new Set<string>();
  compileNode(body, names);
  return [...names];
}
