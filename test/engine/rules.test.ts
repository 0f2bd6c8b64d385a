import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type JsonObject, type Problem, validatePassJson } from '../../src/engine/index.js';

const base = (): JsonObject => ({
  formatVersion: 1,
  passTypeIdentifier: 'pass.com.example.ticket',
  serialNumber: 'SN-1',
  teamIdentifier: 'TEAM123456',
  organizationName: 'Example',
  description: 'Ticket',
  eventTicket: {
    headerFields: [
      { key: 'date', label: 'DATE', value: '2026-05-01T19:30:00+02:00', dateStyle: 'PKDateStyleShort' },
    ],
    primaryFields: [{ key: 'event', label: 'EVENT', value: 'Jazz' }],
    auxiliaryFields: [
      { key: 'gate', label: 'GATE', value: 'B', textAlignment: 'PKTextAlignmentRight', row: 1 },
    ],
    backFields: [
      { key: 'terms', label: 'TERMS', value: 'No refunds', dataDetectorTypes: ['PKDataDetectorTypeLink'] },
    ],
  },
  barcodes: [{ format: 'PKBarcodeFormatQR', message: 'abc', messageEncoding: 'iso-8859-1' }],
  backgroundColor: 'rgb(10, 20, 30)',
  webServiceURL: 'https://passes.example.com/wallet',
  authenticationToken: 'abcdefghijklmnopqrstuvwxyz',
  relevantDates: [{ startDate: '2026-05-01T18:00:00Z', endDate: '2026-05-01T23:00:00Z' }],
  locations: [{ latitude: 48.85, longitude: 2.35 }],
});

const errorsOf = (problems: Problem[]) => problems.filter((p) => p.severity === 'error').map((p) => p.path);
const warningsOf = (problems: Problem[]) =>
  problems.filter((p) => p.severity === 'warning').map((p) => p.path);

function withChange(change: (p: JsonObject & Record<string, any>) => void): Problem[] {
  const pass = base();
  change(pass);
  return validatePassJson(pass);
}

describe("Apple's pass.json rules", () => {
  it('accepts a complete, correct pass with no problems', () => {
    expect(validatePassJson(base())).toEqual([]);
  });

  const cases: [string, (p: any) => void, string, RegExp][] = [
    ['formatVersion must be 1', (p) => (p.formatVersion = 2), 'formatVersion', /must be 1/],
    ['required keys', (p) => delete p.organizationName, 'organizationName', /required/],
    ['serial number is required', (p) => (p.serialNumber = ''), 'serialNumber', /non-empty/],
    ['no style key', (p) => delete p.eventTicket, '', /exactly one style key/],
    ['two style keys', (p) => (p.generic = {}), 'generic', /only one style key/],
    [
      'transitType required on boardingPass',
      (p) => {
        p.boardingPass = p.eventTicket;
        delete p.eventTicket;
      },
      'boardingPass.transitType',
      /required/,
    ],
    [
      'transitType only on boardingPass',
      (p) => (p.eventTicket.transitType = 'PKTransitTypeAir'),
      'eventTicket.transitType',
      /only allowed on boardingPass/,
    ],
    [
      'unique field keys across the pass',
      (p) => (p.eventTicket.backFields[0].key = 'event'),
      'eventTicket.backFields[0].key',
      /already used by eventTicket.primaryFields\[0\]/,
    ],
    [
      'changeMessage needs %@',
      (p) => (p.eventTicket.primaryFields[0].changeMessage = 'Changed'),
      'eventTicket.primaryFields[0].changeMessage',
      /%@/,
    ],
    [
      'no textAlignment on primary fields',
      (p) => (p.eventTicket.primaryFields[0].textAlignment = 'PKTextAlignmentLeft'),
      'eventTicket.primaryFields[0].textAlignment',
      /not allowed on primaryFields/,
    ],
    [
      'no textAlignment on back fields',
      (p) => (p.eventTicket.backFields[0].textAlignment = 'PKTextAlignmentLeft'),
      'eventTicket.backFields[0].textAlignment',
      /not allowed on backFields/,
    ],
    [
      'field value required',
      (p) => delete p.eventTicket.primaryFields[0].value,
      'eventTicket.primaryFields[0].value',
      /required/,
    ],
    [
      'field value scalar',
      (p) => (p.eventTicket.primaryFields[0].value = { a: 1 }),
      'eventTicket.primaryFields[0].value',
      /string or a number/,
    ],
    ['colors are rgb()', (p) => (p.foregroundColor = '#ffffff'), 'foregroundColor', /rgb\(r, g, b\)/],
    ['color components up to 255', (p) => (p.labelColor = 'rgb(256, 0, 0)'), 'labelColor', /0-255/],
    [
      'dates need a time zone',
      (p) => (p.expirationDate = '2026-05-01T19:30:00'),
      'expirationDate',
      /time zone/,
    ],
    [
      'date fields need ISO dates',
      (p) => (p.eventTicket.headerFields[0].value = 'tomorrow'),
      'eventTicket.headerFields[0].value',
      /ISO 8601/,
    ],
    [
      'barcode format known',
      (p) => (p.barcodes[0].format = 'PKBarcodeFormatFoo'),
      'barcodes[0].format',
      /must be one of/,
    ],
    [
      'barcode encoding required',
      (p) => delete p.barcodes[0].messageEncoding,
      'barcodes[0].messageEncoding',
      /required/,
    ],
    ['barcode message required', (p) => delete p.barcodes[0].message, 'barcodes[0].message', /required/],
    [
      'at most 10 locations',
      (p) => (p.locations = Array.from({ length: 11 }, () => ({ latitude: 1, longitude: 1 }))),
      'locations',
      /at most 10/,
    ],
    ['location coordinates', (p) => (p.locations[0].latitude = 91), 'locations[0].latitude', /-90 to 90/],
    [
      'webServiceURL needs a token',
      (p) => delete p.authenticationToken,
      'authenticationToken',
      /required when webServiceURL/,
    ],
    [
      'token needs a webServiceURL',
      (p) => delete p.webServiceURL,
      'webServiceURL',
      /required when authenticationToken/,
    ],
    [
      'token of 16+ characters',
      (p) => (p.authenticationToken = 'short'),
      'authenticationToken',
      /16 characters/,
    ],
    [
      'https web service',
      (p) => (p.webServiceURL = 'http://passes.example.com/wallet'),
      'webServiceURL',
      /https/,
    ],
    [
      'appLaunchURL needs store ids',
      (p) => (p.appLaunchURL = 'myapp://open'),
      'appLaunchURL',
      /associatedStoreIdentifiers/,
    ],
    [
      'nfc message at most 64 bytes',
      (p) => (p.nfc = { message: 'x'.repeat(65), encryptionPublicKey: p256() }),
      'nfc.message',
      /64 bytes/,
    ],
    [
      'nfc key is a P-256 SPKI',
      (p) => (p.nfc = { message: 'm', encryptionPublicKey: 'bm90IGEga2V5' }),
      'nfc.encryptionPublicKey',
      /SubjectPublicKeyInfo/,
    ],
    [
      'nfc key curve',
      (p) => (p.nfc = { message: 'm', encryptionPublicKey: ecKey('secp384r1') }),
      'nfc.encryptionPublicKey',
      /P-256/,
    ],
    [
      'relevantDates endDate with startDate',
      (p) => (p.relevantDates = [{ startDate: '2026-05-01T18:00:00Z' }]),
      'relevantDates[0].endDate',
      /required/,
    ],
    ['relevantDates entry needs a date', (p) => (p.relevantDates = [{}]), 'relevantDates[0]', /either date/],
    [
      'relevantDates interval order',
      (p) => (p.relevantDates[0].endDate = '2026-04-01T18:00:00Z'),
      'relevantDates[0].endDate',
      /before startDate/,
    ],
    [
      'relevantDates date with zone',
      (p) => (p.relevantDates = [{ date: '2026-05-01' }]),
      'relevantDates[0].date',
      /ISO 8601/,
    ],
    [
      'poster event ticket needs NFC',
      (p) => {
        p.preferredStyleSchemes = ['posterEventTicket', 'eventTicket'];
        delete p.barcodes;
      },
      'nfc',
      /required for a poster event ticket/,
    ],
    [
      'poster event ticket needs semantics',
      (p) => (p.preferredStyleSchemes = ['posterEventTicket', 'eventTicket']),
      'semantics.eventName',
      /required/,
    ],
    [
      'poster event ticket style',
      (p) => {
        p.generic = p.eventTicket;
        delete p.eventTicket;
        p.preferredStyleSchemes = ['posterEventTicket'];
      },
      'preferredStyleSchemes',
      /eventTicket style/,
    ],
    [
      'unknown style scheme',
      (p) => (p.preferredStyleSchemes = ['fancy']),
      'preferredStyleSchemes[0]',
      /must be one of/,
    ],
    [
      'semantic boarding pass tags',
      (p) => {
        p.boardingPass = { ...p.eventTicket, transitType: 'PKTransitTypeAir' };
        delete p.eventTicket;
        p.preferredStyleSchemes = ['semanticBoardingPass', 'boardingPass'];
      },
      'semantics.flightNumber',
      /required/,
    ],
    [
      'row only 0 or 1',
      (p) => (p.eventTicket.auxiliaryFields[0].row = 2),
      'eventTicket.auxiliaryFields[0].row',
      /0 or 1/,
    ],
    ['booleans', (p) => (p.voided = 'yes'), 'voided', /true or false/],
    ['beacon UUID', (p) => (p.beacons = [{ proximityUUID: 'nope' }]), 'beacons[0].proximityUUID', /UUID/],
  ];

  for (const [name, change, path, message] of cases) {
    it(`error: ${name} (${path || 'pass'})`, () => {
      const problems = withChange(change);
      const hit = problems.find((p) => p.path === path && p.severity === 'error');
      expect(hit, JSON.stringify(problems)).toBeDefined();
      expect(hit!.message).toMatch(message);
    });
  }

  it('warns, without blocking, on deprecated keys, unknown keys and plain http when allowed', () => {
    const pass = base() as Record<string, any>;
    pass.barcode = { format: 'PKBarcodeFormatQR', message: 'a', messageEncoding: 'iso-8859-1' };
    pass.relevantDate = '2026-05-01T19:30:00Z';
    pass.bakgroundColor = 'rgb(0,0,0)';
    pass.webServiceURL = 'http://localhost:3000/wallet';
    const problems = validatePassJson(pass, { allowHttpWebService: true });
    expect(errorsOf(problems)).toEqual([]);
    expect(warningsOf(problems)).toEqual(
      expect.arrayContaining(['barcode', 'relevantDate', 'bakgroundColor', 'webServiceURL']),
    );
  });

  it('accepts a valid NFC block and a full poster event ticket', () => {
    const pass = base() as Record<string, any>;
    pass.nfc = { message: 'member-123', encryptionPublicKey: p256(), requiresAuthentication: true };
    pass.preferredStyleSchemes = ['posterEventTicket', 'eventTicket'];
    pass.semantics = { eventName: 'Jazz', venueName: 'Olympia', eventStartDate: '2026-05-01T19:30:00+02:00' };
    expect(errorsOf(validatePassJson(pass, { images: new Set(['icon', 'artwork']) }))).toEqual([]);
    expect(errorsOf(validatePassJson(pass, { images: new Set(['icon']) }))).toEqual(['artwork.png']);
  });

  it('reports every problem at once, each with its path', () => {
    const problems = withChange((p) => {
      p.formatVersion = 3;
      p.backgroundColor = 'blue';
      p.eventTicket.primaryFields[0].changeMessage = 'x';
    });
    expect(errorsOf(problems)).toEqual([
      'formatVersion',
      'backgroundColor',
      'eventTicket.primaryFields[0].changeMessage',
    ]);
  });

  it('rejects what is not an object', () => {
    expect(errorsOf(validatePassJson([]))).toEqual(['']);
  });
});

function ecKey(curve: string): string {
  return generateKeyPairSync('ec', { namedCurve: curve })
    .publicKey.export({ type: 'spki', format: 'der' })
    .toString('base64');
}
function p256(): string {
  return ecKey('prime256v1');
}
