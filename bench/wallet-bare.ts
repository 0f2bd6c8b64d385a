// The baseline server of the wallet benchmark: a bare Fastify route answering GET /wallet/v1/passes/:pt/:sn with the
// same .pkpass bytes as the service (read from BENCH_PKPASS) and its Last-Modified (BENCH_LAST_MODIFIED), or a 304
// when If-Modified-Since is not older, as the service compares. No auth, no hooks, no logger, no database.
// Listens on PORT and prints "listening" when ready.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const bytes = readFileSync(process.env.BENCH_PKPASS ?? '');
const lastModified = process.env.BENCH_LAST_MODIFIED ?? new Date().toUTCString();
const modifiedS = Math.floor(Date.parse(lastModified) / 1000);
const fastify = Fastify({ logger: false });
fastify.get('/wallet/v1/passes/:passTypeIdentifier/:serialNumber', async (req, reply) => {
  const header = req.headers['if-modified-since'];
  const since = header ? Date.parse(header) : Number.NaN;
  if (!Number.isNaN(since) && modifiedS <= Math.floor(since / 1000))
    return reply.status(304).header('Last-Modified', lastModified).send();
  return reply
    .status(200)
    .type('application/vnd.apple.pkpass')
    .header('Last-Modified', lastModified)
    .send(bytes);
});
await fastify.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log('listening');
process.once('SIGTERM', () => {
  void fastify.close().then(() => process.exit(0));
});
