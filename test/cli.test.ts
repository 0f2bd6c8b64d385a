// The commands as a user runs them: spawned, with exit codes and output checked.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../src/engine/png.js';
import { sampleImages, sampleTemplate, tmpDir, verifyPkpass, writeTemplateDir } from './helpers.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'passslot.js');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const work = tmpDir('passslot-cli-');
const certs = join(work, 'certs');
const ids = { passTypeIdentifier: 'pass.test.passslot.cli', teamIdentifier: 'CLITEAM001' };

describe('passslot commands', () => {
  it('prints help and refuses unknown commands with status 2', () => {
    const help = run('help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/build.*\n.*doctor.*\n.*certs/s);
    const bad = run('frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
  });

  it('certs dev writes a development identity with private files readable only by the owner', () => {
    const r = run(
      'certs',
      'dev',
      '--out',
      certs,
      '--pass-type-id',
      ids.passTypeIdentifier,
      '--team-id',
      ids.teamIdentifier,
    );
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['dev-ca.pem', 'pass.pem', 'pass.key', 'pass.p12', 'pass.p12.password'])
      expect(existsSync(join(certs, f))).toBe(true);
    expect(statSync(join(certs, 'pass.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(certs, 'pass.p12')).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain('do not install on an iPhone');
  });

  it('build makes a verified pass from a template directory with values, images and a localization', () => {
    const dir = writeTemplateDir(sampleTemplate(ids), sampleImages(), {
      de: {
        strings: '/* German */\n"EVENT" = "Veranstaltung";\n',
        images: { 'logo.png': encodePng(150, 50) },
      },
    });
    const valuesFile = join(work, 'values.json');
    writeFileSync(
      valuesFile,
      JSON.stringify({ event: 'Oper', seat: 7, firstName: 'Max', lastName: 'Muster', ticket: 'Q-7' }),
    );
    const out = join(work, 'out.pkpass');
    const r = run(
      'build',
      dir,
      '--values',
      valuesFile,
      '--identity',
      join(certs, 'pass.p12'),
      '--password-file',
      join(certs, 'pass.p12.password'),
      '--serial',
      'CLI-1',
      '--out',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    const { passJson, files } = verifyPkpass(readFileSync(out), join(certs, 'dev-ca.pem'));
    expect(passJson).toMatchObject({
      serialNumber: 'CLI-1',
      description: 'Ticket for Oper',
      barcodes: [{ message: 'Q-7' }],
    });
    expect(files.has('de.lproj/pass.strings')).toBe(true);
    expect(files.has('de.lproj/logo.png')).toBe(true);
  });

  it('build accepts a PEM certificate and key, and prints JSON', () => {
    const dir = writeTemplateDir(sampleTemplate(ids), sampleImages());
    const out = join(work, 'pem.pkpass');
    const valuesFile = join(work, 'values.json');
    const r = run(
      'build',
      dir,
      '--values',
      valuesFile,
      '--cert',
      join(certs, 'pass.pem'),
      '--key',
      join(certs, 'pass.key'),
      '--wwdr',
      join(certs, 'dev-ca.pem'),
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ out, passTypeIdentifier: ids.passTypeIdentifier, warnings: [] });
    expect(result.serialNumber).toBe('TEMPLATE-SERIAL');
    verifyPkpass(readFileSync(out), join(certs, 'dev-ca.pem'));
  });

  it('build exits 1 with every problem and its path when the pass breaks the rules, and writes nothing', () => {
    const template = sampleTemplate(ids);
    (template.eventTicket as any).primaryFields[0].textAlignment = 'PKTextAlignmentLeft';
    template.foregroundColor = 'white';
    const dir = writeTemplateDir(template, sampleImages());
    const out = join(work, 'bad.pkpass');
    const r = run(
      'build',
      dir,
      '--values',
      join(work, 'values.json'),
      '--identity',
      join(certs, 'pass.p12'),
      '--password-file',
      join(certs, 'pass.p12.password'),
      '--out',
      out,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error    foregroundColor: must be a CSS color');
    expect(r.stderr).toContain('eventTicket.primaryFields[0].textAlignment: is not allowed on primaryFields');
    expect(existsSync(out)).toBe(false);
  });

  it('build names missing values, a wrong password and a missing identity', () => {
    const dir = writeTemplateDir(sampleTemplate(ids), sampleImages());
    const empty = join(work, 'empty.json');
    writeFileSync(empty, '{"event": "x"}');
    const p12 = ['--identity', join(certs, 'pass.p12'), '--password-file', join(certs, 'pass.p12.password')];
    const missing = run('build', dir, '--values', empty, ...p12, '--out', join(work, 'm.pkpass'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('missing values for placeholders: seat, firstName, lastName, ticket');
    const wrong = run(
      'build',
      dir,
      '--values',
      empty,
      '--identity',
      join(certs, 'pass.p12'),
      '--password',
      'nope',
      '--out',
      join(work, 'w.pkpass'),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('wrong password');
    const none = run('build', dir, '--out', join(work, 'n.pkpass'));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('an identity is required');
  });

  it('doctor exits 0 on a good pass with --ca, 1 on Apple trust or a tampered pass, and speaks JSON', () => {
    const good = join(work, 'out.pkpass');
    const ok = run('doctor', good, '--ca', join(certs, 'dev-ca.pem'));
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain('OK: no errors');
    const untrusted = run('doctor', good);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toContain('does not lead to Apple Root CA');
    const bytes = readFileSync(good);
    const at = bytes.indexOf(Buffer.from('Oper'));
    bytes.write('Opus', at); // same length: the zip stays readable, the hash does not
    const tampered = join(work, 'tampered.pkpass');
    writeFileSync(tampered, bytes);
    const json = run('doctor', tampered, '--ca', join(certs, 'dev-ca.pem'), '--json');
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(
      expect.objectContaining({
        path: 'pass.json',
        severity: 'error',
        message: expect.stringContaining('changed after signing'),
      }),
    );
  });

  it('doctor says when the file is missing', () => {
    const r = run('doctor', join(work, 'nope.pkpass'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such file');
  });
});
