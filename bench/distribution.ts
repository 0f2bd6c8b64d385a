// The Distribution benchmark, two measures in one run:
// (a) Stripe to inbox: signed checkout.session.completed events posted to a running service at 50 a second (open
//     loop, each a new session with its own buyer), each timed from its POST to the moment a real SMTP server (in this
//     process) receives the pass email for that buyer: p50 and p99, goal p99 < 500 ms.
// (b) CSV import against create_pass called in a loop in-process (the same app, template and rows; interleaved
//     rounds): passes per second of the import job over the loop's, goal >= 1.0.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import Stripe from 'stripe';
import { createAccount } from '../src/actions/accounts.js';
import { importPasses } from '../src/actions/imports.js';
import { createPass } from '../src/actions/passes.js';
import { runAction, systemContext } from '../src/actions/registry.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { importJobHandler } from '../src/jobs/imports.js';
import { BIN, freePort, median, runInit, startChild, stopAll } from './common.js';

const RATE = Number(process.env.BENCH_STRIPE_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_STRIPE_SECONDS ?? 10);
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** (c), off by default (it takes about ten minutes): rows of one large import job, e.g. 100000. */
const BIG = Number(process.env.BENCH_IMPORT_BIG ?? 0);
const SECRET = 'whsec_bench_0123456789abcdef';

const dirs: string[] = [];
const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), name));
  dirs.push(d);
  return d;
};

console.log(
  `Distribution benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}`,
);
try {
  await stripeToInbox();
  await importAgainstLoop();
  if (BIG > 0) await oneLargeImport();
} finally {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

async function stripeToInbox(): Promise<void> {
  const arrived = new Map<string, number>();
  const smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        for (const r of session.envelope.rcptTo) arrived.set(r.address.toLowerCase(), performance.now());
        cb();
      });
    },
  });
  const smtpPort = await freePort();
  await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PASSSLOT_DATA_DIR: tmp('passslot-bench-dist-'),
    PORT: String(port),
    PASSSLOT_PUBLIC_URL: base,
    PASSSLOT_LOG_LEVEL: 'warn',
    PASSSLOT_RATE_LIMIT: '1000000',
    PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
  };
  const { appKey, templateId } = await runInit(env);
  await startChild([BIN, 'serve'], env, 'Passslot listening');
  const made = await fetch(`${base}/v1/integrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'stripe',
      credentials: { signingSecret: SECRET },
      settings: { templateId, deliver: ['email'] },
      mapping: {
        firstName: 'customer_details.name',
        lastName: 'metadata.last_name',
        memberSince: 'metadata.member_since',
        points: 'amount_total',
        memberId: 'client_reference_id',
      },
    }),
  });
  if (made.status !== 201) throw new Error(`stripe integration: ${made.status} ${await made.text()}`);
  const { endpoint } = (await made.json()) as { endpoint: string };
  const stripe = new Stripe('sk_test_bench');
  const sent = new Map<string, number>();
  let refused = 0;
  const post = async (i: number) => {
    const buyer = `buyer${i}@bench.example`;
    const payload = JSON.stringify({
      id: `evt_bench_${i}`,
      object: 'event',
      type: 'checkout.session.completed',
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: `cs_bench_${i}`,
          object: 'checkout.session',
          amount_total: 2500,
          currency: 'usd',
          client_reference_id: `M-${i}`,
          customer_details: { email: buyer, name: 'Ada' },
          metadata: { last_name: 'Lovelace', member_since: '2026' },
          payment_intent: `pi_bench_${i}`,
          payment_status: 'paid',
          status: 'complete',
        },
      },
    });
    sent.set(buyer, performance.now());
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
      },
      body: payload,
    });
    await res.arrayBuffer();
    if (res.status !== 200) refused++;
  };
  // warm-up, then the open loop: one event every 1000/RATE ms, whatever the answers
  await post(-1);
  const total = RATE * SECONDS;
  const started = performance.now();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    posts.push(post(i));
  }
  await Promise.all(posts);
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline && [...sent.keys()].some((b) => !arrived.has(b)))
    await new Promise((r) => setTimeout(r, 100));
  const latencies = [...sent.entries()]
    .filter(([b]) => !b.startsWith('buyer-1@'))
    .map(([b, t]) => (arrived.get(b) ?? Number.POSITIVE_INFINITY) - t)
    .sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  const missing = latencies.filter((l) => !Number.isFinite(l)).length;
  console.log(
    `(a) Stripe event to email at SMTP, ${RATE}/s for ${SECONDS} s (${total} events, ${refused} refused, ${missing} emails missing after 60 s):`,
  );
  console.log(
    `    p50 ${at(0.5).toFixed(0)} ms   p99 ${at(0.99).toFixed(0)} ms   max ${at(1).toFixed(0)} ms   (goal p99 < 500 ms)${at(0.99) < 500 ? '' : '  MISSED'}`,
  );
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
}

async function importAgainstLoop(): Promise<void> {
  const app = await createApp(
    loadConfig({ PASSSLOT_DATA_DIR: tmp('passslot-bench-import-'), PASSSLOT_LOG_LEVEL: 'warn' }),
  );
  try {
    const setup = await createAccount(app, 'bench');
    const ctx = systemContext(app, setup.accountId, 'bench', 'job');
    const row = (i: number) => ({
      firstName: 'Ada',
      lastName: `L${i}`,
      memberSince: '2024',
      points: String(i),
      memberId: `M-${i}`,
    });
    const header = 'firstName,lastName,memberSince,points,memberId';
    let batch = 0;
    const loop = async () => {
      batch++;
      const t = performance.now();
      for (let i = 0; i < ROWS; i++)
        await runAction(createPass, ctx, { templateId: setup.templateId, values: row(i) });
      return ROWS / ((performance.now() - t) / 1000);
    };
    const imported = async () => {
      batch++;
      const csv = [header, ...Array.from({ length: ROWS }, (_, i) => Object.values(row(i)).join(','))].join(
        '\n',
      );
      const t = performance.now();
      const { jobId } = await runAction(importPasses, ctx, { templateId: setup.templateId, csv });
      const job = await app.db
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', jobId)
        .executeTakeFirstOrThrow();
      await importJobHandler(app)(job);
      return ROWS / ((performance.now() - t) / 1000);
    };
    await loop();
    await imported();
    const loops: number[] = [];
    const imports: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      loops.push(await loop());
      imports.push(await imported());
    }
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    console.log(
      `(b) ${ROWS} passes a round, ${ROUNDS} interleaved rounds, render threads ${app.renderer.threads}, ${batch} batches:`,
    );
    console.log(
      `    create_pass in a loop   ${median(loops).toFixed(0).padStart(6)} passes/s   rounds ${list(loops)}`,
    );
    console.log(
      `    CSV import job          ${median(imports).toFixed(0).padStart(6)} passes/s   rounds ${list(imports)}`,
    );
    const ratio = median(imports) / median(loops);
    console.log(`    import / loop = ${ratio.toFixed(2)}   (goal >= 1.0)${ratio >= 1 ? '' : '  MISSED'}`);
  } finally {
    await app.close();
  }
}

/** (c) One import job of BIG rows (holders' emails and external ids, so each row also looks its pass up). */
async function oneLargeImport(): Promise<void> {
  const app = await createApp(
    loadConfig({ PASSSLOT_DATA_DIR: tmp('passslot-bench-big-'), PASSSLOT_LOG_LEVEL: 'warn' }),
  );
  try {
    const setup = await createAccount(app, 'bench');
    const ctx = systemContext(app, setup.accountId, 'bench', 'job');
    const header = 'firstName,lastName,memberSince,points,memberId,email,externalId';
    const csv = [
      header,
      ...Array.from(
        { length: BIG },
        (_, i) => `Ada,Lovelace-${i},2024,${i},M-${i},ada.lovelace.${i}@example.com,crm-${i}`,
      ),
    ].join('\n');
    const t = performance.now();
    const { jobId } = await runAction(importPasses, ctx, { templateId: setup.templateId, csv });
    const job = await app.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    // the rate over each tenth of the file, from the progress the job saves
    const marks: number[] = [t];
    const poll = setInterval(async () => {
      const row = await app.db.selectFrom('jobs').select('result').where('id', '=', jobId).executeTakeFirst();
      const done = row?.result ? (JSON.parse(row.result) as { processed: number }).processed : 0;
      while (marks.length <= 10 && done >= (marks.length * BIG) / 10) marks.push(performance.now());
    }, 250);
    await importJobHandler(app)(job);
    clearInterval(poll);
    const seconds = (performance.now() - t) / 1000;
    const tenths = marks.slice(1).map((m, i) => BIG / 10 / ((m - marks[i]!) / 1000));
    console.log(
      `(c) one import job of ${BIG} rows (${(csv.length / 1e6).toFixed(1)} MB): ${seconds.toFixed(0)} s, ` +
        `${(BIG / seconds).toFixed(0)} passes/s; by tenth of the file ${tenths.map((r) => r.toFixed(0)).join(', ')} passes/s`,
    );
  } finally {
    await app.close();
  }
}
