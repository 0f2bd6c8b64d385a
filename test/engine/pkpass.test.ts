import { describe, expect, it } from 'vitest';
import {
  buildPass,
  bundlePasses,
  createPassFactory,
  decodeStringsText,
  MissingValuesError,
  PassProblemsError,
  parseStrings,
  readZip,
} from '../../src/engine/index.js';
import { encodePng } from '../../src/engine/png.js';
import { devIdentity, printCms, sampleImages, sampleTemplate, verifyPkpass } from '../helpers.js';

const dev = devIdentity({ passTypeIdentifier: 'pass.test.passslot.pkpass', teamIdentifier: 'TESTTEAM01' });
const values = { event: 'Jazz Night', seat: 12, firstName: 'Ada', lastName: 'Lovelace', ticket: 'T-1' };

describe('.pkpass packages', () => {
  it('builds a pass whose signature OpenSSL verifies and whose manifest hashes every file', () => {
    const built = buildPass({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: { images: sampleImages() },
      values,
    });
    const { files, passJson, manifest } = verifyPkpass(built.pkpass, dev.caPath);
    expect([...files.keys()].sort()).toEqual(
      [
        'icon.png',
        'icon@2x.png',
        'icon@3x.png',
        'logo.png',
        'logo@2x.png',
        'manifest.json',
        'pass.json',
        'signature',
      ].sort(),
    );
    expect(Object.keys(manifest).sort()).toEqual(
      [...files.keys()].filter((n) => n !== 'manifest.json' && n !== 'signature').sort(),
    );
    expect(passJson).toMatchObject({
      description: 'Ticket for Jazz Night',
      serialNumber: 'TEMPLATE-SERIAL',
      eventTicket: { secondaryFields: [{ value: 12 }, { value: 'Ada Lovelace' }] },
      barcodes: [{ message: 'T-1' }],
    });
    expect(built.warnings).toEqual([]);
  });

  it('signs with SHA-256 and the signed attributes contentType, messageDigest and signingTime, detached, with the intermediate embedded', () => {
    const now = new Date('2026-03-04T05:06:07Z');
    const built = buildPass({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: { images: sampleImages() },
      values,
      now,
    });
    const printed = printCms(readZip(built.pkpass).get('signature')!);
    expect(printed).toContain('contentType');
    expect(printed).toContain('messageDigest');
    expect(printed).toContain('signingTime');
    expect(printed).toMatch(/UTCTIME:.*Mar\s+4 05:06:07 2026/i);
    expect(printed).toContain('sha256');
    expect(printed).toMatch(/eContent: <ABSENT>/);
    expect(printed).toContain('Passslot Development CA'); // the intermediate
    expect(printed).toContain('Pass Type ID: pass.test.passslot.pkpass'); // the signer
  });

  it('includes localizations as UTF-16LE pass.strings, rendered with the values, and localized images', () => {
    const built = buildPass({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: {
        images: sampleImages(),
        localizations: {
          fr: {
            strings: { EVENT: 'ÉVÉNEMENT', greeting: 'Bonjour ${firstName}' },
            images: { 'logo.png': encodePng(150, 50) },
          },
          'zh-Hans': { strings: { EVENT: '活动' } },
        },
      },
      values,
    });
    const { files, manifest } = verifyPkpass(built.pkpass, dev.caPath);
    const fr = files.get('fr.lproj/pass.strings')!;
    expect([...fr.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(parseStrings(decodeStringsText(fr).text)).toEqual({ EVENT: 'ÉVÉNEMENT', greeting: 'Bonjour Ada' });
    expect(parseStrings(decodeStringsText(files.get('zh-Hans.lproj/pass.strings')!).text)).toEqual({
      EVENT: '活动',
    });
    expect(manifest['fr.lproj/logo.png']).toMatch(/^[0-9a-f]{40}$/);
  });

  it('lets per-pass images override the template images', () => {
    const factory = createPassFactory({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: { images: sampleImages() },
    });
    const custom = encodePng(90, 90, () => [255, 0, 0, 255]);
    const built = factory.build({
      values,
      images: { 'logo.png': encodePng(100, 40), 'thumbnail.png': custom },
    });
    const { files } = verifyPkpass(built.pkpass, dev.caPath);
    expect(Buffer.from(files.get('thumbnail.png')!).equals(custom)).toBe(true);
    expect(Buffer.from(files.get('logo.png')!).equals(encodePng(100, 40))).toBe(true);
    // the factory's own images are untouched for the next pass
    const again = verifyPkpass(factory.build({ values }).pkpass, dev.caPath);
    expect(again.files.has('thumbnail.png')).toBe(false);
  });

  it('builds many passes from one factory, each with its own serial and values', () => {
    const factory = createPassFactory({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: { images: sampleImages() },
    });
    expect(factory.placeholders).toEqual(['event', 'seat', 'firstName', 'lastName', 'ticket']);
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const built = factory.build({ values: { ...values, seat: i }, overrides: { serialNumber: `S-${i}` } });
      const { passJson } = verifyPkpass(built.pkpass, dev.caPath);
      serials.add(passJson.serialNumber as string);
      expect((passJson.eventTicket as any).secondaryFields[0].value).toBe(i);
    }
    expect(serials.size).toBe(5);
  });

  it('refuses to sign a pass for another pass type or team than the certificate', () => {
    const template = { ...sampleTemplate(dev.identity), passTypeIdentifier: 'pass.other.type' };
    const err = catchError(() =>
      buildPass({ identity: dev.identity, template, assets: { images: sampleImages() }, values }),
    );
    expect(err).toBeInstanceOf(PassProblemsError);
    expect((err as PassProblemsError).problems).toContainEqual(
      expect.objectContaining({
        path: 'passTypeIdentifier',
        severity: 'error',
        message: expect.stringContaining('pass.test.passslot.pkpass'),
      }),
    );
    const team = { ...sampleTemplate(dev.identity), teamIdentifier: 'OTHERTEAM' };
    const teamErr = catchError(() =>
      buildPass({ identity: dev.identity, template: team, assets: { images: sampleImages() }, values }),
    );
    expect((teamErr as PassProblemsError).problems.map((p) => p.path)).toContain('teamIdentifier');
  });

  it('fills passTypeIdentifier, teamIdentifier and formatVersion from the identity when the template omits them', () => {
    const { passTypeIdentifier, teamIdentifier, formatVersion, ...rest } = sampleTemplate(dev.identity);
    const built = buildPass({
      identity: dev.identity,
      template: rest,
      assets: { images: sampleImages() },
      values,
    });
    expect(verifyPkpass(built.pkpass, dev.caPath).passJson).toMatchObject({
      passTypeIdentifier,
      teamIdentifier,
      formatVersion,
    });
  });

  it('blocks signing on rule errors and reports them with paths, and on a missing icon', () => {
    const template = sampleTemplate(dev.identity);
    (template.eventTicket as any).primaryFields[0].changeMessage = 'no placeholder';
    const err = catchError(() =>
      buildPass({
        identity: dev.identity,
        template,
        assets: { images: { 'logo.png': encodePng(160, 50) } },
        values,
      }),
    );
    expect(err).toBeInstanceOf(PassProblemsError);
    const paths = (err as PassProblemsError).problems
      .filter((p) => p.severity === 'error')
      .map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['eventTicket.primaryFields[0].changeMessage', 'icon.png']));
    expect((err as Error).message).toContain('eventTicket.primaryFields[0].changeMessage');
  });

  it('makes text of numbers placed where Apple wants text (labels, barcode messages), and keeps field values typed', () => {
    const template = sampleTemplate(dev.identity);
    (template.barcodes as any)[0].altText = '${ticket}';
    (template.eventTicket as any).primaryFields[0].label = '${seat}';
    const built = buildPass({
      identity: dev.identity,
      template,
      assets: { images: sampleImages() },
      values: { ...values, ticket: 1234 },
    });
    const { passJson } = verifyPkpass(built.pkpass, dev.caPath);
    expect((passJson.barcodes as any)[0]).toMatchObject({ message: '1234', altText: '1234' });
    expect((passJson.eventTicket as any).primaryFields[0].label).toBe('12');
    expect((passJson.eventTicket as any).secondaryFields[0].value).toBe(12);
  });

  it('names every missing value', () => {
    expect(() =>
      buildPass({
        identity: dev.identity,
        template: sampleTemplate(dev.identity),
        assets: { images: sampleImages() },
        values: { event: 'x' },
      }),
    ).toThrow(new MissingValuesError(['seat', 'firstName', 'lastName', 'ticket']));
  });

  it('warns when the certificate expires within 30 days, and still signs', () => {
    const soon = devIdentity({
      passTypeIdentifier: 'pass.test.passslot.soon',
      teamIdentifier: 'TESTTEAM01',
      days: 10,
    });
    const built = buildPass({
      identity: soon.identity,
      template: sampleTemplate(soon.identity),
      assets: { images: sampleImages() },
      values,
    });
    expect(built.warnings).toContainEqual(
      expect.objectContaining({ path: 'certificate', message: expect.stringMatching(/expires in 10 days/) }),
    );
    verifyPkpass(built.pkpass, soon.caPath);
  });

  it('bundles up to 10 passes into a .pkpasses archive', () => {
    const factory = createPassFactory({
      identity: dev.identity,
      template: sampleTemplate(dev.identity),
      assets: { images: sampleImages() },
    });
    const passes = Array.from(
      { length: 3 },
      (_, i) => factory.build({ values, overrides: { serialNumber: `B-${i}` } }).pkpass,
    );
    const bundle = readZip(bundlePasses(passes));
    expect([...bundle.keys()]).toEqual(['pass-1.pkpass', 'pass-2.pkpass', 'pass-3.pkpass']);
    expect(verifyPkpass(bundle.get('pass-3.pkpass')!, dev.caPath).passJson.serialNumber).toBe('B-2');
    expect(() => bundlePasses(Array.from({ length: 11 }, () => passes[0]!))).toThrow(/at most 10/);
    expect(() => bundlePasses([])).toThrow(/at least one/);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
