import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileTemplate,
  type JsonObject,
  type JsonValue,
  MissingValuesError,
  placeholdersOf,
  ValueTypeError,
} from '../../src/engine/index.js';

describe('template rendering', () => {
  const body: JsonObject = {
    description: 'Ticket for ${event}',
    eventTicket: {
      primaryFields: [{ key: 'seat', label: '${seatLabel}', value: '${seat}' }],
      auxiliaryFields: [{ key: 'vip', value: '${vip}' }],
    },
    locations: [{ latitude: '${lat}', longitude: 2.35, relevantText: 'Near ${venue}' }],
    relevantDates: [{ date: '${start}' }],
    userInfo: { crm: { id: '${userId}', tags: ['a', '${tag}'] } },
    semantics: { eventName: '${event}' },
    barcodes: [{ message: '${userId}-${seat}', format: 'PKBarcodeFormatQR', messageEncoding: 'iso-8859-1' }],
  };
  const values = {
    event: 'Jazz Night',
    seatLabel: 'SEAT',
    seat: 12,
    vip: true,
    lat: 48.85,
    venue: 'Olympia',
    start: '2026-05-01T19:30:00+02:00',
    userId: 'u-1',
    tag: 'gold',
  };

  it('lists the placeholders in order of first appearance, once each', () => {
    expect(compileTemplate(body).placeholders).toEqual([
      'event',
      'seatLabel',
      'seat',
      'vip',
      'lat',
      'venue',
      'start',
      'userId',
      'tag',
    ]);
  });

  it('fills placeholders anywhere: fields, labels, locations, relevantDates, userInfo, semantics, barcodes', () => {
    const out = compileTemplate(body).render(values);
    expect(out).toEqual({
      description: 'Ticket for Jazz Night',
      eventTicket: {
        primaryFields: [{ key: 'seat', label: 'SEAT', value: 12 }],
        auxiliaryFields: [{ key: 'vip', value: true }],
      },
      locations: [{ latitude: 48.85, longitude: 2.35, relevantText: 'Near Olympia' }],
      relevantDates: [{ date: '2026-05-01T19:30:00+02:00' }],
      userInfo: { crm: { id: 'u-1', tags: ['a', 'gold'] } },
      semantics: { eventName: 'Jazz Night' },
      barcodes: [{ message: 'u-1-12', format: 'PKBarcodeFormatQR', messageEncoding: 'iso-8859-1' }],
    });
  });

  it('keeps a whole-string placeholder as the value JSON type and makes text of it inside a longer string', () => {
    const t = compileTemplate({ n: '${n}', s: 'n=${n}', b: '${b}', z: '${z}', zs: '[${z}]' });
    expect(t.render({ n: 3.5, b: false, z: null })).toEqual({
      n: 3.5,
      s: 'n=3.5',
      b: false,
      z: null,
      zs: '[]',
    });
  });

  it('names every missing value in one error', () => {
    const t = compileTemplate(body);
    const err = (() => {
      try {
        t.render({ event: 'x' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(MissingValuesError);
    expect((err as MissingValuesError).names).toEqual([
      'seatLabel',
      'seat',
      'vip',
      'lat',
      'venue',
      'start',
      'userId',
      'tag',
    ]);
    expect((err as Error).message).toContain('seatLabel, seat, vip');
  });

  it('refuses objects and arrays as values, so no value can change the structure', () => {
    const t = compileTemplate({ a: '${a}' });
    expect(() => t.render({ a: { injected: true } })).toThrow(ValueTypeError);
    expect(() => t.render({ a: [1, 2] })).toThrow(/must be a string, number, boolean or null, not an array/);
    expect(() => t.render({ a: Number.NaN })).toThrow(ValueTypeError);
  });

  it('treats JSON-looking text as text: no injection through values', () => {
    const t = compileTemplate({ a: 'x${a}', b: '${a}' });
    const evil = '", "voided": true, "x": "';
    const out = t.render({ a: evil });
    expect(out).toEqual({ a: `x${evil}`, b: evil });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    expect(Object.keys(out)).toEqual(['a', 'b']);
  });

  it('keeps a key named __proto__ as an own key, never as the prototype', () => {
    const body = JSON.parse('{"__proto__": {"polluted": "${v}"}, "a": "${v}"}') as JsonObject;
    const out = compileTemplate(body).render({ v: 'x' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":"x"},"a":"x"}');
  });

  it('does not render object keys and leaves $${name} as a literal ${name}', () => {
    const t = compileTemplate({ '${k}': 'v', lit: 'cost: $${price}', mix: '$${a} and ${a}' });
    expect(t.placeholders).toEqual(['a']);
    expect(t.render({ a: 1 })).toEqual({ '${k}': 'v', lit: 'cost: ${price}', mix: '${a} and 1' });
  });

  it('does not share objects between renders', () => {
    const t = compileTemplate({ constant: { nested: [1, 2] }, v: '${v}' });
    const first = t.render({ v: 1 });
    (first.constant as { nested: number[] }).nested.push(3);
    expect(t.render({ v: 2 }).constant).toEqual({ nested: [1, 2] });
  });

  it('renders localized text with the same values', () => {
    expect(compileTemplate({}).renderText('Bonjour ${name}', { name: 'Zoé' })).toBe('Bonjour Zoé');
    expect(() => compileTemplate({}).renderText('${missing}', {})).toThrow(MissingValuesError);
  });

  it('derives placeholders from any JSON value', () => {
    expect(placeholdersOf([{ a: '${x}' }, 'y ${y} ${x}', 3])).toEqual(['x', 'y']);
  });
});

// Property tests: any template shape, any scalar values.
const NAMES = ['a', 'b', 'c', 'first_name', 'x.y'];
const leaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...NAMES).map((n) => `\${${n}}`),
  fc.tuple(fc.string(), fc.constantFrom(...NAMES), fc.string()).map(([p, n, s]) => `${p}\${${n}}${s}`),
);
const tree = fc.letrec<{ node: JsonValue }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 4 }),
  ),
})).node;
const scalar = fc.oneof(
  fc.string(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const valuesArb = fc.record(
  Object.fromEntries(NAMES.map((n) => [n, scalar])) as Record<
    string,
    fc.Arbitrary<string | number | boolean | null>
  >,
);

/** The shape of a JSON value: its keys and array lengths, with every scalar replaced by a marker. */
function shape(v: JsonValue): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return 'leaf';
}

describe('template rendering properties', () => {
  it('any values render any template to valid JSON with the template shape', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 6 }), tree, { maxKeys: 5 }),
        valuesArb,
        (body, values) => {
          const t = compileTemplate(body as JsonObject);
          // random strings may themselves spell a placeholder (say `${A}`): give every placeholder a value
          const all = { ...Object.fromEntries(t.placeholders.map((p) => [p, 'x'])), ...values };
          const out = t.render(all);
          // valid JSON that round-trips
          const text = JSON.stringify(out);
          expect(JSON.stringify(JSON.parse(text))).toBe(text);
          // same keys and array lengths everywhere: only leaves change
          expect(shape(out)).toEqual(shape(body as JsonObject));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a template without placeholders renders to itself', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const text = JSON.stringify(body);
        fc.pre(!text.includes('${') && typeof body === 'object' && body !== null && !Array.isArray(body));
        expect(compileTemplate(body as JsonObject).render({})).toEqual(body);
      }),
      { numRuns: 200 },
    );
  });

  it('a whole-string placeholder yields exactly its value', () => {
    fc.assert(
      fc.property(scalar, (value) => {
        expect(compileTemplate({ v: '${v}' }).render({ v: value }).v).toEqual(value);
      }),
    );
  });
});
