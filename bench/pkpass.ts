// Benchmark of pass issuing, in one process, on one core unless said:
//   (a) node:crypto RSA-2048 signatures of a 1 KB buffer per second: the hardware's signing limit;
//   (b) complete .pkpass files per second through the engine (render, validate, hash, sign, zip);
//   (c) passkit-generator on the same input (the baseline library).
// Prints b/a (goal >= 0.75) and b/c, b with worker threads on both cores, and memory over 20,000 passes.
// Run: npm run bench   (the machine is shared: rounds are interleaved and medians are reported)
import { randomBytes, sign } from 'node:crypto';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PKPass } from 'passkit-generator';
import { createPassFactory, loadIdentityFromPem } from '../src/engine/index.js';
import { images, makePki, template, valuesFor } from './pkpass-setup.js';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function rate(fn: (i: number) => void, ms = ROUND_MS): number {
  for (let i = 0; i < 20; i++) fn(i); // warm up
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) fn(n++);
  return (n * 1000) / (performance.now() - start);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
};

const pki = makePki();
const identity = loadIdentityFromPem(
  { certificate: pki.certificatePem, privateKey: pki.privateKeyPem },
  { wwdr: pki.caCertificatePem },
);
const factory = createPassFactory({ identity, template, assets: { images } });
const oneKb = randomBytes(1024);

// passkit-generator takes the same input, values already in place (it has no placeholders).
const pkgCertificates = {
  wwdr: pki.caCertificatePem,
  signerCert: pki.certificatePem,
  signerKey: pki.privateKeyPem,
};
const pkgBuild = (i: number): Buffer => {
  const v = valuesFor(i);
  const passJson = JSON.parse(
    JSON.stringify(template)
      .replace('${event}', v.event)
      .replace('${name}', v.name)
      .replace('"${seat}"', String(v.seat))
      .replace('${ticket}', v.ticket),
  );
  const buffers: Record<string, Buffer> = { 'pass.json': Buffer.from(JSON.stringify(passJson)) };
  for (const [k, b] of Object.entries(images)) buffers[k] = Buffer.from(b);
  return new PKPass(buffers, pkgCertificates, { serialNumber: `P-${i}` }).getAsBuffer();
};

const a: number[] = [];
const b: number[] = [];
const c: number[] = [];
let serial = 0;
for (let r = 0; r < ROUNDS; r++) {
  a.push(rate(() => sign('sha256', oneKb, identity.privateKey)));
  b.push(
    rate(() => factory.build({ values: valuesFor(serial), overrides: { serialNumber: `S-${serial++}` } })),
  );
  c.push(rate(pkgBuild, Math.min(ROUND_MS, 1500)));
}

async function workers(count: number): Promise<number> {
  const ms = ROUND_MS;
  const runs = Array.from(
    { length: count },
    (_, w) =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(new URL('./pkpass-worker.js', import.meta.url), {
          workerData: {
            certificatePem: pki.certificatePem,
            privateKeyPem: pki.privateKeyPem,
            caPem: pki.caCertificatePem,
            ms,
            offset: w * 10_000_000,
          },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  const counts = await Promise.all(runs);
  return (counts.reduce((x, y) => x + y, 0) * 1000) / ms;
}

const threads = Math.min(2, cpus().length);
const bw: number[] = [];
for (let r = 0; r < ROUNDS; r++) bw.push(await workers(threads));

// memory over 20,000 passes
const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed / 1048576;
};
for (let i = 0; i < 1000; i++) factory.build({ values: valuesFor(i), overrides: { serialNumber: `M-${i}` } });
const heapAt1k = heap();
const rssAt1k = process.memoryUsage().rss / 1048576;
for (let i = 1000; i < 20_000; i++)
  factory.build({ values: valuesFor(i), overrides: { serialNumber: `M-${i}` } });
const heapAt20k = heap();
const rssAt20k = process.memoryUsage().rss / 1048576;

const A = median(a);
const B = median(b);
const C = median(c);
const BW = median(bw);
const f = (x: number): string => x.toFixed(0).padStart(7);
console.log(
  `pkpass benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`,
);
console.log(`medians of ${ROUNDS} interleaved rounds of ${ROUND_MS} ms`);
console.log(
  `(a) node:crypto RSA-2048 signatures of 1 KB      ${f(A)} /s   rounds ${a.map((x) => x.toFixed(0)).join(', ')}`,
);
console.log(
  `(b) Passslot engine, complete .pkpass files      ${f(B)} /s   rounds ${b.map((x) => x.toFixed(0)).join(', ')}`,
);
console.log(
  `(c) passkit-generator, same input                ${f(C)} /s   rounds ${c.map((x) => x.toFixed(0)).join(', ')}`,
);
console.log(
  `(b) with ${threads} worker threads                      ${f(BW)} /s   rounds ${bw.map((x) => x.toFixed(0)).join(', ')}`,
);
console.log(`b/a = ${(B / A).toFixed(2)}   (goal >= 0.75: the signature dominates)`);
console.log(`b/c = ${(B / C).toFixed(1)}   (times passkit-generator)`);
console.log(`workers/b = ${(BW / B).toFixed(2)} on ${threads} threads`);
console.log(
  `memory: heap ${heapAt1k.toFixed(1)} MiB after 1,000 passes, ${heapAt20k.toFixed(1)} MiB after 20,000 (${gc ? 'after GC' : 'no --expose-gc'}); rss ${rssAt1k.toFixed(0)} -> ${rssAt20k.toFixed(0)} MiB`,
);
