// The jobs that send messages to pass holders (kinds `email` and `sms`): each finds its message, sends it once through
// its channel, and records what the provider said through record_message_status. A message past `queued` is never
// sent again, even if its job runs again after a crash.

import { googleLinkOf } from '../actions/google.js';
import { recordMessageStatus } from '../actions/messages.js';
import { runAction, systemContext } from '../actions/registry.js';
import type { App } from '../app.js';
import { passLink } from '../events/payloads.js';
import type { Channel, ChannelSender, MessageJob, SendOutcome } from '../messaging/messages.js';
import { MAX_JOB_ATTEMPTS, ParkJobError, PermanentJobError } from '../store/jobs.js';
import type { JobRow } from '../store/schema.js';

export function messageJobHandler(
  app: App,
  senders: Record<Channel, ChannelSender>,
): (job: JobRow) => Promise<void> {
  return async (job) => {
    const { messageId } = JSON.parse(job.payload) as MessageJob;
    const message = await app.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', messageId)
      .executeTakeFirst();
    if (!message) throw new PermanentJobError(`message ${messageId} no longer exists`);
    // the provider took it already (the job ran again after its lease ran out): never sent twice
    if (message.status !== 'queued') return;
    const ctx = systemContext(app, message.accountId, `job-${job.id}`, 'job');
    const record = (change: {
      status: 'accepted' | 'sent' | 'failed';
      providerId?: string;
      errorCode?: string;
      errorMessage?: string;
    }) => runAction(recordMessageStatus, ctx, { messageId, ...change });
    const what = message.channel === 'email' ? 'email' : 'SMS';
    const pass = await app.db
      .selectFrom('passes')
      .selectAll()
      .where('id', '=', message.passId)
      .executeTakeFirst();
    if (!pass || pass.deletedAt) {
      const reason = `the pass was deleted before the ${what} was sent`;
      await record({ status: 'failed', errorCode: 'pass_deleted', errorMessage: reason });
      throw new PermanentJobError(reason);
    }
    const passType = await app.db
      .selectFrom('passTypes')
      .selectAll()
      .where('id', '=', pass.passTypeId)
      .executeTakeFirstOrThrow();
    const template = await app.db
      .selectFrom('templates')
      .select(['name', 'messages'])
      .where('id', '=', pass.templateId)
      .executeTakeFirstOrThrow();
    let outcome: SendOutcome;
    try {
      outcome = await senders[message.channel].send({
        message,
        pass,
        passType,
        templateName: template.name,
        templateMessages: template.messages,
        url: passLink(app.config.publicUrl, pass),
        googleUrl: await googleLinkOf(app, pass),
      });
    } catch (err) {
      if (!(err instanceof ParkJobError) && job.attempts >= MAX_JOB_ATTEMPTS)
        await record({ status: 'failed', errorCode: 'gave_up', errorMessage: (err as Error).message });
      throw err;
    }
    if (outcome.kind === 'refused') {
      await record({ status: 'failed', errorCode: outcome.code, errorMessage: outcome.message });
      throw new PermanentJobError(`the ${what} was refused (${outcome.code}): ${outcome.message}`);
    }
    await record(
      outcome.kind === 'sent' ? { status: 'sent' } : { status: 'accepted', providerId: outcome.providerId },
    );
  };
}
