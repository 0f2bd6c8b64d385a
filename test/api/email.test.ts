// Email delivery against a real SMTP server (smtp-server) running in the test process: what arrives is parsed with
// mailparser and the attached .pkpass is verified with OpenSSL. Covers the holder-email default, validation, STARTTLS
// with AUTH, and durability: SMTP down, the job is retried later and never lost, not even across a restart.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountSetup, createAccount } from '../../src/actions/accounts.js';
import { type App, type Clock, createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import { startWorkers, type Workers } from '../../src/jobs/runner.js';
import { tmpDir, verifyPkpass } from '../helpers.js';
import {
  createMemberPass,
  freePort,
  freshPostgres,
  memberValues,
  startServer,
  TEST_DB,
  type TestServer,
} from './harness.js';
import { closeSmtps, type Received, type Smtp, startSmtp } from './smtp.js';

const FROM_NAME = 'Passslot Tests';
const FROM_ADDRESS = 'wallet@passslot.test';
const FROM = `${FROM_NAME} <${FROM_ADDRESS}>`;
const PKPASS_MIME = 'application/vnd.apple.pkpass';

/** A port with nothing listening on it (yet). */
const closedPort = freePort;

const servers: TestServer[] = [];
async function server(env: Record<string, string>, poll = false): Promise<TestServer> {
  const s = await startServer({ env: { PASSSLOT_SMTP_FROM: FROM, ...env }, poll });
  servers.push(s);
  return s;
}

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const i of instances) await i.close();
  await closeSmtps();
  for (const drop of pgDrops) await drop();
});

// ---------------------------------------------------------------------------------------------------------------
// Checks shared by the tests.

function emailPass(s: TestServer, who: AccountSetup, path: string, body?: unknown): Promise<Response> {
  return s.api(who.appKey, `${path}/email`, {
    method: 'POST',
    ...(body === undefined ? {} : { json: body }),
  });
}

async function expectEmptyOk(res: Response): Promise<void> {
  expect(res.status).toBeGreaterThanOrEqual(200);
  expect(res.status).toBeLessThan(300);
  expect(await res.text()).toBe('');
}

/** The message carries the pass link in both bodies and a valid, signed .pkpass of this serial number. */
function expectPassEmail(
  got: Received,
  to: string,
  pass: { serialNumber: string; url: string },
  caPath: string,
): void {
  expect(got.rcptTo).toEqual([to]);
  expect(got.mailFrom).toBe(FROM_ADDRESS);
  const toHeader = Array.isArray(got.mail.to) ? got.mail.to : [got.mail.to];
  expect(toHeader.flatMap((a) => a?.value.map((v) => v.address))).toEqual([to]);
  expect(got.mail.from?.value).toEqual([{ name: FROM_NAME, address: FROM_ADDRESS }]);
  expect(got.mail.subject).toBeTruthy();
  expect(pass.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  expect(got.mail.text).toContain(pass.url);
  expect(typeof got.mail.html).toBe('string');
  expect(got.mail.html as string).toContain(`href="${pass.url}"`);
  // the .pkpass, and the QR code of the pass page shown inside the HTML
  expect(got.mail.attachments.map((a) => a.contentType).sort()).toEqual([PKPASS_MIME, 'image/png']);
  expect(got.mail.attachments.find((a) => a.contentType === 'image/png')!.cid).toBe('qr@passslot');
  const att = got.mail.attachments.find((a) => a.contentType === PKPASS_MIME)!;
  expect(att.contentType).toBe(PKPASS_MIME);
  expect(att.filename).toMatch(/\.pkpass$/);
  const { passJson } = verifyPkpass(att.content, caPath);
  expect(passJson.serialNumber).toBe(pass.serialNumber);
}

async function jobs(app: App) {
  return app.db
    .selectFrom('jobs')
    .select(['id', 'kind', 'status', 'attempts', 'lastError', 'runAt', 'payload'])
    .where('kind', '=', 'email')
    .orderBy('id')
    .execute();
}

async function waitFor<T>(check: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A clock the test moves by hand. */
function manualClock(start = new Date()): Clock & { advance(ms: number): void } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(ms) {
      t += ms;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A self-built instance on a given data directory (and PostgreSQL database), to stop and start again like a restart.

interface Instance {
  app: App;
  server: FastifyInstance;
  workers: Workers;
  close(): Promise<void>;
}

const instances: Instance[] = [];
const pgDrops: (() => Promise<void>)[] = [];

async function bootInstance(opts: {
  port: number;
  dataDir: string;
  databaseUrl?: string;
  env: Record<string, string>;
  clock?: Clock;
}): Promise<Instance> {
  const config = loadConfig({
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    PASSSLOT_DATA_DIR: opts.dataDir,
    PASSSLOT_PUBLIC_URL: `http://127.0.0.1:${opts.port}`,
    PASSSLOT_LOG_LEVEL: 'silent',
    PASSSLOT_SMTP_FROM: FROM,
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...opts.env,
  });
  const app = await createApp(config, opts.clock ? { clock: opts.clock } : {});
  const srv = await buildServer(app);
  await srv.listen({ port: opts.port, host: '127.0.0.1' });
  const workers = startWorkers(app, { poll: false });
  let closed = false;
  const inst: Instance = {
    app,
    server: srv,
    workers,
    async close() {
      if (closed) return;
      closed = true;
      await srv.close();
      await workers.stop();
      await app.close();
    },
  };
  instances.push(inst);
  return inst;
}

// ---------------------------------------------------------------------------------------------------------------

describe(`emailing a pass on ${TEST_DB}`, () => {
  let smtp: Smtp;
  let s: TestServer;

  beforeAll(async () => {
    smtp = await startSmtp();
    s = await server({ PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}` });
  });

  it('sends one message to the given address, from PASSSLOT_SMTP_FROM, with the link and the signed .pkpass', async () => {
    const pass = await createMemberPass(s, s.alpha, memberValues({ firstName: 'Grace' }));
    const before = smtp.received.length;
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, { email: 'grace@example.com' }));
    await s.workers.drain();
    const got = smtp.received.slice(before);
    expect(got).toHaveLength(1);
    expectPassEmail(got[0]!, 'grace@example.com', pass, s.alpha.devCaPath);
    const [job] = (await jobs(s.app)).filter((j) => JSON.parse(j.payload).email === 'grace@example.com');
    expect(job).toMatchObject({ status: 'done', attempts: 1 });
    // Draining again sends nothing more.
    await s.workers.drain();
    expect(smtp.received.length).toBe(before + 1);
  });

  it("uses the holder's email when the body gives none", async () => {
    const pass = await createMemberPass(s, s.alpha, memberValues(), '?email=holder@example.com');
    const before = smtp.received.length;
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, {}));
    await s.workers.drain();
    const got = smtp.received.slice(before);
    expect(got).toHaveLength(1);
    expectPassEmail(got[0]!, 'holder@example.com', pass, s.alpha.devCaPath);
  });

  it("uses the holder's email when there is no body at all", async () => {
    const pass = await createMemberPass(s, s.alpha, memberValues(), '?email=nobody-body@example.com');
    const before = smtp.received.length;
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path));
    await s.workers.drain();
    const got = smtp.received.slice(before);
    expect(got).toHaveLength(1);
    expectPassEmail(got[0]!, 'nobody-body@example.com', pass, s.alpha.devCaPath);
  });

  it('prefers the address in the body over the holder email', async () => {
    const pass = await createMemberPass(s, s.alpha, memberValues(), '?email=holder2@example.com');
    const before = smtp.received.length;
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, { email: 'other@example.com' }));
    await s.workers.drain();
    const got = smtp.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.rcptTo).toEqual(['other@example.com']);
  });

  it('answers 422 naming the field email when no email is given anywhere, and queues nothing', async () => {
    const pass = await createMemberPass(s, s.alpha);
    const jobsBefore = (await jobs(s.app)).length;
    const res = await emailPass(s, s.alpha, pass.path, {});
    expect(res.status).toBe(422);
    const body = (await res.json()) as { message: string; errors: { field: string; reasons: string[] }[] };
    expect(body.errors.map((e) => e.field)).toContain('email');
    expect((await jobs(s.app)).length).toBe(jobsBefore);
  });

  it('answers 422 naming the field email for an invalid address, and queues nothing', async () => {
    const pass = await createMemberPass(s, s.alpha, memberValues(), '?email=valid@example.com');
    const jobsBefore = (await jobs(s.app)).length;
    for (const email of [
      'not-an-address',
      'a@',
      '@example.com',
      'two words@example.com',
      'x@example.com\r\nBcc: evil@example.com',
      42,
    ]) {
      const res = await emailPass(s, s.alpha, pass.path, { email });
      expect(res.status, String(email)).toBe(422);
      const body = (await res.json()) as { errors: { field: string }[] };
      expect(body.errors.map((e) => e.field)).toContain('email');
    }
    expect((await jobs(s.app)).length).toBe(jobsBefore);
    await s.workers.drain();
  });

  it('answers 404 for an unknown pass', async () => {
    const res = await emailPass(s, s.alpha, `/v1/passes/${s.alpha.passTypeIdentifier}/no-such-serial`, {
      email: 'x@example.com',
    });
    expect(res.status).toBe(404);
  });

  it('is sent by the background workers without anyone draining them', async () => {
    const polled = await server({ PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}` }, true);
    const pass = await createMemberPass(polled, polled.alpha);
    await expectEmptyOk(await emailPass(polled, polled.alpha, pass.path, { email: 'polled@example.com' }));
    const got = await waitFor(() => smtp.received.find((r) => r.rcptTo.includes('polled@example.com')));
    expectPassEmail(got, 'polled@example.com', pass, polled.alpha.devCaPath);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.received.filter((r) => r.rcptTo.includes('polled@example.com'))).toHaveLength(1);
  });
});

describe(`emailing a pass over STARTTLS with AUTH on ${TEST_DB}`, () => {
  let smtp: Smtp;
  let s: TestServer;

  beforeAll(async () => {
    const dir = tmpDir('passslot-smtp-tls-');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-days',
        '2',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    smtp = await startSmtp({
      tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    });
    s = await server({
      PASSSLOT_SMTP_URL: `smtp://mailer:${encodeURIComponent('s3cret pass')}@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`,
    });
  });

  it('upgrades the connection with STARTTLS and authenticates before sending', async () => {
    const pass = await createMemberPass(s, s.alpha);
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, { email: 'tls@example.com' }));
    await s.workers.drain();
    expect(smtp.received).toHaveLength(1);
    const got = smtp.received[0]!;
    expectPassEmail(got, 'tls@example.com', pass, s.alpha.devCaPath);
    // Plain at connect, secure once MAIL FROM arrives: the upgrade happened on the connection.
    expect(smtp.connects.length).toBeGreaterThanOrEqual(1);
    expect(smtp.connects.every((secure) => secure === false)).toBe(true);
    expect(smtp.mailFromSecure).toEqual([true]);
    expect(got.secure).toBe(true);
    // The URL's credentials arrived, over the secured connection.
    expect(smtp.auths).toHaveLength(1);
    expect(smtp.auths[0]).toMatchObject({ username: 'mailer', password: 's3cret pass', secure: true });
    expect(got.user).toBe('mailer');
    expect((await jobs(s.app)).map((j) => j.status)).toEqual(['done']);
  });
});

describe(`email durability on ${TEST_DB}`, () => {
  it('retries later while SMTP is down, then delivers exactly once', async () => {
    const port = await closedPort();
    const s = await server({ PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${port}` });
    const clock = manualClock();
    s.app.clock = clock;
    const pass = await createMemberPass(s, s.alpha);
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, { email: 'later@example.com' }));
    await s.workers.drain();

    let [job, ...rest] = await jobs(s.app);
    expect(rest).toHaveLength(0);
    expect(job).toMatchObject({ status: 'pending', attempts: 1 });
    expect(job!.lastError).toBeTruthy();
    expect(JSON.parse(job!.payload)).toMatchObject({ email: 'later@example.com' });
    // Rescheduled with backoff, not for now.
    const now = clock.now().getTime();
    expect(new Date(job!.runAt).getTime()).toBeGreaterThan(now);
    expect(new Date(job!.runAt).getTime()).toBeLessThanOrEqual(now + 60 * 60_000);

    // Not due yet: draining does not run it again.
    expect(await s.workers.drain()).toBe(0);
    expect((await jobs(s.app))[0]).toMatchObject({ status: 'pending', attempts: 1 });

    // SMTP comes up on that port; once the retry is due, the email goes out.
    const smtp = await startSmtp({ port });
    expect(await s.workers.drain()).toBe(0);
    expect(smtp.received).toHaveLength(0);
    clock.advance(2 * 60 * 60_000);
    expect(await s.workers.drain()).toBe(1);
    expect(smtp.received).toHaveLength(1);
    expectPassEmail(smtp.received[0]!, 'later@example.com', pass, s.alpha.devCaPath);
    [job] = await jobs(s.app);
    expect(job).toMatchObject({ status: 'done', attempts: 2 });
    expect(job!.lastError).toBeNull();

    // Nothing more, however much time passes.
    clock.advance(24 * 60 * 60_000);
    expect(await s.workers.drain()).toBe(0);
    expect(smtp.received).toHaveLength(1);
  });

  it('gives up on an email whose pass was deleted meanwhile, without sending it', async () => {
    const port = await closedPort();
    const s = await server({ PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${port}` });
    const clock = manualClock();
    s.app.clock = clock;
    const pass = await createMemberPass(s, s.alpha);
    await expectEmptyOk(await emailPass(s, s.alpha, pass.path, { email: 'gone@example.com' }));
    await s.workers.drain();
    expect((await jobs(s.app))[0]).toMatchObject({ status: 'pending', attempts: 1 });
    const del = await s.api(s.alpha.appKey, pass.path, { method: 'DELETE' });
    expect(del.status).toBeLessThan(300);
    const smtp = await startSmtp({ port });
    clock.advance(2 * 60 * 60_000);
    await s.workers.drain(); // the email job, and the push that the deletion queued
    const [job] = await jobs(s.app);
    expect(job).toMatchObject({ status: 'failed', attempts: 2 });
    expect(job!.lastError).toMatch(/deleted/);
    clock.advance(48 * 60 * 60_000);
    expect(await s.workers.drain()).toBe(0);
    expect(smtp.received).toHaveLength(0);
  });

  it('keeps the queued email across a restart and delivers it once SMTP is up', async () => {
    const port = await freePort();
    const smtpPort = await closedPort();
    const dataDir = tmpDir('passslot-email-restart-');
    const pgDb = TEST_DB === 'postgres' ? await freshPostgres() : undefined;
    if (pgDb) pgDrops.push(pgDb.drop);
    const env = { PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtpPort}` };
    const boot = (clock?: Clock) =>
      bootInstance({
        port,
        dataDir,
        env,
        ...(pgDb ? { databaseUrl: pgDb.url } : {}),
        ...(clock ? { clock } : {}),
      });

    const first = await boot();
    const alpha = await createAccount(first.app, 'alpha');
    const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        ...init,
        headers: {
          authorization: `Basic ${Buffer.from(`${alpha.appKey}:`).toString('base64')}`,
          ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
      });
    const created = await api(`/v1/templates/${alpha.templateId}/pass?email=restart@example.com`, {
      method: 'POST',
      json: memberValues(),
    });
    expect(created.status).toBe(201);
    const pass = (await created.json()) as { serialNumber: string; passTypeIdentifier: string; url: string };
    const res = await api(`/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/email`, {
      method: 'POST',
      json: {},
    });
    await expectEmptyOk(res);
    await first.workers.drain();
    const [failed] = await jobs(first.app);
    expect(failed).toMatchObject({ status: 'pending', attempts: 1 });
    expect(failed!.lastError).toBeTruthy();
    await first.close();

    // SMTP comes up and the service starts again on the same data, an hour later: the retry is due.
    const smtp = await startSmtp({ port: smtpPort });
    const clock = manualClock(new Date(Date.now() + 60 * 60_000 + 60_000));
    const second = await boot(clock);
    const [kept] = await jobs(second.app);
    expect(kept).toMatchObject({ id: failed!.id, status: 'pending', attempts: 1 });
    expect(await second.workers.drain()).toBe(1);
    expect(smtp.received).toHaveLength(1);
    expectPassEmail(smtp.received[0]!, 'restart@example.com', pass, alpha.devCaPath);
    expect((await jobs(second.app)).map((j) => ({ status: j.status, attempts: j.attempts }))).toEqual([
      { status: 'done', attempts: 2 },
    ]);
    clock.advance(24 * 60 * 60_000);
    expect(await second.workers.drain()).toBe(0);
    expect(smtp.received).toHaveLength(1);
  });

  it('keeps an email queued while SMTP is not configured, and sends it once a restart configures it', async () => {
    const port = await freePort();
    const dataDir = tmpDir('passslot-email-restart2-');
    const pgDb = TEST_DB === 'postgres' ? await freshPostgres() : undefined;
    if (pgDb) pgDrops.push(pgDb.drop);
    const smtpPort = await closedPort();
    // No SMTP configured at all on the first run: the email must wait in the queue.
    const first = await bootInstance({ port, dataDir, env: {}, ...(pgDb ? { databaseUrl: pgDb.url } : {}) });
    const alpha = await createAccount(first.app, 'alpha');
    const auth = `Basic ${Buffer.from(`${alpha.appKey}:`).toString('base64')}`;
    const created = await fetch(`http://127.0.0.1:${port}/v1/templates/${alpha.templateId}/pass`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify(memberValues()),
    });
    expect(created.status).toBe(201);
    const pass = (await created.json()) as { serialNumber: string; passTypeIdentifier: string; url: string };
    await expectEmptyOk(
      await fetch(
        `http://127.0.0.1:${port}/v1/passes/${pass.passTypeIdentifier}/${pass.serialNumber}/email`,
        {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'queued@example.com' }),
        },
      ),
    );
    await first.workers.drain();
    const [waiting] = await jobs(first.app);
    expect(waiting).toMatchObject({ status: 'pending' });
    expect(waiting!.runAt.startsWith('9999')).toBe(true); // parked: not retried until SMTP is configured
    await first.close();

    const smtp = await startSmtp({ port: smtpPort });
    const second = await bootInstance({
      port,
      dataDir,
      env: { PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtpPort}` },
      ...(pgDb ? { databaseUrl: pgDb.url } : {}),
    });
    // the new process has SMTP: the parked email goes out without anyone touching it
    await second.workers.drain();
    expect(smtp.received).toHaveLength(1);
    expectPassEmail(smtp.received[0]!, 'queued@example.com', pass, alpha.devCaPath);
    expect((await jobs(second.app)).map((j) => j.status)).toEqual(['done']);
  });
});
