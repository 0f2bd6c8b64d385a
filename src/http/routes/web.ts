// The web app: the dashboard at /app (every view has its own URL, all served the one page) and the scanner at /scan,
// built by `npm install` (vite, web/) into dist/web. The page calls the actions over /v1 with the session cookie and
// its CSRF token (plugins/auth.ts); GET /app-session tells it who is signed in, and which accounts they may act in.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { App } from '../../app.js';
import { SESSION_COOKIE, sessionOf } from '../../auth/sessions.js';
import { membershipsOf, scopesOfRole } from '../../store/users.js';

/** dist/web of the package (this module runs as dist/src/http/routes/web.js, or from src/ under the tests). */
function webDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'web');
}
const WEB_DIR = webDir();

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
  '.html': 'text/html; charset=utf-8',
};

// The pages load only what the service serves; the scanner uses the camera and compiles its WebAssembly decoder.
const CSP =
  "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
  "script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export async function webRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  const files = new Map<string, Buffer>();
  /** A built file (kept in memory once read); undefined when the app was not built or the name is not ours. */
  const built = async (name: string): Promise<Buffer | undefined> => {
    const path = normalize(name);
    if (path.startsWith('..') || path.includes('\0')) return undefined;
    const hit = files.get(path);
    if (hit) return hit;
    try {
      const bytes = await readFile(join(WEB_DIR, path));
      if (files.size < 500) files.set(path, bytes);
      return bytes;
    } catch {
      return undefined;
    }
  };
  const notBuilt = (reply: FastifyReply) =>
    reply
      .status(503)
      .type('text/plain; charset=utf-8')
      .send('The web app is not built: run npm install (or npm run build).');

  const shell = async (reply: FastifyReply, file: 'index.html' | 'scan.html') => {
    const html = await built(file);
    if (!html) return notBuilt(reply);
    return reply
      .type(TYPES['.html']!)
      .header('Cache-Control', 'no-cache')
      .header('Content-Security-Policy', CSP)
      .header('X-Frame-Options', 'DENY')
      .header('Referrer-Policy', 'same-origin')
      .header('Permissions-Policy', file === 'scan.html' ? 'camera=(self)' : 'camera=()')
      .send(html);
  };

  fastify.get('/app', { schema: { hide: true } }, (_req, reply) => shell(reply, 'index.html'));
  fastify.get('/app/*', { schema: { hide: true } }, (_req, reply) => shell(reply, 'index.html'));
  fastify.get('/scan', { schema: { hide: true } }, (_req, reply) => shell(reply, 'scan.html'));

  // hashed bundles: cached for a year; the manifest and icons: revalidated
  fastify.get('/web/*', { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const bytes = await built(name);
    if (!bytes)
      return reply.status(404).send({ message: `no file ${name} in the web app`, code: 'not_found' });
    return reply
      .type(TYPES[extname(name)] ?? 'application/octet-stream')
      .header(
        'Cache-Control',
        name.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      )
      .send(bytes);
  });

  // who is signed in, their accounts and the CSRF token the app sends with each call
  fastify.get('/app-session', { schema: { hide: true } }, async (req, reply) => {
    reply.header('Cache-Control', 'no-store');
    const session = req.headers.cookie?.includes(SESSION_COOKIE)
      ? await sessionOf(app.db, req.headers.cookie, app.clock.now())
      : undefined;
    if (!session)
      return reply.status(401).send({ message: 'Not signed in: sign in at /login', code: 'unauthorized' });
    const accounts = await membershipsOf(app.db, session.userId);
    return {
      email: session.email,
      csrf: session.csrf,
      // what the role allows, so that the app shows only what the person may do (the API decides either way)
      accounts: accounts.map((m) => ({
        id: m.accountId,
        name: m.accountName,
        role: m.role,
        scopes: scopesOfRole(m.role),
      })),
      publicUrl: app.config.publicUrl,
    };
  });
}
