// Test helpers: a development identity on disk, sample templates and images, and the real checks every pass made in
// tests goes through: `openssl cms -verify` of the signature and a fresh SHA-1 of every file against the manifest.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDevPki,
  type DevPki,
  type DevPkiOptions,
  type JsonObject,
  loadIdentityFromPem,
  type PassIdentity,
  readZip,
} from '../src/engine/index.js';
import { encodePng } from '../src/engine/png.js';

export const tmpDir = (prefix = 'passslot-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** Polls `probe` until it returns something truthy, or fails after `timeoutMs` saying what it waited for. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface DevIdentity {
  pki: DevPki;
  identity: PassIdentity;
  dir: string;
  caPath: string;
}

/** A development identity written to a temporary directory, loaded with its CA as the embedded intermediate. */
export function devIdentity(options: DevPkiOptions = {}): DevIdentity {
  const pki = createDevPki(options);
  const dir = tmpDir('passslot-pki-');
  const caPath = join(dir, 'dev-ca.pem');
  writeFileSync(caPath, pki.caCertificatePem);
  writeFileSync(join(dir, 'pass.pem'), pki.certificatePem);
  writeFileSync(join(dir, 'pass.key'), pki.privateKeyPem);
  writeFileSync(join(dir, 'pass.p12'), pki.p12);
  const identity = loadIdentityFromPem(
    { certificate: pki.certificatePem, privateKey: pki.privateKeyPem },
    { wwdr: pki.caCertificatePem },
  );
  return { pki, identity, dir, caPath };
}

export const sampleImages = (): Record<string, Uint8Array> => ({
  'icon.png': encodePng(29, 29),
  'icon@2x.png': encodePng(58, 58),
  'icon@3x.png': encodePng(87, 87),
  'logo.png': encodePng(160, 50),
  'logo@2x.png': encodePng(320, 100),
});

export function sampleTemplate(id: { passTypeIdentifier: string; teamIdentifier: string }): JsonObject {
  return {
    formatVersion: 1,
    passTypeIdentifier: id.passTypeIdentifier,
    teamIdentifier: id.teamIdentifier,
    organizationName: 'Example Arena',
    description: 'Ticket for ${event}',
    serialNumber: 'TEMPLATE-SERIAL',
    eventTicket: {
      primaryFields: [{ key: 'event', label: 'EVENT', value: '${event}' }],
      secondaryFields: [
        { key: 'seat', label: 'SEAT', value: '${seat}', changeMessage: 'Your seat is now %@' },
        { key: 'holder', label: 'NAME', value: '${firstName} ${lastName}' },
      ],
    },
    barcodes: [{ format: 'PKBarcodeFormatQR', message: '${ticket}', messageEncoding: 'iso-8859-1' }],
  };
}

export interface VerifiedPass {
  files: Map<string, Uint8Array>;
  passJson: JsonObject;
  manifest: Record<string, string>;
}

/**
 * Checks a .pkpass as Wallet would: every file at the root or in a .lproj folder, every file but manifest.json and
 * signature in the manifest with its SHA-1, and the signature verified by OpenSSL against the given CA.
 */
export function verifyPkpass(pkpass: Uint8Array, caPath: string): VerifiedPass {
  const files = readZip(pkpass);
  const manifest = JSON.parse(Buffer.from(files.get('manifest.json')!).toString('utf8')) as Record<
    string,
    string
  >;
  for (const [name, data] of files) {
    if (name === 'manifest.json' || name === 'signature') continue;
    if (manifest[name] !== createHash('sha1').update(data).digest('hex'))
      throw new Error(`manifest hash mismatch for ${name}`);
  }
  for (const name of Object.keys(manifest))
    if (!files.has(name)) throw new Error(`manifest lists missing ${name}`);
  opensslVerify(files.get('signature')!, files.get('manifest.json')!, caPath);
  const passJson = JSON.parse(Buffer.from(files.get('pass.json')!).toString('utf8')) as JsonObject;
  return { files, passJson, manifest };
}

/** Verifies a detached DER CMS signature of `content` with `openssl cms -verify`, trusting `caPath`; throws if not. */
export function opensslVerify(signature: Uint8Array, content: Uint8Array | string, caPath: string): void {
  const dir = tmpDir('passslot-verify-');
  writeFileSync(join(dir, 'content'), content);
  writeFileSync(join(dir, 'signature'), signature);
  const result = spawnSync(
    'openssl',
    [
      'cms',
      '-verify',
      '-binary',
      '-inform',
      'DER',
      '-in',
      join(dir, 'signature'),
      '-content',
      join(dir, 'content'),
    ].concat(['-CAfile', caPath, '-purpose', 'any', '-out', '/dev/null']),
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`openssl cms -verify failed: ${result.stderr}`);
}

/** What `openssl cms -cmsout -print` says of a signature, for checking its attributes. */
export function printCms(signature: Uint8Array): string {
  const dir = tmpDir('passslot-cms-');
  writeFileSync(join(dir, 'signature'), signature);
  return execFileSync(
    'openssl',
    ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(dir, 'signature')],
    {
      encoding: 'utf8',
    },
  );
}

/** Writes a template directory (pass.json, images, .lproj folders) for the CLI tests. */
export function writeTemplateDir(
  passJson: JsonObject,
  images: Record<string, Uint8Array>,
  lproj: Record<string, { strings?: string; images?: Record<string, Uint8Array> }> = {},
): string {
  const dir = tmpDir('passslot-template-');
  writeFileSync(join(dir, 'pass.json'), JSON.stringify(passJson, null, 2));
  for (const [name, data] of Object.entries(images)) writeFileSync(join(dir, name), data);
  for (const [lang, loc] of Object.entries(lproj)) {
    mkdirSync(join(dir, `${lang}.lproj`));
    if (loc.strings !== undefined) writeFileSync(join(dir, `${lang}.lproj`, 'pass.strings'), loc.strings);
    for (const [name, data] of Object.entries(loc.images ?? {}))
      writeFileSync(join(dir, `${lang}.lproj`, name), data);
  }
  return dir;
}
