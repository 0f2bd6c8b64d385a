// The retry schedule and event type patterns of the delivery engine.
import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS, nextAttemptAt, RETRY_SCHEDULE_MS } from '../../src/events/dispatcher.js';
import { matchesEventType } from '../../src/store/events.js';

describe('delivery schedule', () => {
  it('follows Standard Webhooks: ten attempts over about three days, with jitter', () => {
    const now = new Date(0);
    const total = RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    expect(MAX_ATTEMPTS).toBe(10);
    expect(total / 3_600_000).toBeCloseTo(75.58, 1);
    expect(nextAttemptAt(1, now, undefined, () => 0.5)!.getTime()).toBe(5_000);
    expect(nextAttemptAt(2, now, undefined, () => 0)!.getTime()).toBe(270_000);
    expect(nextAttemptAt(2, now, undefined, () => 1)!.getTime()).toBe(330_000);
    expect(nextAttemptAt(9, now, undefined, () => 0.5)!.getTime()).toBe(24 * 3_600_000);
    expect(nextAttemptAt(10, now)).toBeUndefined();
  });

  it('waits at least as long as Retry-After asks (up to a day)', () => {
    const now = new Date(0);
    expect(nextAttemptAt(1, now, 120_000, () => 0.5)!.getTime()).toBe(120_000);
    expect(nextAttemptAt(1, now, 10 * 86_400_000, () => 0.5)!.getTime()).toBe(86_400_000);
  });

  it('matches event types by name, family and wildcard', () => {
    expect(matchesEventType(['*'], 'pass.created')).toBe(true);
    expect(matchesEventType(['pass.*'], 'pass.status_changed')).toBe(true);
    expect(matchesEventType(['pass.*'], 'passtype.certificate_expiring')).toBe(false);
    expect(matchesEventType(['registration.created'], 'registration.deleted')).toBe(false);
    expect(matchesEventType([], 'pass.created')).toBe(false);
  });
});
