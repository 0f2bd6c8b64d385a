// A real SMTP server (smtp-server) for tests, in the test process: it keeps every message it accepts, parsed with
// mailparser, with its envelope and session facts; with `tls`, it requires STARTTLS and AUTH.
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { freePort } from './harness.js';

export interface Received {
  mail: ParsedMail;
  raw: Buffer;
  mailFrom: string | undefined;
  rcptTo: string[];
  secure: boolean;
  user: string | undefined;
}

export interface Smtp {
  port: number;
  received: Received[];
  /** session.secure at connect time, one per connection. */
  connects: boolean[];
  /** session.secure when MAIL FROM arrived, one per message. */
  mailFromSecure: boolean[];
  auths: { method: string; username?: string | null; password?: string | null; secure: boolean }[];
  close(): Promise<void>;
}

const smtps: Smtp[] = [];

export async function startSmtp(
  options: { port?: number; tls?: { key: Buffer; cert: Buffer } } = {},
): Promise<Smtp> {
  const received: Received[] = [];
  const connects: boolean[] = [];
  const mailFromSecure: boolean[] = [];
  const auths: Smtp['auths'] = [];
  const base: SMTPServerOptions = {
    logger: false,
    onConnect(session, cb) {
      connects.push(session.secure);
      cb();
    },
    onMailFrom(_address, session, cb) {
      mailFromSecure.push(session.secure);
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', cb);
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        // Parsed before the 250 reply, so a sent email is already here when sendMail (and drain) resolves.
        simpleParser(raw).then(
          (mail) => {
            received.push({
              mail,
              raw,
              mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
              rcptTo: session.envelope.rcptTo.map((r) => r.address),
              secure: session.secure,
              user: session.user as string | undefined,
            });
            cb();
          },
          (err: Error) => cb(err),
        );
      });
    },
  };
  const server = new SMTPServer(
    options.tls
      ? {
          ...base,
          key: options.tls.key,
          cert: options.tls.cert,
          // AUTH is required, and smtp-server only allows it on a secured connection: so STARTTLS must happen first.
          authOptional: false,
          authMethods: ['PLAIN', 'LOGIN'],
          onAuth(auth, session, cb) {
            auths.push({
              method: auth.method,
              username: auth.username,
              password: auth.password,
              secure: session.secure,
            });
            if (auth.username === 'mailer' && auth.password === 's3cret pass')
              cb(null, { user: auth.username });
            else cb(new Error('invalid credentials'));
          },
        }
      : { ...base, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'] },
  );
  const port = options.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  let closed = false;
  const smtp: Smtp = {
    port,
    received,
    connects,
    mailFromSecure,
    auths,
    close: () =>
      closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            closed = true;
            server.close(() => resolve());
          }),
  };
  smtps.push(smtp);
  return smtp;
}

/** Closes every SMTP server the tests of this file started. */
export async function closeSmtps(): Promise<void> {
  for (const smtp of smtps) await smtp.close();
}
