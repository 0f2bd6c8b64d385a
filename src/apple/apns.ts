// The APNs client: HTTP/2 over TLS (node:http2), one long-lived connection per identity carrying many concurrent
// streams (within the server's SETTINGS_MAX_CONCURRENT_STREAMS), reconnecting after GOAWAY or errors.
// Authentication: the pass type certificate as TLS client certificate, or a token (.p8 key, ES256 JWT reused for
// under an hour). Pass pushes carry `apns-topic: <pass type id>` and the body `{}`.
import { type KeyObject, sign } from 'node:crypto';
import http2 from 'node:http2';

export interface ApnsResult {
  /** The HTTP status, or 0 when no answer came (connection failure, timeout). */
  status: number;
  reason?: string;
  apnsId?: string;
  /** For 410: when the token was last valid (ms). */
  timestamp?: number;
}

export type ApnsAuth =
  | { kind: 'certificate'; certificatePem: string; privateKeyPem: string }
  | { kind: 'token'; keyId: string; teamId: string; privateKey: KeyObject };

const TIMEOUT_MS = 10_000;
const JWT_LIFETIME_MS = 50 * 60_000;

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An ES256 provider token: header {alg, kid}, claims {iss: team id, iat}. */
export function providerToken(keyId: string, teamId: string, privateKey: KeyObject, now: Date): string {
  const input = `${b64url({ alg: 'ES256', kid: keyId })}.${b64url({ iss: teamId, iat: Math.floor(now.getTime() / 1000) })}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export class ApnsConnection {
  private session: http2.ClientHttp2Session | undefined;
  /** Resolves when the server's SETTINGS (its concurrent stream limit) have arrived, or the connection failed. */
  private settled: Promise<void> = Promise.resolve();
  private jwt: { token: string; until: number } | undefined;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly origin: string,
    private readonly auth: ApnsAuth,
    private readonly ca?: string,
  ) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    // closed (or retired for a new certificate): sends still waiting for a stream answer status 0 and are retried
    if (this.closed) throw new Error('ClientClosed');
    const session = http2.connect(this.origin, {
      ...(this.auth.kind === 'certificate'
        ? { cert: this.auth.certificatePem, key: this.auth.privateKeyPem }
        : {}),
      ...(this.ca ? { ca: this.ca } : {}),
    });
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('goaway', forget); // finish the streams in flight; new ones go on a new connection
    session.on('error', forget);
    session.on('close', forget);
    session.unref();
    this.settled = new Promise<void>((resolve) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', () => resolve());
      session.once('close', () => resolve());
      setTimeout(resolve, TIMEOUT_MS).unref(); // never wait forever for a server that says nothing
    });
    this.session = session;
    return session;
  }

  private limit(): number {
    const max = this.session?.remoteSettings?.maxConcurrentStreams;
    return Math.max(1, Math.min(max ?? 100, 1000));
  }

  private async slot(): Promise<void> {
    try {
      this.connect();
    } catch {
      // reported by send()
    }
    await this.settled;
    while (this.active >= this.limit()) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  private bearer(now: Date): string | undefined {
    if (this.auth.kind !== 'token') return undefined;
    if (!this.jwt || this.jwt.until <= now.getTime())
      this.jwt = {
        token: providerToken(this.auth.keyId, this.auth.teamId, this.auth.privateKey, now),
        until: now.getTime() + JWT_LIFETIME_MS,
      };
    return this.jwt.token;
  }

  /** Sends the empty pass-update notification to one device. Never throws: failures are status 0. */
  async send(pushToken: string, topic: string, now: Date = new Date()): Promise<ApnsResult> {
    if (this.closed) return { status: 0, reason: 'ClientClosed' };
    await this.slot();
    try {
      return await new Promise<ApnsResult>((resolve) => {
        let session: http2.ClientHttp2Session;
        try {
          session = this.connect();
        } catch (err) {
          resolve({ status: 0, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
          return;
        }
        const headers: http2.OutgoingHttpHeaders = {
          ':method': 'POST',
          ':path': `/3/device/${pushToken}`,
          'apns-topic': topic,
          'content-type': 'application/json',
        };
        const bearer = this.bearer(now);
        if (bearer) headers.authorization = `bearer ${bearer}`;
        let stream: http2.ClientHttp2Stream;
        try {
          stream = session.request(headers);
        } catch (err) {
          if (this.session === session) this.session = undefined;
          resolve({ status: 0, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
          return;
        }
        let status = 0;
        let apnsId: string | undefined;
        const chunks: Buffer[] = [];
        stream.setTimeout(TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        stream.on('response', (h) => {
          status = Number(h[':status'] ?? 0);
          const id = h['apns-id'];
          apnsId = Array.isArray(id) ? id[0] : id;
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', () => undefined); // reported through 'close' with status 0
        stream.on('close', () => {
          if (status === 0) {
            resolve({ status: 0, reason: stream.rstCode ? `StreamReset${stream.rstCode}` : 'NoResponse' });
            return;
          }
          let reason: string | undefined;
          let timestamp: number | undefined;
          if (chunks.length) {
            try {
              const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
                reason?: string;
                timestamp?: number;
              };
              reason = body.reason;
              timestamp = body.timestamp;
            } catch {
              reason = 'UnreadableResponse';
            }
          }
          resolve({ status, reason, apnsId, timestamp });
        });
        stream.end('{}');
      });
    } finally {
      this.release();
    }
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }
}
