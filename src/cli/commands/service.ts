// passslot serve | init | migrate | accounts create | keys create|list|rotate|revoke
import { parseArgs } from 'node:util';
import {
  type AccountSetup,
  createAccountAction,
  curlExample,
  firstStart,
  getAccount,
  setAccountRateLimit,
} from '../../actions/accounts.js';
import { createAppKey, listAppKeys, revokeAppKey, rotateAppKey } from '../../actions/keys.js';
import { type App, createApp } from '../../app.js';
import { ConfigError, loadConfig } from '../../config.js';
import { buildServer } from '../../http/server.js';
import { startWorkers } from '../../jobs/runner.js';
import { migrate } from '../../store/db.js';
import { CommandError, type Output, UsageError } from '../io.js';
import { runForOperator } from '../run-action.js';

export const serviceHelp = `passslot serve            run the service (npm start): PassSlot's v1 API, pass links, workers
passslot init [--json]    first-start set-up without serving: master key, development identity, demo account
passslot migrate          bring the database schema up to date
passslot accounts create NAME [--rate-limit N] [--json]
passslot accounts rate-limit NAME N   requests per minute for the account's keys (0: the server default)
passslot keys create --account NAME [--scope S ...] [--user EMAIL] [--json]   (--user: on a person's behalf)
passslot keys list --account NAME
passslot keys rotate --account NAME ID
passslot keys revoke --account NAME ID

Configuration comes from the environment (see the README): PORT, HOST, PASSSLOT_DATA_DIR, DATABASE_URL,
PASSSLOT_PUBLIC_URL, PASSSLOT_MASTER_KEY, PASSSLOT_SMTP_URL, PASSSLOT_SMTP_FROM, REDIS_URL, PASSSLOT_RATE_LIMIT,
PASSSLOT_LOG_LEVEL, PASSSLOT_ROLE, PASSSLOT_WORKERS, PASSSLOT_DB_POOL, PASSSLOT_JOB_LEASE_SECONDS,
PASSSLOT_DRAIN_SECONDS, PASSSLOT_RETENTION_DAYS, PASSSLOT_EXTRA_MASTER_KEYS and the others the README lists.
`;

/** The environment's configuration; a mistake in it is the command's error. */
export function commandConfig(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
}

async function openApp(): Promise<App> {
  return createApp(commandConfig());
}

const setupJson = (s: AccountSetup) =>
  JSON.stringify({
    appKey: s.appKey,
    accountId: s.accountId,
    passTypeIdentifier: s.passTypeIdentifier,
    templateId: s.templateId,
    devCaPath: s.devCaPath,
  });

function banner(app: App, setup: AccountSetup): string {
  return `
First start: created the "demo" account with a development pass type (${setup.passTypeIdentifier})
and the "Member Card" template (id ${setup.templateId}). Your app key, shown only this once:

  ${setup.appKey}

Create a pass:

${curlExample(app.config.publicUrl, setup)}

Development passes verify against ${setup.devCaPath} but do not install on an iPhone;
add your Apple pass type certificate with POST /v1/passtypes for that. API docs: ${app.config.publicUrl}/docs

People sign in to the web app (${app.config.publicUrl}/app; the door scanner is ${app.config.publicUrl}/scan) and let
agents act for them over OAuth once you add them:
  passslot users create you@example.com --account demo --role owner
`;
}

export async function serveCommand(_args: string[], io: Output): Promise<number> {
  const app = await openApp();
  // a worker leaves the first start to the API processes (it would race them creating the demo account)
  const setup = app.config.role === 'worker' ? undefined : await firstStart(app);
  let draining = false;
  const server = await buildServer(app, { draining: () => draining });
  await server.listen({ port: app.config.port, host: app.config.host });
  const workers = app.config.runWorkers ? startWorkers(app) : undefined;
  // one write, so that whoever waits for the first line also gets the first start's key
  io.out(
    `Passslot listening on http://${app.config.host}:${app.config.port} (public URL ${app.config.publicUrl}, ` +
      `role ${app.config.role})` +
      (setup ? `\n${banner(app, setup)}` : ''),
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  // /readyz fails while the load balancer notices; requests keep being served meanwhile
  draining = true;
  if (app.config.drainSeconds > 0) await new Promise((r) => setTimeout(r, app.config.drainSeconds * 1000));
  await server.close(); // stops accepting, finishes the requests in flight
  await workers?.stop();
  await app.close();
  return 0;
}

export async function initCommand(args: string[], io: Output): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const app = await openApp();
  try {
    const setup = await firstStart(app);
    if (!setup)
      throw new CommandError(
        'already set up: this database has accounts (use `passslot accounts create NAME`)',
      );
    io.out(values.json ? setupJson(setup) : banner(app, setup));
    return 0;
  } finally {
    await app.close();
  }
}

export async function migrateCommand(_args: string[], io: Output): Promise<number> {
  const app = await openApp();
  try {
    const applied = await migrate(app.store);
    io.out(applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date');
    return 0;
  } finally {
    await app.close();
  }
}

function rateLimitArg(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError('the rate limit is a whole number of requests per minute (0: the server default)');
  return n === 0 ? null : n;
}

/** Opens the app, runs `work` and closes the app. */
export async function withApp<T>(work: (app: App) => Promise<T>): Promise<T> {
  const app = await openApp();
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

export async function accountsCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, 'rate-limit': { type: 'string' } },
  });
  if (sub === 'rate-limit') {
    const [name, limitText] = positionals;
    const rateLimit = rateLimitArg(limitText);
    if (!name || rateLimit === undefined) throw new UsageError('usage: passslot accounts rate-limit NAME N');
    return withApp(async (app) => {
      const account = await runForOperator(app, getAccount, 0, { name });
      await runForOperator(app, setAccountRateLimit, account.id, { rateLimit });
      io.out(
        `account "${name}": ${rateLimit ?? app.config.rateLimitPerMinute} requests a minute per app key`,
      );
      return 0;
    });
  }
  if (sub !== 'create')
    throw new UsageError('usage: passslot accounts create NAME [--rate-limit N] [--json]');
  const name = positionals[0];
  if (!name || positionals.length > 1) throw new UsageError('give exactly one account NAME');
  const rateLimit = rateLimitArg(values['rate-limit']);
  return withApp(async (app) => {
    const setup = await runForOperator(app, createAccountAction, 0, { name, rateLimit });
    io.out(
      values.json
        ? setupJson(setup)
        : `account "${name}" (id ${setup.accountId}); app key, shown once: ${setup.appKey}`,
    );
    return 0;
  });
}

export async function keysCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      scope: { type: 'string', multiple: true },
      template: { type: 'string', multiple: true },
      'pass-type': { type: 'string', multiple: true },
      name: { type: 'string' },
      user: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.account) throw new UsageError('--account NAME is required');
  const accountName = values.account;
  const id = (): number => {
    const n = Number(positionals[0]);
    if (!Number.isInteger(n) || n < 1) throw new UsageError('give the key ID (a number, see keys list)');
    return n;
  };
  const shown = (verb: string, out: { key: string; id: number }) =>
    values.json
      ? JSON.stringify({ appKey: out.key, ...out })
      : `app key ${out.id} ${verb}, shown once: ${out.key}`;
  return withApp(async (app) => {
    const account = await runForOperator(app, getAccount, 0, { name: accountName });
    switch (sub) {
      case 'create': {
        const templateIds = values.template?.map(Number);
        if (templateIds?.some((t) => !Number.isInteger(t)))
          throw new UsageError('--template takes template ids');
        const out = await runForOperator(app, createAppKey, account.id, {
          name: values.name ?? 'cli key',
          scopes: values.scope ?? ['*'],
          templateIds,
          passTypeIds: values['pass-type'],
          user: values.user,
        });
        io.out(
          values.json
            ? JSON.stringify({ appKey: out.key, ...out })
            : `app key ${out.id}, shown once: ${out.key}`,
        );
        return 0;
      }
      case 'list':
        io.out(JSON.stringify(await runForOperator(app, listAppKeys, account.id, {}), null, 2));
        return 0;
      case 'rotate':
        io.out(shown('rotated', await runForOperator(app, rotateAppKey, account.id, { id: id() })));
        return 0;
      case 'revoke': {
        const keyId = id();
        await runForOperator(app, revokeAppKey, account.id, { id: keyId });
        io.out(`app key ${keyId} revoked`);
        return 0;
      }
      default:
        throw new UsageError('usage: passslot keys create|list|rotate|revoke --account NAME');
    }
  });
}
