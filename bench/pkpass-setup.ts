// The shared input of the pkpass benchmark: an eventTicket with three fields, a QR barcode, icon and logo at @1x
// and @2x, signed by a development RSA-2048 identity.
import { createDevPki, type DevPki, type JsonObject } from '../src/engine/index.js';
import { encodePng } from '../src/engine/png.js';

export const template: JsonObject = {
  formatVersion: 1,
  passTypeIdentifier: 'pass.dev.passslot.bench',
  teamIdentifier: 'BENCHTEAM1',
  organizationName: 'Bench Arena',
  description: 'Concert ticket',
  eventTicket: {
    primaryFields: [{ key: 'event', label: 'EVENT', value: '${event}' }],
    secondaryFields: [
      { key: 'holder', label: 'NAME', value: '${name}' },
      { key: 'seat', label: 'SEAT', value: '${seat}', changeMessage: 'Your seat is now %@' },
    ],
  },
  barcodes: [{ format: 'PKBarcodeFormatQR', message: '${ticket}', messageEncoding: 'iso-8859-1' }],
};

export const images: Record<string, Uint8Array> = {
  'icon.png': encodePng(29, 29),
  'icon@2x.png': encodePng(58, 58),
  'logo.png': encodePng(160, 50),
  'logo@2x.png': encodePng(320, 100),
};

export const valuesFor = (i: number) => ({
  event: 'Night Concert',
  name: `Guest ${i}`,
  seat: (i % 500) + 1,
  ticket: `T-${i}`,
});

export const makePki = (): DevPki =>
  createDevPki({ passTypeIdentifier: 'pass.dev.passslot.bench', teamIdentifier: 'BENCHTEAM1' });
