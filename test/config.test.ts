// The environment is read once and validated: a mistake names the variable and what it accepts.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to one process doing everything, with a 10-connection pool and a 60-second job lease', () => {
    expect(loadConfig({})).toMatchObject({
      role: 'all',
      runWorkers: true,
      dbPool: 10,
      jobLeaseSeconds: 60,
      drainSeconds: 0,
    });
  });

  it('runs API and worker processes apart with PASSSLOT_ROLE (PASSSLOT_WORKERS=false is api)', () => {
    expect(loadConfig({ PASSSLOT_ROLE: 'api' })).toMatchObject({ role: 'api', runWorkers: false });
    expect(loadConfig({ PASSSLOT_ROLE: 'worker' })).toMatchObject({ role: 'worker', runWorkers: true });
    expect(loadConfig({ PASSSLOT_WORKERS: 'false' })).toMatchObject({ role: 'api', runWorkers: false });
    expect(() => loadConfig({ PASSSLOT_ROLE: 'both' })).toThrow(/PASSSLOT_ROLE must be all, api or worker/);
    expect(() => loadConfig({ PASSSLOT_ROLE: 'worker', PASSSLOT_WORKERS: 'false' })).toThrow(ConfigError);
  });

  it('refuses pool sizes, leases and drain times out of range, naming the variable', () => {
    expect(() => loadConfig({ PASSSLOT_DB_POOL: '0' })).toThrow(/PASSSLOT_DB_POOL/);
    expect(() => loadConfig({ PASSSLOT_JOB_LEASE_SECONDS: '1' })).toThrow(
      /PASSSLOT_JOB_LEASE_SECONDS .* from 5/,
    );
    expect(() => loadConfig({ PASSSLOT_DRAIN_SECONDS: 'soon' })).toThrow(/PASSSLOT_DRAIN_SECONDS/);
    expect(loadConfig({ PASSSLOT_DRAIN_SECONDS: '15' }).drainSeconds).toBe(15);
  });
});
