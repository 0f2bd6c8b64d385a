// The request logger makes its pino child only when something is logged at an enabled level, and what it logs
// carries the request's bindings as a child logger's lines would.
import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyRequestLogger } from '../../src/http/request-logger.js';

function capture(level: string, count = true) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const parent = pino({ level }, stream);
  let children = 0;
  // (counting replaces parent.child, which pino's children inherit: only where no grandchild is made)
  if (count) {
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<typeof child>) => {
      children++;
      return child(...args);
    }) as typeof parent.child;
  }
  return { parent: parent as unknown as FastifyBaseLogger, lines, children: () => children };
}

describe('lazyRequestLogger', () => {
  it('logs nothing and makes no child below the level; logs with the bindings at it', async () => {
    const c = capture('warn');
    const log = lazyRequestLogger(c.parent, { reqId: 'r-1' }, {});
    log.info({ req: 'x' }, 'incoming request');
    log.debug('details');
    expect(c.children()).toBe(0);
    expect(log.level).toBe('warn');
    log.error({ code: 7 }, 'request failed');
    log.warn('slow');
    await new Promise((r) => setImmediate(r));
    expect(c.children()).toBe(1);
    expect(c.lines).toHaveLength(2);
    expect(c.lines[0]).toMatchObject({ reqId: 'r-1', code: 7, msg: 'request failed', level: 50 });
    expect(c.lines[1]).toMatchObject({ reqId: 'r-1', msg: 'slow', level: 40 });
  });

  it('gives children of its own with the request bindings, and follows a level change', async () => {
    const c = capture('info', false);
    const log = lazyRequestLogger(c.parent, { reqId: 'r-2' }, {});
    log.child({ part: 'body' }).info('parsed');
    log.level = 'error';
    log.warn('hidden');
    await new Promise((r) => setImmediate(r));
    expect(c.lines).toEqual([expect.objectContaining({ reqId: 'r-2', part: 'body', msg: 'parsed' })]);
  });
});
