// One error shape: PassSlot's {"message", "errors": [{"field", "reasons"}]} with the stable "code" of the catalogue
// (src/errors.ts). Unknown errors are logged with the request id and answered with a 500 that leaks nothing.
import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, codeOfStatus } from '../../errors.js';

export function errorHandlers(fastify: FastifyInstance, maxBody: number): void {
  fastify.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      reply.headers(error.headers);
      return reply
        .status(error.status)
        .type('application/json; charset=utf-8')
        .send(
          error.errors.length
            ? { message: error.message, code: error.code, errors: error.errors }
            : { message: error.message, code: error.code },
        );
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const message =
        error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `The body is larger than the ${maxBody} byte limit`
          : error.code === 'FST_REQ_FILE_TOO_LARGE'
            ? 'An uploaded file is larger than the 5 MB limit'
            : error.message;
      return reply
        .status(status)
        .type('application/json; charset=utf-8')
        .send({ message, code: codeOfStatus(status) });
    }
    request.log.error({ err: error, requestId: request.id }, 'request failed');
    return reply
      .status(500)
      .type('application/json; charset=utf-8')
      .send({ message: 'Internal server error', code: 'internal', requestId: request.id });
  });
  fastify.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .type('application/json; charset=utf-8')
      .send({ message: `No route ${request.method} ${request.url.split('?')[0]}`, code: 'not_found' }),
  );
}
