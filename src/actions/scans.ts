// Redemption: a pass used at the door or the till. Each redemption is counted on the pass in one atomic update, so two
// scanners redeeming the same pass at once cannot both use its last redemption. The template's redemptionRestriction
// (PassSlot's) is how many times a pass may be redeemed: the one that reaches it sets the status to redeemed, and any
// later one is refused. Without the restriction a pass is redeemed any number of times and stays valid. Every attempt
// is a scan.performed event (PassSlot's name), and the last redemption also a pass.status_changed.
import { type Static, Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { forbidden } from '../errors.js';
import { passEvent, scanEvent } from '../events/payloads.js';
import { queueGoogleSyncIfConnected, wakeGoogleSync } from '../google/sync-queue.js';
import { appendEvent, withEvents } from '../store/events.js';
import { findPass } from './access.js';
import { defineAction } from './registry.js';
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
  output: Type.Object({
    outcome: Outcome,
    status: Type.String({ description: 'the pass status after this call' }),
    redemptions: Type.Integer({ description: 'redemptions used so far' }),
    remaining: Type.Union([Type.Integer(), Type.Null()], {
      description: 'redemptions left, or null when the template sets no limit',
    }),
  }),
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
    const limit =
      (JSON.parse(template.restrictions) as { redemptionRestriction?: number | null })
        .redemptionRestriction ?? null;
    const now = ctx.app.clock.now();
    let google = false;
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
          scanner: input.scanner ?? null,
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
    return answer;
  },
});

export type RedeemOut = Static<typeof redeemPass.output>;
export const scanActions = [redeemPass];
