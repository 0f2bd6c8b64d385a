// From an Apple pass to its Google Wallet twin, pure like the engine: a template's pass.json (placeholders left in)
// becomes one class, a pass's rendered pass.json becomes one object of that class. The style decides the type:
// storeCard → loyalty, eventTicket → eventTicket, coupon → offer, boardingPass → flight (when its semantics name the
// airline, flight and airports) or transit, generic → generic. What has no place in Google's model is reported as a
// warning, never dropped silently. Names follow Google's REST reference (walletobjects/v1).
import type { JsonObject, JsonValue } from '../engine/index.js';

export type GoogleType = 'generic' | 'eventTicket' | 'loyalty' | 'offer' | 'flight' | 'transit';

/** Where the images of the template and the pass are served from (public, unguessable URLs under PUBLIC_URL). */
export interface GoogleImages {
  logo?: string;
  /** The strip (or background) image, as the hero image. */
  hero?: string;
}

export interface MappingContext {
  issuerId: string;
  /** The class's id suffix: stable per template version. */
  classSuffix: string;
  /** The language of the pass's own text (LocalizedString). */
  language: string;
  images: GoogleImages;
  /** PUBLIC_URL: Google fetches images only over https. */
  publicUrl: string;
  /** The pass's translations by language (a text as the pass shows it → its translation), sent as translatedValues. */
  translations?: Record<string, Record<string, string>>;
}

export interface ObjectContext extends MappingContext {
  /** The object's id suffix: stable per pass. */
  objectSuffix: string;
  state: 'ACTIVE' | 'INACTIVE' | 'EXPIRED' | 'COMPLETED';
}

export interface Mapped {
  type: GoogleType;
  json: JsonObject;
  warnings: string[];
}

interface Field {
  key: string;
  label?: string;
  value: string;
}

const STYLES = ['boardingPass', 'coupon', 'eventTicket', 'generic', 'storeCard'] as const;
type Style = (typeof STYLES)[number];
const FIELD_KINDS = [
  'headerFields',
  'primaryFields',
  'secondaryFields',
  'auxiliaryFields',
  'backFields',
] as const;
/** Google's limits: at most this many text modules on an object. */
const MAX_TEXT_MODULES = 10;

const BARCODE_TYPES: Record<string, string> = {
  PKBarcodeFormatQR: 'QR_CODE',
  PKBarcodeFormatPDF417: 'PDF_417',
  PKBarcodeFormatAztec: 'AZTEC',
  PKBarcodeFormatCode128: 'CODE_128',
};
const TRANSIT_TYPES: Record<string, string> = {
  PKTransitTypeTrain: 'RAIL',
  PKTransitTypeBus: 'BUS',
  PKTransitTypeBoat: 'FERRY',
  PKTransitTypeGeneric: 'OTHER',
};

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: JsonValue | undefined): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

function styleOf(pass: JsonObject): Style | undefined {
  return STYLES.find((s) => isObject(pass[s]));
}

/** The Google type of a pass.json: its style, and for a boarding pass its transit type and semantics. */
export function googleTypeOf(pass: JsonObject): GoogleType {
  const style = styleOf(pass);
  if (style === 'storeCard') return 'loyalty';
  if (style === 'eventTicket') return 'eventTicket';
  if (style === 'coupon') return 'offer';
  if (style === 'boardingPass') {
    const body = pass.boardingPass as JsonObject;
    if (body.transitType === 'PKTransitTypeAir') return flightSemantics(pass) ? 'flight' : 'generic';
    return 'transit';
  }
  return 'generic';
}

function flightSemantics(pass: JsonObject): JsonObject | undefined {
  const s = pass.semantics;
  if (!isObject(s)) return undefined;
  return text(s.airlineCode) &&
    text(s.flightNumber) &&
    text(s.departureAirportCode) &&
    text(s.destinationAirportCode)
    ? s
    : undefined;
}

function fieldsOf(pass: JsonObject, kind: (typeof FIELD_KINDS)[number]): Field[] {
  const style = styleOf(pass);
  const list = style ? (pass[style] as JsonObject)[kind] : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).flatMap((f) => {
    const key = text(f.key);
    const value = text(f.value);
    return key && value !== undefined ? [{ key, label: text(f.label), value }] : [];
  });
}

/** A LocalizedString: the text in the pass's language, and its translations where the pass has them. */
function localized(
  value: string,
  language: string,
  translations?: MappingContext['translations'],
): JsonObject {
  const translated = Object.entries(translations ?? {}).flatMap(([lang, table]) =>
    table[value] !== undefined && lang !== language ? [{ language: lang, value: table[value]! }] : [],
  );
  return {
    defaultValue: { language, value },
    ...(translated.length ? { translatedValues: translated } : {}),
  };
}

/** A text module's header and body, with their LocalizedStrings when the pass translates them. */
function textModule(id: string, header: string, body: string, ctx: MappingContext): JsonObject {
  const h = localized(header, ctx.language, ctx.translations);
  const b = localized(body, ctx.language, ctx.translations);
  return {
    id,
    header,
    body,
    ...(h.translatedValues ? { localizedHeader: h } : {}),
    ...(b.translatedValues ? { localizedBody: b } : {}),
  };
}

/** `rgb(r, g, b)` (Apple's colour syntax) as `#rrggbb`. */
export function hexColor(rgb: string | undefined): string | undefined {
  const m = rgb && /^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$/.exec(rgb);
  if (!m) return undefined;
  return `#${[m[1], m[2], m[3]].map((c) => Math.min(255, Number(c)).toString(16).padStart(2, '0')).join('')}`;
}

const image = (uri: string, description: string, language: string): JsonObject => ({
  sourceUri: { uri },
  contentDescription: localized(description, language),
});

/** The id of a class or object: `<issuerId>.<suffix>`, the suffix limited to what Google accepts. */
export function googleId(issuerId: string, suffix: string): string {
  return `${issuerId}.${suffix.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

function commonWarnings(ctx: MappingContext): string[] {
  return ctx.publicUrl.startsWith('https://')
    ? []
    : [
        `PUBLIC_URL ${ctx.publicUrl} is not https: Google fetches images only over https, so they will not show`,
      ];
}

/** The class of a template (its pass.json with placeholders left in). */
export function classFor(template: JsonObject, ctx: MappingContext): Mapped {
  const type = googleTypeOf(template);
  const warnings = commonWarnings(ctx);
  const org = text(template.organizationName) ?? '';
  const description = text(template.description) ?? org;
  const json: JsonObject = { id: googleId(ctx.issuerId, ctx.classSuffix), issuerName: org };
  if (type !== 'generic') json.reviewStatus = 'UNDER_REVIEW';
  const color = hexColor(text(template.backgroundColor));
  if (color) json.hexBackgroundColor = color;
  const logo = ctx.images.logo ? image(ctx.images.logo, `${org} logo`, ctx.language) : undefined;
  const hero = ctx.images.hero ? image(ctx.images.hero, description, ctx.language) : undefined;
  switch (type) {
    case 'loyalty':
      json.programName = org || description;
      if (logo) json.programLogo = logo;
      if (hero) json.heroImage = hero;
      break;
    case 'eventTicket': {
      json.eventName = localized(description, ctx.language, ctx.translations);
      if (logo) json.logo = logo;
      if (hero) json.heroImage = hero;
      const semantics = isObject(template.semantics) ? template.semantics : {};
      const venue = text(semantics.venueName);
      if (venue) json.venue = { name: localized(venue, ctx.language, ctx.translations) };
      const start = text(semantics.eventStartDate) ?? text(template.relevantDate);
      if (start) json.dateTime = { start };
      break;
    }
    case 'offer':
      json.provider = org;
      json.title = description;
      json.redemptionChannel = 'BOTH';
      if (logo) json.titleImage = logo;
      if (hero) json.heroImage = hero;
      break;
    case 'flight': {
      const s = flightSemantics(template)!;
      json.flightHeader = {
        carrier: { carrierIataCode: text(s.airlineCode)! },
        flightNumber: text(s.flightNumber)!,
      };
      json.origin = { airportIataCode: text(s.departureAirportCode)! };
      json.destination = { airportIataCode: text(s.destinationAirportCode)! };
      const departure = text(s.originalDepartureDate) ?? text(template.relevantDate);
      if (departure) json.localScheduledDepartureDateTime = departure.replace(/(Z|[+-]\d{2}:?\d{2})$/, '');
      else
        warnings.push(
          'a flight needs its departure time: give semantics.originalDepartureDate or relevantDate',
        );
      if (logo) json.heroImage = logo;
      break;
    }
    case 'transit':
      json.transitType =
        TRANSIT_TYPES[text((template.boardingPass as JsonObject).transitType) ?? ''] ?? 'OTHER';
      if (logo) json.logo = logo;
      if (hero) json.heroImage = hero;
      break;
    case 'generic':
      if (styleOf(template) === 'boardingPass')
        warnings.push(
          'an air boarding pass becomes a flight only with semantics airlineCode, flightNumber, ' +
            'departureAirportCode and destinationAirportCode; it is a generic pass until then',
        );
      break;
  }
  for (const kind of FIELD_KINDS)
    for (const f of fieldsOf(template, kind))
      if (/\$\{/.test(f.label ?? ''))
        warnings.push(`the label of ${kind} "${f.key}" has a placeholder: Google shows it as written`);
  return { type, json, warnings };
}

/** The object of a pass (its rendered pass.json) in the class `classFor` made from its template. */
export function objectFor(pass: JsonObject, ctx: ObjectContext): Mapped {
  const type = googleTypeOf(pass);
  const warnings = commonWarnings(ctx);
  const lang = ctx.language;
  const json: JsonObject = {
    id: googleId(ctx.issuerId, ctx.objectSuffix),
    classId: googleId(ctx.issuerId, ctx.classSuffix),
    state: ctx.state,
  };
  const color = hexColor(text(pass.backgroundColor));
  if (color) json.hexBackgroundColor = color;

  // the fields, in Apple's order: the first primary field takes the type's main place, the others become text modules
  const primary = fieldsOf(pass, 'primaryFields');
  const modules: Field[] = [];
  for (const kind of FIELD_KINDS) for (const f of fieldsOf(pass, kind)) modules.push(f);
  const main = primary[0];
  const rest = main ? modules.filter((f) => f !== modules.find((m) => m.key === main.key)) : modules;
  switch (type) {
    case 'generic': {
      json.cardTitle = localized(text(pass.organizationName) ?? '', lang, ctx.translations);
      json.header = localized(main?.value ?? text(pass.description) ?? '', lang, ctx.translations);
      if (main?.label) json.subheader = localized(main.label, lang, ctx.translations);
      if (ctx.images.logo) json.logo = image(ctx.images.logo, text(pass.organizationName) ?? 'logo', lang);
      if (ctx.images.hero) json.heroImage = image(ctx.images.hero, text(pass.description) ?? 'image', lang);
      break;
    }
    case 'loyalty':
      json.accountId = text(pass.serialNumber) ?? '';
      if (main) json.loyaltyPoints = { label: main.label ?? main.key, balance: balanceOf(main.value) };
      break;
    case 'eventTicket': {
      if (main) json.ticketHolderName = main.value;
      json.ticketNumber = text(pass.serialNumber) ?? '';
      break;
    }
    case 'offer':
      break;
    case 'flight': {
      if (main) json.passengerName = main.value;
      const s = flightSemantics(pass)!;
      const confirmation = text(s.confirmationNumber);
      if (confirmation) json.reservationInfo = { confirmationCode: confirmation };
      break;
    }
    case 'transit':
      json.tripType = 'ONE_WAY';
      if (main) json.passengerNames = main.value;
      break;
  }
  const links = rest.filter((f) => /^https?:\/\//.test(f.value));
  const texts = rest.filter((f) => !links.includes(f));
  json.textModulesData = texts
    .slice(0, MAX_TEXT_MODULES)
    .map((f) => textModule(f.key, f.label ?? '', f.value, ctx));
  for (const f of texts.slice(MAX_TEXT_MODULES))
    warnings.push(`field "${f.key}" has no place: Google shows at most ${MAX_TEXT_MODULES} text modules`);
  if (links.length)
    json.linksModuleData = {
      uris: links.map((f) => ({ uri: f.value, description: f.label ?? f.key, id: f.key })),
    };

  const barcodes = Array.isArray(pass.barcodes) ? pass.barcodes.filter(isObject) : [];
  const barcode = barcodes[0] ?? (isObject(pass.barcode) ? pass.barcode : undefined);
  if (barcode) {
    const format = text(barcode.format) ?? '';
    const gtype = BARCODE_TYPES[format];
    if (gtype) {
      json.barcode = { type: gtype, value: text(barcode.message) ?? '', renderEncoding: 'UTF_8' };
      const alt = text(barcode.altText);
      if (alt) (json.barcode as JsonObject).alternateText = alt;
    } else warnings.push(`barcode format ${format} has no Google equivalent: the pass shows no barcode`);
  }
  const expiration = text(pass.expirationDate);
  if (expiration) json.validTimeInterval = { end: { date: expiration } };
  const locations = Array.isArray(pass.locations) ? pass.locations.filter(isObject) : [];
  if (locations.length)
    json.locations = locations.flatMap((l) =>
      typeof l.latitude === 'number' && typeof l.longitude === 'number'
        ? [{ latitude: l.latitude, longitude: l.longitude }]
        : [],
    );
  return { type, json, warnings };
}

/** A points balance: a whole number as int, anything else as text. */
function balanceOf(value: string): JsonObject {
  return /^-?\d{1,15}$/.test(value.trim()) ? { int: Number(value.trim()) } : { string: value };
}

/** The REST collection of a type: `loyaltyClass`, `loyaltyObject`, ... */
export const collectionOf = (type: GoogleType, kind: 'Class' | 'Object'): string => `${type}${kind}`;

/** The JWT payload key of a type's objects or classes: `loyaltyObjects`, ... */
export const payloadKeyOf = (type: GoogleType, kind: 'Classes' | 'Objects'): string => `${type}${kind}`;
