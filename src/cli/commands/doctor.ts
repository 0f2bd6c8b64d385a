// passslot doctor FILE.pkpass [--ca ROOT.pem] [--json] [--allow-http]
import { parseArgs } from 'node:util';
import { diagnosePass } from '../../engine/index.js';
import { formatProblem, type Output, readInput, UsageError } from '../io.js';

export const doctorHelp = `passslot doctor FILE.pkpass [--ca ROOT.pem] [--json] [--allow-http]

Opens any .pkpass and reports every problem: zip layout, files outside the manifest, manifest hashes, the signature and
its certificate chain, signing time, certificate versus pass.json identifiers, expiry, pass.json rules and images.
Exit status 1 when there is any error, 0 otherwise.

  --ca ROOT.pem   trust this root instead of Apple Root CA (e.g. the development CA of \`passslot certs dev\`)
  --json          print the report as JSON
  --allow-http    accept a plain-http webServiceURL (development passes)
`;

export function doctorCommand(args: string[], io: Output): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ca: { type: 'string' }, json: { type: 'boolean' }, 'allow-http': { type: 'boolean' } },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('give exactly one FILE.pkpass');
  const report = diagnosePass(readInput(file, 'the pass'), {
    trustedRoots: values.ca ? readInput(values.ca, 'the root certificate').toString('utf8') : undefined,
    allowHttpWebService: values['allow-http'],
  });
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    const id = [report.passTypeIdentifier, report.serialNumber].filter(Boolean).join(' ');
    io.out(`${file}${id ? ` (${id})` : ''}`);
    if (report.signer)
      io.out(`  signed by ${report.signer.subject}, certificate valid until ${report.signer.notAfter}`);
    if (report.signingTime) io.out(`  signed at ${report.signingTime} with ${report.digestAlgorithm}`);
    for (const p of report.problems) io.out(`  ${formatProblem(p)}`);
    io.out(
      report.ok
        ? `OK: no errors${report.warnings ? `, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}` : ''}`
        : `FAILED: ${report.errors} error${report.errors === 1 ? '' : 's'}, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}`,
    );
  }
  return report.ok ? 0 : 1;
}
