// The SDK's types are the registry's: the committed src/client/actions.gen.ts is what scripts/gen-client.ts makes of
// the actions now (a changed schema without `npm run gen:client` fails here), the emitter turns each JSON Schema form
// into its TypeScript type, the client imports nothing of the server, and the package exports it as passslot/client.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { clientSource, emit, itemsOf } from '../../scripts/gen-client.js';
import { actions } from '../../src/actions/index.js';
import { callable } from '../../src/actions/registry.js';
import { ACTION_NAMES, ACTIONS } from '../../src/client/index.js';

const CLIENT_DIR = join(import.meta.dirname, '..', '..', 'src', 'client');
const plain = (s: unknown) => JSON.parse(JSON.stringify(s));
const ts = (schema: unknown) => emit(plain(schema)).text;

describe('the generated client types', () => {
  it('are up to date with the registry (run `npm run gen:client` after changing an action)', () => {
    const committed = readFileSync(join(CLIENT_DIR, 'actions.gen.ts'), 'utf8');
    expect(
      committed === clientSource(actions),
      'src/client/actions.gen.ts is stale: npm run gen:client',
    ).toBe(true);
  });

  it('cover every callable action, with its mutates and answers, and no system action or stream', () => {
    const expected = actions.filter(callable);
    expect(ACTION_NAMES).toEqual(expected.map((a) => a.name));
    for (const a of expected)
      expect((ACTIONS as Record<string, unknown>)[a.name]).toMatchObject({
        mutates: a.mutates,
        answers: a.answers ?? 'json',
      });
    expect(ACTION_NAMES).not.toContain('set_account_rate_limit');
    expect(ACTION_NAMES).not.toContain('stream_events');
    expect(ACTIONS.download_pass.answers).toBe('bytes');
    expect(ACTIONS.get_passes.items).toBe('passes');
    expect(ACTIONS.list_audit_log.items).toBe('entries');
  });

  it('find the items of a page: the one array beside nextCursor, for an action taking a cursor', () => {
    const page = (output: ReturnType<typeof Type.Object>, withCursor = true) =>
      itemsOf({
        ...actions[0]!,
        input: Type.Object(withCursor ? { cursor: Type.Optional(Type.String()) } : {}),
        output,
      });
    const next = Type.Union([Type.String(), Type.Null()]);
    expect(page(Type.Object({ rows: Type.Array(Type.String()), nextCursor: next }))).toBe('rows');
    expect(page(Type.Object({ rows: Type.Array(Type.String()), nextCursor: next }), false)).toBeUndefined();
    expect(
      page(Type.Object({ a: Type.Array(Type.String()), b: Type.Array(Type.String()), nextCursor: next })),
    ).toBeUndefined();
  });
});

describe('the JSON Schema → TypeScript emitter', () => {
  it('emits primitives, literals, enums, unions and arrays', () => {
    expect(ts(Type.String())).toBe('string');
    expect(ts(Type.Integer())).toBe('number');
    expect(ts(Type.Number())).toBe('number');
    expect(ts(Type.Boolean())).toBe('boolean');
    expect(ts(Type.Null())).toBe('null');
    expect(ts(Type.Literal("a'b"))).toBe("'a\\'b'");
    expect(ts(Type.Literal(3))).toBe('3');
    expect(ts({ enum: ['x', 'y', 1] })).toBe("'x' | 'y' | 1");
    expect(ts({ type: ['string', 'null'] })).toBe('string | null');
    expect(ts(Type.Union([Type.String(), Type.Integer(), Type.Number()]))).toBe('string | number');
    expect(ts(Type.Array(Type.Union([Type.String(), Type.Null()])))).toBe('(string | null)[]');
    expect(ts(Type.Array(Type.Array(Type.Boolean())))).toBe('boolean[][]');
    expect(ts({ type: 'array' })).toBe('unknown[]');
    expect(ts({ allOf: [{ type: 'string' }, { const: 'x' }] })).toBe("string & 'x'");
    expect(ts(Type.Uint8Array())).toBe('Uint8Array');
    expect(ts(Type.Unknown())).toBe('unknown');
    expect(ts(Type.Union([Type.Unknown(), Type.Null()]))).toBe('unknown');
    expect(ts({ type: 'frobnicate' })).toBe('unknown');
  });

  it('emits objects: required and optional properties, descriptions, records and index signatures', () => {
    expect(
      ts(
        Type.Object({
          id: Type.Integer({ description: 'the id' }),
          'odd-key': Type.Optional(Type.String()),
          nested: Type.Object({ ok: Type.Boolean() }),
        }),
      ),
    ).toBe(
      "{\n  /** the id */\n  id: number;\n  'odd-key'?: string;\n  nested: {\n    ok: boolean;\n  };\n}",
    );
    expect(ts(Type.Record(Type.String(), Type.Number()))).toBe('Record<string, number>');
    expect(ts(Type.Object({}))).toBe('Record<string, never>');
    expect(ts({ type: 'object', additionalProperties: true })).toBe('Record<string, unknown>');
    expect(
      ts({
        type: 'object',
        properties: { a: { type: 'string' } },
        required: ['a'],
        additionalProperties: true,
      }),
    ).toBe('{\n  a: string;\n  [key: string]: unknown;\n}');
  });
});

describe('the client package', () => {
  it('imports nothing of the server: only its own modules', () => {
    const outside: string[] = [];
    const seen: string[] = [];
    for (const file of readdirSync(CLIENT_DIR).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(CLIENT_DIR, file), 'utf8');
      const specifiers = [
        ...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm),
        ...text.matchAll(/^import\s+['"]([^'"]+)['"]/gm),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]/g),
      ];
      for (const m of specifiers) seen.push(m[1]!);
      for (const m of specifiers) if (!/^\.\/[\w.-]+\.js$/.test(m[1]!)) outside.push(`${file}: ${m[1]}`);
    }
    expect(seen).toContain('./actions.gen.js'); // the scan reads imports
    expect(outside).toEqual([]);
  });

  it("is exported as passslot/client (the package's own name resolves to the built SDK)", async () => {
    const pkg = JSON.parse(readFileSync(join(CLIENT_DIR, '..', '..', 'package.json'), 'utf8'));
    expect(pkg.exports['./client']).toEqual({
      types: './dist/src/client/index.d.ts',
      import: './dist/src/client/index.js',
    });
    const sdk = await import('passslot/client');
    const client = new sdk.PassslotClient({ baseUrl: 'http://127.0.0.1:9/', apiKey: 'psk_x' });
    expect(client.baseUrl).toBe('http://127.0.0.1:9');
    expect(typeof client.getPassDetails).toBe('function');
    expect(new sdk.PassslotError(404, 'not_found', 'x')).toBeInstanceOf(Error);
    expect(
      readFileSync(join(CLIENT_DIR, '..', '..', 'dist', 'src', 'client', 'index.d.ts'), 'utf8'),
    ).toContain('PassslotClient');
  });
});
