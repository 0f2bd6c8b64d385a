// The scale benchmark: listing and searching passes through the API when PostgreSQL holds BENCH_SCALE_PASSES passes
// (1,000,000) and BENCH_SCALE_EVENTS events (10,000,000). The data set is built once in the database passslot_scale
// (kept for the next run; BENCH_SCALE_REBUILD=1 builds it again): `passslot init` makes the account, template and pass
// type the service's own way, then SQL multiplies them: a second account with a tenth of the passes, four templates,
// statuses from common to rare, holders with one to three passes, changes spread over a year, ten events a pass over the last two months (inside the retention age).
// Each query is then sent BENCH_SCALE_SAMPLES times, one at a time, to `passslot serve` on that database, and its
// latency (request to full answer, on this process's clock) is reported as p50 and p99, against the same client's
// GET /healthz (one query, no list) as the baseline of what any request costs here. Goal: every list p99 < 20 ms.
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { changeCursor } from '../src/actions/paging.js';
import { BIN, freePort, runInit, startChild, stopAll } from './common.js';

const PASSES = Number(process.env.BENCH_SCALE_PASSES ?? 1_000_000);
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 10_000_000);
const SAMPLES = Number(process.env.BENCH_SCALE_SAMPLES ?? 300);
const ADMIN_URL = process.env.PASSSLOT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NAME = 'passslot_scale';
const GOAL_MS = 20;
const CHUNK = 250_000;

const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${NAME}`;
  return u.toString();
})();
async function query<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(0);

/** Builds the data set, or finds it built; returns the app key and what the queries name. */
async function dataSet(env: NodeJS.ProcessEnv): Promise<{ appKey: string; templates: number[] }> {
  const exists = await query(ADMIN_URL, 'select 1 from pg_database where datname = $1', [NAME]);
  if (exists.length && !process.env.BENCH_SCALE_REBUILD) {
    const [mark] = await query<{ value: string }>(dbUrl, 'select value from bench_scale where key = $1', [
      'setup',
    ]);
    if (mark) {
      console.log(`using the data set in ${NAME} (BENCH_SCALE_REBUILD=1 builds it again)`);
      return JSON.parse(mark.value) as { appKey: string; templates: number[] };
    }
  }
  await query(ADMIN_URL, `drop database if exists ${NAME} with (force)`);
  await query(ADMIN_URL, `create database ${NAME}`);
  const t0 = performance.now();
  const init = await runInit(env);
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    // a second account (the lists must not read it) and three more templates of the first, copies of the demo one
    await c.query(`insert into accounts (name, created_at)
                   select 'other', created_at from accounts where id = 1`);
    const cols = (
      await c.query<{ column_name: string }>(
        `select column_name from information_schema.columns where table_name = 'templates' and column_name <> 'id'`,
      )
    ).rows.map((r) => `"${r.column_name}"`);
    for (let k = 0; k < 3; k++)
      await c.query(
        `insert into templates (${cols.join(', ')}) select ${cols
          .map((col) =>
            col === '"name"'
              ? `name || ' ${k + 2}'`
              : col === '"link_token"'
                ? `link_token || '${k + 2}'`
                : col,
          )
          .join(', ')} from templates where id = $1`,
        [init.templateId],
      );
    const templates = (
      await c.query<{ id: number }>('select id from templates where account_id = 1 order by id')
    ).rows.map((r) => r.id);
    const [{ pass_type_id: passTypeId }] = (
      await c.query<{ pass_type_id: number }>('select pass_type_id from templates where id = $1', [
        init.templateId,
      ])
    ).rows as [{ pass_type_id: number }];
    const t = `array[${templates.join(',')}]`;
    // passes: a tenth belong to the other account; statuses valid 90%, redeemed 8%, invalid 1.9%, locked 0.1%;
    // holders hold one to three passes; changes spread over the year before now
    for (let from = 1; from <= PASSES; from += CHUNK) {
      const to = Math.min(PASSES, from + CHUNK - 1);
      await c.query(
        `insert into passes (account_id, pass_type_id, template_id, serial_number, auth_token, public_id, link_token,
           values, status, owner_email, owner_external_id, voided, version, created_at, updated_at, update_tag,
           modified_at)
         select case when i % 10 = 0 then 2 else 1 end, $1, (${t})[1 + i % 4], md5('s' || i), md5('a' || i),
           md5('p' || i), md5('l' || i),
           '{"firstName":"Ada","lastName":"L' || i || '","memberSince":"2024","points":' || (i % 1000) || ',"memberId":"M-' || i || '"}',
           case when i % 1000 = 7 then 'locked' when i % 100 < 8 then 'redeemed' when i % 100 < 10 and i % 1000 <> 7
             then 'invalid' else 'valid' end,
           'holder' || (i % ($2 / 2)) || '@example.com', 'crm-' || i, 0, 1,
           to_char(now() at time zone 'utc' - (i % 365) * interval '1 day' - (i % 86400) * interval '1 second',
             'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           to_char(now() at time zone 'utc' - ((i::bigint * 7919) % 31536000) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           i, null
         from generate_series($3::int, $4::int) as i`,
        [passTypeId, PASSES, from, to],
      );
      console.log(`  passes ${to.toLocaleString('en')} (${seconds(t0)} s)`);
    }
    const first = (await c.query<{ id: number }>('select min(id) as id from passes')).rows[0]!.id;
    for (let from = 1; from <= EVENTS; from += CHUNK * 2) {
      const to = Math.min(EVENTS, from + CHUNK * 2 - 1);
      await c.query(
        `insert into events (id, account_id, type, pass_id, data, created_at)
         select 'evt_' || md5('e' || i), case when (i % $2) % 10 = 0 then 2 else 1 end,
           (array['pass.created','pass.updated','pass.downloaded','pass.installed','pass.status_changed'])[1 + i % 5],
           $3 + (i % $2), '{"serialNumber":"' || md5('s' || (i % $2)) || '"}',
           to_char(now() at time zone 'utc' - ($4 - i) * interval '500 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         from generate_series($1::int, $5::int) as i`,
        [from, PASSES, first, EVENTS, to],
      );
      console.log(`  events ${to.toLocaleString('en')} (${seconds(t0)} s)`);
    }
    await c.query('analyze');
    const setup = { appKey: init.appKey, templates };
    await c.query('create table bench_scale (key text primary key, value text not null)');
    await c.query('insert into bench_scale values ($1, $2)', ['setup', JSON.stringify(setup)]);
    console.log(
      `built ${PASSES.toLocaleString('en')} passes and ${EVENTS.toLocaleString('en')} events in ${seconds(t0)} s`,
    );
    return setup;
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: dbUrl,
    PASSSLOT_DATA_DIR: dataDir,
    PASSSLOT_MASTER_KEY: '00'.repeat(32),
    PORT: String(port),
    PASSSLOT_LOG_LEVEL: 'warn',
    PASSSLOT_RATE_LIMIT: '1000000',
  };
  const { appKey, templates } = await dataSet(env);
  await startChild([BIN, 'serve'], env, 'Passslot listening');
  const base = `http://127.0.0.1:${port}`;
  const authorization = `Basic ${Buffer.from(`${appKey}:`).toString('base64')}`;
  const maxId = (await query<{ max: number }>(dbUrl, 'select max(id) as max from passes'))[0]!.max;
  const cursorOf = (id: number) => Buffer.from(String(id)).toString('base64url');
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

  /** Each query kind: a path for sample n (random parameters, so that no two samples read the same rows). */
  const kinds: [string, () => string][] = [
    ['GET /healthz (baseline: one query, no list)', () => '/healthz'],
    ['first page of all passes (100)', () => '/v1/passes'],
    ['a page deep in the list (cursor)', () => `/v1/passes?cursor=${cursorOf(randomInt(maxId))}`],
    ['by email (a holder)', () => `/v1/passes?email=holder${randomInt(PASSES / 2)}%40example.com`],
    ['search_passes_by_user by externalId', () => `/v1/passes?externalId=crm-${randomInt(1, PASSES)}`],
    [
      'by template, deep (cursor)',
      () =>
        `/v1/passes?templateId=${templates[randomInt(templates.length)]}&cursor=${cursorOf(randomInt(maxId))}`,
    ],
    ['by status, common (redeemed)', () => `/v1/passes?status=redeemed&cursor=${cursorOf(randomInt(maxId))}`],
    ['by status, rare (locked, 0.1%)', () => `/v1/passes?status=locked&cursor=${cursorOf(randomInt(maxId))}`],
    ['updatedSince the last hour', () => `/v1/passes?updatedSince=${hoursAgo(1)}`],
    [
      'updatedSince the last 30 days, deep',
      // a page further on: the cursor of a change some time in those 30 days
      () =>
        `/v1/passes?updatedSince=${hoursAgo(720)}&cursor=${changeCursor(hoursAgo(randomInt(1, 720)), randomInt(maxId))}`,
    ],
    ['status and template together', () => `/v1/passes?status=invalid&templateId=${templates[0]}`],
    ['events, first page', () => '/v1/events?limit=100'],
  ];
  const quantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
  const rows: { label: string; p50: number; p99: number }[] = [];
  for (const [label, path] of kinds) {
    for (let i = 0; i < 20; i++)
      await (await fetch(`${base}${path()}`, { headers: { authorization } })).text();
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}${path()}`, { headers: { authorization } });
      const text = await res.text();
      times.push(performance.now() - t0);
      if (!res.ok) throw new Error(`${label}: ${res.status} ${text.slice(0, 200)}`);
    }
    times.sort((a, b) => a - b);
    rows.push({ label, p50: quantile(times, 0.5), p99: quantile(times, 0.99) });
  }
  const { passes, events } = (
    await query<{ passes: string; events: string }>(
      dbUrl,
      'select (select count(*) from passes) as passes, (select count(*) from events) as events',
    )
  )[0]!;
  console.log(
    `Scale benchmark: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}; ` +
      `PostgreSQL with ${Number(passes).toLocaleString('en')} passes and ${Number(events).toLocaleString('en')} events; ` +
      `${SAMPLES} requests of each kind, one at a time`,
  );
  const baseline = rows[0]!.p99;
  for (const r of rows)
    console.log(
      `${r.label.padEnd(48)} p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms   ` +
        `p99 / baseline ${(r.p99 / baseline).toFixed(1)}`,
    );
  const worst = Math.max(...rows.slice(1).map((r) => r.p99));
  console.log(
    `worst list p99 ${worst.toFixed(1)} ms: ${worst < GOAL_MS ? 'meets' : 'MISSES'} the goal of < ${GOAL_MS} ms`,
  );
}

const dataDir = mkdtempSync(join(tmpdir(), 'passslot-bench-scale-'));
try {
  await main();
} finally {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
}
