// Pass links: `${PASSSLOT_PUBLIC_URL}/p/<public id>?t=<link token>` is the one thing a business sends its customer.
// The token is the credential: opening the link is a `system` action, run by the pass page for whoever holds it.
// Each visit and download is an event with the device class only (ios, mac, android, desktop, wallet, other): the
// funnel's "opened" and "downloaded", and nothing personal.
import { type Static, Type } from '@sinclair/typebox';
import { safeEqual } from '../auth/tokens.js';
import { compileTemplate, type JsonObject, PKPASS_MIME } from '../engine/index.js';
import { notFound } from '../errors.js';
import { passEvent, passLink } from '../events/payloads.js';
import { cssColor } from '../html.js';
import { currentPkpass } from '../render/current.js';
import { stringsOf } from '../render/localizations.js';
import { qrPng, qrSvg } from '../render/qr.js';
import { appendEvent, withEvents } from '../store/events.js';
import type { PassRow } from '../store/schema.js';
import { googleLinkOf, googleSaveUrlOf } from './google.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';

export const DEVICE_CLASSES = ['ios', 'mac', 'android', 'desktop', 'wallet', 'other'] as const;
const DeviceClass = Type.Union(
  DEVICE_CLASSES.map((d) => Type.Literal(d)),
  { description: 'what kind of device opened the link (from its user agent)' },
);

const LinkRef = {
  publicId: Type.String({ minLength: 1, maxLength: 100 }),
  token: Type.String({ maxLength: 200 }),
};

/** The pass a link names, when its token is right; "not found" otherwise, in time that does not tell which. */
async function linkedPass(ctx: ActionContext, publicId: string, token: string) {
  const row = await ctx.app.db
    .selectFrom('passes')
    .innerJoin('templates', 'templates.id', 'passes.templateId')
    .selectAll('passes')
    .select([
      'templates.name as templateName',
      'templates.body as templateBody',
      'templates.localizations as templateLocalizations',
    ])
    .where('passes.publicId', '=', publicId)
    .executeTakeFirst();
  // constant-time even for an unknown id, so timing does not tell which ids exist
  if (!safeEqual(token, row?.linkToken ?? 'x'.repeat(22)) || !row) throw notFound('pass link');
  const { templateName, templateBody, templateLocalizations, ...pass } = row;
  return { pass: pass as PassRow, templateName, templateBody, templateLocalizations };
}

const PassView = Type.Object({
  templateName: Type.String(),
  organizationName: Type.String(),
  description: Type.String(),
  logoText: Type.Union([Type.String(), Type.Null()]),
  backgroundColor: Type.Union([Type.String(), Type.Null()], { description: 'rgb(r, g, b)' }),
  foregroundColor: Type.Union([Type.String(), Type.Null()]),
  labelColor: Type.Union([Type.String(), Type.Null()]),
  logo: Type.Union([Type.String(), Type.Null()], {
    description: 'the logo as a data: URI (PNG), the pass’s own or its template’s',
  }),
  revoked: Type.Boolean(),
  status: Type.String(),
  url: Type.String({ description: 'the link itself' }),
  googleUrl: Type.Union([Type.String(), Type.Null()], {
    description:
      'where the page sends Android phones to save the pass to Google Wallet; null without Google Wallet',
  }),
  translations: Type.Record(
    Type.String(),
    Type.Object({
      organizationName: Type.Optional(Type.String()),
      description: Type.Optional(Type.String()),
      logoText: Type.Optional(Type.String()),
    }),
    { description: 'by the template’s languages: its translations of the texts above (pass.strings)' },
  ),
});
export type PassView = Static<typeof PassView>;

/** What a pass page shows: the pass's rendered names and colours, its logo, whether it is still valid. */
async function viewOf(ctx: ActionContext, found: Awaited<ReturnType<typeof linkedPass>>): Promise<PassView> {
  const { pass } = found;
  const values = JSON.parse(pass.values) as Record<string, unknown>;
  let body: JsonObject = JSON.parse(found.templateBody) as JsonObject;
  let strings = stringsOf({ localizations: found.templateLocalizations });
  try {
    body = compileTemplate(body).render(values);
    strings = compileTemplate(strings).render(values) as typeof strings;
  } catch {
    // a pass whose values no longer fit its template still gets its page, with the template's own texts
  }
  const text = (v: unknown): string | null => (typeof v === 'string' && !v.includes('${') ? v : null);
  const color = (v: unknown): string | null => cssColor(v) ?? null;
  const logo = await ctx.app.db
    .selectFrom('images')
    .select(['data', 'ownerKind', 'scale'])
    .where((eb) =>
      eb.or([
        eb.and([eb('ownerKind', '=', 'pass'), eb('ownerId', '=', pass.id)]),
        eb.and([eb('ownerKind', '=', 'template'), eb('ownerId', '=', pass.templateId)]),
      ]),
    )
    .where('type', '=', 'logo')
    .where('scale', '<=', 2)
    .orderBy('ownerKind', 'asc') // the pass's own ('pass' < 'template')
    .orderBy('scale', 'desc')
    .executeTakeFirst();
  return {
    templateName: found.templateName,
    organizationName: text(body.organizationName) ?? found.templateName,
    description: text(body.description) ?? found.templateName,
    logoText: text(body.logoText),
    backgroundColor: color(body.backgroundColor),
    foregroundColor: color(body.foregroundColor),
    labelColor: color(body.labelColor),
    logo: logo ? `data:image/png;base64,${Buffer.from(logo.data).toString('base64')}` : null,
    revoked: pass.voided === 1,
    status: pass.status,
    url: passLink(ctx.app.config.publicUrl, pass),
    googleUrl: (await googleLinkOf(ctx.app, pass)) ?? null,
    // as Wallet does: a text of pass.json is a key of the language's pass.strings
    translations: Object.fromEntries(
      Object.entries(strings).map(([lang, table]) => {
        const translated = (v: unknown) => {
          const t = text(v);
          return t !== null && typeof table[t] === 'string' ? table[t] : undefined;
        };
        const texts = {
          organizationName: translated(body.organizationName),
          description: translated(body.description),
          logoText: translated(body.logoText),
        };
        return [lang, Object.fromEntries(Object.entries(texts).filter(([, v]) => v !== undefined))];
      }),
    ),
  };
}

export const openPassLink = defineAction({
  name: 'open_pass_link',
  title: 'Open a pass link',
  description:
    'Answers a pass link: what the page shows (names, colours, logo, whether the pass is still valid) with a ' +
    'pass.link_opened event, or the .pkpass for Wallet with a pass.downloaded event (both with the device class), or ' +
    'that the pass was removed. A wrong token is "not found", like an unknown pass.',
  scope: 'system',
  mutates: false,
  input: Type.Object({
    ...LinkRef,
    download: Type.Boolean({ description: 'Wallet (or the page’s button) asks for the file' }),
    deviceClass: DeviceClass,
  }),
  output: Type.Union([
    Type.Object({ kind: Type.Literal('page'), view: PassView }),
    Type.Object({ kind: Type.Literal('removed') }),
    Type.Object({ kind: Type.Literal('file'), file: FileOut }),
  ]),
  async handler(ctx, input) {
    const found = await linkedPass(ctx, input.publicId, input.token);
    const { pass } = found;
    if (pass.deletedAt) return { kind: 'removed' as const };
    const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
    const record = (type: 'pass.link_opened' | 'pass.downloaded') =>
      withEvents(ctx.app, (trx) =>
        appendEvent(
          trx,
          passEvent(type, ctx.app.config.publicUrl, pass, passType, { deviceClass: input.deviceClass }),
          ctx.app.clock.now(),
        ),
      );
    // a revoked pass has its page, which says so, and no file
    if (!input.download || pass.voided === 1) {
      const view = await viewOf(ctx, found);
      await record('pass.link_opened');
      return { kind: 'page' as const, view };
    }
    const data = await currentPkpass(ctx.app, pass, passType);
    await record('pass.downloaded');
    return {
      kind: 'file' as const,
      file: { contentType: PKPASS_MIME, filename: `${pass.serialNumber}.pkpass`, data },
    };
  },
});

export const getPassLinkQr = defineAction({
  name: 'get_pass_link_qr',
  title: 'The QR code of a pass link',
  description: 'The QR code of a pass page, as SVG or PNG, for embedding (emails, printouts, a shop screen).',
  scope: 'system',
  mutates: false,
  answers: 'bytes',
  input: Type.Object({ ...LinkRef, format: Type.Union([Type.Literal('svg'), Type.Literal('png')]) }),
  output: FileOut,
  async handler(ctx, input) {
    const { pass } = await linkedPass(ctx, input.publicId, input.token);
    if (pass.deletedAt) throw notFound('pass link');
    const url = passLink(ctx.app.config.publicUrl, pass);
    return input.format === 'svg'
      ? { contentType: 'image/svg+xml', data: new TextEncoder().encode(await qrSvg(url)) }
      : { contentType: 'image/png', data: await qrPng(url) };
  },
});

export const openPassGoogle = defineAction({
  name: 'open_pass_google',
  title: 'Save a pass from its link to Google Wallet',
  description:
    'Answers the Google Wallet button of a pass page: the "Save to Google Wallet" link of the pass as it is now, ' +
    'with a pass.link_opened event (device class and wallet google). Not found when the account has no Google Wallet.',
  scope: 'system',
  mutates: false,
  input: Type.Object({ ...LinkRef, deviceClass: DeviceClass }),
  output: Type.Object({ url: Type.String() }),
  async handler(ctx, input) {
    const { pass } = await linkedPass(ctx, input.publicId, input.token);
    if (pass.deletedAt || pass.voided === 1) throw notFound('pass link');
    const url = await googleSaveUrlOf(ctx, pass);
    const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
    await withEvents(ctx.app, (trx) =>
      appendEvent(
        trx,
        passEvent('pass.link_opened', ctx.app.config.publicUrl, pass, passType, {
          deviceClass: input.deviceClass,
          wallet: 'google',
        }),
        ctx.app.clock.now(),
      ),
    );
    return { url };
  },
});

export const linkActions = [openPassLink, getPassLinkQr, openPassGoogle];
