// Google Wallet for an account: its issuer and service account (the private key sealed at rest, never returned), the
// class a template maps to and the object and save link of a pass (src/google/ does the mapping and the signing).
// Images are served to Google from the template's public link (/t/<token>/google/<image>.png).
import { createPrivateKey } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { JsonObject } from '../engine/index.js';
import { invalid, notFound } from '../errors.js';
import { classFor, type GoogleImages, objectFor, payloadKeyOf } from '../google/mapping.js';
import { saveLink } from '../google/save-link.js';
import { currentPassJson } from '../render/current.js';
import { preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import { findPass, findTemplateAndPassType } from './access.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import { Empty, Id, PassRef } from './schemas.js';

const Config = Type.Object({
  issuerId: Type.String(),
  clientEmail: Type.String({ description: "the service account's client_email" }),
});

interface Account {
  issuerId: string;
  clientEmail: string;
  privateKeyPem: string;
}

/** An account's Google Wallet settings, or undefined when it has none. */
async function accountOf(ctx: ActionContext, accountId = ctx.grant.accountId): Promise<Account | undefined> {
  const row = await ctx.app.db
    .selectFrom('accounts')
    .select(['googleIssuerId', 'googleClientEmail', 'googleKeyEnc'])
    .where('id', '=', accountId)
    .executeTakeFirst();
  if (!row?.googleIssuerId || !row.googleClientEmail || !row.googleKeyEnc) return undefined;
  return {
    issuerId: row.googleIssuerId,
    clientEmail: row.googleClientEmail,
    privateKeyPem: ctx.app.secrets.decrypt(row.googleKeyEnc),
  };
}

async function requireAccount(ctx: ActionContext): Promise<Account> {
  const account = await accountOf(ctx);
  if (!account) throw notFound('Google Wallet settings (PUT /v1/google-wallet first)');
  return account;
}

export const setGoogleWallet = defineAction({
  name: 'set_google_wallet',
  title: 'Connect Google Wallet',
  description:
    "Connects the account to Google Wallet: the issuer id from Google's Pay & Wallet console and the service " +
    "account's JSON key file (as an object). The private key is encrypted at rest and never returned. Example: " +
    '{"issuerId": "3388000000012345678", "serviceAccountKey": {"type": "service_account", "client_email": "…", ' +
    '"private_key": "-----BEGIN PRIVATE KEY-----…"}}.',
  scope: 'passtypes:write',
  mutates: true,
  input: Type.Object({
    issuerId: Type.String({ pattern: '^[0-9]{5,25}$', description: "Google's issuer id (digits)" }),
    serviceAccountKey: Type.Object(
      {
        client_email: Type.String({ format: 'email', maxLength: 320 }),
        private_key: Type.String({ maxLength: 10_000 }),
      },
      { additionalProperties: true, description: "the service account's JSON key file" },
    ),
  }),
  output: Config,
  async handler(ctx, input) {
    const pem = input.serviceAccountKey.private_key;
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'rsa') throw new Error(`a ${key.asymmetricKeyType} key, not RSA`);
    } catch (err) {
      throw invalid([
        {
          field: 'serviceAccountKey.private_key',
          reasons: [
            `is not the RSA private key (PEM) of a service account key file: ${(err as Error).message}`,
          ],
        },
      ]);
    }
    await ctx.app.db
      .updateTable('accounts')
      .set({
        googleIssuerId: input.issuerId,
        googleClientEmail: input.serviceAccountKey.client_email,
        googleKeyEnc: ctx.app.secrets.encrypt(pem),
      })
      .where('id', '=', ctx.grant.accountId)
      .execute();
    return { issuerId: input.issuerId, clientEmail: input.serviceAccountKey.client_email };
  },
});

export const getGoogleWallet = defineAction({
  name: 'get_google_wallet',
  title: 'Show the Google Wallet connection',
  description: "Returns the account's Google Wallet issuer id and service account email (never the key).",
  scope: 'passtypes:read',
  mutates: false,
  input: Empty,
  output: Config,
  async handler(ctx) {
    const account = await requireAccount(ctx);
    return { issuerId: account.issuerId, clientEmail: account.clientEmail };
  },
});

export const deleteGoogleWallet = defineAction({
  name: 'delete_google_wallet',
  title: 'Disconnect Google Wallet',
  description: "Removes the account's Google Wallet issuer and service account key.",
  scope: 'passtypes:write',
  mutates: true,
  input: Empty,
  output: Empty,
  async handler(ctx) {
    await ctx.app.db
      .updateTable('accounts')
      .set({ googleIssuerId: null, googleClientEmail: null, googleKeyEnc: null })
      .where('id', '=', ctx.grant.accountId)
      .execute();
    return {};
  },
});

const issuerOf = preparedIn(1, (db, accountId: number) =>
  db.selectFrom('accounts').select('googleIssuerId').where('id', '=', accountId),
);

/** Whether an account has Google Wallet connected (one prepared query: it runs on every create). */
export async function hasGoogleWallet(ctx: ActionContext, accountId: number): Promise<boolean> {
  const [row] = await issuerOf(ctx.app.db, accountId);
  return !!row?.googleIssuerId;
}

/** The pass page's Google Wallet link: it saves the pass, as it is when followed, to Google Wallet. */
export const googleLink = (publicUrl: string, pass: Pick<PassRow, 'publicId' | 'linkToken'>): string =>
  `${publicUrl}/p/${pass.publicId}/google?t=${pass.linkToken}`;

/** The template's images as Google fetches them: public URLs under its link token. */
async function imagesOf(ctx: ActionContext, template: TemplateRow): Promise<GoogleImages> {
  const rows = await ctx.app.db
    .selectFrom('images')
    .select('type')
    .distinct()
    .where('ownerKind', '=', 'template')
    .where('ownerId', '=', template.id)
    .execute();
  const has = new Set(rows.map((r) => r.type));
  const url = (type: string) => `${ctx.app.config.publicUrl}/t/${template.linkToken}/google/${type}.png`;
  const hero = has.has('strip') ? 'strip' : has.has('background') ? 'background' : undefined;
  return {
    ...(has.has('logo') ? { logo: url('logo') } : has.has('icon') ? { logo: url('icon') } : {}),
    ...(hero ? { hero: url(hero) } : {}),
  };
}

/** The class suffix: one class per template version. */
const classSuffixOf = (template: TemplateRow) => `t${template.id}-v${template.version}`;

const languageOf = (body: JsonObject) =>
  typeof body.language === 'string' && body.language ? body.language : 'en';

const Mapped = Type.Object({
  type: Type.String({
    description: 'the Google pass type: generic, eventTicket, loyalty, offer, flight or transit',
  }),
  warnings: Type.Array(Type.String(), { description: 'what does not map to Google Wallet, and why' }),
});

export const getTemplateGoogle = defineAction({
  name: 'get_template_google',
  title: "Show a template's Google Wallet class",
  description:
    'Returns the Google Wallet class a template maps to (the JSON sent to Google) and warnings for what cannot map ' +
    '(a field with no place, a barcode format Google lacks, a non-https PUBLIC_URL that Google will refuse).',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Type.Object({ ...Mapped.properties, class: Type.Record(Type.String(), Type.Unknown()) }),
  async handler(ctx, input) {
    const { template } = await findTemplateAndPassType(ctx, { id: input.id });
    const account = await requireAccount(ctx);
    const body = JSON.parse(template.body) as JsonObject;
    const mapped = classFor(body, {
      issuerId: account.issuerId,
      classSuffix: classSuffixOf(template),
      language: languageOf(body),
      images: await imagesOf(ctx, template),
      publicUrl: ctx.app.config.publicUrl,
    });
    return { type: mapped.type, warnings: mapped.warnings, class: mapped.json };
  },
});

/** The object's state: hidden when revoked or deleted, completed once redeemed, expired when invalid or past its date. */
function stateOf(
  pass: PassRow,
  rendered: JsonObject,
  now: Date,
): 'ACTIVE' | 'INACTIVE' | 'EXPIRED' | 'COMPLETED' {
  if (pass.voided || pass.deletedAt) return 'INACTIVE';
  if (pass.status === 'redeemed') return 'COMPLETED';
  const expires =
    typeof rendered.expirationDate === 'string' ? Date.parse(rendered.expirationDate) : Number.NaN;
  if (pass.status === 'invalid' || expires <= now.getTime()) return 'EXPIRED';
  return 'ACTIVE';
}

export const getPassGoogle = defineAction({
  name: 'get_pass_google',
  title: "Get a pass's Save to Google Wallet link",
  description:
    'Returns the "Save to Google Wallet" link of a pass (a JWT signed with the account\'s service account, carrying ' +
    "the pass's class and object), the object itself and warnings for what cannot map. Needs Google Wallet " +
    'connected (set_google_wallet).',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object(PassRef),
  output: Type.Object({
    saveUrl: Type.String(),
    ...Mapped.properties,
    object: Type.Record(Type.String(), Type.Unknown()),
  }),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const { template } = await findTemplateAndPassType(ctx, { id: pass.templateId });
    return googlePass(ctx, await requireAccount(ctx), pass, passType, template);
  },
});

/** A pass's Google Wallet object and its save link (the class and object in the JWT, as they are now). */
export async function googlePass(
  ctx: ActionContext,
  account: Account,
  pass: PassRow,
  passType: PassTypeRow,
  template: TemplateRow,
): Promise<{ saveUrl: string; type: string; warnings: string[]; object: JsonObject }> {
  const rendered = JSON.parse(await currentPassJson(ctx.app, pass, passType)) as JsonObject;
  const body = JSON.parse(template.body) as JsonObject;
  const context = {
    issuerId: account.issuerId,
    classSuffix: classSuffixOf(template),
    language: languageOf(body),
    images: await imagesOf(ctx, template),
    publicUrl: ctx.app.config.publicUrl,
  };
  const cls = classFor(body, context);
  const now = ctx.app.clock.now();
  const obj = objectFor(rendered, {
    ...context,
    objectSuffix: `p${pass.publicId}`,
    state: stateOf(pass, rendered, now),
  });
  // until objects are inserted through the REST API, the link carries the class and the object themselves
  const saveUrl = saveLink(
    { clientEmail: account.clientEmail, privateKeyPem: account.privateKeyPem },
    [new URL(ctx.app.config.publicUrl).origin],
    { [payloadKeyOf(cls.type, 'Classes')]: [cls.json], [payloadKeyOf(obj.type, 'Objects')]: [obj.json] },
    now,
  );
  return { saveUrl, type: obj.type, warnings: [...cls.warnings, ...obj.warnings], object: obj.json };
}

/** The save link of a pass found by its public link, for the pass page's Google Wallet button. */
export async function googleSaveUrlOf(ctx: ActionContext, pass: PassRow): Promise<string> {
  const account = await accountOf(ctx, pass.accountId);
  if (!account) throw notFound('Google Wallet for this pass');
  const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
  const template = await ctx.app.rows.template(ctx.app.db, pass.templateId);
  return (await googlePass(ctx, account, pass, passType, template)).saveUrl;
}

const GOOGLE_IMAGE_TYPES = ['logo', 'icon', 'strip', 'background'] as const;

export const getTemplateGoogleImage = defineAction({
  name: 'get_template_google_image',
  title: "Serve a template's image to Google",
  description:
    "Serves a template's image (its largest scale) at the template's public link, where Google Wallet fetches the " +
    "logo and hero images of the template's class. Run by Passslot for those requests.",
  scope: 'system',
  mutates: false,
  answers: 'bytes',
  input: Type.Object({
    token: Type.String({ maxLength: 100 }),
    type: Type.Union(GOOGLE_IMAGE_TYPES.map((t) => Type.Literal(t))),
  }),
  output: FileOut,
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('images')
      .innerJoin('templates', 'templates.id', 'images.ownerId')
      .select('images.data')
      .where('images.ownerKind', '=', 'template')
      .where('templates.linkToken', '=', input.token)
      .where('images.type', '=', input.type)
      .orderBy('images.scale', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) throw notFound('image');
    return { contentType: 'image/png', data: row.data };
  },
});

export const googleActions = [
  getTemplateGoogleImage,
  setGoogleWallet,
  getGoogleWallet,
  deleteGoogleWallet,
  getTemplateGoogle,
  getPassGoogle,
];
