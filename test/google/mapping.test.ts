// Apple pass.json → Google Wallet class and object, every style, with what cannot map reported; the save link's JWT.
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/engine/index.js';
import { classFor, googleId, googleTypeOf, hexColor, objectFor } from '../../src/google/mapping.js';
import { SAVE_URL, saveLink } from '../../src/google/save-link.js';

const ctx = {
  issuerId: '3388000000012345678',
  classSuffix: 'tmpl-7-v3',
  objectSuffix: 'pass-abc',
  language: 'en',
  publicUrl: 'https://passes.example.com',
  images: {
    logo: 'https://passes.example.com/g/i/logo-token',
    hero: 'https://passes.example.com/g/i/strip-token',
  },
  state: 'ACTIVE' as const,
};

const base = (style: string, body: JsonObject, extra: JsonObject = {}): JsonObject => ({
  formatVersion: 1,
  passTypeIdentifier: 'pass.com.example',
  serialNumber: 'SN-1',
  teamIdentifier: 'TEAM123456',
  organizationName: 'Example Coffee',
  description: 'Example Coffee card',
  backgroundColor: 'rgb(12, 34, 255)',
  barcodes: [
    { format: 'PKBarcodeFormatQR', message: 'M-42', messageEncoding: 'iso-8859-1', altText: 'M-42' },
  ],
  [style]: body,
  ...extra,
});

describe('Google types from Apple styles', () => {
  it('maps each style to its type, boarding passes by transit type and semantics', () => {
    expect(googleTypeOf(base('storeCard', {}))).toBe('loyalty');
    expect(googleTypeOf(base('eventTicket', {}))).toBe('eventTicket');
    expect(googleTypeOf(base('coupon', {}))).toBe('offer');
    expect(googleTypeOf(base('generic', {}))).toBe('generic');
    expect(googleTypeOf(base('boardingPass', { transitType: 'PKTransitTypeTrain' }))).toBe('transit');
    expect(googleTypeOf(base('boardingPass', { transitType: 'PKTransitTypeAir' }))).toBe('generic');
    const air = base(
      'boardingPass',
      { transitType: 'PKTransitTypeAir' },
      {
        semantics: {
          airlineCode: 'LH',
          flightNumber: 'LH400',
          departureAirportCode: 'FRA',
          destinationAirportCode: 'JFK',
        },
      },
    );
    expect(googleTypeOf(air)).toBe('flight');
  });
});

describe('classes and objects', () => {
  it('a store card is a loyalty class and object: points, text modules, barcode, colour, images, dates, places', () => {
    const pass = base(
      'storeCard',
      {
        headerFields: [{ key: 'level', label: 'LEVEL', value: 'Gold' }],
        primaryFields: [{ key: 'points', label: 'POINTS', value: 120 }],
        secondaryFields: [{ key: 'name', label: 'MEMBER', value: 'Ada Lovelace' }],
        backFields: [
          { key: 'terms', label: 'TERMS', value: 'Show this card at the counter.' },
          { key: 'site', label: 'Website', value: 'https://coffee.example.com' },
        ],
      },
      { expirationDate: '2027-01-01T00:00:00Z', locations: [{ latitude: 52.52, longitude: 13.405 }] },
    );
    const cls = classFor(pass, ctx);
    expect(cls.warnings).toEqual([]);
    expect(cls.json).toEqual({
      id: '3388000000012345678.tmpl-7-v3',
      issuerName: 'Example Coffee',
      reviewStatus: 'UNDER_REVIEW',
      hexBackgroundColor: '#0c22ff',
      programName: 'Example Coffee',
      programLogo: {
        sourceUri: { uri: ctx.images.logo },
        contentDescription: { defaultValue: { language: 'en', value: 'Example Coffee logo' } },
      },
      heroImage: {
        sourceUri: { uri: ctx.images.hero },
        contentDescription: { defaultValue: { language: 'en', value: 'Example Coffee card' } },
      },
    });
    const obj = objectFor(pass, ctx);
    expect(obj.warnings).toEqual([]);
    expect(obj.json).toEqual({
      id: '3388000000012345678.pass-abc',
      classId: '3388000000012345678.tmpl-7-v3',
      state: 'ACTIVE',
      hexBackgroundColor: '#0c22ff',
      accountId: 'SN-1',
      loyaltyPoints: { label: 'POINTS', balance: { int: 120 } },
      textModulesData: [
        { id: 'level', header: 'LEVEL', body: 'Gold' },
        { id: 'name', header: 'MEMBER', body: 'Ada Lovelace' },
        { id: 'terms', header: 'TERMS', body: 'Show this card at the counter.' },
      ],
      linksModuleData: { uris: [{ uri: 'https://coffee.example.com', description: 'Website', id: 'site' }] },
      barcode: { type: 'QR_CODE', value: 'M-42', renderEncoding: 'UTF_8', alternateText: 'M-42' },
      validTimeInterval: { end: { date: '2027-01-01T00:00:00Z' } },
      locations: [{ latitude: 52.52, longitude: 13.405 }],
    });
  });

  it('an event ticket names its event, venue and start, and its holder', () => {
    const pass = base(
      'eventTicket',
      { primaryFields: [{ key: 'holder', label: 'NAME', value: 'Grace Hopper' }] },
      { semantics: { venueName: 'Main Hall', eventStartDate: '2027-03-01T19:00:00Z' } },
    );
    expect(classFor(pass, ctx).json).toMatchObject({
      eventName: { defaultValue: { language: 'en', value: 'Example Coffee card' } },
      venue: { name: { defaultValue: { language: 'en', value: 'Main Hall' } } },
      dateTime: { start: '2027-03-01T19:00:00Z' },
    });
    expect(objectFor(pass, ctx).json).toMatchObject({
      ticketHolderName: 'Grace Hopper',
      ticketNumber: 'SN-1',
    });
  });

  it('a coupon is an offer; a generic pass has its title, header and subheader; a train is transit', () => {
    expect(classFor(base('coupon', {}), ctx).json).toMatchObject({
      provider: 'Example Coffee',
      title: 'Example Coffee card',
      redemptionChannel: 'BOTH',
    });
    const generic = base('generic', { primaryFields: [{ key: 'room', label: 'ROOM', value: '101' }] });
    expect(objectFor(generic, ctx).json).toMatchObject({
      cardTitle: { defaultValue: { language: 'en', value: 'Example Coffee' } },
      header: { defaultValue: { language: 'en', value: '101' } },
      subheader: { defaultValue: { language: 'en', value: 'ROOM' } },
    });
    const train = base('boardingPass', { transitType: 'PKTransitTypeTrain' });
    expect(classFor(train, ctx).json).toMatchObject({ transitType: 'RAIL' });
    expect(objectFor(train, ctx).json).toMatchObject({ tripType: 'ONE_WAY' });
  });

  it('an air boarding pass with its semantics is a flight; without them a generic pass, with a warning', () => {
    const semantics = {
      airlineCode: 'LH',
      flightNumber: 'LH400',
      departureAirportCode: 'FRA',
      destinationAirportCode: 'JFK',
      originalDepartureDate: '2027-05-01T10:30:00+02:00',
      confirmationNumber: 'ABC123',
    };
    const air = base(
      'boardingPass',
      { transitType: 'PKTransitTypeAir', primaryFields: [{ key: 'pax', label: 'PASSENGER', value: 'Ada' }] },
      { semantics },
    );
    expect(classFor(air, ctx).json).toMatchObject({
      flightHeader: { carrier: { carrierIataCode: 'LH' }, flightNumber: 'LH400' },
      origin: { airportIataCode: 'FRA' },
      destination: { airportIataCode: 'JFK' },
      localScheduledDepartureDateTime: '2027-05-01T10:30:00',
    });
    expect(objectFor(air, ctx).json).toMatchObject({
      passengerName: 'Ada',
      reservationInfo: { confirmationCode: 'ABC123' },
    });
    const bare = base('boardingPass', { transitType: 'PKTransitTypeAir' });
    expect(classFor(bare, ctx).warnings.join()).toMatch(/airlineCode, flightNumber/);
  });

  it('reports what cannot map: an http PUBLIC_URL, more fields than text modules, a barcode format, a placeholder label', () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ key: `f${i}`, label: `F${i}`, value: `v${i}` }));
    const pass = base(
      'generic',
      { backFields: many, secondaryFields: [{ key: 'x', label: 'Hi ${firstName}', value: 'y' }] },
      { barcodes: [{ format: 'PKBarcodeFormatCode39', message: '1', messageEncoding: 'iso-8859-1' }] },
    );
    const plain = { ...ctx, publicUrl: 'http://localhost:3000' };
    const obj = objectFor(pass, plain);
    expect(obj.json.textModulesData).toHaveLength(10);
    expect(obj.json.barcode).toBeUndefined();
    expect(obj.warnings).toEqual([
      expect.stringMatching(/not https/),
      expect.stringMatching(/"f9" has no place/),
      expect.stringMatching(/"f10" has no place/),
      expect.stringMatching(/"f11" has no place/),
      expect.stringMatching(/PKBarcodeFormatCode39 has no Google equivalent/),
    ]);
    expect(classFor(pass, ctx).warnings).toEqual([expect.stringMatching(/label of secondaryFields "x"/)]);
  });

  it('makes ids Google accepts and colours Google reads', () => {
    expect(googleId('123', 'tmpl 7/v3:ä')).toBe('123.tmpl_7_v3__');
    expect(hexColor('rgb(0, 128, 255)')).toBe('#0080ff');
    expect(hexColor('#ffffff')).toBeUndefined();
  });
});

describe('localizations', () => {
  it("sends the pass's translations as translatedValues of its texts and text modules", () => {
    const pass = base('generic', {
      primaryFields: [{ key: 'name', label: 'Member', value: 'Ada' }],
      backFields: [{ key: 'terms', label: 'Terms', value: 'Show at the counter' }],
    });
    const translations = {
      fr: { Member: 'Membre', Terms: 'Conditions', 'Show at the counter': 'Montrez-la au comptoir' },
    };
    const { json } = objectFor(pass, { ...ctx, translations });
    expect(json.subheader).toEqual({
      defaultValue: { language: 'en', value: 'Member' },
      translatedValues: [{ language: 'fr', value: 'Membre' }],
    });
    expect(json.textModulesData).toContainEqual({
      id: 'terms',
      header: 'Terms',
      body: 'Show at the counter',
      localizedHeader: {
        defaultValue: { language: 'en', value: 'Terms' },
        translatedValues: [{ language: 'fr', value: 'Conditions' }],
      },
      localizedBody: {
        defaultValue: { language: 'en', value: 'Show at the counter' },
        translatedValues: [{ language: 'fr', value: 'Montrez-la au comptoir' }],
      },
    });
    // a text without a translation stays a plain LocalizedString
    expect(json.header).toEqual({ defaultValue: { language: 'en', value: 'Ada' } });
  });
});

describe('the save link', () => {
  it('is a JWT signed RS256 by the service account, with the claims Google reads', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const account = {
      clientEmail: 'wallet@project.iam.gserviceaccount.com',
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    const now = new Date('2026-12-05T10:00:00Z');
    const link = saveLink(
      account,
      ['https://passes.example.com'],
      { loyaltyObjects: [{ id: '3388.pass', classId: '3388.cls' }] },
      now,
    );
    expect(link.startsWith(SAVE_URL)).toBe(true);
    const [header, claims, signature] = link.slice(SAVE_URL.length).split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(claims, 'base64url').toString())).toEqual({
      iss: account.clientEmail,
      aud: 'google',
      typ: 'savetowallet',
      iat: now.getTime() / 1000,
      origins: ['https://passes.example.com'],
      payload: { loyaltyObjects: [{ id: '3388.pass', classId: '3388.cls' }] },
    });
    const ok = verify(
      'RSA-SHA256',
      Buffer.from(`${header}.${claims}`),
      publicKey,
      Buffer.from(signature, 'base64url'),
    );
    expect(ok).toBe(true);
  });
});
