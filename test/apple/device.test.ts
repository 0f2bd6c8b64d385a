// The simulated iPhone against a minimal pass web service written here (node:http, Apple's six endpoints in the
// simplest way) and the APNs stand-in: the requests it makes (paths, ApplePass header, pushToken, passesUpdatedSince,
// If-Modified-Since), 304 handling, change detection, and waking up on pushes, also after a GOAWAY.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApnsStandin, startApnsStandin } from '../../src/dev/apns-standin.js';
import { diffPassJson, type PassUpdate, SimulatedDevice } from '../../src/dev/device.js';
import { createDevPki, type DevPki } from '../../src/engine/index.js';
import { writeStoredZip } from '../../src/engine/zip.js';
import { tmpDir } from '../helpers.js';

interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface FixturePass {
  passJson: Record<string, any>;
  /** Seconds added to BASE for Last-Modified; bumped on each change. */
  version: number;
  tag: number;
}

const BASE = Date.UTC(2026, 0, 1);
const PTID = 'pass.test.passslot.device';
const AUTH = 'fixture-authentication-token-0123456789';

/** A pass web service following Apple's protocol, as small as it can be, mounted under /api. */
class FixtureService {
  readonly requests: SeenRequest[] = [];
  readonly passes = new Map<string, FixturePass>();
  /** device library id → push token and serials */
  readonly devices = new Map<string, { pushToken: string; serials: Set<string> }>();
  readonly logs: string[] = [];
  private tagCounter = 1;
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => this.handle(req, body, res));
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  addPass(serial: string, fields: Record<string, string>): void {
    this.passes.set(serial, {
      version: 0,
      tag: this.tagCounter++,
      passJson: {
        formatVersion: 1,
        passTypeIdentifier: PTID,
        serialNumber: serial,
        teamIdentifier: 'DEVTEAM123',
        organizationName: 'Fixture Arena',
        description: 'Fixture ticket',
        webServiceURL: `${this.url}/api`,
        authenticationToken: AUTH,
        eventTicket: {
          primaryFields: [{ key: 'event', label: 'EVENT', value: fields.event }],
          secondaryFields: [{ key: 'seat', label: 'SEAT', value: fields.seat }],
        },
      },
    });
  }

  /** Changes a pass (or only touches its tag with `touchOnly`), as the real service does on an update. */
  change(serial: string, edit: (passJson: Record<string, any>) => void, touchOnly = false): void {
    const pass = this.passes.get(serial)!;
    if (!touchOnly) {
      edit(pass.passJson);
      pass.version++;
    }
    pass.tag = this.tagCounter++;
  }

  private pkpass(pass: FixturePass): Buffer {
    return writeStoredZip(
      [{ nameBytes: Buffer.from('pass.json'), data: Buffer.from(JSON.stringify(pass.passJson)) }],
      new Date(),
    );
  }

  private handle(req: IncomingMessage, body: string, res: http.ServerResponse) {
    const path = req.url ?? '/';
    this.requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    const url = new URL(path, this.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(
        status,
        json === undefined ? headers : { 'content-type': 'application/json', ...headers },
      );
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    const sendPass = (pass: FixturePass) => {
      res.writeHead(200, {
        'content-type': 'application/vnd.apple.pkpass',
        'last-modified': new Date(BASE + pass.version * 1000).toUTCString(),
      });
      res.end(this.pkpass(pass));
    };
    const authorized = req.headers.authorization === `ApplePass ${AUTH}`;
    // the pass link
    if (parts[0] === 'link' && parts[1]) {
      const pass = this.passes.get(parts[1]);
      return pass ? sendPass(pass) : send(404);
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1') return send(404);
    const [, , kind, a, b, c, d] = parts;
    // POST/DELETE /v1/devices/{dli}/registrations/{ptid}/{serial}
    if (kind === 'devices' && b === 'registrations' && c === PTID && d) {
      if (!authorized) return send(401);
      const device = this.devices.get(a!) ?? { pushToken: '', serials: new Set<string>() };
      if (req.method === 'POST') {
        device.pushToken = JSON.parse(body).pushToken;
        const existed = device.serials.has(d);
        device.serials.add(d);
        this.devices.set(a!, device);
        return send(existed ? 200 : 201);
      }
      if (req.method === 'DELETE') {
        device.serials.delete(d);
        return send(200);
      }
    }
    // GET /v1/devices/{dli}/registrations/{ptid}?passesUpdatedSince=tag
    if (kind === 'devices' && b === 'registrations' && c === PTID && !d && req.method === 'GET') {
      const since = Number(url.searchParams.get('passesUpdatedSince') ?? 0);
      const serials = [...(this.devices.get(a!)?.serials ?? [])].filter(
        (s) => this.passes.get(s)!.tag > since,
      );
      if (serials.length === 0) return send(204);
      const lastUpdated = String(Math.max(...serials.map((s) => this.passes.get(s)!.tag)));
      return send(200, { serialNumbers: serials, lastUpdated });
    }
    // GET /v1/passes/{ptid}/{serial}
    if (kind === 'passes' && a === PTID && b && req.method === 'GET') {
      if (!authorized) return send(401);
      const pass = this.passes.get(b);
      if (!pass) return send(404);
      const since = req.headers['if-modified-since'];
      if (since && Date.parse(since) >= BASE + pass.version * 1000) return send(304);
      return sendPass(pass);
    }
    if (kind === 'passes' && a === PTID && b && c === 'personalize' && req.method === 'POST')
      return send(200);
    if (kind === 'log' && req.method === 'POST') {
      this.logs.push(...JSON.parse(body).logs);
      return send(200);
    }
    send(404);
  }
}

describe('simulated device', () => {
  const fixture = new FixtureService();
  let standin: ApnsStandin;
  let pki: DevPki;
  let provider: http2.ClientHttp2Session;
  let device: SimulatedDevice;
  const updates: PassUpdate[] = [];
  let waiters: Array<() => void> = [];
  const nextUpdate = (): Promise<PassUpdate> =>
    new Promise((resolve) => {
      const seen = updates.length;
      const check = () => {
        if (updates.length > seen) resolve(updates[seen]!);
        else waiters.push(check);
      };
      check();
    });

  /** What the server's push worker does: POST /3/device/<token> with the pass type certificate. */
  const push = (token: string) =>
    new Promise<number>((resolve, reject) => {
      const req = provider.request({
        ':method': 'POST',
        ':path': `/3/device/${token}`,
        'apns-topic': PTID,
        'apns-id': randomUUID(),
      });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end('{}');
    });

  beforeAll(async () => {
    pki = createDevPki({ passTypeIdentifier: PTID });
    standin = await startApnsStandin({
      certsDir: join(tmpDir('passslot-device-'), 'apns'),
      clientCas: [pki.caCertificatePem],
    });
    await fixture.start();
    fixture.addPass('SERIAL-0001', { event: 'Final', seat: '12A' });
    fixture.addPass('SERIAL-0002', { event: 'Semi-final', seat: '3B' });
    provider = http2.connect(standin.url, {
      ca: standin.serverCertificatePem,
      cert: pki.certificatePem,
      key: pki.privateKeyPem,
    });
    provider.on('error', () => {});
    device = new SimulatedDevice({
      deviceLibraryIdentifier: 'device-library-1',
      apnsUrl: standin.url,
      apnsCa: standin.serverCertificatePem,
    });
    device.on('update', (u) => {
      updates.push(u);
      const pending = waiters;
      waiters = [];
      for (const w of pending) w();
    });
  });

  afterAll(async () => {
    await device?.close();
    provider?.close();
    await standin?.close();
    await new Promise((resolve) => fixture.server.close(resolve));
  });

  it('has a random 64-hex push token and library id by default', () => {
    const other = new SimulatedDevice();
    expect(other.pushToken).toMatch(/^[0-9a-f]{64}$/);
    expect(other.deviceLibraryIdentifier).not.toBe(new SimulatedDevice().deviceLibraryIdentifier);
  });

  it('adds a pass from its link as an iPhone and registers it with the ApplePass token and its push token', async () => {
    expect(await device.addPass(`${fixture.url}/link/SERIAL-0001`)).toBe(201);
    const [link, registration] = fixture.requests.slice(-2);
    expect(link!.method).toBe('GET');
    expect(link!.headers['user-agent']).toMatch(/iPhone; CPU iPhone OS 18_0 like Mac OS X.*Wallet/);
    expect(registration!.method).toBe('POST');
    expect(registration!.path).toBe(`/api/v1/devices/device-library-1/registrations/${PTID}/SERIAL-0001`);
    expect(registration!.headers.authorization).toBe(`ApplePass ${AUTH}`);
    expect(registration!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(registration!.body)).toEqual({ pushToken: device.pushToken });
    // adding it again: the service says it is already registered
    expect(await device.addPass(`${fixture.url}/link/SERIAL-0001`)).toBe(200);
    expect(await device.addPass(`${fixture.url}/link/SERIAL-0002`)).toBe(201);
    expect(device.heldPasses.map((p) => p.serialNumber).sort()).toEqual(['SERIAL-0001', 'SERIAL-0002']);
    expect(device.pass(PTID, 'SERIAL-0001')!.lastModified).toBe(new Date(BASE).toUTCString());
  });

  it('on a push asks what changed (no tag the first time), fetches with If-Modified-Since and reports the changes', async () => {
    await device.listen();
    fixture.change('SERIAL-0001', (p) => {
      p.eventTicket.secondaryFields[0].value = '14C';
    });
    const before = fixture.requests.length;
    const update = nextUpdate();
    expect(await push(device.pushToken)).toBe(200);
    const first = await update;
    // the first call has no tag: both serials come back; the unchanged one is a 304 and the changed one a new pass
    await new Promise((resolve) => setTimeout(resolve, 50));
    const seen = fixture.requests.slice(before);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.path).toBe(`/api/v1/devices/device-library-1/registrations/${PTID}`);
    expect(seen[0]!.headers.authorization).toBeUndefined();
    const fetches = seen.filter((r) => r.path.startsWith('/api/v1/passes/'));
    expect(fetches.map((r) => r.path).sort()).toEqual([
      `/api/v1/passes/${PTID}/SERIAL-0001`,
      `/api/v1/passes/${PTID}/SERIAL-0002`,
    ]);
    for (const f of fetches) {
      expect(f.headers.authorization).toBe(`ApplePass ${AUTH}`);
      expect(f.headers['if-modified-since']).toBe(new Date(BASE).toUTCString());
    }
    const all = updates.slice(-2);
    expect(all).toContainEqual(first);
    const changed = all.find((u) => u.serialNumber === 'SERIAL-0001')!;
    expect(changed.status).toBe(200);
    expect(changed.changes).toEqual([
      { path: 'eventTicket.secondaryFields[seat].value', from: '12A', to: '14C' },
    ]);
    const unchanged = all.find((u) => u.serialNumber === 'SERIAL-0002')!;
    expect(unchanged).toMatchObject({ status: 304, changes: [] });
    expect(device.pass(PTID, 'SERIAL-0001')!.lastModified).toBe(new Date(BASE + 1000).toUTCString());
  });

  it('sends the last tag as passesUpdatedSince and handles 204 and 304', async () => {
    const before = fixture.requests.length;
    expect(await device.checkForUpdates()).toEqual([]);
    const list = fixture.requests[before]!;
    expect(list.path).toMatch(/\?passesUpdatedSince=\d+$/);
    // a tag that moved without a new pass: the device asks with If-Modified-Since and gets a 304
    fixture.change('SERIAL-0002', () => {}, true);
    const result = await device.checkForUpdates();
    expect(result).toEqual([
      { passTypeIdentifier: PTID, serialNumber: 'SERIAL-0002', status: 304, changes: [] },
    ]);
    expect(fixture.requests.at(-1)!.headers['if-modified-since']).toBe(new Date(BASE).toUTCString());
  });

  it('reports voiding and new, changed and removed fields after a push, also after the stand-in sent GOAWAY', async () => {
    const reconnected = new Promise<void>((resolve) => {
      const off = device.on('listening', () => {
        off();
        resolve();
      });
    });
    standin.goaway();
    await reconnected; // the device reconnects on its own
    fixture.change('SERIAL-0002', (p) => {
      p.voided = true;
      p.eventTicket.primaryFields[0].value = 'Semi-final (cancelled)';
      p.eventTicket.secondaryFields = [];
      p.eventTicket.auxiliaryFields = [{ key: 'note', label: 'NOTE', value: 'Refund on its way' }];
    });
    provider.close();
    provider = http2.connect(standin.url, {
      ca: standin.serverCertificatePem,
      cert: pki.certificatePem,
      key: pki.privateKeyPem,
    });
    const update = nextUpdate();
    expect(await push(device.pushToken)).toBe(200);
    const u = await update;
    expect(u.serialNumber).toBe('SERIAL-0002');
    expect(u.status).toBe(200);
    expect(u.changes).toEqual(
      expect.arrayContaining([
        { path: 'voided', from: undefined, to: true },
        { path: 'eventTicket.primaryFields[event].value', from: 'Semi-final', to: 'Semi-final (cancelled)' },
        { path: 'eventTicket.secondaryFields', from: undefined, to: [] },
        { path: 'eventTicket.secondaryFields[seat].value', from: '3B', to: undefined },
        { path: 'eventTicket.auxiliaryFields[note].value', from: undefined, to: 'Refund on its way' },
      ]),
    );
  });

  it('sends logs as {"logs": [...]} and unregisters a removed pass with its token', async () => {
    expect(await device.log(['Web service error for pass.test: something'])).toBe(200);
    expect(fixture.logs).toEqual(['Web service error for pass.test: something']);
    expect(fixture.requests.at(-1)!.path).toBe('/api/v1/log');
    expect(await device.removePass('SERIAL-0001')).toBe(200);
    const last = fixture.requests.at(-1)!;
    expect(last.method).toBe('DELETE');
    expect(last.path).toBe(`/api/v1/devices/device-library-1/registrations/${PTID}/SERIAL-0001`);
    expect(last.headers.authorization).toBe(`ApplePass ${AUTH}`);
    expect(device.pass(PTID, 'SERIAL-0001')).toBeUndefined();
    expect(fixture.devices.get('device-library-1')!.serials.has('SERIAL-0001')).toBe(false);
  });

  it('diffs pass.json by field key, not by position', () => {
    const before = {
      storeCard: {
        backFields: [
          { key: 'a', value: 1 },
          { key: 'b', value: 2 },
        ],
      },
    };
    const after = {
      storeCard: {
        backFields: [
          { key: 'b', value: 2 },
          { key: 'a', value: 3 },
        ],
      },
    };
    expect(diffPassJson(before, after)).toEqual([{ path: 'storeCard.backFields[a].value', from: 1, to: 3 }]);
  });
});
