import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { PKPass } from 'passkit-generator';
import { describe, expect, it } from 'vitest';
import {
  buildPass,
  type DoctorReport,
  diagnosePass,
  type JsonObject,
  type PassIdentity,
  readZip,
} from '../../src/engine/index.js';
import { type DevIdentity, devIdentity, sampleImages, sampleTemplate, tmpDir } from '../helpers.js';

const dev = devIdentity({ passTypeIdentifier: 'pass.test.passslot.doctor', teamIdentifier: 'DOCTEAM001' });
const values = { event: 'Jazz', seat: 1, firstName: 'A', lastName: 'B', ticket: 'T' };
const trust = { trustedRoots: dev.pki.caCertificatePem };

const goodPass = (): Buffer =>
  buildPass({
    identity: dev.identity,
    template: sampleTemplate(dev.identity),
    assets: { images: sampleImages() },
    values,
  }).pkpass;

/** Assembles a package by hand, signing the manifest with the identity, so tests can make any defect. */
function assemble(
  files: Record<string, Uint8Array>,
  identity: PassIdentity = dev.identity,
  extra: Record<string, Uint8Array> = {},
): Uint8Array {
  const manifest: Record<string, string> = {};
  for (const [name, data] of Object.entries(files))
    manifest[name] = createHash('sha1').update(data).digest('hex');
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return zipSync({
    ...files,
    ...extra,
    'manifest.json': manifestBytes,
    signature: identity.signer.sign(manifestBytes, new Date()),
  });
}

const passJsonBytes = (pass: JsonObject): Buffer => Buffer.from(JSON.stringify(pass));
const renderedPass = (): JsonObject => ({
  ...sampleTemplate(dev.identity),
  description: 'Ticket',
  eventTicket: { primaryFields: [{ key: 'e', value: 'Jazz' }] },
  barcodes: [],
});
const errorsOf = (r: DoctorReport) => r.problems.filter((p) => p.severity === 'error');

function rezip(pkpass: Uint8Array, change: (files: Record<string, Uint8Array>) => void): Uint8Array {
  const files = Object.fromEntries(readZip(pkpass));
  change(files);
  return zipSync(files);
}

describe('the pass doctor', () => {
  it('passes a good pass of ours, with the development CA trusted', () => {
    const report = diagnosePass(goodPass(), trust);
    expect(errorsOf(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report).toMatchObject({
      passTypeIdentifier: 'pass.test.passslot.doctor',
      serialNumber: 'TEMPLATE-SERIAL',
      digestAlgorithm: 'sha256',
    });
    expect(report.signingTime).toBeDefined();
  });

  it('fails the chain when the root is not trusted (Apple Root CA by default)', () => {
    const report = diagnosePass(goodPass());
    expect(report.ok).toBe(false);
    expect(errorsOf(report)).toEqual([
      expect.objectContaining({ path: 'signature', message: expect.stringContaining('Apple Root CA') }),
    ]);
  });

  it('passes a pass made by passkit-generator (another implementation, SHA-1 signature)', () => {
    const buffers: Record<string, Buffer> = {
      'pass.json': passJsonBytes({ ...renderedPass(), serialNumber: 'PKG-1' }),
    };
    for (const [k, v] of Object.entries(sampleImages())) buffers[k] = Buffer.from(v);
    const pkpass = new PKPass(buffers, {
      wwdr: dev.pki.caCertificatePem,
      signerCert: dev.pki.certificatePem,
      signerKey: dev.pki.privateKeyPem,
    }).getAsBuffer();
    const report = diagnosePass(pkpass, trust);
    expect(errorsOf(report)).toEqual([]);
    expect(report.serialNumber).toBe('PKG-1');
  });

  it('passes a pass signed by openssl cms -sign (with its default signed attributes)', () => {
    const { pkpass } = opensslSigned(dev, []);
    expect(errorsOf(diagnosePass(pkpass, trust))).toEqual([]);
  });

  it('finds a signature without signingTime (openssl cms -sign -noattr)', () => {
    const { pkpass } = opensslSigned(dev, ['-noattr']);
    const report = diagnosePass(pkpass, trust);
    expect(report.ok).toBe(false);
    expect(errorsOf(report).map((p) => p.message)).toContainEqual(expect.stringContaining('no signing time'));
  });

  it('finds a file tampered with after signing', () => {
    const tampered = rezip(goodPass(), (f) => {
      f['logo.png'] = Buffer.concat([Buffer.from(f['logo.png']!), Buffer.from([0])]);
    });
    const report = diagnosePass(tampered, trust);
    expect(errorsOf(report)).toEqual([
      expect.objectContaining({
        path: 'logo.png',
        message: expect.stringContaining('changed after signing'),
      }),
    ]);
  });

  it('finds a manifest changed after signing', () => {
    const changed = rezip(goodPass(), (f) => {
      const m = JSON.parse(Buffer.from(f['manifest.json']!).toString());
      f['extra.png'] = sampleImages()['logo.png']!;
      m['extra.png'] = createHash('sha1').update(f['extra.png']).digest('hex');
      f['manifest.json'] = Buffer.from(JSON.stringify(m));
    });
    const report = diagnosePass(changed, trust);
    expect(errorsOf(report).map((p) => p.message)).toContainEqual(
      expect.stringContaining('does not match the manifest'),
    );
  });

  it('finds an entry missing from the manifest and a manifest entry missing from the archive', () => {
    const extra = assemble({ 'pass.json': passJsonBytes(renderedPass()), ...sampleImages() }, dev.identity, {
      'strip.png': sampleImages()['logo.png']!,
    });
    expect(errorsOf(diagnosePass(extra, trust))).toEqual([
      expect.objectContaining({
        path: 'strip.png',
        message: expect.stringContaining('no entry in manifest.json'),
      }),
    ]);
    const missing = rezip(goodPass(), (f) => {
      delete f['logo@2x.png'];
    });
    expect(errorsOf(diagnosePass(missing, trust))).toEqual([
      expect.objectContaining({
        path: 'logo@2x.png',
        message: expect.stringContaining('missing from the archive'),
      }),
    ]);
  });

  it('finds pass.json identifiers that do not match the certificate', () => {
    const other = { ...renderedPass(), passTypeIdentifier: 'pass.someone.else', teamIdentifier: 'OTHERTEAM' };
    const report = diagnosePass(assemble({ 'pass.json': passJsonBytes(other), ...sampleImages() }), trust);
    expect(errorsOf(report).map((p) => `${p.file} ${p.path}`)).toEqual([
      'pass.json passTypeIdentifier',
      'pass.json teamIdentifier',
    ]);
  });

  it("reports bad pass.json with Apple's rules and the JSON path, and bad JSON", () => {
    const bad = renderedPass();
    (bad.eventTicket as any).primaryFields[0].changeMessage = 'no escape';
    bad.backgroundColor = 'red';
    const report = diagnosePass(assemble({ 'pass.json': passJsonBytes(bad), ...sampleImages() }), trust);
    expect(errorsOf(report).map((p) => p.path)).toEqual([
      'backgroundColor',
      'eventTicket.primaryFields[0].changeMessage',
    ]);
    const broken = diagnosePass(
      assemble({ 'pass.json': Buffer.from('{"formatVersion": 1,'), ...sampleImages() }),
      trust,
    );
    expect(errorsOf(broken)).toEqual([
      expect.objectContaining({ path: 'pass.json', message: expect.stringContaining('not valid JSON') }),
    ]);
  });

  it('finds files inside a wrapping folder, OS metadata, a missing icon and non-PNG images', () => {
    const nested = rezip(goodPass(), (f) => {
      for (const k of Object.keys(f)) {
        f[`MyPass.pass/${k}`] = f[k]!;
        delete f[k];
      }
    });
    expect(errorsOf(diagnosePass(nested, trust)).map((p) => p.message)).toContainEqual(
      expect.stringContaining('inside the folder "MyPass.pass"'),
    );
    const junk = rezip(goodPass(), (f) => {
      f['.DS_Store'] = Buffer.from('x');
    });
    expect(errorsOf(diagnosePass(junk, trust)).map((p) => p.message)).toContainEqual(
      expect.stringContaining('operating-system metadata'),
    );
    const { 'icon.png': _1, 'icon@2x.png': _2, 'icon@3x.png': _3, ...noIcon } = sampleImages();
    expect(
      errorsOf(diagnosePass(assemble({ 'pass.json': passJsonBytes(renderedPass()), ...noIcon }), trust)).map(
        (p) => p.path,
      ),
    ).toEqual(['icon.png']);
    const gif = diagnosePass(
      assemble({
        'pass.json': passJsonBytes(renderedPass()),
        ...sampleImages(),
        'logo.png': Buffer.from('GIF89a\x01\x00\x01\x00'),
      }),
      trust,
    );
    expect(errorsOf(gif)).toEqual([
      expect.objectContaining({ path: 'logo.png', message: expect.stringContaining('needs PNG') }),
    ]);
  });

  it('finds an expired signing certificate', () => {
    const expired = devIdentity({
      passTypeIdentifier: 'pass.test.passslot.doctor',
      teamIdentifier: 'DOCTEAM001',
      days: -2,
    });
    const report = diagnosePass(
      assemble({ 'pass.json': passJsonBytes(renderedPass()), ...sampleImages() }, expired.identity),
      {
        trustedRoots: expired.pki.caCertificatePem,
      },
    );
    expect(errorsOf(report).map((p) => p.message)).toContainEqual(
      expect.stringContaining('the signing certificate expired'),
    );
  });

  it('reports a file that is not a zip, and a signature that is not DER, without throwing', () => {
    expect(errorsOf(diagnosePass(Buffer.from('hello'), trust))).toEqual([
      expect.objectContaining({ path: '(archive)' }),
    ]);
    const garbage = rezip(goodPass(), (f) => {
      f.signature = Buffer.from('garbage');
    });
    expect(errorsOf(diagnosePass(garbage, trust))).toEqual([
      expect.objectContaining({ path: 'signature', message: expect.stringContaining('not valid DER') }),
    ]);
  });

  it('checks localization folders and their strings files', () => {
    const bad = diagnosePass(
      assemble({
        'pass.json': passJsonBytes(renderedPass()),
        ...sampleImages(),
        'fr.lproj/pass.strings': Buffer.from('"a" = "b"'),
      }),
      trust,
    );
    expect(errorsOf(bad)).toEqual([
      expect.objectContaining({
        path: 'fr.lproj/pass.strings',
        message: expect.stringContaining('expected ;'),
      }),
    ]);
    const utf8 = diagnosePass(
      assemble({
        'pass.json': passJsonBytes(renderedPass()),
        ...sampleImages(),
        'fr.lproj/pass.strings': Buffer.from('"a" = "é";'),
      }),
      trust,
    );
    expect(utf8.ok).toBe(true);
    expect(utf8.problems).toContainEqual(
      expect.objectContaining({ severity: 'warning', message: expect.stringContaining('UTF-16') }),
    );
  });
});

/** A pass signed by OpenSSL itself: a second, independent signer. */
function opensslSigned(id: DevIdentity, flags: string[]): { pkpass: Uint8Array } {
  const dir = tmpDir('passslot-ossl-');
  const files: Record<string, Uint8Array> = { 'pass.json': passJsonBytes(renderedPass()), ...sampleImages() };
  const manifest: Record<string, string> = {};
  for (const [name, data] of Object.entries(files))
    manifest[name] = createHash('sha1').update(data).digest('hex');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  execFileSync('openssl', [
    'cms',
    '-sign',
    '-binary',
    '-outform',
    'DER',
    '-md',
    'sha256',
    ...flags,
    '-signer',
    join(id.dir, 'pass.pem'),
    '-inkey',
    join(id.dir, 'pass.key'),
    '-certfile',
    id.caPath,
    '-in',
    join(dir, 'manifest.json'),
    '-out',
    join(dir, 'signature'),
  ]);
  return {
    pkpass: zipSync({
      ...files,
      'manifest.json': readFileSync(join(dir, 'manifest.json')),
      signature: readFileSync(join(dir, 'signature')),
    }),
  };
}
