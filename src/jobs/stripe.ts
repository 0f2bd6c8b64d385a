// The job that works off a recorded Stripe event (issue the pass of a paid checkout, revoke it on a refund), from the
// trigger edge. A failure is retried with backoff from the recorded event, however long the process was down.
import { runAction, systemContext } from '../actions/registry.js';
import { processStripeEvent } from '../actions/stripe.js';
import type { App } from '../app.js';
import type { JobRow } from '../store/schema.js';

export function stripeJobHandler(app: App): (job: JobRow) => Promise<void> {
  return async (job) => {
    const { stripeEventId } = JSON.parse(job.payload) as { stripeEventId: number };
    await runAction(processStripeEvent, systemContext(app, job.accountId, `job-${job.id}`, 'trigger'), {
      stripeEventId,
    });
  };
}
