// A worker thread of the pkpass benchmark: builds passes for the given time and reports how many.
import { parentPort, workerData } from 'node:worker_threads';
import { createPassFactory, loadIdentityFromPem } from '../src/engine/index.js';
import { images, template, valuesFor } from './pkpass-setup.js';

const { certificatePem, privateKeyPem, caPem, ms, offset } = workerData as {
  certificatePem: string;
  privateKeyPem: string;
  caPem: string;
  ms: number;
  offset: number;
};
const identity = loadIdentityFromPem(
  { certificate: certificatePem, privateKey: privateKeyPem },
  { wwdr: caPem },
);
const factory = createPassFactory({ identity, template, assets: { images } });
let n = 0;
const end = performance.now() + ms;
while (performance.now() < end) {
  factory.build({ values: valuesFor(offset + n), overrides: { serialNumber: `W${offset}-${n}` } });
  n++;
}
parentPort?.postMessage(n);
