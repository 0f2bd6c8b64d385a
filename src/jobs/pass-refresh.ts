// A pass whose pass.json follows a change made elsewhere: a redemption that used the last allowed use makes the pass
// void on the phone (Apple: "a one time use coupon that has been redeemed"). The redemption commits this job with
// itself, so a crash between the two loses nothing; the job renders the new version and queues its push.
import { writePassVersion } from '../actions/pass-versions.js';
import { systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import type { JobRow } from '../store/schema.js';

export interface PassRefreshPayload {
  passId: number;
  reason: 'redeemed';
}

export function passRefreshJobHandler(app: App): (job: JobRow) => Promise<void> {
  return async (job) => {
    const { passId, reason } = JSON.parse(job.payload) as PassRefreshPayload;
    const pass = await app.db.selectFrom('passes').selectAll().where('id', '=', passId).executeTakeFirst();
    if (!pass || pass.deletedAt) return;
    const passType = await app.rows.passType(app.db, pass.passTypeId);
    await writePassVersion(
      systemContext(app, job.accountId, `job-${job.id}`, 'job'),
      { pass, passType },
      {},
      { type: 'pass.updated', extra: { reason } },
    );
  };
}
