// A simulated iPhone: it adds passes from their links, registers them with the pass web service as Wallet does
// (Apple's protocol, apple-wallet.md part C), listens on the APNs stand-in's device channel for its push token, and on
// each push asks the web service what changed, fetches the changed passes with If-Modified-Since and reports what
// changed in pass.json. For end-to-end tests and for `passslot dev device`.
import { randomBytes, randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { readZip } from '../engine/index.js';

export const IPHONE_USER_AGENT =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Wallet';
/** What Wallet sends to the web service (PassKit's own agent). */
export const PASSKIT_USER_AGENT = 'Passbook/1.0 CFNetwork/1568.100.1 Darwin/24.0.0';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface DeviceOptions {
  /** Wallet's device library identifier (default: random). */
  deviceLibraryIdentifier?: string;
  /** The APNs push token (default: 64 random hex digits). */
  pushToken?: string;
  /** The APNs stand-in, e.g. https://127.0.0.1:2197; needed by listen(). */
  apnsUrl?: string;
  /** PEM of the stand-in's server certificate (its trust anchor). */
  apnsCa?: string;
  log?: (message: string) => void;
}

export interface HeldPass {
  passTypeIdentifier: string;
  serialNumber: string;
  webServiceURL?: string;
  authenticationToken?: string;
  passJson: Record<string, Json>;
  /** The Last-Modified of the last pass download, sent back as If-Modified-Since. */
  lastModified?: string;
}

export interface PassChange {
  /** Where in pass.json: object keys joined with '.', fields (array items with a key) as [key], other items as [i]. */
  path: string;
  from: Json | undefined;
  to: Json | undefined;
}

export interface PassUpdate {
  passTypeIdentifier: string;
  serialNumber: string;
  /** The pass fetch status: 200 (a new pass), 304 (unchanged) or what the service answered. */
  status: number;
  changes: PassChange[];
}

export interface PushNotice {
  topic: string;
  apnsId: string;
}

export interface DeviceEvents {
  update: PassUpdate;
  push: PushNotice;
  /** The device channel to the stand-in is open (again, after a reconnect). */
  listening: { pushToken: string };
  error: Error;
}

export class DeviceError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const passKey = (passTypeIdentifier: string, serialNumber: string): string =>
  `${passTypeIdentifier}\u0000${serialNumber}`;

const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Flattens pass.json into path → leaf value; arrays of objects with a `key` (fields) are indexed by that key. */
function flatten(value: Json | undefined, path: string, out: Map<string, Json>): void {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, []);
    value.forEach((item, i) => {
      const key = isObject(item) && typeof item.key === 'string' ? item.key : String(i);
      flatten(item, `${path}[${key}]`, out);
    });
  } else if (isObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0 && path !== '') out.set(path, {});
    for (const [k, v] of entries) flatten(v, path === '' ? k : `${path}.${k}`, out);
  } else if (value !== undefined) {
    out.set(path, value);
  }
}

/** What changed between two pass.json documents, leaf by leaf, in the order of the new then the removed paths. */
export function diffPassJson(before: Record<string, Json>, after: Record<string, Json>): PassChange[] {
  const a = new Map<string, Json>();
  const b = new Map<string, Json>();
  flatten(before, '', a);
  flatten(after, '', b);
  const changes: PassChange[] = [];
  for (const [path, to] of b) {
    const from = a.get(path);
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ path, from, to });
  }
  for (const [path, from] of a) if (!b.has(path)) changes.push({ path, from, to: undefined });
  return changes;
}

function readPassJson(pkpass: Uint8Array): Record<string, Json> {
  const files = readZip(pkpass);
  const bytes = files.get('pass.json');
  if (!bytes) throw new DeviceError('the .pkpass has no pass.json');
  const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  if (!isObject(parsed)) throw new DeviceError('pass.json is not a JSON object');
  return parsed;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

export class SimulatedDevice {
  readonly deviceLibraryIdentifier: string;
  readonly pushToken: string;
  private readonly apnsUrl: string | undefined;
  private readonly apnsCa: string | undefined;
  private readonly logLine: (message: string) => void;
  private readonly passes = new Map<string, HeldPass>();
  /** The update tag (`lastUpdated`) per web service and pass type. */
  private readonly tags = new Map<string, string>();
  private readonly listeners: { [K in keyof DeviceEvents]: Set<(payload: DeviceEvents[K]) => void> } = {
    update: new Set(),
    push: new Set(),
    listening: new Set(),
    error: new Set(),
  };
  private session: http2.ClientHttp2Session | undefined;
  private listening = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private checking: Promise<PassUpdate[]> | undefined;
  private checkAgain = false;

  constructor(options: DeviceOptions = {}) {
    this.deviceLibraryIdentifier = options.deviceLibraryIdentifier ?? randomUUID().replaceAll('-', '');
    this.pushToken = options.pushToken ?? randomBytes(32).toString('hex');
    this.apnsUrl = options.apnsUrl;
    this.apnsCa = options.apnsCa;
    this.logLine = options.log ?? (() => {});
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof DeviceEvents>(event: K, listener: (payload: DeviceEvents[K]) => void): () => void {
    const set = this.listeners[event] as Set<(payload: DeviceEvents[K]) => void>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  private emit<K extends keyof DeviceEvents>(event: K, payload: DeviceEvents[K]): void {
    for (const listener of this.listeners[event] as Set<(payload: DeviceEvents[K]) => void>)
      listener(payload);
  }

  /** The passes on the device. */
  get heldPasses(): HeldPass[] {
    return [...this.passes.values()];
  }

  pass(passTypeIdentifier: string, serialNumber: string): HeldPass | undefined {
    return this.passes.get(passKey(passTypeIdentifier, serialNumber));
  }

  private headers(pass: HeldPass): Record<string, string> {
    return {
      'user-agent': PASSKIT_USER_AGENT,
      ...(pass.authenticationToken ? { authorization: `ApplePass ${pass.authenticationToken}` } : {}),
    };
  }

  private registrationUrl(pass: HeldPass): string {
    return `${trimSlash(pass.webServiceURL ?? '')}/v1/devices/${encodeURIComponent(this.deviceLibraryIdentifier)}/registrations/${encodeURIComponent(pass.passTypeIdentifier)}/${encodeURIComponent(pass.serialNumber)}`;
  }

  /**
   * Downloads a pass from its link as Safari on an iPhone does (tapping the page's button when the link is a page),
   * keeps it, and registers it with its web service.
   * Returns the registration status (201 new, 200 already registered), or 0 when the pass has no web service.
   */
  async addPass(url: string): Promise<number> {
    let response = await fetch(url, { headers: { 'user-agent': IPHONE_USER_AGENT }, redirect: 'follow' });
    // a pass page: the person taps its "Add to Apple Wallet" button
    if (response.status === 200 && response.headers.get('content-type')?.startsWith('text/html')) {
      const href = /<a class="button" href="([^"]+)"/.exec(await response.text())?.[1];
      if (!href) throw new DeviceError(`the page at ${url} has no "Add to Apple Wallet" button`);
      const target = new URL(href.replace(/&amp;/g, '&'), url);
      response = await fetch(target, { headers: { 'user-agent': IPHONE_USER_AGENT }, redirect: 'follow' });
    }
    if (response.status !== 200)
      throw new DeviceError(`GET ${url} answered ${response.status}`, response.status);
    const passJson = readPassJson(new Uint8Array(await response.arrayBuffer()));
    const { passTypeIdentifier, serialNumber, webServiceURL, authenticationToken } = passJson;
    if (typeof passTypeIdentifier !== 'string' || typeof serialNumber !== 'string')
      throw new DeviceError('pass.json lacks passTypeIdentifier or serialNumber');
    const pass: HeldPass = { passTypeIdentifier, serialNumber, passJson };
    if (typeof webServiceURL === 'string') pass.webServiceURL = webServiceURL;
    if (typeof authenticationToken === 'string') pass.authenticationToken = authenticationToken;
    const lastModified = response.headers.get('last-modified');
    if (lastModified) pass.lastModified = lastModified;
    this.passes.set(passKey(passTypeIdentifier, serialNumber), pass);
    this.logLine(`added ${passTypeIdentifier} ${serialNumber}`);
    if (!pass.webServiceURL || !pass.authenticationToken) return 0;
    const registered = await fetch(this.registrationUrl(pass), {
      method: 'POST',
      headers: { ...this.headers(pass), 'content-type': 'application/json' },
      body: JSON.stringify({ pushToken: this.pushToken }),
    });
    await registered.arrayBuffer();
    this.logLine(`registered ${serialNumber}: ${registered.status}`);
    if (registered.status !== 200 && registered.status !== 201)
      throw new DeviceError(
        `registration of ${serialNumber} answered ${registered.status}`,
        registered.status,
      );
    return registered.status;
  }

  /** Deletes the pass from the device and unregisters it; returns the web service's status (0 without one). */
  async removePass(serialNumber: string, passTypeIdentifier?: string): Promise<number> {
    const pass = [...this.passes.values()].find(
      (p) =>
        p.serialNumber === serialNumber &&
        (passTypeIdentifier === undefined || p.passTypeIdentifier === passTypeIdentifier),
    );
    if (!pass) throw new DeviceError(`no pass ${serialNumber} on this device`);
    this.passes.delete(passKey(pass.passTypeIdentifier, pass.serialNumber));
    if (!pass.webServiceURL) return 0;
    const response = await fetch(this.registrationUrl(pass), {
      method: 'DELETE',
      headers: this.headers(pass),
    });
    await response.arrayBuffer();
    this.logLine(`unregistered ${serialNumber}: ${response.status}`);
    return response.status;
  }

  /** Sends log messages as Wallet does (`POST /v1/log`), to the given web service or the first pass's. */
  async log(messages: string[], webServiceURL?: string): Promise<number> {
    const base = webServiceURL ?? [...this.passes.values()].find((p) => p.webServiceURL)?.webServiceURL;
    if (!base) throw new DeviceError('no web service to send logs to');
    const response = await fetch(`${trimSlash(base)}/v1/log`, {
      method: 'POST',
      headers: { 'user-agent': PASSKIT_USER_AGENT, 'content-type': 'application/json' },
      body: JSON.stringify({ logs: messages }),
    });
    await response.arrayBuffer();
    return response.status;
  }

  /**
   * What Wallet does on a push: for every web service and pass type it holds, ask which serials changed since the
   * last tag, fetch each with If-Modified-Since, and report an `update` per serial. Concurrent calls coalesce.
   */
  checkForUpdates(): Promise<PassUpdate[]> {
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    const run = async (): Promise<PassUpdate[]> => {
      const all: PassUpdate[] = [];
      try {
        do {
          this.checkAgain = false;
          all.push(...(await this.checkOnce()));
        } while (this.checkAgain);
      } finally {
        this.checking = undefined;
      }
      return all;
    };
    this.checking = run();
    return this.checking;
  }

  private async checkOnce(): Promise<PassUpdate[]> {
    const groups = new Map<string, { webServiceURL: string; passTypeIdentifier: string }>();
    for (const pass of this.passes.values()) {
      if (!pass.webServiceURL) continue;
      const key = `${trimSlash(pass.webServiceURL)}\u0000${pass.passTypeIdentifier}`;
      groups.set(key, {
        webServiceURL: trimSlash(pass.webServiceURL),
        passTypeIdentifier: pass.passTypeIdentifier,
      });
    }
    const updates: PassUpdate[] = [];
    for (const [key, { webServiceURL, passTypeIdentifier }] of groups) {
      const tag = this.tags.get(key);
      const url = `${webServiceURL}/v1/devices/${encodeURIComponent(this.deviceLibraryIdentifier)}/registrations/${encodeURIComponent(passTypeIdentifier)}${tag === undefined ? '' : `?passesUpdatedSince=${encodeURIComponent(tag)}`}`;
      const response = await fetch(url, { headers: { 'user-agent': PASSKIT_USER_AGENT } });
      if (response.status === 204) {
        await response.arrayBuffer();
        this.logLine(`${passTypeIdentifier}: nothing changed since ${tag ?? '(no tag)'}`);
        continue;
      }
      if (response.status !== 200) {
        await response.arrayBuffer();
        throw new DeviceError(`GET ${url} answered ${response.status}`, response.status);
      }
      const body: unknown = await response.json();
      if (!isObject(body) || !Array.isArray(body.serialNumbers) || typeof body.lastUpdated !== 'string')
        throw new DeviceError(
          `GET ${url}: expected {"serialNumbers": [...], "lastUpdated": "<string>"}, got ${JSON.stringify(body)}`,
        );
      this.tags.set(key, body.lastUpdated);
      this.logLine(
        `${passTypeIdentifier}: ${body.serialNumbers.length} serial(s), lastUpdated ${body.lastUpdated}`,
      );
      for (const serial of body.serialNumbers) {
        if (typeof serial !== 'string') continue;
        const pass = this.passes.get(passKey(passTypeIdentifier, serial));
        if (!pass) continue; // Wallet ignores serials it does not hold
        const update = await this.fetchPass(pass);
        updates.push(update);
        this.emit('update', update);
      }
    }
    return updates;
  }

  private async fetchPass(pass: HeldPass): Promise<PassUpdate> {
    const url = `${trimSlash(pass.webServiceURL ?? '')}/v1/passes/${encodeURIComponent(pass.passTypeIdentifier)}/${encodeURIComponent(pass.serialNumber)}`;
    const response = await fetch(url, {
      headers: {
        ...this.headers(pass),
        ...(pass.lastModified ? { 'if-modified-since': pass.lastModified } : {}),
      },
    });
    const update: PassUpdate = {
      passTypeIdentifier: pass.passTypeIdentifier,
      serialNumber: pass.serialNumber,
      status: response.status,
      changes: [],
    };
    if (response.status !== 200) {
      await response.arrayBuffer();
      this.logLine(`${pass.serialNumber}: ${response.status}`);
      return update;
    }
    const passJson = readPassJson(new Uint8Array(await response.arrayBuffer()));
    update.changes = diffPassJson(pass.passJson, passJson);
    pass.passJson = passJson;
    const lastModified = response.headers.get('last-modified');
    if (lastModified) pass.lastModified = lastModified;
    if (typeof passJson.authenticationToken === 'string')
      pass.authenticationToken = passJson.authenticationToken;
    if (typeof passJson.webServiceURL === 'string') pass.webServiceURL = passJson.webServiceURL;
    this.logLine(`${pass.serialNumber}: new pass, ${update.changes.length} change(s)`);
    return update;
  }

  /**
   * Connects to the APNs stand-in's device channel for this push token; every push then triggers
   * checkForUpdates(). Resolves once the channel is open; reconnects on its own when the stand-in drops it.
   */
  listen(): Promise<void> {
    if (!this.apnsUrl) return Promise.reject(new DeviceError('listen() needs apnsUrl'));
    if (this.closed) return Promise.reject(new DeviceError('the device is closed'));
    this.listening = true;
    return this.connect(this.apnsUrl);
  }

  private connect(apnsUrl: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let opened = false;
      const session = http2.connect(apnsUrl, this.apnsCa ? { ca: this.apnsCa } : {});
      this.session = session;
      session.on('error', (err) => {
        if (!opened) reject(err);
      });
      const request = session.request({
        ':method': 'GET',
        ':path': `/device/${encodeURIComponent(this.pushToken)}/pushes`,
        accept: 'text/event-stream',
      });
      request.setEncoding('utf8');
      request.on('response', (headers) => {
        const status = headers[':status'];
        if (status !== 200) {
          reject(new DeviceError(`the device channel answered ${status}`, status));
          session.close();
          return;
        }
        opened = true;
        this.logLine(`listening for pushes to ${this.pushToken}`);
        resolve();
        this.emit('listening', { pushToken: this.pushToken });
      });
      let buffer = '';
      request.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (data) this.onPushData(data);
        }
      });
      request.on('error', (err) => {
        if (!opened) reject(err);
      });
      request.on('close', () => {
        if (this.session === session) this.session = undefined;
        if (!session.closed && !session.destroyed) session.close();
        if (opened) this.scheduleReconnect(apnsUrl, 100);
      });
      request.end();
    });
  }

  private scheduleReconnect(apnsUrl: string, delay: number): void {
    if (this.closed || !this.listening || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || !this.listening) return;
      this.connect(apnsUrl).catch((err: Error) => {
        this.logLine(`device channel: ${err.message}; retrying`);
        this.scheduleReconnect(apnsUrl, Math.min(delay * 2, 5000));
      });
    }, delay);
  }

  private onPushData(data: string): void {
    let notice: PushNotice;
    try {
      const parsed: unknown = JSON.parse(data);
      if (!isObject(parsed) || typeof parsed.topic !== 'string' || typeof parsed.apnsId !== 'string') return;
      notice = { topic: parsed.topic, apnsId: parsed.apnsId };
    } catch {
      return;
    }
    this.logLine(`push ${notice.apnsId} for ${notice.topic}`);
    this.emit('push', notice);
    this.checkForUpdates().catch((err: Error) => {
      this.logLine(`update check failed: ${err.message}`);
      this.emit('error', err);
    });
  }

  /** Stops listening and closes the channel to the stand-in. */
  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const session = this.session;
    this.session = undefined;
    if (session && !session.destroyed) session.destroy();
    await this.checking?.catch(() => []);
  }
}
