// X.509 certificates as the engine needs them: the DER kept as it came (never re-encoded), the subject's fields that
// name a pass type (UID, OU, O, CN), the issuer and serial number a CMS signer identifier is made of, and the dates.
import { X509Certificate } from 'node:crypto';
import * as der from './der.js';

export const Oid = {
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  userId: '0.9.2342.19200300.100.1.1',
  /** Apple's extension carrying the pass type identifier in pass type certificates. */
  applePassTypeId: '1.2.840.113635.100.6.1.16',
} as const;

export interface Certificate {
  /** The certificate's DER bytes, exactly as loaded. */
  der: Buffer;
  x509: X509Certificate;
  /** Subject attributes by OID (the last value wins when an attribute repeats). */
  subject: Map<string, string>;
  issuerName: Map<string, string>;
  /** DER of the issuer Name and of the serial number INTEGER, for a CMS IssuerAndSerialNumber. */
  issuerDer: Buffer;
  serialDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: Map<string, Buffer>;
}

function readName(node: der.Node): Map<string, string> {
  const out = new Map<string, string>();
  for (const rdn of der.children(node)) {
    for (const atv of der.children(rdn)) {
      const [type, value] = der.children(atv);
      if (!type || !value) continue;
      const text =
        value.tag === 0x1e
          ? Buffer.from(der.content(value)).swap16().toString('utf16le')
          : der.content(value).toString('utf8');
      out.set(der.readOid(type), text);
    }
  }
  return out;
}

/** Splits a PEM text into the DER bodies of its blocks of the given label. */
export function pemBlocks(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export const toPem = (derBytes: Uint8Array, label = 'CERTIFICATE'): string =>
  `-----BEGIN ${label}-----\n${(
    Buffer.from(derBytes)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  ).join('\n')}\n-----END ${label}-----\n`;

export class CertificateError extends Error {}

/** Parses one certificate from DER bytes or from the first block of a PEM text. */
export function parseCertificate(input: Uint8Array | string): Certificate {
  const bytes = typeof input === 'string' ? pemBlocks(input)[0] : Buffer.from(input);
  if (!bytes) throw new CertificateError('no PEM CERTIFICATE block found');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(bytes);
  } catch (err) {
    throw new CertificateError(`not a readable X.509 certificate: ${(err as Error).message}`);
  }
  const cert = der.read(bytes);
  const [tbs] = der.children(cert);
  if (!tbs) throw new CertificateError('certificate without a TBSCertificate');
  const fields = der.children(tbs);
  const base = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional
  const serial = fields[base]!;
  const issuer = fields[base + 2]!;
  const validity = der.children(fields[base + 3]!);
  const subject = fields[base + 4]!;
  const extensions = new Map<string, Buffer>();
  const extField = fields.find((f) => f.tag === 0xa3);
  if (extField) {
    for (const ext of der.children(der.children(extField)[0]!)) {
      const parts = der.children(ext);
      const value = parts[parts.length - 1]!;
      extensions.set(der.readOid(parts[0]!), der.content(value));
    }
  }
  return {
    der: bytes,
    x509,
    subject: readName(subject),
    issuerName: readName(issuer),
    issuerDer: der.encoded(issuer),
    serialDer: der.encoded(serial),
    notBefore: der.readTime(validity[0]!),
    notAfter: der.readTime(validity[1]!),
    extensions,
  };
}

/** The pass type identifier an Apple pass certificate is for: the subject UID, else Apple's extension. */
export function certificatePassTypeId(cert: Certificate): string | undefined {
  const uid = cert.subject.get(Oid.userId);
  if (uid) return uid;
  const ext = cert.extensions.get(Oid.applePassTypeId);
  if (!ext) return undefined;
  try {
    const node = der.read(ext);
    return der.content(node).toString('utf8');
  } catch {
    return ext.toString('utf8');
  }
}

/** True when `issuer` issued `cert` and its signature on it verifies. */
export function isIssuedBy(cert: Certificate, issuer: Certificate): boolean {
  return cert.x509.checkIssued(issuer.x509) && cert.x509.verify(issuer.x509.publicKey);
}
