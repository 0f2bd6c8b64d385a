// passslot build TEMPLATE_DIR --values FILE.json (--identity ID.p12 --password P | --cert C.pem --key K.pem)
//   [--wwdr W.pem] [--serial S] [--allow-http] --out PASS.pkpass
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  buildPass,
  IdentityError,
  loadIdentityFromP12,
  loadIdentityFromPem,
  MissingValuesError,
  type PassIdentity,
  PassProblemsError,
  ValueTypeError,
} from '../../engine/index.js';
import { CommandError, type Output, printProblems, readInput, readJsonFile, UsageError } from '../io.js';
import { readTemplateDir } from '../template-dir.js';

export const buildHelp = `passslot build TEMPLATE_DIR --out PASS.pkpass [options]

Builds a signed .pkpass from a template directory (pass.json with \${placeholders}, images, <lang>.lproj folders).

  --values FILE.json        placeholder values (a JSON object; - reads standard input)
  --identity ID.p12         the pass type identity as PKCS #12, with --password P or --password-file F
  --cert C.pem --key K.pem  or the identity as PEM certificate and private key (--key-password P if encrypted)
  --wwdr W.pem              intermediate to embed (default: Apple WWDR G4, or the CA inside the .p12)
  --serial S                serial number (default: the template's, else a random UUID)
  --allow-http              accept a plain-http webServiceURL (development devices only)
  --json                    print the result as JSON
`;

export function loadIdentity(values: {
  identity?: string;
  password?: string;
  'password-file'?: string;
  cert?: string;
  key?: string;
  'key-password'?: string;
  wwdr?: string;
}): PassIdentity {
  const wwdr = values.wwdr
    ? readInput(values.wwdr, 'the intermediate certificate').toString('utf8')
    : undefined;
  try {
    if (values.identity) {
      if (values.cert || values.key)
        throw new UsageError('give either --identity or --cert and --key, not both');
      const password =
        values.password ??
        (values['password-file']
          ? readInput(values['password-file'], 'the password file').toString('utf8').trim()
          : '');
      return loadIdentityFromP12(readInput(values.identity, 'the identity'), password, { wwdr });
    }
    if (values.cert && values.key)
      return loadIdentityFromPem(
        {
          certificate: readInput(values.cert, 'the certificate').toString('utf8'),
          privateKey: readInput(values.key, 'the private key').toString('utf8'),
          passphrase: values['key-password'],
        },
        { wwdr },
      );
  } catch (err) {
    if (err instanceof IdentityError) throw new CommandError(`identity: ${err.message}`);
    throw err;
  }
  throw new UsageError(
    'an identity is required: --identity ID.p12 --password P, or --cert C.pem --key K.pem',
  );
}

export function buildCommand(args: string[], io: Output): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      values: { type: 'string' },
      identity: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'key-password': { type: 'string' },
      wwdr: { type: 'string' },
      serial: { type: 'string' },
      out: { type: 'string' },
      'allow-http': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) throw new UsageError('give exactly one TEMPLATE_DIR');
  if (!values.out) throw new UsageError('--out PASS.pkpass is required');
  const identity = loadIdentity(values);
  const template = readTemplateDir(dir);
  const passValues = values.values ? readJsonFile(values.values, 'the values file') : {};
  if (typeof passValues !== 'object' || passValues === null || Array.isArray(passValues))
    throw new CommandError('the values file must hold a JSON object of placeholder values');
  const serialNumber =
    values.serial ?? (typeof template.passJson.serialNumber === 'string' ? undefined : randomUUID());
  try {
    const built = buildPass({
      identity,
      template: template.passJson,
      assets: template.assets,
      values: passValues as Record<string, unknown>,
      overrides: serialNumber ? { serialNumber } : undefined,
      allowHttpWebService: values['allow-http'],
    });
    writeFileSync(values.out, built.pkpass);
    if (values.json) {
      io.out(
        JSON.stringify({
          out: values.out,
          bytes: built.pkpass.length,
          passTypeIdentifier: built.passJson.passTypeIdentifier,
          serialNumber: built.passJson.serialNumber,
          warnings: built.warnings,
          skipped: template.skipped,
        }),
      );
    } else {
      for (const s of template.skipped) io.err(`skipped ${s}: not a pass image, pass.json or .lproj folder`);
      printProblems(io, built.warnings);
      io.out(
        `wrote ${values.out} (${built.passJson.passTypeIdentifier} ${built.passJson.serialNumber}, ${built.pkpass.length} bytes)`,
      );
    }
    return 0;
  } catch (err) {
    if (err instanceof PassProblemsError) {
      if (values.json) io.out(JSON.stringify({ error: 'the pass has errors', problems: err.problems }));
      else {
        printProblems(io, err.problems);
        io.err(`not written: the pass has errors`);
      }
      return 1;
    }
    if (err instanceof MissingValuesError || err instanceof ValueTypeError)
      throw new CommandError(err.message);
    throw err;
  }
}
