// Render threads (the compiled pool in dist/, which `npm test` builds first): passes built on a worker verify, the
// engine's errors come back as the same errors, and a thread that stops is replaced.
import { describe, expect, it } from 'vitest';
import { encodePng } from '../src/engine/png.js';
import { devIdentity, sampleTemplate, verifyPkpass } from './helpers.js';

// the compiled modules (paths in variables: they are JavaScript without declarations)
const dist = '../dist/src/render/render-pool.js';
const distEngine = '../dist/src/engine/index.js';

describe('render threads', () => {
  it('builds on a worker, revives engine errors, and replaces a thread that stops', async () => {
    const { RenderPool } = (await import(dist)) as typeof import('../src/render/render-pool.js');
    const engine = (await import(distEngine)) as typeof import('../src/engine/index.js');
    const dev = devIdentity({ passTypeIdentifier: 'pass.test.passslot.pool', teamIdentifier: 'POOLTEAM01' });
    const pool = new RenderPool(1);
    const spec = async () => ({
      certificatePem: dev.pki.certificatePem,
      privateKeyPem: dev.pki.privateKeyPem,
      wwdrPem: dev.pki.caCertificatePem,
      template: sampleTemplate(dev.identity),
      images: { 'icon.png': encodePng(29, 29) },
      strings: { fr: { Seat: 'Place ${seat}' } },
      allowHttpWebService: true,
    });
    const values = { event: 'Jazz', seat: 3, firstName: 'A', lastName: 'B', ticket: 'T' };
    const input = (v: Record<string, unknown>) => ({
      values: v,
      overrides: { serialNumber: 'POOL-1' },
      now: Date.now(),
      notification: 'hi',
    });
    try {
      const built = await pool.build('k1', spec, input(values));
      const { passJson, files, manifest } = verifyPkpass(built.pkpass, dev.caPath);
      expect(passJson.serialNumber).toBe('POOL-1');
      // the template's translations, rendered with the values, signed in the package
      expect(manifest).toHaveProperty(['fr.lproj/pass.strings']);
      expect(engine.decodeStringsText(files.get('fr.lproj/pass.strings')!).text).toContain(
        '"Seat" = "Place 3";',
      );
      expect((passJson.eventTicket as any).backFields).toContainEqual(
        expect.objectContaining({ value: 'hi', changeMessage: '%@' }),
      );
      await expect(pool.build('k1', spec, input({ event: 'x' }))).rejects.toBeInstanceOf(
        engine.MissingValuesError,
      );
      // the thread stops: the next build runs on a new one, which is given the factory again
      await (pool as any).slots[0].worker.terminate();
      await new Promise((r) => setTimeout(r, 50));
      const again = await pool.build('k1', spec, input({ ...values, seat: 4 }));
      expect(
        (verifyPkpass(again.pkpass, dev.caPath).passJson.eventTicket as any).secondaryFields[0].value,
      ).toBe(4);
    } finally {
      await pool.close();
    }
  });
});
