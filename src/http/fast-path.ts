// The hottest request Passslot serves: Wallet asking for the latest version of a pass (GET /wallet/v1/passes/:pt/:sn),
// which every device of a pass makes after a push, and which is answered 304 (its copy is current) or with the same
// .pkpass for all of them. When the token, Last-Modified and .pkpass are in the cache of hot passes
// (store/cache.ts), it is answered here, in the HTTP server's request listener, before Fastify's routing, hooks and
// per-request logger (docs/performance.md). Anything else (a wrong token, a file not cached yet, an error) goes to
// Fastify's route, which is the reference behaviour and fills the cache; the tests run both.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { App } from '../app.js';
import { authorizeLatest, cachedLatestAuth, type LatestAuth, notModifiedSince } from '../apple/webservice.js';
import { PKPASS_MIME } from '../engine/index.js';

const PREFIX = '/wallet/v1/passes/';

/** The pass a latest-pass request names, or undefined when it is not one. */
function latestPassRequest(req: IncomingMessage): { pt: string; sn: string } | undefined {
  if (req.method !== 'GET' || !req.headers.authorization) return undefined;
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

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** 304 when Wallet's copy is current, the cached file when not; anything else is the route's to answer. */
function answer(
  auth: LatestAuth | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  handler: Handler,
): void {
  if (!auth) {
    handler(req, res);
    return;
  }
  if (notModifiedSince(auth.lastModified, req.headers['if-modified-since'], auth.lastModifiedHttp)) {
    res.writeHead(304, { 'last-modified': auth.lastModifiedHttp });
    res.end();
    return;
  }
  if (!auth.pkpass) {
    handler(req, res);
    return;
  }
  res.writeHead(200, {
    'content-type': PKPASS_MIME,
    'content-length': auth.pkpass.byteLength,
    'last-modified': auth.lastModifiedHttp,
  });
  res.end(auth.pkpass);
}

/** An HTTP server answering Wallet's unchanged-pass requests itself and passing every other request to `handler`. */
export function serverWithFastPath(app: App) {
  return (handler: Handler): Server =>
    createServer(
      {
        // a client that dribbles its headers (or its body) is dropped instead of holding a connection
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        // how often those timeouts are checked (Node's default, 30 s, would let a slow client stay that long)
        connectionsCheckingInterval: 1000,
        maxHeaderSize: MAX_HEADER_BYTES,
      },
      (req, res) => {
        const ref = latestPassRequest(req);
        if (!ref) return handler(req, res);
        // cached: answered at once; else read (and cached) first
        const cached = cachedLatestAuth(app, ref.pt, ref.sn, req.headers.authorization);
        if (cached !== undefined) return answer(cached || undefined, req, res, handler);
        authorizeLatest(app, ref.pt, ref.sn, req.headers.authorization).then(
          (auth) => answer(auth, req, res, handler),
          () => handler(req, res),
        );
      },
    );
}

/** Every request's headers arrive within this time, or the connection is closed (408). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole request (headers and body, the largest upload included) arrives within this time. */
export const REQUEST_TIMEOUT_MS = 120_000;
/** Request line and headers together (Node's default is 16 KiB). */
export const MAX_HEADER_BYTES = 16 * 1024;
