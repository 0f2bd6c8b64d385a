// passslot certs dev --out DIR [--pass-type-id ID] [--team-id ID] [--org NAME] [--days N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDevPki } from '../../engine/index.js';
import { type Output, UsageError } from '../io.js';

export const certsHelp = `passslot certs dev --out DIR [--pass-type-id ID] [--team-id ID] [--org NAME] [--days N]

Creates a local development PKI: a CA standing in for Apple WWDR (dev-ca.pem) and a pass type certificate with
Apple's subject fields (pass.pem, pass.key, and pass.p12 with its password in pass.p12.password).
Passes signed with it verify with \`openssl cms -verify -CAfile DIR/dev-ca.pem\` and \`passslot doctor --ca DIR/dev-ca.pem\`,
but do not install on an iPhone: for that, use the certificate Apple issues for your pass type id.

  --pass-type-id ID   default pass.dev.passslot.demo
  --team-id ID        default DEVTEAM123
  --org NAME          organization name, default "Passslot Development"
  --days N            validity of the pass type certificate, default 365
`;

export function certsCommand(args: string[], io: Output): number {
  const [sub, ...rest] = args;
  if (sub !== 'dev') throw new UsageError('usage: passslot certs dev --out DIR');
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: 'string' },
      'pass-type-id': { type: 'string' },
      'team-id': { type: 'string' },
      org: { type: 'string' },
      days: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.out) throw new UsageError('--out DIR is required');
  const days = values.days === undefined ? undefined : Number(values.days);
  if (days !== undefined && !Number.isInteger(days)) throw new UsageError('--days must be a whole number');
  const passTypeIdentifier = values['pass-type-id'];
  if (passTypeIdentifier !== undefined && !/^pass\.[A-Za-z0-9.-]+$/.test(passTypeIdentifier))
    throw new UsageError('--pass-type-id must look like pass.com.example.member');
  const pki = createDevPki({
    passTypeIdentifier,
    teamIdentifier: values['team-id'],
    organizationName: values.org,
    days,
  });
  mkdirSync(values.out, { recursive: true });
  const files = {
    ca: join(values.out, 'dev-ca.pem'),
    certificate: join(values.out, 'pass.pem'),
    privateKey: join(values.out, 'pass.key'),
    p12: join(values.out, 'pass.p12'),
    p12Password: join(values.out, 'pass.p12.password'),
  };
  writeFileSync(files.ca, pki.caCertificatePem);
  writeFileSync(files.certificate, pki.certificatePem);
  writeFileSync(files.privateKey, pki.privateKeyPem, { mode: 0o600 });
  writeFileSync(files.p12, pki.p12, { mode: 0o600 });
  writeFileSync(files.p12Password, `${pki.p12Password}\n`, { mode: 0o600 });
  if (values.json) {
    io.out(
      JSON.stringify({
        passTypeIdentifier: pki.passTypeIdentifier,
        teamIdentifier: pki.teamIdentifier,
        files,
      }),
    );
  } else {
    io.out(
      `development identity for ${pki.passTypeIdentifier} (team ${pki.teamIdentifier}) in ${values.out}:`,
    );
    for (const f of Object.values(files)) io.out(`  ${f}`);
    io.out(
      `build: passslot build TEMPLATE_DIR --identity ${files.p12} --password-file ${files.p12Password} --out pass.pkpass`,
    );
    io.out(`check: passslot doctor pass.pkpass --ca ${files.ca}`);
    io.out(
      'These passes verify but do not install on an iPhone; use your Apple pass type certificate for that.',
    );
  }
  return 0;
}
