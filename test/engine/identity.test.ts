import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  APPLE_WWDR_G4_PEM,
  createDevPki,
  IdentityError,
  identityWarnings,
  loadIdentityFromP12,
  loadIdentityFromPem,
  parseCertificate,
} from '../../src/engine/index.js';
import { devIdentity } from '../helpers.js';

const dev = devIdentity({
  passTypeIdentifier: 'pass.test.passslot.identity',
  teamIdentifier: 'IDTEAM0001',
  organizationName: 'Acme Tickets',
});

describe('pass type identities', () => {
  it('reads the pass type id (UID), team (OU), organization (O) and expiry from a PEM certificate', () => {
    const id = loadIdentityFromPem({
      certificate: dev.pki.certificatePem,
      privateKey: dev.pki.privateKeyPem,
    });
    expect(id.passTypeIdentifier).toBe('pass.test.passslot.identity');
    expect(id.teamIdentifier).toBe('IDTEAM0001');
    expect(id.organizationName).toBe('Acme Tickets');
    const enddate = execFileSync(
      'openssl',
      ['x509', '-noout', '-enddate', '-in', join(dev.dir, 'pass.pem')],
      { encoding: 'utf8' },
    );
    expect(id.expiresAt.getTime()).toBe(new Date(enddate.replace('notAfter=', '').trim()).getTime());
  });

  it('embeds Apple WWDR G4 by default', () => {
    const id = loadIdentityFromPem({
      certificate: dev.pki.certificatePem,
      privateKey: dev.pki.privateKeyPem,
    });
    expect(id.chain).toHaveLength(1);
    expect(id.chain[0]!.x509.serialNumber.toUpperCase()).toBe('13DC77955271E53DC632E8CCFFE521F3CCC5CED2');
    expect(id.chain[0]!.der.equals(parseCertificate(APPLE_WWDR_G4_PEM).der)).toBe(true);
    expect(identityWarnings(id, new Date())).toContainEqual(
      expect.stringContaining('no embedded intermediate issued'),
    );
  });

  it('loads the .p12 of `certs dev`, taking the CA inside it as the chain', () => {
    const id = loadIdentityFromP12(dev.pki.p12, dev.pki.p12Password);
    expect(id.passTypeIdentifier).toBe('pass.test.passslot.identity');
    expect(id.chain.map((c) => c.x509.subject)).toEqual([expect.stringContaining('Passslot Development CA')]);
    expect(identityWarnings(id, new Date())).toEqual([]);
  });

  it('loads a .p12 exported by OpenSSL 3 (AES-256, SHA-256 MAC) and replaces the chain with --wwdr', () => {
    const out = join(dev.dir, 'openssl.p12');
    execFileSync('openssl', [
      'pkcs12',
      '-export',
      '-in',
      join(dev.dir, 'pass.pem'),
      '-inkey',
      join(dev.dir, 'pass.key'),
      '-passout',
      'pass:s3cret',
      '-out',
      out,
    ]);
    const id = loadIdentityFromP12(readFileSync(out), 's3cret');
    expect(id.teamIdentifier).toBe('IDTEAM0001');
    expect(id.chain[0]!.x509.serialNumber.toUpperCase()).toBe('13DC77955271E53DC632E8CCFFE521F3CCC5CED2');
    const withDev = loadIdentityFromP12(readFileSync(out), 's3cret', { wwdr: dev.pki.caCertificatePem });
    expect(withDev.chain[0]!.x509.subject).toContain('Passslot Development CA');
  });

  it('says clearly when the .p12 password is wrong or the file is not a .p12', () => {
    expect(() => loadIdentityFromP12(dev.pki.p12, 'wrong')).toThrow(/wrong password/);
    expect(() => loadIdentityFromP12(Buffer.from('garbage'), 'x')).toThrow(IdentityError);
  });

  it('refuses a key that does not belong to the certificate', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(() => loadIdentityFromPem({ certificate: dev.pki.certificatePem, privateKey: other })).toThrow(
      /does not belong/,
    );
  });

  it('opens an encrypted PEM key with its passphrase', () => {
    const encrypted = createPrivateKey(dev.pki.privateKeyPem)
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    expect(
      loadIdentityFromPem({ certificate: dev.pki.certificatePem, privateKey: encrypted, passphrase: 'pw' })
        .passTypeIdentifier,
    ).toBe('pass.test.passslot.identity');
    expect(() =>
      loadIdentityFromPem({ certificate: dev.pki.certificatePem, privateKey: encrypted, passphrase: 'no' }),
    ).toThrow(/private key/);
  });

  it('refuses a certificate that names no pass type', () => {
    const ca = createDevPki();
    // the development CA certificate has no UID
    expect(() =>
      loadIdentityFromPem({ certificate: ca.caCertificatePem, privateKey: ca.caPrivateKeyPem }),
    ).toThrow(/no pass type identifier/);
  });

  it('warns within 30 days of expiry and after it', () => {
    const id = loadIdentityFromPem(
      { certificate: dev.pki.certificatePem, privateKey: dev.pki.privateKeyPem },
      { wwdr: dev.pki.caCertificatePem },
    );
    const in20Days = new Date(id.expiresAt.getTime() - 20 * 86_400_000);
    expect(identityWarnings(id, in20Days)).toEqual([expect.stringContaining('expires in 20 days')]);
    expect(identityWarnings(id, new Date(id.expiresAt.getTime() + 1000))).toEqual([
      expect.stringContaining('expired on'),
    ]);
    expect(identityWarnings(id, new Date(id.expiresAt.getTime() - 40 * 86_400_000))).toEqual([]);
  });

  it('makes a development PKI whose certificate OpenSSL verifies against the dev CA, with Apple subject fields', () => {
    const subject = execFileSync(
      'openssl',
      ['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', join(dev.dir, 'pass.pem')],
      { encoding: 'utf8' },
    );
    expect(subject).toContain('UID=pass.test.passslot.identity');
    expect(subject).toContain('CN=Pass Type ID: pass.test.passslot.identity');
    expect(subject).toContain('OU=IDTEAM0001');
    expect(subject).toContain('O=Acme Tickets');
    expect(
      execFileSync('openssl', ['verify', '-CAfile', dev.caPath, join(dev.dir, 'pass.pem')], {
        encoding: 'utf8',
      }),
    ).toContain('OK');
  });
});
