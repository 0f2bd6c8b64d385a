// A local development PKI: a CA standing in for Apple's WWDR and a pass type certificate with Apple's subject fields.
// Passes signed with it verify with `openssl cms -verify -CAfile <dev root>` but do not install on an iPhone.
// Certificates are built with the DER writer and signed by node:crypto; node-forge only packs the .p12.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import forge from 'node-forge';
import { Oid, toPem } from './certificate.js';
import * as der from './der.js';

const SHA256_WITH_RSA = der.seq(der.oid('1.2.840.113549.1.1.11'), der.nullValue());

type NameAttr = [oid: string, value: string];

function name(attrs: NameAttr[]): Buffer {
  return der.seq(
    ...attrs.map(([type, value]) =>
      der.tlv(
        der.Tag.set,
        der.seq(der.oid(type), type === Oid.country ? der.printableString(value) : der.utf8String(value)),
      ),
    ),
  );
}

function extension(oidText: string, critical: boolean, value: Buffer): Buffer {
  return der.seq(der.oid(oidText), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function keyId(publicKey: KeyObject): Buffer {
  const spki = der.read(publicKey.export({ type: 'spki', format: 'der' }));
  const bits = der.content(der.children(spki)[1]!).subarray(1);
  return createHash('sha1').update(bits).digest();
}

interface CertSpec {
  subject: NameAttr[];
  issuer: NameAttr[];
  publicKey: KeyObject;
  issuerKey: KeyObject;
  issuerPublicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  /** keyUsage BIT STRING contents (unused-bits byte first); by default keyCertSign|cRLSign for a CA, else digitalSignature. */
  keyUsage?: Buffer;
  extra?: Buffer[];
}

function makeCertificate(spec: CertSpec): Buffer {
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const extensions = [
    extension('2.5.29.19', true, spec.ca ? der.seq(der.boolean(true)) : der.seq()),
    // keyUsage: keyCertSign|cRLSign for the CA, digitalSignature for the signer
    extension(
      '2.5.29.15',
      true,
      der.tlv(
        der.Tag.bitString,
        spec.keyUsage ?? (spec.ca ? Buffer.from([1, 0x06]) : Buffer.from([7, 0x80])),
      ),
    ),
    extension('2.5.29.14', false, der.octetString(keyId(spec.publicKey))),
    extension('2.5.29.35', false, der.seq(der.tlv(0x80, keyId(spec.issuerPublicKey)))),
    ...(spec.extra ?? []),
  ];
  const tbs = der.seq(
    der.explicit(0, der.integer(2)),
    der.integer(serial),
    SHA256_WITH_RSA,
    name(spec.issuer),
    der.seq(der.time(spec.notBefore), der.time(spec.notAfter)),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, der.seq(...extensions)),
  );
  return der.seq(tbs, SHA256_WITH_RSA, der.bitString(sign('sha256', tbs, spec.issuerKey)));
}

export interface DevPkiOptions {
  passTypeIdentifier?: string;
  teamIdentifier?: string;
  organizationName?: string;
  /** Validity of the pass type certificate in days from `now` (default 365); may be negative to make an expired one. */
  days?: number;
  now?: Date;
}

export interface DevPki {
  passTypeIdentifier: string;
  teamIdentifier: string;
  /** The development CA (stands in for Apple WWDR): embed it as the intermediate, trust it as the root. */
  caCertificatePem: string;
  caPrivateKeyPem: string;
  certificatePem: string;
  privateKeyPem: string;
  /** The certificate, its key and the CA as a PKCS #12 file protected by `p12Password`. */
  p12: Buffer;
  p12Password: string;
}

export const DEV_CA_NAME =
  'Passslot Development CA (not Apple: passes signed under it do not install on devices)';

/** Creates a development CA and a pass type certificate issued by it. */
export function createDevPki(options: DevPkiOptions = {}): DevPki {
  const passTypeIdentifier = options.passTypeIdentifier ?? 'pass.dev.passslot.demo';
  const teamIdentifier = options.teamIdentifier ?? 'DEVTEAM123';
  const organizationName = options.organizationName ?? 'Passslot Development';
  const now = options.now ?? new Date();
  const days = options.days ?? 365;
  const ca = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const leaf = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const caName: NameAttr[] = [
    [Oid.commonName, DEV_CA_NAME],
    [Oid.organizationalUnit, 'Development'],
    [Oid.organization, 'Passslot'],
    [Oid.country, 'US'],
  ];
  const caDer = makeCertificate({
    subject: caName,
    issuer: caName,
    publicKey: ca.publicKey,
    issuerKey: ca.privateKey,
    issuerPublicKey: ca.publicKey,
    notBefore: new Date(now.getTime() - 86_400_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 86_400_000),
    ca: true,
  });
  const leafDer = makeCertificate({
    subject: [
      [Oid.userId, passTypeIdentifier],
      [Oid.commonName, `Pass Type ID: ${passTypeIdentifier}`],
      [Oid.organizationalUnit, teamIdentifier],
      [Oid.organization, organizationName],
      [Oid.country, 'US'],
    ],
    issuer: caName,
    publicKey: leaf.publicKey,
    issuerKey: ca.privateKey,
    issuerPublicKey: ca.publicKey,
    notBefore: new Date(Math.min(now.getTime(), now.getTime() + days * 86_400_000) - 86_400_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
    ca: false,
    extra: [extension(Oid.applePassTypeId, false, der.utf8String(passTypeIdentifier))],
  });
  const certificatePem = toPem(leafDer);
  const caCertificatePem = toPem(caDer);
  const privateKeyPem = leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const p12Password = randomBytes(12).toString('base64url');
  const p12Asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(leaf.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    [forge.pki.certificateFromPem(certificatePem), forge.pki.certificateFromPem(caCertificatePem)],
    p12Password,
    { algorithm: '3des', friendlyName: `Pass Type ID: ${passTypeIdentifier}` },
  );
  return {
    passTypeIdentifier,
    teamIdentifier,
    caCertificatePem,
    caPrivateKeyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certificatePem,
    privateKeyPem,
    p12: Buffer.from(forge.asn1.toDer(p12Asn1).getBytes(), 'binary'),
    p12Password,
  };
}

export interface TlsCertificateOptions {
  commonName: string;
  /** subjectAltName dNSName entries, e.g. localhost. */
  dnsNames?: string[];
  /** subjectAltName iPAddress entries, IPv4 or IPv6 text, e.g. 127.0.0.1 and ::1. */
  ipAddresses?: string[];
  /** Validity in days from `now` (default 825). */
  days?: number;
  now?: Date;
}

export interface TlsCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

/** The 4 or 16 bytes of an IPv4 or IPv6 address written as text. */
function ipBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new RangeError(`not an IP address: ${text}`);
  let address = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (v4) {
    const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
    address = `${address.slice(0, -v4.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => {
    out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  });
  return out;
}

/**
 * A self-signed TLS server certificate (RSA 2048, SHA-256) for local services such as the APNs stand-in. It is its
 * own trust anchor: basicConstraints CA true, so a TLS client given it as `ca` accepts it; keyUsage digitalSignature,
 * keyEncipherment and keyCertSign; extKeyUsage serverAuth; subjectAltName with the given DNS names and IP addresses.
 */
export function createTlsCertificate(options: TlsCertificateOptions): TlsCertificate {
  const now = options.now ?? new Date();
  const days = options.days ?? 825;
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const subject: NameAttr[] = [
    [Oid.commonName, options.commonName],
    [Oid.organization, 'Passslot'],
  ];
  const altNames = [
    ...(options.dnsNames ?? []).map((dns) => der.tlv(0x82, Buffer.from(dns, 'ascii'))),
    ...(options.ipAddresses ?? []).map((ip) => der.tlv(0x87, ipBytes(ip))),
  ];
  const certDer = makeCertificate({
    subject,
    issuer: subject,
    publicKey: key.publicKey,
    issuerKey: key.privateKey,
    issuerPublicKey: key.publicKey,
    notBefore: new Date(now.getTime() - 86_400_000),
    notAfter: new Date(now.getTime() + days * 86_400_000),
    ca: true,
    // digitalSignature (bit 0) | keyEncipherment (bit 2) | keyCertSign (bit 5): 10100100, 2 unused bits
    keyUsage: Buffer.from([2, 0xa4]),
    extra: [
      ...(altNames.length > 0 ? [extension('2.5.29.17', false, der.seq(...altNames))] : []),
      extension('2.5.29.37', false, der.seq(der.oid('1.3.6.1.5.5.7.3.1'))),
    ],
  });
  return {
    certificatePem: toPem(certDer),
    privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
