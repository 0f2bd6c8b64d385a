// A local stand-in for Apple's Push Notification service: an HTTP/2 TLS server that answers `POST /3/device/<token>`
// as APNs does (certificate or ES256 token auth, Apple's status codes and reasons, `apns-id`), records every request,
// can be told to misbehave (bad tokens, throttling, GOAWAY), and wakes simulated devices through a device channel
// (`GET /device/<token>/pushes`, server-sent events). For testing pass updates end to end without Apple credentials.
import { randomUUID, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { certificatePassTypeId, createTlsCertificate, parseCertificate } from '../engine/index.js';

export const STANDIN_COMMON_NAME = 'Passslot APNs stand-in';

/** The largest payload APNs accepts for a regular notification, in bytes. */
const MAX_PAYLOAD_BYTES = 4096;
/** Provider tokens older than this are refused with ExpiredProviderToken. */
const TOKEN_MAX_AGE_SECONDS = 3600;

const PUSH_TYPES = new Set([
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
  'widgets',
  'controls',
]);

export type ProviderAuth =
  | { kind: 'certificate'; authorized: boolean; uid?: string; commonName?: string; error?: string }
  | { kind: 'token'; keyId?: string; teamId?: string }
  | { kind: 'none' };

/** One provider request as the stand-in received and answered it. */
export interface StandinRecord {
  /** ISO 8601 time of the answer. */
  time: string;
  method: string;
  path: string;
  /** The device token from the path ('' when the path had none). */
  token: string;
  topic?: string;
  apnsId: string;
  headers: Record<string, string>;
  body: string;
  auth: ProviderAuth;
  status: number;
  reason?: string;
}

/** What a marked token answers. */
export interface TokenState {
  status: 400 | 410;
  reason: 'Unregistered' | 'BadDeviceToken' | 'DeviceTokenNotForTopic' | 'ExpiredToken';
  /** For 410: the last time (ms) the token was valid; default the time it was marked. */
  timestamp?: number;
}

export interface ThrottleOptions {
  status?: 429 | 500 | 503;
  reason?: 'TooManyRequests' | 'InternalServerError' | 'ServiceUnavailable' | 'Shutdown';
}

export interface StandinOptions {
  /** 0 (the default) picks an ephemeral port. */
  port?: number;
  host?: string;
  /** Holds server.pem and server.key; they are created when missing. */
  certsDir: string;
  /** PEM texts of the CAs that issue accepted client (pass type) certificates. */
  clientCas: string[];
  /** ES256 public keys (PEM) for token auth, by key id. */
  tokenKeys?: Record<string, string>;
  maxConcurrentStreams?: number;
  log?: (record: StandinRecord) => void;
  /** Clock in ms, for the provider token age (default Date.now). */
  now?: () => number;
}

export interface PushEvent {
  topic: string;
  apnsId: string;
}

export interface ApnsStandin {
  /** https://host:port */
  url: string;
  port: number;
  serverCertificatePem: string;
  serverCertificatePath: string;
  /** Every provider request, oldest first. */
  received: StandinRecord[];
  /** Marks a device token: the next pushes to it are answered with the given status and reason. */
  setToken(token: string, state: TokenState): void;
  clearToken(token: string): void;
  /** Answers the next `count` provider requests with 429 TooManyRequests (or the given 500/503). */
  throttle(count: number, options?: ThrottleOptions): void;
  /** Sends GOAWAY on every open session and closes them once their streams end; clients must reconnect. */
  goaway(): void;
  /** Calls the listener with every provider request record; returns a function that removes it. */
  onPush(listener: (record: StandinRecord) => void): () => void;
  close(): Promise<void>;
}

/** Reads certsDir/server.pem and server.key, creating a self-signed certificate for localhost when missing. */
export function ensureServerCertificate(certsDir: string): { certificatePem: string; privateKeyPem: string } {
  const certPath = join(certsDir, 'server.pem');
  const keyPath = join(certsDir, 'server.key');
  if (existsSync(certPath) && existsSync(keyPath))
    return { certificatePem: readFileSync(certPath, 'utf8'), privateKeyPem: readFileSync(keyPath, 'utf8') };
  const created = createTlsCertificate({
    commonName: STANDIN_COMMON_NAME,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  mkdirSync(certsDir, { recursive: true });
  writeFileSync(certPath, created.certificatePem);
  writeFileSync(keyPath, created.privateKeyPem, { mode: 0o600 });
  return created;
}

class ApnsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_TOKEN = /^(?:[0-9a-f]{2}){1,100}$/i;

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function plainHeaders(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':')) continue;
    const text = headerText(value);
    if (text !== undefined)
      out[name] = name === 'authorization' ? text.replace(/\s\S+$/, ' [redacted]') : text;
  }
  return out;
}

function decodeJsonPart(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks an ES256 provider token as APNs does: signature by the key named in `kid`, `iss`, and `iat` age. */
function verifyProviderToken(
  jwt: string,
  keys: Record<string, string>,
  nowMs: number,
): { keyId: string; teamId: string } {
  const parts = jwt.split('.');
  const [h, p, s] = parts;
  if (parts.length !== 3 || !h || !p || !s) throw new ApnsError(403, 'InvalidProviderToken');
  const header = decodeJsonPart(h);
  const claims = decodeJsonPart(p);
  if (!isObject(header) || !isObject(claims)) throw new ApnsError(403, 'InvalidProviderToken');
  const keyId = header.kid;
  if (header.alg !== 'ES256' || typeof keyId !== 'string') throw new ApnsError(403, 'InvalidProviderToken');
  const key = keys[keyId];
  if (!key) throw new ApnsError(403, 'InvalidProviderToken');
  let valid = false;
  try {
    valid = verify(
      'sha256',
      Buffer.from(`${h}.${p}`, 'ascii'),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new ApnsError(403, 'InvalidProviderToken');
  const { iss, iat } = claims;
  if (typeof iss !== 'string' || iss === '' || typeof iat !== 'number')
    throw new ApnsError(403, 'InvalidProviderToken');
  if (nowMs / 1000 - iat > TOKEN_MAX_AGE_SECONDS) throw new ApnsError(403, 'ExpiredProviderToken');
  return { keyId, teamId: iss };
}

/** The client certificate of a session, read once when the session starts. */
function certificateAuth(socket: TLSSocket): ProviderAuth {
  const peer = socket.getPeerX509Certificate();
  if (!peer) return { kind: 'none' };
  const auth: ProviderAuth = { kind: 'certificate', authorized: socket.authorized === true };
  if (!socket.authorized && socket.authorizationError) auth.error = String(socket.authorizationError);
  try {
    const cert = parseCertificate(peer.raw);
    const uid = certificatePassTypeId(cert);
    const commonName = cert.subject.get('2.5.4.3');
    if (uid !== undefined) auth.uid = uid;
    if (commonName !== undefined) auth.commonName = commonName;
  } catch {
    auth.authorized = false;
    auth.error = 'unreadable client certificate';
  }
  return auth;
}

function readBody(stream: http2.ServerHttp2Stream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      // past the limit, keep reading (and dropping) so the answer can still be sent on this stream
      if (size <= limit) chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function respondJson(
  stream: http2.ServerHttp2Stream,
  status: number,
  body: unknown,
  extra: http2.OutgoingHttpHeaders = {},
): void {
  if (stream.destroyed || stream.closed) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: http2.OutgoingHttpHeaders = { ':status': status, ...extra };
  if (text) headers['content-type'] = 'application/json; charset=utf-8';
  stream.respond(headers);
  stream.end(text);
}

/** Starts the stand-in; resolves once it listens. */
export async function startApnsStandin(options: StandinOptions): Promise<ApnsStandin> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const tokenKeys = options.tokenKeys ?? {};
  const { certificatePem, privateKeyPem } = ensureServerCertificate(options.certsDir);
  const received: StandinRecord[] = [];
  const listeners = new Set<(record: StandinRecord) => void>();
  const tokens = new Map<string, TokenState>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const sessionAuth = new WeakMap<http2.ServerHttp2Session, ProviderAuth>();
  const channels = new Map<string, Set<http2.ServerHttp2Stream>>();
  let throttleState: { remaining: number; status: number; reason: string } | undefined;

  const server = http2.createSecureServer({
    key: privateKeyPem,
    cert: certificatePem,
    ...(options.clientCas.length > 0 ? { ca: options.clientCas } : {}),
    requestCert: true,
    rejectUnauthorized: false,
    settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 1000 },
  });

  server.on('session', (session) => {
    sessions.add(session);
    sessionAuth.set(session, certificateAuth(session.socket as TLSSocket));
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});

  function emit(record: StandinRecord): void {
    received.push(record);
    options.log?.(record);
    for (const listener of listeners) {
      try {
        listener(record);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  function wakeDevice(token: string, event: PushEvent): void {
    const streams = channels.get(token.toLowerCase());
    if (!streams) return;
    for (const stream of streams) if (!stream.destroyed) stream.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** Who is asking: a provider token when one is given, else the session's client certificate. */
  function authenticate(
    session: http2.ServerHttp2Session,
    authorization: string | undefined,
  ): { auth: ProviderAuth; error?: ApnsError } {
    if (authorization !== undefined) {
      const jwt = /^bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
      if (!jwt) return { auth: { kind: 'token' }, error: new ApnsError(403, 'InvalidProviderToken') };
      try {
        return { auth: { kind: 'token', ...verifyProviderToken(jwt, tokenKeys, now()) } };
      } catch (err) {
        if (!(err instanceof ApnsError)) throw err;
        return { auth: { kind: 'token' }, error: err };
      }
    }
    const auth = sessionAuth.get(session) ?? { kind: 'none' };
    if (auth.kind === 'none') return { auth, error: new ApnsError(403, 'MissingProviderToken') };
    if (auth.kind === 'certificate' && !auth.authorized)
      return { auth, error: new ApnsError(403, 'BadCertificate') };
    return { auth };
  }

  async function handleProvider(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: string,
    path: string,
  ): Promise<void> {
    const body = await readBody(stream, MAX_PAYLOAD_BYTES);
    const requestedId = headerText(headers['apns-id']);
    const apnsId = requestedId !== undefined && UUID.test(requestedId) ? requestedId : randomUUID();
    const topic = headerText(headers['apns-topic']);
    const token = decodeURIComponent(path.slice('/3/device/'.length).split('?')[0] ?? '');
    const { auth, error: authError } = authenticate(
      stream.session as http2.ServerHttp2Session,
      headerText(headers.authorization),
    );
    let status = 200;
    let reason: string | undefined;
    let timestamp: number | undefined;
    try {
      if (authError) throw authError;
      if (throttleState && throttleState.remaining > 0) {
        throttleState.remaining--;
        const { status: s, reason: r } = throttleState;
        if (throttleState.remaining === 0) throttleState = undefined;
        throw new ApnsError(s, r);
      }
      if (method !== 'POST') throw new ApnsError(405, 'MethodNotAllowed');
      if (requestedId !== undefined && !UUID.test(requestedId)) throw new ApnsError(400, 'BadMessageId');
      if (!topic) throw new ApnsError(400, 'MissingTopic');
      if (auth.kind === 'certificate' && auth.uid !== topic) throw new ApnsError(400, 'TopicDisallowed');
      if (token === '') throw new ApnsError(400, 'MissingDeviceToken');
      if (!HEX_TOKEN.test(token)) throw new ApnsError(400, 'BadDeviceToken');
      const priority = headerText(headers['apns-priority']);
      if (priority !== undefined && !['1', '5', '10'].includes(priority))
        throw new ApnsError(400, 'BadPriority');
      const pushType = headerText(headers['apns-push-type']);
      if (pushType !== undefined && !PUSH_TYPES.has(pushType)) throw new ApnsError(400, 'InvalidPushType');
      const expiration = headerText(headers['apns-expiration']);
      if (expiration !== undefined && !/^\d+$/.test(expiration))
        throw new ApnsError(400, 'BadExpirationDate');
      const collapseId = headerText(headers['apns-collapse-id']);
      if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64)
        throw new ApnsError(400, 'BadCollapseId');
      if (body.length > MAX_PAYLOAD_BYTES) throw new ApnsError(413, 'PayloadTooLarge');
      const text = body.toString('utf8');
      if (text.trim() === '') throw new ApnsError(400, 'PayloadEmpty');
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch {
        payload = undefined;
      }
      // Apple documents no reason for a payload that is not a JSON object; the stand-in names it BadPayload.
      if (!isObject(payload)) throw new ApnsError(400, 'BadPayload');
      const state = tokens.get(token.toLowerCase());
      if (state) {
        timestamp = state.status === 410 ? (state.timestamp ?? now()) : undefined;
        throw new ApnsError(state.status, state.reason);
      }
    } catch (err) {
      if (!(err instanceof ApnsError)) throw err;
      status = err.status;
      reason = err.reason;
    }
    if (status === 200) respondJson(stream, 200, undefined, { 'apns-id': apnsId });
    else
      respondJson(stream, status, timestamp === undefined ? { reason } : { reason, timestamp }, {
        'apns-id': apnsId,
      });
    const record: StandinRecord = {
      time: new Date(now()).toISOString(),
      method,
      path,
      token,
      apnsId,
      headers: plainHeaders(headers),
      body: body.subarray(0, MAX_PAYLOAD_BYTES).toString('utf8'),
      auth,
      status,
    };
    if (topic !== undefined) record.topic = topic;
    if (reason !== undefined) record.reason = reason;
    emit(record);
    if (status === 200 && topic !== undefined) wakeDevice(token, { topic, apnsId });
  }

  function openChannel(stream: http2.ServerHttp2Stream, token: string): void {
    const key = token.toLowerCase();
    let streams = channels.get(key);
    if (!streams) {
      streams = new Set();
      channels.set(key, streams);
    }
    const set = streams;
    set.add(stream);
    stream.on('close', () => {
      set.delete(stream);
      if (set.size === 0) channels.delete(key);
    });
    stream.on('error', () => {});
    stream.respond({
      ':status': 200,
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
    });
    stream.write(': connected\n\n');
  }

  async function handleControl(stream: http2.ServerHttp2Stream, method: string, path: string): Promise<void> {
    const bodyBytes = await readBody(stream, 65_536);
    let body: unknown = {};
    if (bodyBytes.length > 0) {
      try {
        body = JSON.parse(bodyBytes.toString('utf8'));
      } catch {
        respondJson(stream, 400, { message: 'the body must be JSON' });
        return;
      }
    }
    const input = isObject(body) ? body : {};
    const tokenMatch = /^\/control\/tokens\/([^/?]+)$/.exec(path);
    if (tokenMatch?.[1]) {
      const token = decodeURIComponent(tokenMatch[1]);
      if (method === 'DELETE') {
        handle.clearToken(token);
        respondJson(stream, 200, { token, status: 200 });
        return;
      }
      if (method === 'POST') {
        const status = input.status ?? 410;
        const reason = input.reason ?? (status === 410 ? 'Unregistered' : 'BadDeviceToken');
        const allowed: Record<string, number> = {
          Unregistered: 410,
          ExpiredToken: 410,
          BadDeviceToken: 400,
          DeviceTokenNotForTopic: 400,
        };
        if (typeof reason !== 'string' || allowed[reason] !== status) {
          respondJson(stream, 400, {
            message:
              'status and reason must be 410 Unregistered, 410 ExpiredToken, 400 BadDeviceToken or 400 DeviceTokenNotForTopic',
          });
          return;
        }
        const state = { status, reason } as TokenState;
        if (typeof input.timestamp === 'number') state.timestamp = input.timestamp;
        handle.setToken(token, state);
        respondJson(stream, 200, { token, ...state });
        return;
      }
    }
    if (path === '/control/throttle' && method === 'POST') {
      const count = input.count ?? 1;
      const status = input.status ?? 429;
      const defaults: Record<number, string> = {
        429: 'TooManyRequests',
        500: 'InternalServerError',
        503: 'ServiceUnavailable',
      };
      const reason = input.reason ?? (typeof status === 'number' ? defaults[status] : undefined);
      if (
        typeof count !== 'number' ||
        !Number.isInteger(count) ||
        count < 0 ||
        typeof status !== 'number' ||
        defaults[status] === undefined ||
        typeof reason !== 'string'
      ) {
        respondJson(stream, 400, { message: 'count must be a whole number and status 429, 500 or 503' });
        return;
      }
      handle.throttle(count, { status, reason } as ThrottleOptions);
      respondJson(stream, 200, { count, status, reason });
      return;
    }
    if (path === '/control/goaway' && method === 'POST') {
      respondJson(stream, 200, { sessions: sessions.size });
      stream.on('close', () => handle.goaway());
      return;
    }
    if (path === '/control/received' && method === 'GET') {
      respondJson(stream, 200, { received });
      return;
    }
    respondJson(stream, 404, { message: `no control endpoint ${method} ${path}` });
  }

  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const method = headerText(headers[':method']) ?? 'GET';
    const path = headerText(headers[':path']) ?? '/';
    const fail = (): void => respondJson(stream, 500, { reason: 'InternalServerError' });
    if (path.startsWith('/3/device/')) {
      handleProvider(stream, headers, method, path).catch(fail);
      return;
    }
    const channel = /^\/device\/([^/?]+)\/pushes(?:\?.*)?$/.exec(path);
    if (channel?.[1] && method === 'GET') {
      openChannel(stream, decodeURIComponent(channel[1]));
      return;
    }
    if (path.startsWith('/control/')) {
      handleControl(stream, method, path.split('?')[0] ?? path).catch(fail);
      return;
    }
    stream.resume();
    respondJson(stream, 404, { reason: 'BadPath' });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  const handle: ApnsStandin = {
    url: `https://${urlHost}:${port}`,
    port,
    serverCertificatePem: certificatePem,
    serverCertificatePath: join(options.certsDir, 'server.pem'),
    received,
    setToken(token, state) {
      tokens.set(token.toLowerCase(), {
        ...state,
        ...(state.status === 410 ? { timestamp: state.timestamp ?? now() } : {}),
      });
    },
    clearToken(token) {
      tokens.delete(token.toLowerCase());
    },
    throttle(count, throttleOptions = {}) {
      const status = throttleOptions.status ?? 429;
      const reason =
        throttleOptions.reason ??
        (status === 429 ? 'TooManyRequests' : status === 500 ? 'InternalServerError' : 'ServiceUnavailable');
      throttleState = count > 0 ? { remaining: count, status, reason } : undefined;
    },
    goaway() {
      for (const session of sessions) {
        if (session.closed || session.destroyed) continue;
        // close() sends GOAWAY (NO_ERROR, last processed stream) and lets open streams finish; the device channels
        // on the session are ended so it can close, and anything still open after a second is cut.
        session.close();
        for (const streams of channels.values())
          for (const stream of streams) if (stream.session === session) stream.end();
        setTimeout(() => {
          if (!session.destroyed) session.destroy();
        }, 1000).unref();
      }
    },
    onPush(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const streams of channels.values()) for (const stream of streams) stream.close();
        channels.clear();
        for (const session of sessions) session.destroy();
        sessions.clear();
        server.close(() => resolve());
      });
    },
  };
  return handle;
}
