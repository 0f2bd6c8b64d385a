// The pass doctor: opens any .pkpass, ours or anyone's, and reports every reason Wallet would refuse it.
import { createHash } from 'node:crypto';
import { APPLE_ROOT_CA_PEM } from './apple-certs.js';
import {
  type Certificate,
  certificatePassTypeId,
  isIssuedBy,
  Oid,
  parseCertificate,
  pemBlocks,
} from './certificate.js';
import { checkImage, checkImageSet, parseImageName } from './images.js';
import { Collector, hasErrors, type Problem } from './problems.js';
import { PASS_STYLES, validatePassJson } from './rules.js';
import { inspectSignature } from './signature.js';
import { decodeStringsText, LPROJ_DIR, parseStrings, StringsSyntaxError } from './strings.js';
import { readZip, ZipError } from './zip.js';

export interface DoctorOptions {
  /** PEM text of roots to trust instead of Apple Root CA (e.g. a development CA). */
  trustedRoots?: string;
  now?: Date;
  /** Accept a plain-http webServiceURL as development passes use. */
  allowHttpWebService?: boolean;
}

export interface DoctorReport {
  ok: boolean;
  errors: number;
  warnings: number;
  problems: Problem[];
  files: string[];
  passTypeIdentifier?: string;
  serialNumber?: string;
  signer?: {
    subject: string;
    issuer: string;
    notAfter: string;
    passTypeIdentifier?: string;
    teamIdentifier?: string;
  };
  signingTime?: string;
  digestAlgorithm?: string;
}

const DAY_MS = 86_400_000;
const SPECIAL = new Set(['manifest.json', 'signature']);

function certSummary(c: Certificate): NonNullable<DoctorReport['signer']> {
  return {
    subject: c.x509.subject.replace(/\n/g, ', '),
    issuer: c.x509.issuer.replace(/\n/g, ', '),
    notAfter: c.notAfter.toISOString(),
    passTypeIdentifier: certificatePassTypeId(c),
    teamIdentifier: c.subject.get(Oid.organizationalUnit),
  };
}

/** Diagnoses a .pkpass file. Never throws on bad input: every defect is a problem in the report. */
export function diagnosePass(bytes: Uint8Array, options: DoctorOptions = {}): DoctorReport {
  const now = options.now ?? new Date();
  const c = new Collector();
  const report: DoctorReport = { ok: false, errors: 0, warnings: 0, problems: c.problems, files: [] };
  const finish = (): DoctorReport => {
    report.errors = c.problems.filter((p) => p.severity === 'error').length;
    report.warnings = c.problems.length - report.errors;
    report.ok = !hasErrors(c.problems);
    return report;
  };

  let entries: Map<string, Uint8Array>;
  try {
    entries = readZip(bytes);
  } catch (err) {
    c.error('(archive)', err instanceof ZipError ? err.message : String(err));
    return finish();
  }
  report.files = [...entries.keys()];

  // --- layout
  const files = new Map<string, Uint8Array>();
  for (const [name, data] of entries) {
    if (name.endsWith('/')) {
      if (!LPROJ_DIR.test(name.slice(0, -1)))
        c.warn(name, 'is a folder that is not a localization (<lang>.lproj)');
      continue;
    }
    files.set(name, data);
  }
  if (!files.has('pass.json')) {
    const nested = [...files.keys()].find((n) => n.endsWith('/pass.json'));
    c.error(
      'pass.json',
      nested
        ? `is inside the folder "${nested.slice(0, -'/pass.json'.length)}"; pass.json, manifest.json and signature must be at the archive root`
        : 'is missing from the archive',
    );
  }
  for (const name of files.keys()) {
    const parts = name.split('/');
    const base = parts[parts.length - 1]!;
    if (base === '.DS_Store' || name.startsWith('__MACOSX/'))
      c.error(name, 'is operating-system metadata, not part of a pass; remove it from the archive');
    else if (parts.length > 2 || (parts.length === 2 && !LPROJ_DIR.test(parts[0]!)))
      c.error(name, 'is in a folder other than a <lang>.lproj localization');
  }

  // --- manifest
  const manifestBytes = files.get('manifest.json');
  let manifest: Record<string, unknown> | undefined;
  if (!manifestBytes) c.error('manifest.json', 'is missing from the archive');
  else {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        c.error('manifest.json', 'must be a JSON object mapping file names to SHA-1 hashes');
      else manifest = parsed as Record<string, unknown>;
    } catch (err) {
      c.error('manifest.json', `is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (manifest) {
    for (const [name, hash] of Object.entries(manifest)) {
      const data = files.get(name);
      if (typeof hash !== 'string' || !/^[0-9a-f]{40}$/i.test(hash)) {
        c.error(`manifest.json`, `the entry for "${name}" is not a 40-character SHA-1 hex digest`);
        continue;
      }
      if (!data) {
        c.error(name, 'is listed in manifest.json but missing from the archive');
        continue;
      }
      const actual = createHash('sha1').update(data).digest('hex');
      if (actual !== hash.toLowerCase())
        c.error(
          name,
          `does not match its manifest hash (SHA-1 ${actual}, manifest says ${hash}): it was changed after signing`,
        );
    }
    for (const name of files.keys())
      if (!SPECIAL.has(name) && !Object.hasOwn(manifest, name))
        c.error(name, 'has no entry in manifest.json; Wallet rejects files outside the manifest');
  }

  // --- signature and certificates
  const signatureBytes = files.get('signature');
  let signer: Certificate | undefined;
  if (!signatureBytes) c.error('signature', 'is missing from the archive');
  else if (manifestBytes) {
    const sig = inspectSignature(signatureBytes, manifestBytes);
    for (const p of sig.problems) c.error('signature', p);
    report.digestAlgorithm = sig.digestAlgorithm;
    if (sig.signer && !sig.digestMatches)
      c.error(
        'signature',
        'the digest of manifest.json in the signature does not match the manifest: it was changed after signing',
      );
    if (sig.signer && !sig.signatureValid)
      c.error('signature', 'the signature does not verify with the signer certificate');
    if (sig.signingTime) report.signingTime = sig.signingTime.toISOString();
    else if (sig.signer && !sig.problems.some((p) => /signing ?time/i.test(p)))
      c.error('signature', 'has no signingTime attribute; iOS requires a signing date');
    signer = sig.signer;
    if (signer) {
      report.signer = certSummary(signer);
      checkChain(c, signer, sig.certificates, options, now, sig.signingTime);
    }
  }

  // --- pass.json
  const passBytes = files.get('pass.json');
  let pass: Record<string, unknown> | undefined;
  if (passBytes) {
    const buf = Buffer.from(passBytes);
    if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf)
      c.error('pass.json', 'starts with a UTF-8 byte-order mark; write pass.json without a BOM');
    try {
      const parsed: unknown = JSON.parse(buf.toString('utf8').replace(/^\uFEFF/, ''));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        pass = parsed as Record<string, unknown>;
      else c.error('pass.json', 'must be a JSON object');
    } catch (err) {
      c.error('pass.json', `is not valid JSON: ${(err as Error).message}`);
    }
  }
  const imageKinds = new Set<string>();
  for (const name of files.keys()) {
    const parsed = parseImageName(name.slice(name.lastIndexOf('/') + 1));
    if (parsed) imageKinds.add(parsed.kind);
  }
  const style = pass ? PASS_STYLES.find((s) => pass[s] !== undefined) : undefined;
  if (pass) {
    if (typeof pass.passTypeIdentifier === 'string') report.passTypeIdentifier = pass.passTypeIdentifier;
    if (typeof pass.serialNumber === 'string') report.serialNumber = pass.serialNumber;
    for (const p of validatePassJson(pass, {
      allowHttpWebService: options.allowHttpWebService,
      images: imageKinds,
    }))
      c.problems.push({ ...p, file: 'pass.json' });
    if (signer) {
      const certType = certificatePassTypeId(signer);
      const certTeam = signer.subject.get(Oid.organizationalUnit);
      if (pass.passTypeIdentifier !== certType)
        c.problems.push({
          file: 'pass.json',
          path: 'passTypeIdentifier',
          message: `is ${JSON.stringify(pass.passTypeIdentifier)} but the signing certificate is for ${certType ?? 'no pass type'}`,
          severity: 'error',
        });
      if (pass.teamIdentifier !== certTeam)
        c.problems.push({
          file: 'pass.json',
          path: 'teamIdentifier',
          message: `is ${JSON.stringify(pass.teamIdentifier)} but the signing certificate's team (OU) is ${certTeam ?? 'missing'}`,
          severity: 'error',
        });
    }
    if (files.has('personalization.json') && pass.nfc === undefined)
      c.warn('personalization.json', 'is only used by NFC passes; without nfc in pass.json it is ignored');
  }

  // --- images and localizations
  for (const [name, data] of files) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.endsWith('.png')) c.problems.push(...checkImage(name, base, data, style));
    else if (base === 'pass.strings') checkStringsFile(c, name, data);
  }
  c.problems.push(...checkImageSet(files.keys()));
  return finish();
}

function checkStringsFile(c: Collector, name: string, data: Uint8Array): void {
  const { text, encoding } = decodeStringsText(data);
  try {
    parseStrings(text);
  } catch (err) {
    if (err instanceof StringsSyntaxError) c.error(name, `cannot be parsed: ${err.message}`);
    else throw err;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for non-ASCII text
  if (encoding === 'utf-8' && /[^\u0000-\u007f]/.test(text))
    c.warn(name, 'is UTF-8 with non-ASCII text; Apple asks for UTF-16 for non-ASCII characters');
}

function checkChain(
  c: Collector,
  signer: Certificate,
  embedded: Certificate[],
  options: DoctorOptions,
  now: Date,
  signingTime: Date | undefined,
): void {
  const roots = pemBlocks(options.trustedRoots ?? APPLE_ROOT_CA_PEM).map((b) => parseCertificate(b));
  if (signer.notAfter.getTime() < now.getTime())
    c.error('signature', `the signing certificate expired on ${signer.notAfter.toISOString()}`);
  else if (signer.notAfter.getTime() - now.getTime() < 30 * DAY_MS)
    c.warn('signature', `the signing certificate expires soon, on ${signer.notAfter.toISOString()}`);
  if (signingTime && (signingTime < signer.notBefore || signingTime > signer.notAfter))
    c.error('signature', "the signing time is outside the signing certificate's validity");
  if (!certificatePassTypeId(signer))
    c.error('signature', 'the signing certificate is not a pass type certificate (no UID)');
  if (roots.some((r) => isIssuedBy(signer, r))) return; // issued directly by a trusted root
  const intermediate = embedded.find((e) => e !== signer && isIssuedBy(signer, e));
  if (!intermediate) {
    c.error(
      'signature',
      'the intermediate certificate that issued the signer (Apple WWDR) is not embedded in the signature',
    );
    return;
  }
  if (intermediate.notAfter.getTime() < now.getTime())
    c.error(
      'signature',
      `the embedded intermediate "${intermediate.x509.subject.replace(/\n/g, ', ')}" expired on ${intermediate.notAfter.toISOString()}`,
    );
  const trusted = roots.some((r) => r.der.equals(intermediate.der) || isIssuedBy(intermediate, r));
  if (!trusted)
    c.error(
      'signature',
      options.trustedRoots
        ? 'the certificate chain does not lead to the given root (--ca)'
        : 'the certificate chain does not lead to Apple Root CA (pass --ca ROOT.pem to trust another root, e.g. a development CA)',
    );
}
