// Housekeeping the workers do every few minutes: certificate expiry warnings, and forgetting what no longer matters.
import { warnExpiringCertificates as warnAction } from '../actions/passtypes.js';
import { runAction, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { IDEMPOTENCY_MS } from '../store/idempotency.js';

const KEEP_DONE_JOBS_MS = 7 * 86_400_000;
const KEEP_DELIVERIES_MS = 30 * 86_400_000;
/** Stripe retries an event for up to three days: a month of ids is ample to know a repeat. */
const KEEP_STRIPE_EVENTS_MS = 30 * 86_400_000;

/** passtype.certificate_expiring for every certificate with 30 days or less left; returns how many were warned. */
export async function warnExpiringCertificates(app: App): Promise<number> {
  const { warned } = await runAction(warnAction, systemContext(app, 0, 'retention', 'job'), {});
  return warned;
}

/**
 * Forgets what no longer matters: finished jobs after a week, idempotency keys after their 24 hours, finished
 * deliveries (and their attempts) and worked-off Stripe events after 30 days. Events stay: they are the account's
 * history, and so do the messages sent to holders and the Checkout Sessions that issued passes.
 */
export async function pruneOldRows(app: App): Promise<void> {
  const now = app.clock.now().getTime();
  await app.db
    .deleteFrom('deliveries')
    .where('status', 'in', ['delivered', 'failed', 'skipped'])
    .where('updatedAt', '<', new Date(now - KEEP_DELIVERIES_MS).toISOString())
    .execute();
  await app.db
    .deleteFrom('jobs')
    .where('status', '=', 'done')
    .where('updatedAt', '<', new Date(now - KEEP_DONE_JOBS_MS).toISOString())
    .execute();
  await app.db
    .deleteFrom('stripeEvents')
    .where('status', '!=', 'pending')
    .where('createdAt', '<', new Date(now - KEEP_STRIPE_EVENTS_MS).toISOString())
    .execute();
  await app.db
    .deleteFrom('idempotencyKeys')
    .where('createdAt', '<', new Date(now - IDEMPOTENCY_MS).toISOString())
    .execute();
}
