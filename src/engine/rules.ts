// Apple's rules for pass.json (PassKit's pass format reference), one small check per concern, each problem
// with its JSON path. Sources: Apple's Wallet documentation and the validators of apple/pass-builder.
import { createPublicKey } from 'node:crypto';
import { Collector, joinPath, type Problem } from './problems.js';
import {
  CLASSIC_BARCODES,
  DATE_STYLES,
  NUMBER_STYLES,
  TEXT_ALIGNMENTS,
  TRANSIT_TYPES,
} from './vocabulary.js';

export const PASS_STYLES = [
  'boardingPass',
  'coupon',
  'eventTicket',
  'generic',
  'storeCard',
  'posterGeneric',
] as const;
export type PassStyle = (typeof PASS_STYLES)[number];

const FIELD_GROUPS = [
  'headerFields',
  'primaryFields',
  'secondaryFields',
  'auxiliaryFields',
  'backFields',
  'additionalInfoFields',
  'footerFields',
] as const;

const DATA_DETECTORS = [
  'PKDataDetectorTypePhoneNumber',
  'PKDataDetectorTypeLink',
  'PKDataDetectorTypeAddress',
  'PKDataDetectorTypeCalendarEvent',
];
const IOS27_BARCODES = [
  'PKBarcodeFormatCode39',
  'PKBarcodeFormatCodabar',
  'PKBarcodeFormatEAN13',
  'PKBarcodeFormatI2of5',
];
const STYLE_SCHEMES = ['posterEventTicket', 'eventTicket', 'semanticBoardingPass', 'boardingPass'];
const COLOR_KEYS = [
  'backgroundColor',
  'foregroundColor',
  'labelColor',
  'stripColor',
  'footerBackgroundColor',
];
const URL_KEYS = [
  'bagPolicyURL',
  'orderFoodURL',
  'parkingInformationURL',
  'directionsInformationURL',
  'purchaseParkingURL',
  'merchandiseURL',
  'transitInformationURL',
  'accessibilityURL',
  'addOnURL',
  'contactVenueWebsite',
  'transferURL',
  'sellURL',
  'changeSeatURL',
  'entertainmentURL',
  'purchaseAdditionalBaggageURL',
  'purchaseLoungeAccessURL',
  'purchaseWifiURL',
  'upgradeURL',
  'managementURL',
  'registerServiceAnimalURL',
  'reportLostBagURL',
  'requestWheelchairURL',
  'transitProviderWebsiteURL',
];
const STRING_KEYS = [
  'logoText',
  'eventLogoText',
  'groupingIdentifier',
  'contactVenueEmail',
  'contactVenuePhoneNumber',
  'transitProviderEmail',
  'transitProviderPhoneNumber',
  'logoSymbolName',
];
const BOOLEAN_KEYS = [
  'voided',
  'sharingProhibited',
  'suppressStripShine',
  'suppressHeaderDarkening',
  'useAutomaticColors',
];
const OTHER_KEYS = [
  'formatVersion',
  'passTypeIdentifier',
  'serialNumber',
  'teamIdentifier',
  'organizationName',
  'description',
  'webServiceURL',
  'authenticationToken',
  'appLaunchURL',
  'associatedStoreIdentifiers',
  'auxiliaryStoreIdentifiers',
  'userInfo',
  'expirationDate',
  'locations',
  'beacons',
  'maxDistance',
  'relevantDate',
  'relevantDates',
  'barcode',
  'barcodes',
  'semantics',
  'nfc',
  'preferredStyleSchemes',
  'upcomingPassInformation',
  'featuredActions',
];
const KNOWN_KEYS = new Set<string>([
  ...PASS_STYLES,
  ...COLOR_KEYS,
  ...URL_KEYS,
  ...STRING_KEYS,
  ...BOOLEAN_KEYS,
  ...OTHER_KEYS,
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const describe = (v: unknown): string => (Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v);

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const LOOKS_LIKE_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

/** True for an ISO 8601 date-time with hours, minutes and a time zone. */
export const isIsoDateWithZone = (v: unknown): v is string =>
  typeof v === 'string' && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v));

const RGB = /^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$/;

export interface RuleOptions {
  /** Allow a plain-http webServiceURL (development only). */
  allowHttpWebService?: boolean;
  /** The base names of the images in the package (e.g. "icon", "artwork"), for the rules that need images. */
  images?: ReadonlySet<string>;
}

function checkDate(c: Collector, path: string, v: unknown, required = false): void {
  if (v === undefined) {
    if (required) c.error(path, 'is required');
    return;
  }
  if (!isIsoDateWithZone(v))
    c.error(
      path,
      `must be an ISO 8601 date with a time and a time zone (e.g. 2026-05-01T19:30:00+02:00), got ${JSON.stringify(v)}`,
    );
}

function checkUrl(c: Collector, path: string, v: unknown, httpsOnly: boolean): void {
  if (typeof v !== 'string') {
    c.error(path, `must be a URL string, not ${describe(v)}`);
    return;
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    c.error(path, `is not a valid URL: ${JSON.stringify(v)}`);
    return;
  }
  if (httpsOnly && url.protocol !== 'https:') c.error(path, 'must use https');
}

function checkField(
  c: Collector,
  path: string,
  field: unknown,
  group: string,
  style: string,
  keys: Map<string, string>,
): void {
  if (!isObj(field)) {
    c.error(path, `must be an object, not ${describe(field)}`);
    return;
  }
  if (!isNonEmptyString(field.key))
    c.error(joinPath(path, 'key'), 'is required and must be a non-empty string');
  else {
    const seen = keys.get(field.key);
    if (seen)
      c.error(
        joinPath(path, 'key'),
        `"${field.key}" is already used by ${seen}; field keys must be unique across the pass`,
      );
    else keys.set(field.key, path);
  }
  const hasAttributed = field.attributedValue !== undefined;
  if (field.value === undefined) c.error(joinPath(path, 'value'), 'is required');
  else if (typeof field.value !== 'string' && typeof field.value !== 'number')
    c.error(joinPath(path, 'value'), `must be a string or a number, not ${describe(field.value)}`);
  if (hasAttributed) {
    if (typeof field.attributedValue !== 'string' && typeof field.attributedValue !== 'number')
      c.error(joinPath(path, 'attributedValue'), 'must be a string or a number');
    else if (typeof field.attributedValue === 'string' && /<(?!\/?a[\s>])[^>]*>/i.test(field.attributedValue))
      c.warn(
        joinPath(path, 'attributedValue'),
        'only <a href="..."> tags are supported; other tags are shown as text',
      );
  }
  if (field.label !== undefined && typeof field.label !== 'string')
    c.error(joinPath(path, 'label'), 'must be a string');
  if (field.changeMessage !== undefined) {
    if (typeof field.changeMessage !== 'string') c.error(joinPath(path, 'changeMessage'), 'must be a string');
    else if (!field.changeMessage.includes('%@'))
      c.error(joinPath(path, 'changeMessage'), 'must contain %@, which Wallet replaces with the new value');
  }
  if (field.textAlignment !== undefined) {
    if (group === 'primaryFields' || group === 'backFields')
      c.error(joinPath(path, 'textAlignment'), `is not allowed on ${group}`);
    else if (!TEXT_ALIGNMENTS.includes(field.textAlignment as string))
      c.error(joinPath(path, 'textAlignment'), `must be one of ${TEXT_ALIGNMENTS.join(', ')}`);
  }
  for (const k of ['dateStyle', 'timeStyle'] as const)
    if (field[k] !== undefined && !DATE_STYLES.includes(field[k] as string))
      c.error(joinPath(path, k), `must be one of ${DATE_STYLES.join(', ')}`);
  const isDateField =
    (field.dateStyle !== undefined && field.dateStyle !== 'PKDateStyleNone') ||
    (field.timeStyle !== undefined && field.timeStyle !== 'PKDateStyleNone') ||
    field.isRelative === true;
  if (isDateField || (typeof field.value === 'string' && LOOKS_LIKE_DATE.test(field.value)))
    checkDate(c, joinPath(path, 'value'), field.value);
  for (const k of ['ignoresTimeZone', 'isRelative'] as const)
    if (field[k] !== undefined && typeof field[k] !== 'boolean')
      c.error(joinPath(path, k), 'must be true or false');
  if (field.numberStyle !== undefined && !NUMBER_STYLES.includes(field.numberStyle as string))
    c.error(joinPath(path, 'numberStyle'), `must be one of ${NUMBER_STYLES.join(', ')}`);
  if (field.currencyCode !== undefined) {
    if (typeof field.currencyCode !== 'string' || !/^[A-Z]{3}$/.test(field.currencyCode))
      c.error(joinPath(path, 'currencyCode'), 'must be an ISO 4217 code of three capital letters');
    if (field.numberStyle !== undefined)
      c.warn(joinPath(path, 'numberStyle'), 'is ignored when currencyCode is set');
    if (typeof field.value !== 'number')
      c.warn(joinPath(path, 'value'), 'should be a number when currencyCode is set');
  }
  if (field.dataDetectorTypes !== undefined) {
    if (group !== 'backFields') c.warn(joinPath(path, 'dataDetectorTypes'), 'is only used on backFields');
    if (!Array.isArray(field.dataDetectorTypes))
      c.error(joinPath(path, 'dataDetectorTypes'), 'must be an array');
    else
      for (const [i, d] of field.dataDetectorTypes.entries()) {
        if (!DATA_DETECTORS.includes(d as string))
          c.error(
            joinPath(joinPath(path, 'dataDetectorTypes'), i),
            `must be one of ${DATA_DETECTORS.join(', ')}`,
          );
      }
  }
  if (field.row !== undefined) {
    if (field.row !== 0 && field.row !== 1) c.error(joinPath(path, 'row'), 'must be 0 or 1');
    else if (style !== 'eventTicket' || group !== 'auxiliaryFields')
      c.warn(joinPath(path, 'row'), 'is only used on eventTicket auxiliaryFields');
  }
  if (field.semantics !== undefined && !isObj(field.semantics))
    c.error(joinPath(path, 'semantics'), 'must be an object');
}

function checkStyle(c: Collector, pass: Obj, keys: Map<string, string>): string | undefined {
  const styles = PASS_STYLES.filter((s) => pass[s] !== undefined);
  if (styles.length === 0) {
    c.error('', `exactly one style key is required: ${PASS_STYLES.join(', ')}`);
    return undefined;
  }
  if (styles.length > 1) c.error(styles[1]!, `only one style key is allowed, found ${styles.join(' and ')}`);
  const style = styles[0]!;
  const fields = pass[style];
  if (!isObj(fields)) {
    c.error(style, `must be an object, not ${describe(fields)}`);
    return style;
  }
  if (style === 'boardingPass') {
    if (fields.transitType === undefined)
      c.error('boardingPass.transitType', 'is required for a boarding pass');
    else if (!TRANSIT_TYPES.includes(fields.transitType as string))
      c.error('boardingPass.transitType', `must be one of ${TRANSIT_TYPES.join(', ')}`);
  } else if (fields.transitType !== undefined) {
    c.error(joinPath(style, 'transitType'), 'is only allowed on boardingPass');
  }
  for (const group of FIELD_GROUPS) {
    const list = fields[group];
    if (list === undefined) continue;
    const groupPath = joinPath(style, group);
    if (!Array.isArray(list)) {
      c.error(groupPath, `must be an array, not ${describe(list)}`);
      continue;
    }
    if (group === 'footerFields' && style !== 'posterGeneric')
      c.warn(groupPath, 'is only shown on posterGeneric passes');
    for (const [i, f] of list.entries()) checkField(c, joinPath(groupPath, i), f, group, style, keys);
  }
  for (const k of Object.keys(fields))
    if (!(FIELD_GROUPS as readonly string[]).includes(k) && k !== 'transitType')
      c.warn(joinPath(style, k), 'is not a pass field group Wallet knows');
  return style;
}

function checkBarcode(c: Collector, path: string, b: unknown): void {
  if (!isObj(b)) {
    c.error(path, `must be an object, not ${describe(b)}`);
    return;
  }
  if (b.format === undefined) c.error(joinPath(path, 'format'), 'is required');
  else if (![...CLASSIC_BARCODES, ...IOS27_BARCODES].includes(b.format as string))
    c.error(
      joinPath(path, 'format'),
      `must be one of ${[...CLASSIC_BARCODES, ...IOS27_BARCODES].join(', ')}`,
    );
  if (typeof b.message !== 'string') c.error(joinPath(path, 'message'), 'is required and must be a string');
  if (!isNonEmptyString(b.messageEncoding))
    c.error(
      joinPath(path, 'messageEncoding'),
      'is required: an IANA character set name such as iso-8859-1 or utf-8',
    );
  if (b.altText !== undefined && typeof b.altText !== 'string')
    c.error(joinPath(path, 'altText'), 'must be a string');
}

function checkBarcodes(c: Collector, pass: Obj): void {
  if (pass.barcode !== undefined) {
    c.warn('barcode', 'is deprecated since iOS 9; use barcodes');
    checkBarcode(c, 'barcode', pass.barcode);
  }
  if (pass.barcodes === undefined) return;
  if (!Array.isArray(pass.barcodes)) {
    c.error('barcodes', 'must be an array');
    return;
  }
  for (const [i, b] of pass.barcodes.entries()) checkBarcode(c, `barcodes[${i}]`, b);
  const formats = pass.barcodes.map((b) => (isObj(b) ? b.format : undefined));
  if (formats.length > 0 && formats.every((f) => IOS27_BARCODES.includes(f as string)))
    c.warn(
      'barcodes',
      'only iOS 27 formats: add a QR, PDF417, Aztec or Code128 fallback after them for older devices',
    );
}

function checkLocations(c: Collector, pass: Obj): void {
  if (pass.locations !== undefined) {
    if (!Array.isArray(pass.locations)) c.error('locations', 'must be an array');
    else {
      if (pass.locations.length > 10)
        c.error('locations', `at most 10 locations are allowed, found ${pass.locations.length}`);
      for (const [i, loc] of pass.locations.entries()) {
        const p = `locations[${i}]`;
        if (!isObj(loc)) {
          c.error(p, 'must be an object');
          continue;
        }
        if (typeof loc.latitude !== 'number' || Math.abs(loc.latitude) > 90)
          c.error(joinPath(p, 'latitude'), 'is required: a number from -90 to 90');
        if (typeof loc.longitude !== 'number' || Math.abs(loc.longitude) > 180)
          c.error(joinPath(p, 'longitude'), 'is required: a number from -180 to 180');
        if (loc.altitude !== undefined && typeof loc.altitude !== 'number')
          c.error(joinPath(p, 'altitude'), 'must be a number');
        if (loc.relevantText !== undefined && typeof loc.relevantText !== 'string')
          c.error(joinPath(p, 'relevantText'), 'must be a string');
      }
    }
  }
  if (pass.beacons !== undefined) {
    if (!Array.isArray(pass.beacons)) c.error('beacons', 'must be an array');
    else
      for (const [i, b] of pass.beacons.entries()) {
        const p = `beacons[${i}]`;
        if (!isObj(b)) {
          c.error(p, 'must be an object');
          continue;
        }
        if (
          typeof b.proximityUUID !== 'string' ||
          !/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(b.proximityUUID)
        )
          c.error(joinPath(p, 'proximityUUID'), 'is required: a UUID');
        for (const k of ['major', 'minor'] as const)
          if (
            b[k] !== undefined &&
            (!Number.isInteger(b[k]) || (b[k] as number) < 0 || (b[k] as number) > 65535)
          )
            c.error(joinPath(p, k), 'must be an integer from 0 to 65535');
      }
  }
  if (pass.maxDistance !== undefined && (typeof pass.maxDistance !== 'number' || pass.maxDistance < 0))
    c.error('maxDistance', 'must be a positive number of meters');
}

function checkRelevance(c: Collector, pass: Obj): void {
  if (pass.relevantDate !== undefined) {
    c.warn('relevantDate', 'is deprecated since iOS 18; use relevantDates');
    checkDate(c, 'relevantDate', pass.relevantDate);
  }
  checkDate(c, 'expirationDate', pass.expirationDate);
  if (pass.relevantDates === undefined) return;
  if (!Array.isArray(pass.relevantDates)) {
    c.error('relevantDates', 'must be an array');
    return;
  }
  for (const [i, entry] of pass.relevantDates.entries()) {
    const p = `relevantDates[${i}]`;
    if (!isObj(entry)) {
      c.error(p, 'must be an object');
      continue;
    }
    const single = entry.date ?? entry.relevantDate;
    const key = entry.date !== undefined ? 'date' : 'relevantDate';
    if (single !== undefined) {
      checkDate(c, joinPath(p, key), single);
      if (entry.startDate !== undefined || entry.endDate !== undefined)
        c.error(p, 'has both a date and a startDate/endDate interval; use one');
      continue;
    }
    if (entry.startDate === undefined && entry.endDate === undefined) {
      c.error(p, 'needs either date, or startDate with endDate');
      continue;
    }
    checkDate(c, joinPath(p, 'startDate'), entry.startDate, true);
    checkDate(c, joinPath(p, 'endDate'), entry.endDate, true);
    if (
      isIsoDateWithZone(entry.startDate) &&
      isIsoDateWithZone(entry.endDate) &&
      Date.parse(entry.startDate) > Date.parse(entry.endDate)
    )
      c.error(joinPath(p, 'endDate'), 'is before startDate');
  }
}

function checkWebService(c: Collector, pass: Obj, options: RuleOptions): void {
  const hasUrl = pass.webServiceURL !== undefined;
  const hasToken = pass.authenticationToken !== undefined;
  if (hasUrl && !hasToken) c.error('authenticationToken', 'is required when webServiceURL is set');
  if (hasToken && !hasUrl) c.error('webServiceURL', 'is required when authenticationToken is set');
  if (hasUrl) {
    checkUrl(c, 'webServiceURL', pass.webServiceURL, !options.allowHttpWebService);
    if (
      typeof pass.webServiceURL === 'string' &&
      pass.webServiceURL.startsWith('http://') &&
      options.allowHttpWebService
    )
      c.warn(
        'webServiceURL',
        'uses plain http: devices accept it only with the developer setting "Allow HTTP Services"',
      );
  }
  if (hasToken && (typeof pass.authenticationToken !== 'string' || pass.authenticationToken.length < 16))
    c.error('authenticationToken', 'must be a string of 16 characters or more');
}

function checkApps(c: Collector, pass: Obj): void {
  for (const k of ['associatedStoreIdentifiers', 'auxiliaryStoreIdentifiers'] as const) {
    const v = pass[k];
    if (v !== undefined && (!Array.isArray(v) || !v.every((n) => Number.isInteger(n) && n > 0)))
      c.error(k, 'must be an array of App Store identifiers (positive integers)');
  }
  if (pass.appLaunchURL !== undefined) {
    checkUrl(c, 'appLaunchURL', pass.appLaunchURL, false);
    const ids = pass.associatedStoreIdentifiers;
    if (!Array.isArray(ids) || ids.length === 0)
      c.error('appLaunchURL', 'requires associatedStoreIdentifiers: the app that opens the URL');
  }
}

function checkNfc(c: Collector, pass: Obj): void {
  const nfc = pass.nfc;
  if (nfc === undefined) return;
  if (!isObj(nfc)) {
    c.error('nfc', 'must be an object');
    return;
  }
  if (typeof nfc.message !== 'string') c.error('nfc.message', 'is required and must be a string');
  else if (Buffer.byteLength(nfc.message, 'utf8') > 64)
    c.error('nfc.message', `must be at most 64 bytes, is ${Buffer.byteLength(nfc.message, 'utf8')}`);
  if (typeof nfc.encryptionPublicKey !== 'string') {
    c.error('nfc.encryptionPublicKey', 'is required: a Base64 X.509 SubjectPublicKeyInfo of a P-256 key');
  } else {
    try {
      const key = createPublicKey({
        key: Buffer.from(nfc.encryptionPublicKey, 'base64'),
        format: 'der',
        type: 'spki',
      });
      if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
        c.error('nfc.encryptionPublicKey', 'must be an elliptic-curve P-256 (prime256v1) public key');
    } catch {
      c.error('nfc.encryptionPublicKey', 'is not a Base64 DER X.509 SubjectPublicKeyInfo');
    }
  }
  if (nfc.requiresAuthentication !== undefined && typeof nfc.requiresAuthentication !== 'boolean')
    c.error('nfc.requiresAuthentication', 'must be true or false');
}

function checkStyleSchemes(c: Collector, pass: Obj, style: string | undefined, options: RuleOptions): void {
  const schemes = pass.preferredStyleSchemes;
  if (schemes === undefined) return;
  if (!Array.isArray(schemes)) {
    c.error('preferredStyleSchemes', 'must be an array of strings');
    return;
  }
  for (const [i, s] of schemes.entries()) {
    if (!STYLE_SCHEMES.includes(s as string))
      c.error(`preferredStyleSchemes[${i}]`, `must be one of ${STYLE_SCHEMES.join(', ')}`);
  }
  const semantics = isObj(pass.semantics) ? pass.semantics : {};
  if (schemes.includes('posterEventTicket')) {
    if (style !== 'eventTicket')
      c.error('preferredStyleSchemes', 'posterEventTicket needs the eventTicket style');
    const nfc = isObj(pass.nfc) ? pass.nfc : undefined;
    if (!nfc) {
      if (Array.isArray(pass.barcodes) && pass.barcodes.length > 0)
        c.warn(
          'nfc',
          'a poster event ticket without NFC needs iOS 27 to show its barcode; older devices fall back to the classic style',
        );
      else c.error('nfc', 'is required for a poster event ticket (or barcodes, from iOS 27)');
    } else if (nfc.requiresAuthentication === undefined)
      c.error('nfc.requiresAuthentication', 'is required for a poster event ticket');
    for (const tag of ['eventName', 'venueName'])
      if (!isNonEmptyString(semantics[tag]))
        c.error(`semantics.${tag}`, 'is required for a poster event ticket');
    if (options.images && !options.images.has('artwork') && !options.images.has('background'))
      c.error('artwork.png', 'a poster event ticket needs an artwork (or background) image');
    if (semantics.eventStartDate === undefined)
      c.warn('semantics.eventStartDate', 'is recommended for a poster event ticket');
    else if (
      isIsoDateWithZone(semantics.eventStartDate) &&
      isIsoDateWithZone(semantics.eventEndDate) &&
      Date.parse(semantics.eventStartDate) > Date.parse(semantics.eventEndDate)
    )
      c.warn('semantics.eventEndDate', 'is before eventStartDate');
    if (semantics.eventType === 'PKEventTypeSports')
      for (const tag of ['homeTeamAbbreviation', 'awayTeamAbbreviation'])
        if (!isNonEmptyString(semantics[tag]))
          c.error(`semantics.${tag}`, 'is required for a sports poster event ticket');
    if (semantics.eventType === 'PKEventTypeLivePerformance') {
      if (!Array.isArray(semantics.performerNames) || semantics.performerNames.length === 0)
        c.error('semantics.performerNames', 'is required for a live performance poster event ticket');
      if (semantics.artistIDs === undefined)
        c.warn('semantics.artistIDs', 'is recommended for a live performance');
    }
  }
  if (schemes.includes('semanticBoardingPass')) {
    if (style !== 'boardingPass')
      c.error('preferredStyleSchemes', 'semanticBoardingPass needs the boardingPass style');
    for (const tag of [
      'airlineCode',
      'flightNumber',
      'originalDepartureDate',
      'originalBoardingDate',
      'originalArrivalDate',
      'departureAirportTimeZone',
      'departureAirportCode',
      'destinationAirportCode',
      'passengerName',
    ])
      if (semantics[tag] === undefined)
        c.error(`semantics.${tag}`, 'is required for a semantic boarding pass');
  }
}

function checkSemanticDates(c: Collector, pass: Obj): void {
  if (pass.semantics === undefined) return;
  if (!isObj(pass.semantics)) {
    c.error('semantics', 'must be an object');
    return;
  }
  for (const [k, v] of Object.entries(pass.semantics))
    if (/Date$/.test(k) && typeof v === 'string') checkDate(c, `semantics.${k}`, v);
}

/** Checks a rendered pass.json against Apple's rules. Returns every problem; errors block signing. */
export function validatePassJson(pass: unknown, options: RuleOptions = {}): Problem[] {
  const c = new Collector();
  if (!isObj(pass)) {
    c.error('', `pass.json must be a JSON object, not ${describe(pass)}`);
    return c.problems;
  }
  if (pass.formatVersion === undefined) c.error('formatVersion', 'is required and must be 1');
  else if (pass.formatVersion !== 1)
    c.error('formatVersion', `must be 1, not ${JSON.stringify(pass.formatVersion)}`);
  for (const k of ['passTypeIdentifier', 'serialNumber', 'teamIdentifier', 'organizationName', 'description'])
    if (!isNonEmptyString(pass[k]))
      c.error(k, pass[k] === undefined ? 'is required' : 'must be a non-empty string');
  if (isNonEmptyString(pass.passTypeIdentifier) && !pass.passTypeIdentifier.startsWith('pass.'))
    c.warn('passTypeIdentifier', 'pass type identifiers begin with "pass."');
  for (const k of COLOR_KEYS) {
    const v = pass[k];
    if (v === undefined) continue;
    const m = typeof v === 'string' ? RGB.exec(v) : null;
    if (!m || m.slice(1, 4).some((n) => Number(n) > 255))
      c.error(k, `must be a CSS color "rgb(r, g, b)" with values 0-255, got ${JSON.stringify(v)}`);
  }
  for (const k of BOOLEAN_KEYS)
    if (pass[k] !== undefined && typeof pass[k] !== 'boolean') c.error(k, 'must be true or false');
  for (const k of STRING_KEYS)
    if (pass[k] !== undefined && typeof pass[k] !== 'string') c.error(k, 'must be a string');
  for (const k of URL_KEYS) if (pass[k] !== undefined) checkUrl(c, k, pass[k], false);
  const keys = new Map<string, string>();
  const style = checkStyle(c, pass, keys);
  if (pass.groupingIdentifier !== undefined && style !== 'boardingPass' && style !== 'eventTicket')
    c.warn('groupingIdentifier', 'is only used by boarding passes and event tickets');
  checkBarcodes(c, pass);
  checkLocations(c, pass);
  checkRelevance(c, pass);
  checkWebService(c, pass, options);
  checkApps(c, pass);
  checkNfc(c, pass);
  checkStyleSchemes(c, pass, style, options);
  checkSemanticDates(c, pass);
  for (const k of Object.keys(pass))
    if (!KNOWN_KEYS.has(k)) c.warn(k, 'is not a pass.json key Wallet knows; check its spelling');
  return c.problems;
}
