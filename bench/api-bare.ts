// The baseline server of the API benchmark: a bare Fastify route answering GET /v1/passes/:pt/:sn/values with a fixed
// JSON body (BENCH_BODY), no auth, no hooks, no logger. Listens on PORT and prints "listening" when ready.
import Fastify from 'fastify';

const body = JSON.parse(process.env.BENCH_BODY ?? '{}') as unknown;
const fastify = Fastify({ logger: false });
fastify.get('/v1/passes/:passTypeIdentifier/:serialNumber/values', async (_req, reply) =>
  reply.type('application/json; charset=utf-8').send(body),
);
await fastify.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log('listening');
process.once('SIGTERM', () => {
  void fastify.close().then(() => process.exit(0));
});
