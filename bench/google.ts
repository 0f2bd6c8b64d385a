// Google Wallet next to Apple's pushes: one template change to BENCH_PASSES (10,000) passes, each installed on one
// iPhone and held as an object by Google. The service re-renders every pass (the template job) and for each one queues
// an APNs push and a Google object patch; the APNs stand-in (HTTP/2, TLS) and the Google Wallet stand-in (the REST
// API with its token endpoint) count what arrives. Printed: pushes/s and patches/s over the whole change (from the
// PUT to the last arrival) and first to last arrival, and the ratio patches/pushes, measured in the same run (goal
// >= 0.5). Run with `npm run bench:google`.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { BIN, cpuMs, freePort, runInit, startChild, stopAll } from './common.js';
import type { GoogleStandinMessage, GoogleStandinStats } from './google-standin.js';
import type { StandinStats } from './wallet-standin.js';

const PASSES = Number(process.env.BENCH_PASSES ?? 10_000);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 300);
const ISSUER = '3388000000012345678';
const APNS_STANDIN = fileURLToPath(new URL('./wallet-standin.js', import.meta.url));
const GOOGLE_STANDIN = fileURLToPath(new URL('./google-standin.js', import.meta.url));

const now = (): number => performance.timeOrigin + performance.now();
const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const tmp = mkdtempSync(join(tmpdir(), 'passslot-bench-google-'));
try {
  await main();
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

function ask<T extends { type: string }>(
  child: import('node:child_process').ChildProcess,
  message: object,
  type: string,
) {
  return new Promise<T>((resolve) => {
    const on = (m: T) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send(message);
  });
}

async function main(): Promise<void> {
  const dataDir = join(tmp, 'data');
  const certsDir = join(tmp, 'apns-standin');
  const [port, apnsPort, googlePort] = [await freePort(), await freePort(), await freePort()];
  const googleUrl = `http://127.0.0.1:${googlePort}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PASSSLOT_DATA_DIR: dataDir,
    PORT: String(port),
    PASSSLOT_LOG_LEVEL: 'warn',
    PASSSLOT_RATE_LIMIT: '1000000000',
    PASSSLOT_APNS_URL: `https://127.0.0.1:${apnsPort}`,
    PASSSLOT_APNS_CA: join(certsDir, 'server.pem'),
    PASSSLOT_GOOGLE_API_URL: googleUrl,
    PASSSLOT_GOOGLE_TOKEN_URL: `${googleUrl}/token`,
    PASSSLOT_GOOGLE_KEYS_URL: `${googleUrl}/keys`,
  };
  const setup = await runInit(env);
  const apns = await startChild(
    [APNS_STANDIN],
    { ...process.env, PORT: String(apnsPort), BENCH_CERTS_DIR: certsDir, BENCH_CLIENT_CA: setup.devCaPath },
    'listening',
    true,
  );
  const google = await startChild(
    [GOOGLE_STANDIN],
    { ...process.env, PORT: String(googlePort) },
    'listening',
    true,
  );
  const profile = process.env.BENCH_CPU_PROF;
  const service = await startChild(
    [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []), BIN, 'serve'],
    env,
    'Passslot listening',
  );
  const base = `http://127.0.0.1:${port}`;
  const authorization = `Basic ${Buffer.from(`${setup.appKey}:`).toString('base64')}`;
  async function api(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization, 'content-type': 'application/json', ...init.headers },
    });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${await res.text()}`);
    return res;
  }

  // the account's Google Wallet: a service account the stand-in knows
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'bench@passslot-bench.iam.gserviceaccount.com';
  google.send({
    type: 'account',
    clientEmail,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    issuerIds: [ISSUER],
  } satisfies GoogleStandinMessage);
  await api('/v1/google-wallet', {
    method: 'PUT',
    body: JSON.stringify({
      issuerId: ISSUER,
      serviceAccountKey: {
        type: 'service_account',
        client_email: clientEmail,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    }),
  });
  const googleStats = () => ask<GoogleStandinStats>(google, { type: 'stats' }, 'stats');
  const apnsStats = () => ask<StandinStats>(apns, { type: 'stats' }, 'stats');

  // the passes, created in batches; Google gets each one's object inserted
  const createStart = now();
  for (let i = 0; i < PASSES; i += 1000)
    await api(`/v1/templates/${setup.templateId}/passes`, {
      method: 'POST',
      body: JSON.stringify({
        passes: Array.from({ length: Math.min(1000, PASSES - i) }, (_, j) => ({
          values: {
            firstName: 'Ada',
            lastName: `Lovelace ${i + j}`,
            memberSince: '2024',
            points: (i + j) % 1000,
            memberId: `M-${i + j}`,
          },
        })),
      }),
    });
  const createS = (now() - createStart) / 1000;
  for (const deadline = now() + TIMEOUT_S * 1000; ; ) {
    const s = await googleStats();
    if (s.inserts >= PASSES + 1) break; // every object and the class
    if (now() > deadline)
      throw new Error(`only ${s.inserts} of ${PASSES + 1} inserts arrived at the Google stand-in`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const insertedS = (now() - createStart) / 1000;

  // one iPhone per pass, registered straight in the service's database
  {
    const db = new SQLite(join(dataDir, 'passslot.db'));
    db.pragma('busy_timeout = 5000');
    const at = new Date().toISOString();
    const ids = db
      .prepare('select id from passes where template_id = ? order by id')
      .all(setup.templateId) as {
      id: number;
    }[];
    const device = db.prepare(
      'insert into devices (device_library_identifier, push_token, created_at, updated_at) values (?, ?, ?, ?)',
    );
    const registration = db.prepare(
      'insert into registrations (device_id, pass_id, created_at) values (?, ?, ?)',
    );
    db.transaction(() => {
      for (const [i, { id }] of ids.entries()) {
        const { lastInsertRowid } = device.run(
          `benchdevice${i}`,
          `${i.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`,
          at,
          at,
        );
        registration.run(lastInsertRowid, id, at);
      }
    })();
    db.close();
  }

  // the template change
  apns.send({ type: 'reset' });
  await ask(google, { type: 'reset' }, 'reset');
  const template = (await (await api(`/v1/templates/${setup.templateId}`)).json()) as {
    description: { storeCard: { backFields: { value: string }[] } };
  };
  template.description.storeCard.backFields[0]!.value = 'Show this card at the counter. New terms.';
  const cpuBefore = { service: cpuMs(service.pid), google: cpuMs(google.pid), apns: cpuMs(apns.pid) };
  const t0 = now();
  await api(`/v1/templates/${setup.templateId}`, {
    method: 'PUT',
    body: JSON.stringify({ description: template.description }),
  });
  const putMs = now() - t0;
  let g: GoogleStandinStats;
  let a: StandinStats;
  for (const deadline = t0 + TIMEOUT_S * 1000; ; ) {
    await new Promise((r) => setTimeout(r, 250));
    [g, a] = await Promise.all([googleStats(), apnsStats()]);
    if ((g.patches >= PASSES + 1 && a.count >= PASSES) || now() > deadline) break; // the class too
  }
  const cpu = {
    service: (cpuMs(service.pid) ?? 0) - (cpuBefore.service ?? 0),
    google: (cpuMs(google.pid) ?? 0) - (cpuBefore.google ?? 0),
    apns: (cpuMs(apns.pid) ?? 0) - (cpuBefore.apns ?? 0),
  };

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  // the jobs of the change, as the service recorded them
  const jobs = (() => {
    const db = new SQLite(join(dataDir, 'passslot.db'), { readonly: true });
    try {
      return db
        .prepare(
          `select kind, count(*) as n, min(created_at) as firstCreated, max(updated_at) as lastUpdated,
                  sum(last_error like 'coalesced%') as coalesced
           from jobs where created_at >= ? group by kind`,
        )
        .all(new Date(t0).toISOString()) as {
        kind: string;
        n: number;
        firstCreated: string;
        lastUpdated: string;
        coalesced: number;
      }[];
    } finally {
      db.close();
    }
  })();
  const pushesWhole = (a.count * 1000) / (a.last - t0);
  const objectPatches = g.patches - 1; // the class's patch apart
  const patchesWhole = (objectPatches * 1000) / (g.last - t0);
  const pushesSpan = a.count > 1 ? ((a.count - 1) * 1000) / (a.last - a.first) : 0;
  const patchesSpan = objectPatches > 1 ? ((objectPatches - 1) * 1000) / (g.last - g.first) : 0;
  print(
    `Google Wallet next to APNs: one template change to ${PASSES} passes (one iPhone each, one Google object each)`,
  );
  print(
    `    created through the API in ${createS.toFixed(1)} s (batches of 1000); every object inserted at Google by ` +
      `${insertedS.toFixed(1)} s`,
  );
  print(
    `    machine: ${process.platform} ${process.arch}, node ${process.version}; PUT /v1/templates/:id took ${s(putMs)}`,
  );
  for (const j of jobs)
    print(
      `    ${j.kind.padEnd(15)} jobs ${String(j.n).padStart(6)}  first queued ${s(Date.parse(j.firstCreated) - t0)}  ` +
        `last finished ${s(Date.parse(j.lastUpdated) - t0)}  coalesced ${j.coalesced}`,
    );
  print(
    `    APNs pushes   ${String(a.count).padStart(6)}  first ${s(a.first - t0)}  last ${s(a.last - t0)}  ` +
      `${pushesWhole.toFixed(0).padStart(6)}/s over the change  ${pushesSpan.toFixed(0).padStart(6)}/s first to last`,
  );
  print(
    `    Google patches ${String(objectPatches).padStart(5)}  first ${s(g.first - t0)}  last ${s(g.last - t0)}  ` +
      `${patchesWhole.toFixed(0).padStart(6)}/s over the change  ${patchesSpan.toFixed(0).padStart(6)}/s first to last` +
      `  (and the class; inserts ${g.inserts}, new tokens ${g.tokens})`,
  );
  print(
    `    CPU during the change: service ${(cpu.service / 1000).toFixed(1)} s, Google stand-in ` +
      `${(cpu.google / 1000).toFixed(1)} s, APNs stand-in ${(cpu.apns / 1000).toFixed(1)} s`,
  );
  const ratio = patchesWhole / pushesWhole;
  print(
    `    ratio Google patches / APNs pushes over the change: ${ratio.toFixed(2)} (goal >= 0.5)` +
      `${ratio >= 0.5 ? '' : '  MISSED'}; first to last: ${(patchesSpan / pushesSpan).toFixed(2)}`,
  );
  if (objectPatches < PASSES || a.count < PASSES) print(`    NOT ALL ARRIVED within ${TIMEOUT_S} s`);

  // the same change without Google Wallet: what keeping Google current costs the fan-out
  await api('/v1/google-wallet', { method: 'DELETE' });
  apns.send({ type: 'reset' });
  template.description.storeCard.backFields[0]!.value = 'Show this card at the counter. Newer terms.';
  const cpuAlone = cpuMs(service.pid) ?? 0;
  const t1 = now();
  await api(`/v1/templates/${setup.templateId}`, {
    method: 'PUT',
    body: JSON.stringify({ description: template.description }),
  });
  let alone: StandinStats;
  for (const deadline = t1 + TIMEOUT_S * 1000; ; ) {
    await new Promise((r) => setTimeout(r, 250));
    alone = await apnsStats();
    if (alone.count >= PASSES || now() > deadline) break;
  }
  const aloneRate = (alone.count * 1000) / (alone.last - t1);
  print(
    `    the same change without Google Wallet: ${alone.count} pushes, last ${s(alone.last - t1)}, ` +
      `${aloneRate.toFixed(0)}/s over the change; service CPU ${(((cpuMs(service.pid) ?? 0) - cpuAlone) / 1000).toFixed(1)} s ` +
      `(with Google: ${(cpu.service / 1000).toFixed(1)} s)`,
  );
  print(
    `    pushes with Google Wallet kept current / pushes alone: ${(pushesWhole / aloneRate).toFixed(2)}; Google patches ` +
      `with it / pushes alone: ${(patchesWhole / aloneRate).toFixed(2)}`,
  );
}
