// The Google sync worker: for a committed pass change in an account with Google Wallet, send the pass's object as it
// is now (insert, or patch once Google has it; 409 on insert means patch, 404 on patch means insert), after its
// template's class when the template changed since the class was last sent, and a message when the pass has a new
// notification. Pending syncs of the pass are done with it (one patch for quick changes). 429, 5xx and network
// failures are retried with backoff from the job row; other refusals fail the job with Google's message kept on the
// pass (get_pass_google shows it) until a later sync succeeds.
import { googleAccountOf, googleModel } from '../actions/google.js';
import type { App } from '../app.js';
import type { GoogleAnswer } from '../google/client.js';
import { type GoogleSyncPayload, googleGroupKey } from '../google/sync-queue.js';
import { coalesceJobs, oneAtATimePer, PermanentJobError, RetryLaterError } from '../store/jobs.js';
import { preparedIn } from '../store/prepared.js';
import type { JobRow, TemplateRow } from '../store/schema.js';

const jobStatus = preparedIn(1, (db, id: number) =>
  db.selectFrom('jobs').select('status').where('id', '=', id),
);
/** The pass, with the versions of its pass type and template that the row caches are keyed by. */
const passById = preparedIn(1, (db, id: number) =>
  db
    .selectFrom('passes')
    .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
    .innerJoin('templates', 'templates.id', 'passes.templateId')
    .selectAll('passes')
    .select(['passTypes.updatedAt as passTypeUpdatedAt', 'templates.version as templateVersion'])
    .where('passes.id', '=', id),
);
/** A sync that Google took: the object is there, at this version, and Google's last refusal is forgotten. */
const keepSynced = preparedIn(
  5,
  (db, passId: number, accountId: number, objectId: string, version: number, at: string) =>
    db
      .insertInto('googleObjects')
      .values({
        passId,
        accountId,
        objectId,
        inserted: 1,
        syncedVersion: version,
        message: null,
        error: null,
        saved: 0,
        updatedAt: at,
      })
      .onConflict((oc) =>
        oc.column('passId').doUpdateSet({ inserted: 1, syncedVersion: version, error: null, updatedAt: at }),
      ),
);
const objectOf = preparedIn(1, (db, passId: number) =>
  db.selectFrom('googleObjects').selectAll().where('passId', '=', passId),
);
const classVersionOf = preparedIn(1, (db, classId: string) =>
  db.selectFrom('googleClasses').select('templateVersion').where('classId', '=', classId),
);
const retryable = (status: number) => status === 0 || status === 429 || status >= 500;

export function googleJobHandler(app: App): (job: JobRow) => Promise<void> {
  // class sends under way, by class id and template version, so concurrent syncs of its passes send it once
  const classes = new Map<string, Promise<void>>();
  // syncs of one pass run one after the other in this process, so an older one never lands after a newer one
  return oneAtATimePer(
    (job) => (JSON.parse(job.payload) as GoogleSyncPayload).passId,
    syncOnce(app, classes),
  );
}

/** A refusal: retried later (429, 5xx, no answer), or the job fails with Google's message. */
function refused(what: string, answer: GoogleAnswer): Error {
  const message = `Google answered ${answer.status || 'nothing'} to ${what}: ${answer.message ?? ''}`.trim();
  return retryable(answer.status) ? new RetryLaterError(message) : new PermanentJobError(message);
}

function syncOnce(app: App, classes: Map<string, Promise<void>>): (job: JobRow) => Promise<void> {
  return async (job) => {
    const [self] = await jobStatus(app.db, job.id);
    if (self?.status !== 'running') return; // merged into another sync while it waited
    const { passId } = JSON.parse(job.payload) as GoogleSyncPayload;
    const [found] = await passById(app.db, passId);
    if (!found) return;
    const { passTypeUpdatedAt, templateVersion, ...pass } = found;
    const account = await googleAccountOf(app, pass.accountId);
    if (!account) return; // Google Wallet was disconnected
    const now = app.clock.now();
    await coalesceJobs(
      app.db,
      `coalesced into job ${job.id}`,
      now.toISOString(),
      googleGroupKey(pass.id),
      googleGroupKey(pass.id),
      job.id,
      job.lockedBy ?? '',
    );
    const passType = await app.rows.passType(app.db, pass.passTypeId, passTypeUpdatedAt);
    const template = await app.rows.template(app.db, pass.templateId, templateVersion);
    const { cls, obj, rendered } = await googleModel(app, account, pass, passType, template);
    const [known] = await objectOf(app.db, pass.id);
    /** Keeps the message sent, or Google's refusal, on the pass's row (made when the object never reached Google). */
    const keep = async (fields: { message?: string; error: string | null }) => {
      const at = app.clock.now().toISOString();
      await app.db
        .insertInto('googleObjects')
        .values({
          passId: pass.id,
          accountId: pass.accountId,
          objectId: String(obj.json.id),
          inserted: 0,
          syncedVersion: 0,
          message: fields.message ?? null,
          error: fields.error,
          saved: 0,
          updatedAt: at,
        })
        .onConflict((oc) => oc.column('passId').doUpdateSet({ ...fields, updatedAt: at }))
        .execute();
    };
    try {
      await classSent(app, classes, account, template, cls);
      const answer = await app.google.upsert(account, obj.type, 'Object', obj.json, !!known?.inserted);
      if (answer.status !== 200) throw refused(`the object ${String(obj.json.id)}`, answer);
      await keepSynced(
        app.db,
        pass.id,
        pass.accountId,
        String(obj.json.id),
        pass.version,
        app.clock.now().toISOString(),
      );
      // a new notification shows on the phone as a message of the object
      if (pass.notification && pass.notification !== known?.message) {
        const header =
          typeof rendered.organizationName === 'string' && rendered.organizationName
            ? rendered.organizationName
            : template.name;
        const sent = await app.google.addMessage(account, obj.type, String(obj.json.id), {
          id: `n${pass.version}`,
          header,
          body: pass.notification,
          notify: true,
        });
        if (sent.status !== 200) throw refused('the message', sent);
        await keep({ message: pass.notification, error: null });
      }
    } catch (err) {
      if (err instanceof PermanentJobError) await keep({ error: err.message });
      throw err;
    }
  };
}

/** Sends a template's class when Google does not have its current version (once for all the syncs waiting on it). */
async function classSent(
  app: App,
  classes: Map<string, Promise<void>>,
  account: Parameters<App['google']['upsert']>[0],
  template: TemplateRow,
  cls: Awaited<ReturnType<typeof googleModel>>['cls'],
): Promise<void> {
  const classId = String(cls.json.id);
  const key = `${classId}@${template.version}`;
  const pending = classes.get(key);
  if (pending) return pending;
  const send = (async () => {
    const [row] = await classVersionOf(app.db, classId);
    if (row && row.templateVersion >= template.version) return;
    const answer = await app.google.upsert(account, cls.type, 'Class', cls.json, !!row);
    if (answer.status !== 200) throw refused(`the class ${classId}`, answer);
    const at = app.clock.now().toISOString();
    await app.db
      .insertInto('googleClasses')
      .values({
        classId,
        accountId: template.accountId,
        templateId: template.id,
        templateVersion: template.version,
        updatedAt: at,
      })
      .onConflict((oc) =>
        oc.column('classId').doUpdateSet({ templateVersion: template.version, updatedAt: at }),
      )
      .execute();
  })();
  classes.set(key, send);
  // a failed send is tried again by the next sync; a done one stays known (the row says so too)
  send.catch(() => classes.delete(key));
  return send;
}
