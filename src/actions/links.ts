// Pass links: `${PASSSLOT_PUBLIC_URL}/p/<public id>?t=<link token>` is the one thing a business sends its customer.
// The token is the credential: opening the link is a `system` action, run by the pass page for whoever holds it.
import { Type } from '@sinclair/typebox';
import { safeEqual } from '../auth/tokens.js';
import { PKPASS_MIME } from '../engine/index.js';
import { notFound } from '../errors.js';
import { passEvent } from '../events/payloads.js';
import { currentPkpass } from '../render/current.js';
import { appendEvent, withEvents } from '../store/events.js';
import { defineAction, FileOut } from './registry.js';

export const openPassLink = defineAction({
  name: 'open_pass_link',
  title: 'Open a pass link',
  description:
    "Answers a pass link: the template's name for the page a browser shows, or the .pkpass for Wallet (a " +
    'pass.downloaded event is written), or that the pass was removed. A wrong token is "not found", like an unknown pass.',
  scope: 'system',
  mutates: false,
  input: Type.Object({
    publicId: Type.String({ minLength: 1, maxLength: 100 }),
    token: Type.String({ maxLength: 200 }),
    download: Type.Boolean({ description: 'Wallet (or the page’s button) asks for the file' }),
    userAgent: Type.Union([Type.String({ maxLength: 1000 }), Type.Null()]),
  }),
  output: Type.Union([
    Type.Object({ kind: Type.Literal('page'), templateName: Type.String() }),
    Type.Object({ kind: Type.Literal('removed') }),
    Type.Object({ kind: Type.Literal('file'), file: FileOut }),
  ]),
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('passes')
      .innerJoin('templates', 'templates.id', 'passes.templateId')
      .selectAll('passes')
      .select('templates.name as templateName')
      .where('passes.publicId', '=', input.publicId)
      .executeTakeFirst();
    // constant-time even for an unknown id, so timing does not tell which ids exist
    if (!safeEqual(input.token, row?.linkToken ?? 'x'.repeat(22)) || !row) throw notFound('pass link');
    if (row.deletedAt) return { kind: 'removed' as const };
    if (!input.download) return { kind: 'page' as const, templateName: row.templateName };
    const { templateName: _name, ...pass } = row;
    const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
    const data = await currentPkpass(ctx.app, pass, passType);
    await withEvents(ctx.app, (trx) =>
      appendEvent(
        trx,
        passEvent('pass.downloaded', ctx.app.config.publicUrl, pass, passType, {
          userAgent: input.userAgent,
        }),
        ctx.app.clock.now(),
      ),
    );
    return {
      kind: 'file' as const,
      file: { contentType: PKPASS_MIME, filename: `${pass.serialNumber}.pkpass`, data },
    };
  },
});

export const openTemplateLink = defineAction({
  name: 'open_template_link',
  title: 'Open a template link',
  description:
    "Answers a template's public link (/t/<token>, PassSlot's template URL) with the template's name.",
  scope: 'system',
  mutates: false,
  input: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }),
  output: Type.Object({ name: Type.String() }),
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('templates')
      .select('name')
      .where('linkToken', '=', input.token)
      .executeTakeFirst();
    if (!row) throw notFound('template link');
    return row;
  },
});

export const linkActions = [openPassLink, openTemplateLink];
