// Black-box harness: the real server (buildServer + listen) on an ephemeral port, with a temporary data directory and,
// when PASSSLOT_TEST_DB=postgres, a fresh PostgreSQL database per server. Driven with fetch.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import pg from 'pg';
import { type AccountSetup, createAccount } from '../../src/actions/accounts.js';
import { type App, type Clock, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { RouteSpec } from '../../src/http/routes/route.js';
import { buildServer } from '../../src/http/server.js';
import { startWorkers, type Workers } from '../../src/jobs/runner.js';
import { tmpDir } from '../helpers.js';

export const TEST_DB = process.env.PASSSLOT_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
const PG_ADMIN_URL = process.env.PASSSLOT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh PostgreSQL database; returns its URL and a function that drops it. */
export async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `passslot_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** fetch's Response with json() typed loosely, as tests read many shapes. */
export type TestResponse = Omit<Response, 'json' | 'clone'> & {
  json(): Promise<any>;
  clone(): TestResponse;
};

/** fetch with the loosely typed response. */
export const request = fetch as (input: string | URL, init?: RequestInit) => Promise<TestResponse>;

/** The API of the service at `url` as an app key calls it (HTTP Basic unless the request says otherwise). */
export function apiAt(url: string): TestServer['api'] {
  return (key, path, init = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (!headers.has('authorization'))
      headers.set('authorization', `Basic ${Buffer.from(`${key}:`).toString('base64')}`);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return request(`${url}${path}`, {
      ...rest,
      headers,
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
  };
}

export interface TestServer {
  url: string;
  app: App;
  server: FastifyInstance;
  workers: Workers;
  dataDir: string;
  /** The first account ("alpha"), made like `passslot accounts create`. */
  alpha: AccountSetup;
  /** Makes another account with its own key, pass type and demo template. */
  account(name: string): Promise<AccountSetup>;
  /** fetch against the server with an app key (HTTP Basic). */
  api(key: string, path: string, init?: RequestInit & { json?: unknown }): Promise<TestResponse>;
  /**
   * Stops the service as a crash would leave it (queued work not run) and starts it again on the same data, port and
   * options: the new TestServer is the one to use (and to close) from then on.
   */
  restart(): Promise<TestServer>;
  close(): Promise<void>;
}

export interface ServerOptions {
  env?: Record<string, string>;
  /** Start the background workers polling (default false: tests call workers.drain()). */
  poll?: boolean;
  /** The service's clock (tests move it to make retries due). */
  clock?: Clock;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const port = await freePort();
  const dataDir = tmpDir('passslot-api-');
  const pgDb = TEST_DB === 'postgres' ? await freshPostgres() : undefined;
  return boot(options, { port, dataDir, pgDb });
}

/**
 * Another process of the same service (PostgreSQL only): its own port, app and workers on the same database and data
 * directory (the master key file), as a second `passslot serve` behind a load balancer. Closing it leaves the database.
 */
export async function startPeer(of: TestServer, options: ServerOptions = {}): Promise<TestServer> {
  const url = of.app.config.databaseUrl;
  if (!url) throw new Error('peers share a PostgreSQL database');
  return boot(options, {
    port: await freePort(),
    dataDir: of.dataDir,
    pgDb: { url, drop: async () => undefined },
    alpha: of.alpha,
  });
}

interface Place {
  port: number;
  dataDir: string;
  pgDb: Awaited<ReturnType<typeof freshPostgres>> | undefined;
  /** The first account, when the service starts again on data that has it. */
  alpha?: AccountSetup;
}

async function boot(options: ServerOptions, place: Place): Promise<TestServer> {
  const { port, dataDir, pgDb } = place;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PASSSLOT_DATA_DIR: dataDir,
    PASSSLOT_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PASSSLOT_LOG_LEVEL: 'silent',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...options.env,
  });
  const app = await createApp(config, { clock: options.clock });
  const server = await buildServer(app);
  await server.listen({ port, host: '127.0.0.1' });
  const workers = startWorkers(app, { poll: options.poll ?? false });
  const alpha = place.alpha ?? (await createAccount(app, 'alpha'));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await server.close();
    await workers.stop();
    await app.close();
  };
  return {
    url,
    app,
    server,
    workers,
    dataDir,
    alpha,
    account: (name) => createAccount(app, name),
    api: apiAt(url),
    async restart() {
      await stop();
      return boot(options, { ...place, alpha });
    },
    async close() {
      await stop();
      await pgDb?.drop();
    },
  };
}

/** Fastify's route tree as `METHOD /path` strings (HEAD left out: Fastify adds it to every GET). */
export function registeredRoutes(server: TestServer['server']): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of server.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^(.*?)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(', ').filter(Boolean))
      if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out;
}

/** A failed delivery of an event to a webhook, written directly (a target to retry and list deliveries of). */
export async function failedDelivery(
  s: TestServer,
  accountId: number,
  webhookId: number,
  eventId: string,
): Promise<number> {
  const now = new Date().toISOString();
  const row = await s.app.db
    .insertInto('deliveries')
    .values({
      accountId,
      targetKind: 'webhook',
      targetId: webhookId,
      eventId,
      passId: null,
      status: 'failed',
      attempts: 10,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The demo template's values. */
export const memberValues = (overrides: Record<string, unknown> = {}) => ({
  firstName: 'Ada',
  lastName: 'Lovelace',
  memberSince: '2024',
  points: 120,
  memberId: 'M-0001',
  ...overrides,
});

/** Creates a pass from the account's demo template and returns its identifiers. */
export async function createMemberPass(
  s: TestServer,
  who: AccountSetup,
  values: Record<string, unknown> = memberValues(),
  query = '',
): Promise<{ serialNumber: string; passTypeIdentifier: string; url: string; path: string }> {
  const res = await s.api(who.appKey, `/v1/templates/${who.templateId}/pass${query}`, {
    method: 'POST',
    json: values,
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  const out = (await res.json()) as { serialNumber: string; passTypeIdentifier: string; url: string };
  return { ...out, path: `/v1/passes/${out.passTypeIdentifier}/${out.serialNumber}` };
}

/** The path parameters of `path` under the route `url` (`/v1/keys/:id` and `/v1/keys/7` → {id: '7'}). */
export function paramsOf(url: string, path: string): Record<string, string> {
  const names = url.split('/');
  const values = path.split('?')[0]!.split('/');
  return Object.fromEntries(
    names.flatMap((n, i) => (n.startsWith(':') ? [[n.slice(1), decodeURIComponent(values[i]!)]] : [])),
  );
}

/**
 * The input a route of the table gives its action for a request: the route's own mapping, run on a stand-in request
 * with these path parameters and JSON body (or one uploaded image, for the image uploads). It is what
 * POST /v1/actions/:name must be sent to make the same call.
 */
export async function routeInput(
  spec: RouteSpec,
  request: { params: Record<string, string>; body?: unknown; image?: Uint8Array },
): Promise<unknown> {
  const upload = request.image !== undefined;
  const image = Buffer.from(request.image ?? []);
  const req = {
    params: request.params,
    query: {},
    headers: {},
    body: request.body,
    isMultipart: () => upload,
    parts: async function* () {
      yield { type: 'file', fieldname: 'image', toBuffer: async () => image };
    },
  };
  return spec.input(req as unknown as FastifyRequest);
}
