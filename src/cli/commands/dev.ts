// passslot dev apns | device: a local APNs stand-in and a simulated iPhone, to try pass updates end to end without
// Apple credentials.
import { createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../config.js';
import { type StandinRecord, startApnsStandin } from '../../dev/apns-standin.js';
import { type PassUpdate, SimulatedDevice } from '../../dev/device.js';
import { GoogleStandin } from '../../dev/google-standin.js';
import { CommandError, type Output, readInput, UsageError } from '../io.js';

const DEFAULT_PORT = 2197;
const DEFAULT_GOOGLE_PORT = 2198;
// Help text names the default data directory; the commands use PASSSLOT_DATA_DIR when it is set.
const DEFAULT_CERTS = join('data', 'apns-standin');
const DEV_CERTS = join('data', 'dev-certs');
function dataDir(): string {
  try {
    return loadConfig().dataDir;
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
}

export const devHelp = `passslot dev apns [--port N] [--host H] [--certs DIR] [--client-ca FILE ...] [--token-key KEYID=FILE ...]
passslot dev google [--port N] [--host H] [--key ISSUERID=FILE ...]
passslot dev device --pass URL [--apns URL] [--apns-ca FILE] [--device-id ID] [--push-token HEX] [--quiet]

apns     Runs a local stand-in for Apple's Push Notification service (HTTP/2 over TLS) that answers
         POST /3/device/<token> as APNs does and wakes simulated devices. Runs until interrupted.
           --port N          default ${DEFAULT_PORT} (0 picks a free port)
           --host H          default 127.0.0.1
           --certs DIR       server.pem/server.key, created when missing; default ${DEFAULT_CERTS}
           --client-ca FILE  a CA whose certificates authenticate providers (repeatable); default every
                             dev-ca.pem under ${DEV_CERTS}/
           --token-key KEYID=FILE  an ES256 public key (PEM) for token auth (repeatable)
         Control it while it runs (HTTP/2, e.g. curl --http2 --cacert DIR/server.pem):
           POST   /control/tokens/<token>  {"status":410,"reason":"Unregistered"}  mark a token bad
           DELETE /control/tokens/<token>                                         clear the mark
           POST   /control/throttle        {"count":3,"status":503,"reason":"ServiceUnavailable"}
           POST   /control/goaway                                                 GOAWAY on every session
           GET    /control/received                                               every request so far

google   Runs a local stand-in for Google Wallet (HTTP): the OAuth token endpoint, the Wallet REST API
         (walletobjects/v1), the keys that sign callbacks, and a save page (/save/<JWT>) that posts a signed
         save callback to Passslot. Runs until interrupted.
           --port N             default ${DEFAULT_GOOGLE_PORT} (0 picks a free port)
           --host H             default 127.0.0.1
           --key ISSUERID=FILE  a service account JSON key file whose account may use the issuer (repeatable)
         Control it while it runs:
           POST /control/fail      {"status":429,"count":3,"path":"Object"}  the next requests answer that
           POST /control/accounts  {"clientEmail","publicKeyPem","issuerIds":[...]}  add a service account
           GET  /control/objects                                            every class and object kept
           GET  /control/received                                           every request so far

device   Plays an iPhone: downloads the pass at URL, registers it with its web service, listens for pushes
         from the stand-in and prints each update with what changed. Runs until interrupted.
           --pass URL        the pass link (repeatable)
           --apns URL        the stand-in, default https://127.0.0.1:${DEFAULT_PORT}
           --apns-ca FILE    its server certificate, default ${join(DEFAULT_CERTS, 'server.pem')}
           --device-id ID    the device library identifier (default random)
           --push-token HEX  the push token (default 64 random hex digits)
           --quiet           print only the updates, not the device's requests
`;

/** Every dev-ca.pem under a directory, at any depth. */
function findDevCas(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((entry) => entry === 'dev-ca.pem' || entry.endsWith('/dev-ca.pem'))
    .map((entry) => join(dir, entry))
    .sort();
}

function untilInterrupted(): Promise<void> {
  return new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      done();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function formatValue(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

export function formatUpdate(update: PassUpdate): string[] {
  const head = `${new Date().toISOString()} ${update.passTypeIdentifier} ${update.serialNumber}: ${
    update.status === 200
      ? `new pass, ${update.changes.length} change(s)`
      : update.status === 304
        ? 'not modified (304)'
        : `answered ${update.status}`
  }`;
  return [head, ...update.changes.map((c) => `  ${c.path}: ${formatValue(c.from)} -> ${formatValue(c.to)}`)];
}

function formatRecord(r: StandinRecord): string {
  const who =
    r.auth.kind === 'certificate'
      ? `cert ${r.auth.uid ?? r.auth.commonName ?? '?'}`
      : r.auth.kind === 'token'
        ? `token ${r.auth.keyId ?? '?'}${r.auth.teamId ? `/${r.auth.teamId}` : ''}`
        : 'no credentials';
  return `${r.time} ${r.status}${r.reason ? ` ${r.reason}` : ''} ${r.token || '-'} topic=${r.topic ?? '-'} apns-id=${r.apnsId} (${who}) ${r.body}`;
}

async function apnsCommand(args: string[], io: Output): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      certs: { type: 'string' },
      'client-ca': { type: 'string', multiple: true },
      'token-key': { type: 'string', multiple: true },
    },
  });
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');
  const certsDir = resolve(values.certs ?? join(dataDir(), 'apns-standin'));
  const caFiles = values['client-ca'] ?? findDevCas(join(dataDir(), 'dev-certs'));
  const clientCas = caFiles.map((file) => readInput(file, 'client CA').toString('utf8'));
  const tokenKeys: Record<string, string> = {};
  for (const spec of values['token-key'] ?? []) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new UsageError('--token-key must be KEYID=FILE');
    tokenKeys[spec.slice(0, at)] = readInput(spec.slice(at + 1), 'token key').toString('utf8');
  }
  let standin: Awaited<ReturnType<typeof startApnsStandin>>;
  try {
    standin = await startApnsStandin({
      port,
      host: values.host ?? '127.0.0.1',
      certsDir,
      clientCas,
      tokenKeys,
      log: (record) => io.out(formatRecord(record)),
    });
  } catch (err) {
    throw new CommandError(`cannot start the APNs stand-in: ${(err as Error).message}`);
  }
  const certPath = join(certsDir, 'server.pem');
  io.out(`APNs stand-in listening on ${standin.url}`);
  io.out(`server certificate: ${certPath}`);
  io.out(
    caFiles.length > 0
      ? `client certificates accepted from: ${caFiles.join(', ')}`
      : 'no client CA: only token auth is accepted (--client-ca FILE, or passslot certs dev --out data/dev-certs)',
  );
  if (Object.keys(tokenKeys).length > 0) io.out(`token keys: ${Object.keys(tokenKeys).join(', ')}`);
  io.out('point Passslot at it:');
  io.out(`  PASSSLOT_APNS_URL=${standin.url}`);
  io.out(`  NODE_EXTRA_CA_CERTS=${certPath}   (or PASSSLOT_APNS_CA=${certPath})`);
  io.out(`simulate a phone: passslot dev device --pass URL --apns ${standin.url} --apns-ca ${certPath}`);
  await untilInterrupted();
  await standin.close();
  return 0;
}

async function deviceCommand(args: string[], io: Output): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      pass: { type: 'string', multiple: true },
      apns: { type: 'string' },
      'apns-ca': { type: 'string' },
      'device-id': { type: 'string' },
      'push-token': { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  if (!values.pass?.length) throw new UsageError('--pass URL is required');
  if (values['push-token'] !== undefined && !/^(?:[0-9a-f]{2})+$/i.test(values['push-token']))
    throw new UsageError('--push-token must be hex');
  const apnsUrl = values.apns ?? `https://127.0.0.1:${DEFAULT_PORT}`;
  const caPath = values['apns-ca'] ?? join(dataDir(), 'apns-standin', 'server.pem');
  const apnsCa =
    values['apns-ca'] !== undefined || existsSync(caPath) ? readFileSync(caPath, 'utf8') : undefined;
  const device = new SimulatedDevice({
    apnsUrl,
    ...(apnsCa ? { apnsCa } : {}),
    ...(values['device-id'] ? { deviceLibraryIdentifier: values['device-id'] } : {}),
    ...(values['push-token'] ? { pushToken: values['push-token'] } : {}),
    ...(values.quiet ? {} : { log: (message: string) => io.err(`device: ${message}`) }),
  });
  io.out(`device ${device.deviceLibraryIdentifier}, push token ${device.pushToken}`);
  try {
    for (const url of values.pass) {
      const status = await device.addPass(url);
      io.out(`added ${url}: registration ${status === 0 ? 'skipped (no webServiceURL)' : status}`);
    }
    device.on('update', (update) => {
      for (const line of formatUpdate(update)) io.out(line);
    });
    device.on('error', (err) => io.err(`device: ${err.message}`));
    await device.listen();
  } catch (err) {
    await device.close();
    const cause = (err as Error).cause;
    throw new CommandError(`${(err as Error).message}${cause instanceof Error ? ` (${cause.message})` : ''}`);
  }
  io.out(`listening on ${apnsUrl}; waiting for pushes (Ctrl-C to stop)`);
  await untilInterrupted();
  await device.close();
  return 0;
}

async function googleCommand(args: string[], io: Output): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      key: { type: 'string', multiple: true },
    },
  });
  const port = values.port === undefined ? DEFAULT_GOOGLE_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0-65535');
  const standin = new GoogleStandin();
  for (const spec of values.key ?? []) {
    const at = spec.indexOf('=');
    if (at <= 0) throw new UsageError('--key must be ISSUERID=FILE (a service account JSON key file)');
    let key: { client_email?: unknown; private_key?: unknown };
    try {
      key = JSON.parse(readInput(spec.slice(at + 1), 'service account key').toString('utf8'));
    } catch (err) {
      throw new CommandError(`${spec.slice(at + 1)} is not a JSON key file: ${(err as Error).message}`);
    }
    if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string')
      throw new CommandError(`${spec.slice(at + 1)} has no client_email and private_key`);
    const publicKeyPem = createPublicKey(key.private_key).export({ type: 'spki', format: 'pem' }).toString();
    standin.addAccount(key.client_email, publicKeyPem, [spec.slice(0, at)]);
    io.out(`service account ${key.client_email} may use issuer ${spec.slice(0, at)}`);
  }
  try {
    await standin.start({ port, host: values.host ?? '127.0.0.1' });
  } catch (err) {
    throw new CommandError(`cannot start the Google Wallet stand-in: ${(err as Error).message}`);
  }
  io.out(`Google Wallet stand-in listening on ${standin.url}`);
  io.out('point Passslot at it:');
  io.out(`  PASSSLOT_GOOGLE_API_URL=${standin.url}`);
  io.out(`  PASSSLOT_GOOGLE_TOKEN_URL=${standin.tokenUrl}`);
  io.out(`  PASSSLOT_GOOGLE_KEYS_URL=${standin.keysUrl}`);
  io.out(`save a pass: replace https://pay.google.com/gp/v/save/ in its save link with ${standin.url}/save/`);
  await untilInterrupted();
  await standin.close();
  return 0;
}

export async function devCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'apns') return apnsCommand(rest, io);
  if (sub === 'device') return deviceCommand(rest, io);
  if (sub === 'google') return googleCommand(rest, io);
  throw new UsageError('usage: passslot dev apns|device|google ...');
}
