// The pass signature: a detached CMS SignedData (RFC 5652) over manifest.json, DER-encoded.
//
// Written by hand rather than with node-forge or pkijs because it is the hot path of pass issuing: the RSA operation is
// done by node:crypto (native OpenSSL, ~100x faster than forge's JavaScript RSA) and every part of the structure that
// does not change between passes (the certificates' DER, the signer identifier, the algorithm identifiers) is encoded
// once per identity. Per pass only the signing time, the message digest and the signature bytes are new.
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { type Certificate, parseCertificate } from './certificate.js';
import * as der from './der.js';

const Oids = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

const HASH_BY_OID: Record<string, string> = {
  [Oids.sha1]: 'sha1',
  [Oids.sha256]: 'sha256',
  [Oids.sha384]: 'sha384',
  [Oids.sha512]: 'sha512',
};

export interface ManifestSigner {
  /** Signs the exact manifest bytes; returns the DER `signature` file. */
  sign(manifest: Uint8Array, signingTime: Date): Buffer;
}

/** Prepares a signer for one identity: everything constant is encoded here, once. */
export function createManifestSigner(
  certificate: Certificate,
  privateKey: KeyObject,
  chain: readonly Certificate[],
): ManifestSigner {
  const isEc = privateKey.asymmetricKeyType === 'ec';
  const version1 = der.integer(1);
  const digestAlgorithm = der.seq(der.oid(Oids.sha256), der.nullValue());
  const signatureAlgorithm = isEc
    ? der.seq(der.oid(Oids.ecdsaWithSha256))
    : der.seq(der.oid(Oids.rsaEncryption), der.nullValue());
  const signerId = der.seq(certificate.issuerDer, certificate.serialDer);
  const signedDataHead = Buffer.concat([
    version1,
    der.tlv(der.Tag.set, digestAlgorithm),
    der.seq(der.oid(Oids.data)), // encapContentInfo without eContent: detached
    der.tlv(0xa0, ...[certificate.der, ...chain.map((c) => c.der)].sort(Buffer.compare)), // certificates [0] IMPLICIT SET OF
  ]);
  const signerInfoHead = Buffer.concat([version1, signerId, digestAlgorithm]);
  const contentTypeAttr = der.seq(der.oid(Oids.contentType), der.tlv(der.Tag.set, der.oid(Oids.data)));
  const signingTimeOid = der.oid(Oids.signingTime);
  const messageDigestOid = der.oid(Oids.messageDigest);
  const contentInfoOid = der.oid(Oids.signedData);

  return {
    sign(manifest, signingTime) {
      const digest = createHash('sha256').update(manifest).digest();
      const attrs = [
        contentTypeAttr,
        der.seq(signingTimeOid, der.tlv(der.Tag.set, der.time(signingTime))),
        der.seq(messageDigestOid, der.tlv(der.Tag.set, der.octetString(digest))),
      ].sort(Buffer.compare);
      const attrsContent = Buffer.concat(attrs);
      // The signature covers the attributes encoded as a SET OF (tag 0x31), per RFC 5652 5.4.
      const signature = sign('sha256', der.tlv(der.Tag.set, attrsContent), privateKey);
      const signerInfo = der.seq(
        signerInfoHead,
        der.tlv(0xa0, attrsContent),
        signatureAlgorithm,
        der.octetString(signature),
      );
      const signedData = der.seq(signedDataHead, der.tlv(der.Tag.set, signerInfo));
      return der.seq(contentInfoOid, der.explicit(0, signedData));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading and verifying any pass's signature (for the doctor)

export interface SignatureReport {
  /** The certificates embedded in the signature. */
  certificates: Certificate[];
  signer?: Certificate;
  digestAlgorithm?: string;
  signingTime?: Date;
  detached: boolean;
  /** The manifest digest in the signed attributes matches the manifest. */
  digestMatches: boolean;
  /** The signature verifies with the signer certificate's public key. */
  signatureValid: boolean;
  problems: string[];
}

/** Parses a DER CMS SignedData and checks it against the content it signs. Never throws on bad input. */
export function inspectSignature(signatureDer: Uint8Array, content: Uint8Array): SignatureReport {
  const report: SignatureReport = {
    certificates: [],
    detached: true,
    digestMatches: false,
    signatureValid: false,
    problems: [],
  };
  try {
    const root = der.expect(der.read(signatureDer), der.Tag.sequence, 'ContentInfo');
    if (root.end !== signatureDer.length) report.problems.push('trailing bytes after the DER structure');
    const [typeNode, wrapped] = der.children(root);
    if (!typeNode || der.readOid(typeNode) !== Oids.signedData) {
      report.problems.push('not a CMS SignedData (PKCS #7) structure');
      return report;
    }
    const signedData = der.expect(
      der.children(der.expect(wrapped, 0xa0, 'content'))[0],
      der.Tag.sequence,
      'SignedData',
    );
    const parts = der.children(signedData);
    const encap = der.children(der.expect(parts[2], der.Tag.sequence, 'encapContentInfo'));
    if (encap.length > 1) {
      report.detached = false;
      report.problems.push('the signature embeds its content; Apple requires a detached signature');
    }
    let index = 3;
    if (parts[index]?.tag === 0xa0) {
      for (const c of der.children(parts[index]!)) {
        try {
          report.certificates.push(parseCertificate(der.encoded(c)));
        } catch (err) {
          report.problems.push(`an embedded certificate cannot be read: ${(err as Error).message}`);
        }
      }
      index++;
    }
    if (parts[index]?.tag === 0xa1) index++; // crls
    const signerInfos = der.children(der.expect(parts[index], der.Tag.set, 'signerInfos'));
    if (signerInfos.length !== 1) report.problems.push(`expected one signer, found ${signerInfos.length}`);
    const signerInfo = signerInfos[0];
    if (!signerInfo) return report;
    const si = der.children(signerInfo);
    const sid = si[1]!;
    if (sid.tag === der.Tag.sequence) {
      const [issuer, serial] = der.children(sid);
      report.signer = report.certificates.find(
        (c) =>
          issuer &&
          serial &&
          c.issuerDer.equals(der.encoded(issuer)) &&
          c.serialDer.equals(der.encoded(serial)),
      );
    } else {
      report.problems.push('the signer is identified by key identifier, not issuer and serial number');
    }
    if (!report.signer) report.problems.push('the signer certificate is not embedded in the signature');
    const digestOid = der.readOid(der.children(si[2]!)[0]!);
    const hash = HASH_BY_OID[digestOid];
    report.digestAlgorithm = hash ?? digestOid;
    if (!hash) {
      report.problems.push(`unsupported digest algorithm ${digestOid}`);
      return report;
    }
    let at = 3;
    let signedBytes: Buffer = Buffer.from(content);
    if (si[at]?.tag === 0xa0) {
      const attrsNode = si[at]!;
      let digest: Buffer | undefined;
      let contentType: string | undefined;
      for (const attr of der.children(attrsNode)) {
        const [type, values] = der.children(attr);
        if (!type || !values) continue;
        const value = der.children(values)[0];
        if (!value) continue;
        const attrOid = der.readOid(type);
        if (attrOid === Oids.messageDigest) digest = der.content(value);
        else if (attrOid === Oids.contentType) contentType = der.readOid(value);
        else if (attrOid === Oids.signingTime) {
          try {
            report.signingTime = der.readTime(value);
          } catch {
            report.problems.push('the signingTime attribute cannot be decoded');
          }
        }
      }
      if (contentType !== Oids.data)
        report.problems.push('the contentType attribute is missing or not id-data');
      if (!digest) report.problems.push('the messageDigest attribute is missing');
      else report.digestMatches = createHash(hash).update(content).digest().equals(digest);
      // Re-tag [0] IMPLICIT as SET OF to get the bytes that were signed.
      signedBytes = Buffer.from(der.encoded(attrsNode));
      signedBytes[0] = der.Tag.set;
      at++;
    } else {
      report.digestMatches = true; // no attributes: the signature is over the content itself
      report.problems.push('the signature has no signed attributes, so no signing time');
    }
    const signatureValue = der.content(der.expect(si[at + 1], der.Tag.octetString, 'signature'));
    if (report.signer) {
      try {
        report.signatureValid = verify(hash, signedBytes, report.signer.x509.publicKey, signatureValue);
      } catch {
        report.signatureValid = false;
      }
    }
  } catch (err) {
    report.problems.push(`the signature is not valid DER: ${(err as Error).message}`);
  }
  return report;
}
