// Requests Passslot makes to addresses its users give it (webhook endpoints, CRM base URLs): http(s) only, no
// redirects followed, a timeout, and no private, loopback or link-local address unless allowed
// (PASSSLOT_WEBHOOK_ALLOW_PRIVATE). The address checked is the one connected to: hostnames are resolved by the guarded
// lookup the socket itself uses, so a DNS answer that changes between a check and the connection (rebinding) cannot
// slip through.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request, errors as undiciErrors } from 'undici';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** IPv4 carried inside IPv6 (::ffff:a.b.c.d mapped, 64:ff9b::/96 NAT64): the IPv4 address, else undefined. */
function embeddedIPv4(ip: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return undefined;
  const hi = Number.parseInt(hex[1]!, 16);
  const lo = Number.parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Is this IP address one Passslot may connect to on a user's behalf (not private, loopback, link-local, ...)? */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return !blocked.check(ip, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIPv4(ip);
    if (v4) return !blocked.check(v4, 'ipv4');
    return !blocked.check(ip, 'ipv6');
  }
  return false;
}

export class OutboundError extends Error {}

/** Checks a URL given by a user before it is stored: what is wrong with it, or undefined. */
export function urlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry a user name or password';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate) {
    if (isIP(host) && !isPublicAddress(host))
      return `points to a private, loopback or link-local address (${host}); set PASSSLOT_WEBHOOK_ALLOW_PRIVATE=true to allow it`;
    if (
      host === 'localhost' ||
      host.endsWith('.localhost') ||
      host.endsWith('.local') ||
      host.endsWith('.internal')
    )
      return `points to a local host name (${host}); set PASSSLOT_WEBHOOK_ALLOW_PRIVATE=true to allow it`;
  }
  return undefined;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** How host names are resolved: dns.lookup, or a stand-in for DNS in tests. */
export type Resolver = (
  hostname: string,
  options: LookupOptions & { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** A lookup for sockets that resolves with `resolve` and refuses private addresses. */
const guardedLookup =
  (resolve: Resolver) =>
  (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const refused = list.find((a) => !isPublicAddress(a.address));
      if (refused) {
        const e = new OutboundError(
          `${hostname} resolves to ${refused.address}, a private, loopback or link-local address`,
        ) as NodeJS.ErrnoException;
        e.code = 'EPRIVATEADDRESS';
        return callback(e, []);
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The answer's body, at most maxBody bytes of it. */
  body: string;
  latencyMs: number;
}

export interface OutboundRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** Bytes of the answer kept (default 64 KiB); the rest is read and dropped. */
  maxBody?: number;
}

/** The HTTP client for user-given addresses: one connection pool per origin, kept alive. */
export class Outbound {
  private readonly agent: Agent;

  constructor(
    readonly allowPrivate: boolean,
    resolve: Resolver = dnsLookup as Resolver,
  ) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 32,
      connect: allowPrivate ? {} : { lookup: guardedLookup(resolve) },
    });
  }

  async send(req: OutboundRequest): Promise<OutboundResponse> {
    const problem = urlProblem(req.url, this.allowPrivate);
    if (problem) throw new OutboundError(`${req.url} ${problem}`);
    const timeoutMs = req.timeoutMs ?? 10_000;
    const maxBody = req.maxBody ?? 65_536;
    const started = performance.now();
    try {
      const res = await request(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const chunks: Buffer[] = [];
      let kept = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (kept < maxBody) {
          chunks.push(chunk.subarray(0, maxBody - kept));
          kept += Math.min(chunk.length, maxBody - kept);
        }
      }
      return {
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      throw new OutboundError(describe(err, timeoutMs));
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const cause = e.cause ?? e;
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    e.name === 'TimeoutError' ||
    e.name === 'AbortError'
  )
    return `no answer within ${timeoutMs / 1000} seconds`;
  if (cause.code === 'EPRIVATEADDRESS') return cause.message;
  if (cause.code === 'ECONNREFUSED') return 'connection refused';
  if (cause.code === 'ENOTFOUND') return `host not found (${cause.message})`;
  return cause.message || String(err);
}

/** A Retry-After header (seconds or an HTTP date) in milliseconds from now, if there is one. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
