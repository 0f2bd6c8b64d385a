// Redemption: a pass used at the door or the till. Each redemption is counted on the pass in one atomic update, so two
// scanners redeeming the same pass at once cannot both use its last redemption. The template's redemptionRestriction
// (PassSlot's) is how many times a pass may be redeemed: the one that reaches it sets the status to redeemed, and any
// later one is refused. Without the restriction a pass is redeemed any number of times and stays valid. Every attempt
// is a scan.performed event (PassSlot's name), and the last redemption also a pass.status_changed.
import { type Static, Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { JsonObject } from '../engine/index.js';
import { forbidden } from '../errors.js';
import { passEvent, scanEvent } from '../events/payloads.js';
import { queueGoogleSyncIfConnected, wakeGoogleSync } from '../google/sync-queue.js';
import { barcodeKeyOf, isSignedCode, verifySignedCode } from '../store/barcode-keys.js';
import { appendEvent, withEvents } from '../store/events.js';
import { enqueueJob } from '../store/jobs.js';
import { preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import { findPass } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { scannerRow } from './scanners.js';
import { describedId, PassRef } from './schemas.js';

const Outcome = Type.Union(
  [Type.Literal('redeemed'), Type.Literal('already_redeemed'), Type.Literal('not_valid')],
  {
    description:
      'redeemed: this call used one redemption; already_redeemed: the pass has used every redemption its template ' +
      'allows; not_valid: the pass is revoked or its status is not valid (status says which)',
  },
);

const Redeemed = Type.Object({
  outcome: Outcome,
  status: Type.String({ description: 'the pass status after this call' }),
  redemptions: Type.Integer({ description: 'redemptions used so far' }),
  remaining: Type.Union([Type.Integer(), Type.Null()], {
    description: 'redemptions left, or null when the template sets no limit',
  }),
});
export type RedeemOut = Static<typeof Redeemed>;

export const redeemPass = defineAction({
  name: 'redeem_pass',
  title: 'Redeem a pass',
  description:
    'Uses one redemption of a pass (a ticket at the door, a coupon at the till) and answers whether it was accepted. ' +
    'The template’s redemptionRestriction is how many times a pass may be redeemed: the redemption that reaches it ' +
    'sets the status to redeemed, and later ones answer already_redeemed; without it a pass may be redeemed any ' +
    'number of times. A revoked pass, or one whose status is not valid, answers not_valid. Atomic: two scanners ' +
    'redeeming the last use at once get one redeemed and one already_redeemed. Each call is a scan.performed event. ' +
    'Example: {"passTypeIdentifier": "pass.com.example.tickets", "serialNumber": "A-1"}.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    scanner: Type.Optional(
      describedId(
        'the scanner redeeming it (one of the account’s, allowed this pass’s template), for the event',
      ),
    ),
  }),
  output: Redeemed,
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const template = await ctx.app.rows.template(ctx.app.db, pass.templateId);
    // a scanner redeems only passes of the templates it is given (PassSlot's scanner access)
    if (input.scanner !== undefined) {
      const scanner = await scannerRow(ctx, input.scanner);
      const allowed = JSON.parse(scanner.allowedTemplates) as number[];
      if (!scanner.fullAccess && !allowed.includes(template.id))
        throw forbidden(
          `scanner ${scanner.id} may not redeem passes of template ${template.id}`,
          'restricted_key',
        );
    }
    return redeemOnce(ctx, pass, passType, template, input.scanner ?? null);
  },
});

/** How many times a pass of the template may be redeemed (its redemptionRestriction), null for no limit. */
const limitOf = (template: TemplateRow): number | null =>
  (JSON.parse(template.restrictions) as { redemptionRestriction?: number | null }).redemptionRestriction ??
  null;

/**
 * Uses one redemption of a pass in one statement (counted only while the pass is valid and has a redemption left),
 * with its scan.performed event, and pass.status_changed when it used the last one.
 */
async function redeemOnce(
  ctx: ActionContext,
  pass: PassRow,
  passType: PassTypeRow,
  template: TemplateRow,
  scanner: number | null,
): Promise<RedeemOut> {
  const limit =
    (JSON.parse(template.restrictions) as { redemptionRestriction?: number | null }).redemptionRestriction ??
    null;
  const now = ctx.app.clock.now();
  let google = false;
  let refresh = false;
  const answer = await withEvents(ctx.app, async (trx) => {
    // one statement decides: counted only while the pass is valid and has a redemption left
    const used = await trx
      .updateTable('passes')
      .set({
        redemptions: sql<number>`redemptions + 1`,
        status:
          limit === null
            ? sql<string>`status`
            : sql<string>`case when redemptions + 1 >= ${limit} then 'redeemed' else status end`,
        updatedAt: now.toISOString(),
      })
      .where('id', '=', pass.id)
      .where('status', '=', 'valid')
      .where('voided', '=', 0)
      .$if(limit !== null, (q) => q.where('redemptions', '<', limit!))
      .returning(['redemptions', 'status'])
      .executeTakeFirst();
    const after =
      used ??
      (await trx
        .selectFrom('passes')
        .select(['redemptions', 'status'])
        .where('id', '=', pass.id)
        .executeTakeFirstOrThrow());
    const outcome: Static<typeof Outcome> = used
      ? 'redeemed'
      : after.status === 'redeemed' || (limit !== null && after.redemptions >= limit)
        ? 'already_redeemed'
        : 'not_valid';
    const current = { ...pass, status: after.status };
    await appendEvent(
      trx,
      scanEvent(current, passType, {
        scanner,
        action: 'redeem',
        outcome,
        redemptions: after.redemptions,
        time: now.toISOString(),
      }),
      now,
    );
    // Google shows a redeemed pass as completed
    if (used && after.status !== pass.status)
      google = await queueGoogleSyncIfConnected(ctx.app, trx, pass, now);
    // the last use: the phone's pass becomes void (rendered and pushed by the job, committed with the redemption)
    if (used && after.status === 'redeemed' && pass.status !== 'redeemed') {
      const payload = { passId: pass.id, reason: 'redeemed' }; // jobs/pass-refresh.ts
      await enqueueJob(trx, { accountId: pass.accountId, kind: 'pass_refresh', payload }, now);
      refresh = true;
    }
    if (used && after.status !== pass.status)
      await appendEvent(
        trx,
        passEvent('pass.status_changed', ctx.app.config.publicUrl, current, passType, {
          oldStatus: pass.status,
          newStatus: after.status,
          reason: 'redeemed',
        }),
        now,
      );
    return {
      outcome,
      status: after.status,
      redemptions: after.redemptions,
      remaining: limit === null ? null : Math.max(0, limit - after.redemptions),
    };
  });
  if (google) wakeGoogleSync(ctx.app);
  if (refresh) ctx.app.wake('pass_refresh');
  return answer;
}

// ---------------------------------------------------------------------------------------------------------------
// Scanning at the door: a barcode in, what the door person needs out.

const ScanResult = Type.Union(
  [
    Type.Literal('valid'),
    Type.Literal('redeemed'),
    Type.Literal('already_redeemed'),
    Type.Literal('revoked'),
    Type.Literal('expired'),
    Type.Literal('not_yet_valid'),
    Type.Literal('unknown'),
    Type.Literal('forged'),
  ],
  {
    description:
      'valid: the pass may be used (a check, redeem false); redeemed: this scan used it; already_redeemed: it has ' +
      'used every redemption its template allows (when and by which scanner, in lastRedemption); revoked: revoked ' +
      'or deleted; expired: past its expiration date, or invalid; not_yet_valid: waiting for payment or completion ' +
      '(status unpaid, incomplete or locked); unknown: no pass of the account carries this code; forged: a signed ' +
      "code (PS1:...) whose signature is not the account's",
  },
);

/** The passes whose current version's barcode is `barcode` (at most two: a code names one pass, or is shared). */
const passIdsByBarcode = preparedIn(1, (db, barcode: string) =>
  db.selectFrom('passRenders').select('passId').where('barcode', '=', barcode).limit(2),
);
/**
 * A pass of the account (deleted ones too: they answer revoked) with its pass.json and the versions its pass type and
 * template are cached by. Looked up by id after the barcode index: a join would let the planner walk the account's
 * passes instead.
 */
const scannedPass = preparedIn(2, (db, accountId: number, passId: number) =>
  db
    .selectFrom('passes')
    .innerJoin('passRenders', 'passRenders.passId', 'passes.id')
    .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
    .innerJoin('templates', 'templates.id', 'passes.templateId')
    .selectAll('passes')
    .select([
      'passRenders.passJson',
      'passTypes.updatedAt as passTypeUpdatedAt',
      'templates.version as templateVersion',
    ])
    .where('passes.id', '=', passId)
    .where('passes.accountId', '=', accountId),
);

/** The account's passes carrying `barcode`. */
async function passesByBarcode(ctx: ActionContext, barcode: string) {
  const ids = await passIdsByBarcode(ctx.app.db, barcode);
  const rows = await Promise.all(ids.map((r) => scannedPass(ctx.app.db, ctx.grant.accountId, r.passId)));
  return rows.flat();
}

/** The last redemptions of a pass: when, and by which scanner. */
const lastScans = preparedIn(1, (db, passId: number) =>
  db
    .selectFrom('events')
    .select(['data', 'createdAt'])
    .where('passId', '=', passId)
    .where('type', '=', 'scan.performed')
    .orderBy('seq', 'desc')
    .limit(50),
);

async function lastRedemptionOf(ctx: ActionContext, passId: number) {
  for (const row of await lastScans(ctx.app.db, passId)) {
    const data = JSON.parse(row.data) as { outcome?: string; scanner?: number | null };
    if (data.outcome === 'redeemed') return { at: row.createdAt, scanner: data.scanner ?? null };
  }
  return null;
}

const NOT_YET = new Set(['unpaid', 'incomplete', 'locked']);

/** What a pass is at the door before any redemption: usable, or why not. */
function doorStateOf(pass: PassRow, passJson: JsonObject, now: Date): Static<typeof ScanResult> {
  if (pass.voided || pass.deletedAt) return 'revoked';
  // used up (its pass.json is void on the phone too)
  if (pass.status === 'redeemed') return 'already_redeemed';
  const expires =
    typeof passJson.expirationDate === 'string' ? Date.parse(passJson.expirationDate) : Number.NaN;
  if (pass.status === 'invalid' || passJson.voided === true || expires <= now.getTime()) return 'expired';
  if (NOT_YET.has(pass.status)) return 'not_yet_valid';
  return 'valid';
}

/** The fields a door person looks at: the header and primary fields, then the secondary ones. */
function keyFieldsOf(passJson: JsonObject): { label: string; value: string }[] {
  const style = ['boardingPass', 'coupon', 'eventTicket', 'generic', 'storeCard'].find(
    (k) => typeof passJson[k] === 'object' && passJson[k] !== null,
  );
  const body = (style ? passJson[style] : {}) as Record<string, unknown>;
  const out: { label: string; value: string }[] = [];
  for (const area of ['headerFields', 'primaryFields', 'secondaryFields'])
    for (const f of Array.isArray(body[area]) ? (body[area] as Record<string, unknown>[]) : [])
      if (f.value !== undefined)
        out.push({
          label: typeof f.label === 'string' ? f.label : String(f.key ?? ''),
          value: String(f.value),
        });
  return out.slice(0, 8);
}

const MESSAGES: Record<Static<typeof ScanResult>, string> = {
  valid: 'Valid: the pass may be used.',
  redeemed: 'Redeemed now.',
  already_redeemed: 'Already redeemed.',
  revoked: 'Revoked: do not accept this pass.',
  expired: 'Expired.',
  not_yet_valid: 'Not valid yet: the pass waits for payment or completion.',
  unknown: 'Unknown code: no pass carries it.',
  forged: 'Forged code: its signature is wrong. Do not accept it.',
};

export const scanBarcode = defineAction({
  name: 'scan_barcode',
  title: 'Scan a barcode at the door',
  description:
    "Takes what a scanner read from a pass's barcode and answers what the door person needs: result (valid, " +
    'redeemed, already_redeemed, revoked, expired, not_yet_valid, unknown), a message to show, the pass (its ' +
    'name and key fields) and, when already redeemed, when and by which scanner. Redeems the pass (one of the uses ' +
    "its template's redemptionRestriction allows) unless redeem is false; atomic, so two scanners scanning the " +
    'same pass at once get one redeemed and one already_redeemed. Each scan is a scan.performed event. Example: ' +
    '{"barcode": "member-M-0001", "scanner": 2}.',
  scope: 'scans:write',
  mutates: true,
  input: Type.Object({
    barcode: Type.String({ minLength: 1, maxLength: 2000, description: 'the barcode message as read' }),
    redeem: Type.Optional(Type.Boolean({ description: 'false: only check; default true: redeem' })),
    scanner: Type.Optional(
      describedId('the scanner scanning (one of the account’s), for the event and access'),
    ),
  }),
  output: Type.Object({
    result: ScanResult,
    message: Type.String({ description: 'what to show, in a sentence' }),
    pass: Type.Union([
      Type.Null(),
      Type.Object({
        serialNumber: Type.String(),
        passTypeIdentifier: Type.String(),
        templateId: Type.Integer(),
        name: Type.String({ description: "the pass's description (or its organization)" }),
        status: Type.String(),
        fields: Type.Array(Type.Object({ label: Type.String(), value: Type.String() })),
        redemptions: Type.Integer(),
        remaining: Type.Union([Type.Integer(), Type.Null()]),
      }),
    ]),
    lastRedemption: Type.Union([
      Type.Null(),
      Type.Object({ at: Type.String(), scanner: Type.Union([Type.Integer(), Type.Null()]) }),
    ]),
  }),
  async handler(ctx, input) {
    // a scanner's own key scans as that scanner, whatever the input says
    const scannerId = ctx.grant.scannerId ?? input.scanner;
    const scanner = scannerId !== undefined ? await scannerRow(ctx, scannerId) : undefined;
    const now = ctx.app.clock.now();
    const scanned = (outcome: 'unknown' | 'forged') =>
      withEvents(ctx.app, (trx) =>
        appendEvent(
          trx,
          {
            accountId: ctx.grant.accountId,
            type: 'scan.performed',
            data: {
              scanner: scanner?.id ?? null,
              action: 'scan',
              outcome,
              barcode: input.barcode,
              time: now.toISOString(),
            },
          },
          now,
        ),
      );
    // a signed code is checked by arithmetic before anything is looked up
    if (isSignedCode(input.barcode)) {
      const key = await barcodeKeyOf(ctx.app, ctx.grant.accountId);
      if (!verifySignedCode(key, input.barcode)) {
        await scanned('forged');
        return { result: 'forged' as const, message: MESSAGES.forged, pass: null, lastRedemption: null };
      }
    }
    const found = (await passesByBarcode(ctx, input.barcode)).filter(
      (p) =>
        (!ctx.grant.templateIds || ctx.grant.templateIds.includes(p.templateId)) &&
        (!scanner ||
          scanner.fullAccess ||
          (JSON.parse(scanner.allowedTemplates) as number[]).includes(p.templateId)),
    );
    const unknown = {
      result: 'unknown' as const,
      message: MESSAGES.unknown,
      pass: null,
      lastRedemption: null,
    };
    // a code that names no pass, or more than one (a template with a fixed barcode), finds none
    if (found.length !== 1) {
      await scanned('unknown');
      return unknown;
    }
    const { passJson: raw, passTypeUpdatedAt, templateVersion, ...pass } = found[0]!;
    const passJson = JSON.parse(raw) as JsonObject;
    const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId, passTypeUpdatedAt);
    if (ctx.grant.passTypeIds && !ctx.grant.passTypeIds.includes(passType.passTypeIdentifier)) return unknown;
    const template = await ctx.app.rows.template(ctx.app.db, pass.templateId, templateVersion);
    const limit = limitOf(template);
    let result = doorStateOf(pass, passJson, now);
    let redemptions = pass.redemptions;
    let status = pass.status;
    if (result === 'valid' && input.redeem !== false) {
      const redeemed = await redeemOnce(ctx, pass, passType, template, scanner?.id ?? null);
      redemptions = redeemed.redemptions;
      status = redeemed.status;
      result =
        redeemed.outcome === 'not_valid' ? doorStateOf({ ...pass, status }, passJson, now) : redeemed.outcome;
    } else {
      await withEvents(ctx.app, (trx) =>
        appendEvent(
          trx,
          scanEvent(pass, passType, {
            scanner: scanner?.id ?? null,
            action: input.redeem === false ? 'check' : 'redeem',
            outcome: result,
            redemptions,
            time: now.toISOString(),
          }),
          now,
        ),
      );
    }
    const name =
      (typeof passJson.description === 'string' && passJson.description) ||
      (typeof passJson.organizationName === 'string' ? passJson.organizationName : '');
    return {
      result,
      message: MESSAGES[result],
      pass: {
        serialNumber: pass.serialNumber,
        passTypeIdentifier: passType.passTypeIdentifier,
        templateId: pass.templateId,
        name,
        status,
        fields: keyFieldsOf(passJson),
        redemptions,
        remaining: limit === null ? null : Math.max(0, limit - redemptions),
      },
      lastRedemption: result === 'already_redeemed' ? await lastRedemptionOf(ctx, pass.id) : null,
    };
  },
});

export const scanActions = [redeemPass, scanBarcode];
