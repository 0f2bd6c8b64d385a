// The hottest request Passslot serves: Wallet asking for a pass it already has (GET /wallet/v1/passes/:pt/:sn with
// If-Modified-Since), which after a push every device of a pass makes, and which is answered 304 almost always.
// Answered here, in the HTTP server's request listener before Fastify, it costs the one indexed query and little
// else (Fastify's routing, hooks and per-request logger took most of the time: docs/performance.md). Anything else,
// and any request this cannot answer 304 (a wrong token, a newer version, an error), goes to Fastify's route, which
// is the reference behaviour; the tests run both.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { App } from '../app.js';
import { authorizeLatest, notModifiedSince } from '../apple/webservice.js';

const PREFIX = '/wallet/v1/passes/';

/** The pass a conditional latest-pass request names, or undefined when it is not one. */
function conditionalPassRequest(req: IncomingMessage): { pt: string; sn: string } | undefined {
  if (req.method !== 'GET' || !req.headers['if-modified-since'] || !req.headers.authorization)
    return undefined;
  const url = req.url;
  if (!url?.startsWith(PREFIX) || url.includes('?')) return undefined;
  const rest = url.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1 || rest.indexOf('/', slash + 1) !== -1) return undefined;
  try {
    return { pt: decodeURIComponent(rest.slice(0, slash)), sn: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    return undefined;
  }
}

/** An HTTP server answering Wallet's unchanged-pass requests itself and passing every other request to `handler`. */
export function serverWithFastPath(app: App) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server =>
    createServer((req, res) => {
      const ref = conditionalPassRequest(req);
      if (!ref) return handler(req, res);
      authorizeLatest(app, ref.pt, ref.sn, req.headers.authorization).then(
        (auth) => {
          if (!auth || !notModifiedSince(auth.lastModified, req.headers['if-modified-since']))
            return handler(req, res);
          res.writeHead(304, { 'last-modified': auth.lastModified.toUTCString() });
          res.end();
        },
        () => handler(req, res),
      );
    });
}
