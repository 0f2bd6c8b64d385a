// The pass as Wallet draws it, front and back, from the pass.json the engine rendered (preview_template): the style's
// layout, its colours, the fields of each area formatted as the phone formats them (date, number and currency styles),
// the barcode, and the template's images when it has them.
import { useState } from 'preact/hooks';

type Json = Record<string, unknown>;
export const STYLES = ['storeCard', 'eventTicket', 'coupon', 'boardingPass', 'generic'] as const;
export type Style = (typeof STYLES)[number];
export const STYLE_NAMES: Record<Style, string> = {
  storeCard: 'Store card',
  eventTicket: 'Event ticket',
  coupon: 'Coupon',
  boardingPass: 'Boarding pass',
  generic: 'Generic',
};

export const styleOf = (pass: Json): Style =>
  STYLES.find((s) => pass[s] && typeof pass[s] === 'object') ?? 'generic';

interface PassField {
  key?: string;
  label?: string;
  value?: unknown;
  textAlignment?: string;
  dateStyle?: string;
  timeStyle?: string;
  numberStyle?: string;
  currencyCode?: string;
}

const DATE_STYLE: Record<string, 'short' | 'medium' | 'long' | 'full' | undefined> = {
  PKDateStyleShort: 'short',
  PKDateStyleMedium: 'medium',
  PKDateStyleLong: 'long',
  PKDateStyleFull: 'full',
  PKDateStyleNone: undefined,
};

/** A field's value as the phone shows it (Wallet formats dates and numbers on the device, in its locale). */
export function shown(f: PassField): string {
  const v = f.value;
  if (v === undefined || v === null) return '';
  if ((f.dateStyle || f.timeStyle) && typeof v === 'string' && !Number.isNaN(Date.parse(v))) {
    const dateStyle = DATE_STYLE[f.dateStyle ?? 'PKDateStyleNone'];
    const timeStyle = DATE_STYLE[f.timeStyle ?? 'PKDateStyleNone'];
    if (!dateStyle && !timeStyle) return v;
    return new Date(v).toLocaleString(undefined, {
      ...(dateStyle ? { dateStyle } : {}),
      ...(timeStyle ? { timeStyle } : {}),
    });
  }
  if (
    typeof v === 'number' ||
    (typeof v === 'string' && f.currencyCode && v.trim() !== '' && !Number.isNaN(+v))
  ) {
    const n = Number(v);
    if (f.currencyCode) return n.toLocaleString(undefined, { style: 'currency', currency: f.currencyCode });
    if (f.numberStyle === 'PKNumberStylePercent') return n.toLocaleString(undefined, { style: 'percent' });
    if (f.numberStyle === 'PKNumberStyleScientific') return n.toExponential();
    if (f.numberStyle === 'PKNumberStyleSpellOut') return String(n);
    return n.toLocaleString();
  }
  return String(v);
}

const align = (f: PassField): string =>
  f.textAlignment === 'PKTextAlignmentCenter'
    ? 'center'
    : f.textAlignment === 'PKTextAlignmentRight'
      ? 'right'
      : f.textAlignment === 'PKTextAlignmentLeft'
        ? 'left'
        : 'start';

function Fields(props: { fields: unknown; area: string; labelColor: string }) {
  const fields = Array.isArray(props.fields) ? (props.fields as PassField[]) : [];
  if (!fields.length) return null;
  return (
    <div class={`pv-row pv-${props.area}`}>
      {fields.map((f, i) => (
        <div class="pv-field" key={f.key ?? i} style={{ textAlign: align(f) }} data-key={f.key}>
          {f.label && (
            <div class="pv-label" style={{ color: props.labelColor }}>
              {String(f.label)}
            </div>
          )}
          <div class="pv-value">{shown(f)}</div>
        </div>
      ))}
    </div>
  );
}

const colour = (v: unknown, fallback: string): string =>
  typeof v === 'string' && /^rgba?\(/.test(v.trim()) ? v : fallback;

export interface PreviewImages {
  logo?: string;
  strip?: string;
  thumbnail?: string;
  background?: string;
  icon?: string;
}

export function PassPreview(props: { pass: Json; images?: PreviewImages }) {
  const [side, setSide] = useState<'front' | 'back'>('front');
  const pass = props.pass;
  const style = styleOf(pass);
  const layout = (pass[style] ?? {}) as Json;
  const bg = colour(pass.backgroundColor, 'rgb(255,255,255)');
  const fg = colour(pass.foregroundColor, 'rgb(0,0,0)');
  const labelColor = colour(pass.labelColor, fg);
  const images = props.images ?? {};
  const barcodes = Array.isArray(pass.barcodes)
    ? (pass.barcodes as Json[])
    : pass.barcode
      ? [pass.barcode as Json]
      : [];
  const barcode = barcodes[0];
  const bgImage = style === 'eventTicket' && images.background && !images.strip;
  return (
    <figure class="preview" aria-label={`Preview of the pass, ${side}`}>
      <div
        class={`pv-card pv-${style}${bgImage ? ' pv-has-bg' : ''}`}
        data-testid="pass-preview"
        style={{
          background: bgImage ? `${bg} url(${images.background}) center/cover` : bg,
          color: fg,
        }}
      >
        {side === 'front' ? (
          <>
            <div class="pv-head">
              {images.logo ? <img class="pv-logo" src={images.logo} alt="" /> : null}
              <span class="pv-logotext" data-testid="preview-logo-text">
                {typeof pass.logoText === 'string' ? pass.logoText : ''}
              </span>
              <Fields fields={layout.headerFields} area="header" labelColor={labelColor} />
            </div>
            <div class="pv-primary-wrap">
              {images.strip && (style === 'storeCard' || style === 'coupon' || style === 'eventTicket') ? (
                <img class="pv-strip" src={images.strip} alt="" />
              ) : null}
              {style === 'boardingPass' && (
                <span class="pv-transit" aria-hidden="true">
                  {transitGlyph(layout.transitType)}
                </span>
              )}
              <Fields fields={layout.primaryFields} area="primary" labelColor={labelColor} />
              {images.thumbnail && (style === 'generic' || style === 'eventTicket') ? (
                <img class="pv-thumb" src={images.thumbnail} alt="" />
              ) : null}
            </div>
            <Fields fields={layout.secondaryFields} area="secondary" labelColor={labelColor} />
            <Fields fields={layout.auxiliaryFields} area="auxiliary" labelColor={labelColor} />
            {barcode && (
              <div class="pv-barcode" data-format={String(barcode.format ?? '')}>
                <div
                  class={`pv-code ${/QR|Aztec/.test(String(barcode.format)) ? 'square' : 'wide'}`}
                  aria-hidden="true"
                />
                <div class="pv-alt">{String(barcode.altText ?? barcode.message ?? '')}</div>
              </div>
            )}
          </>
        ) : (
          <div class="pv-back">
            {(Array.isArray(layout.backFields) ? (layout.backFields as PassField[]) : []).map((f, i) => (
              <div class="pv-backfield" key={f.key ?? i}>
                <div class="pv-label">{String(f.label ?? '')}</div>
                <div>{shown(f)}</div>
              </div>
            ))}
            {!Array.isArray(layout.backFields) || !layout.backFields.length ? <p>No back fields.</p> : null}
          </div>
        )}
      </div>
      <figcaption>
        <button type="button" class="plain" onClick={() => setSide(side === 'front' ? 'back' : 'front')}>
          Show {side === 'front' ? 'back' : 'front'}
        </button>
      </figcaption>
    </figure>
  );
}

function transitGlyph(type: unknown): string {
  switch (type) {
    case 'PKTransitTypeAir':
      return '✈';
    case 'PKTransitTypeTrain':
      return '🚆';
    case 'PKTransitTypeBus':
      return '🚌';
    case 'PKTransitTypeBoat':
      return '⛴';
    default:
      return '→';
  }
}

/** WCAG's contrast ratio of two rgb() colours (1 to 21); undefined when either cannot be read. */
export function contrast(a: unknown, b: unknown): number | undefined {
  const lum = (c: unknown) => {
    const m = typeof c === 'string' ? /rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)/.exec(c) : null;
    if (!m) return undefined;
    const [r, g, bl] = [m[1], m[2], m[3]].map((x) => {
      const s = Number(x) / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const la = lum(a);
  const lb = lum(b);
  if (la === undefined || lb === undefined) return undefined;
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}
