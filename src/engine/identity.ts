// A pass type identity: the pass type certificate with its private key and the intermediate(s) embedded in signatures.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { APPLE_WWDR_G4_PEM } from './apple-certs.js';
import {
  type Certificate,
  CertificateError,
  certificatePassTypeId,
  isIssuedBy,
  Oid,
  parseCertificate,
  pemBlocks,
} from './certificate.js';
import { createManifestSigner, type ManifestSigner } from './signature.js';

export interface PassIdentity {
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  expiresAt: Date;
  certificate: Certificate;
  /** Certificates embedded after the signer: Apple WWDR G4 unless replaced. */
  chain: Certificate[];
  privateKey: KeyObject;
  signer: ManifestSigner;
  /** Whether an embedded intermediate issued the certificate (checked once, at load). */
  chainIssuesCertificate: boolean;
}

export class IdentityError extends Error {}

export interface IdentityOptions {
  /** PEM of the intermediate(s) to embed; default Apple WWDR G4 (or the CA certificates inside a .p12). */
  wwdr?: string;
}

const DAY_MS = 86_400_000;

function toPassIdentity(certificate: Certificate, privateKey: KeyObject, chain: Certificate[]): PassIdentity {
  const passTypeIdentifier = certificatePassTypeId(certificate);
  const teamIdentifier = certificate.subject.get(Oid.organizationalUnit);
  if (!passTypeIdentifier)
    throw new IdentityError('the certificate names no pass type identifier (no UID in its subject)');
  if (!teamIdentifier)
    throw new IdentityError('the certificate names no team identifier (no OU in its subject)');
  if (!certificate.x509.checkPrivateKey(privateKey))
    throw new IdentityError('the private key does not belong to the certificate');
  return {
    passTypeIdentifier,
    teamIdentifier,
    organizationName: certificate.subject.get(Oid.organization) ?? '',
    expiresAt: certificate.notAfter,
    certificate,
    chain,
    privateKey,
    signer: createManifestSigner(certificate, privateKey, chain),
    chainIssuesCertificate: chain.some((c) => isIssuedBy(certificate, c)),
  };
}

function parseChain(pem: string): Certificate[] {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0)
    throw new IdentityError('the intermediate certificate PEM holds no CERTIFICATE block');
  return blocks.map((b) => parseCertificate(b));
}

const defaultChain = (): Certificate[] => parseChain(APPLE_WWDR_G4_PEM);

/** Loads an identity from a PEM certificate and PEM private key (optionally encrypted with `passphrase`). */
export function loadIdentityFromPem(
  input: { certificate: string; privateKey: string; passphrase?: string },
  options: IdentityOptions = {},
): PassIdentity {
  let certificate: Certificate;
  let key: KeyObject;
  try {
    certificate = parseCertificate(input.certificate);
  } catch (err) {
    throw new IdentityError(`certificate: ${(err as Error).message}`);
  }
  try {
    key = createPrivateKey({ key: input.privateKey, format: 'pem', passphrase: input.passphrase });
  } catch (err) {
    throw new IdentityError(`private key: ${(err as Error).message}`);
  }
  return toPassIdentity(certificate, key, options.wwdr ? parseChain(options.wwdr) : defaultChain());
}

/**
 * Loads an identity from a PKCS #12 (.p12) file. node-forge only reads the container here; it never signs.
 * CA certificates inside the .p12 become the embedded chain unless `options.wwdr` is given.
 */
export function loadIdentityFromP12(
  p12: Uint8Array,
  password: string,
  options: IdentityOptions = {},
): PassIdentity {
  let parsed: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(Buffer.from(p12).toString('binary')));
    parsed = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  } catch (err) {
    const message = (err as Error).message;
    throw new IdentityError(
      /mac|password|invalid/i.test(message)
        ? `cannot open the .p12: wrong password or damaged file (${message})`
        : `cannot read the .p12: ${message}`,
    );
  }
  const keyBags = [
    ...(parsed.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[
      forge.pki.oids.pkcs8ShroudedKeyBag!
    ] ?? []),
    ...(parsed.getBags({ bagType: forge.pki.oids.keyBag! })[forge.pki.oids.keyBag!] ?? []),
  ];
  const keyBag = keyBags.find((b) => b.key);
  if (!keyBag?.key) throw new IdentityError('the .p12 holds no private key');
  const certBags = parsed.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  const certs: Certificate[] = [];
  for (const bag of certBags) {
    if (!bag.cert) continue;
    const derBytes = Buffer.from(
      forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert)).getBytes(),
      'binary',
    );
    try {
      certs.push(parseCertificate(derBytes));
    } catch (err) {
      if (!(err instanceof CertificateError)) throw err;
    }
  }
  const privateKey = createPrivateKey(forge.pki.privateKeyToPem(keyBag.key));
  const leaf = certs.find((c) => c.x509.checkPrivateKey(privateKey));
  if (!leaf) throw new IdentityError('the .p12 holds no certificate matching its private key');
  const extra = certs.filter((c) => c !== leaf && isIssuedBy(leaf, c));
  const chain = options.wwdr ? parseChain(options.wwdr) : extra.length > 0 ? extra : defaultChain();
  return toPassIdentity(leaf, privateKey, chain);
}

/** Problems of an identity itself, for callers to show: expiry soon or past, a chain that does not issue it. */
export function identityWarnings(identity: PassIdentity, now: Date): string[] {
  const out: string[] = [];
  const left = identity.expiresAt.getTime() - now.getTime();
  if (left <= 0) out.push(`the pass type certificate expired on ${identity.expiresAt.toISOString()}`);
  else if (left < 30 * DAY_MS)
    out.push(
      `the pass type certificate expires in ${Math.ceil(left / DAY_MS)} days (${identity.expiresAt.toISOString()}); renew it`,
    );
  if (!identity.chainIssuesCertificate)
    out.push(
      'no embedded intermediate issued the pass type certificate; devices will not trust the signature',
    );
  return out;
}
