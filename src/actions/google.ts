// Google Wallet for an account: its issuer and service account (the private key sealed at rest, never returned), the
// class a template maps to and the object and save link of a pass (src/google/ does the mapping and the signing).
// Images are served to Google from the template's public link (/t/<token>/google/<image>.png).
import { createPrivateKey } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { App } from '../app.js';
import { compileTemplate, type JsonObject, MissingValuesError } from '../engine/index.js';
import { AppError, badRequest, invalid, notFound } from '../errors.js';
import { registrationEvent } from '../events/payloads.js';
import { CallbackError, type CallbackMessage, type SigningKey, verifyCallback } from '../google/callbacks.js';
import {
  classFor,
  type GoogleImages,
  type Mapped as MappedClass,
  objectFor,
  payloadKeyOf,
} from '../google/mapping.js';
import { type ServiceAccount, saveLink } from '../google/save-link.js';
import { hasGoogleWallet } from '../google/sync-queue.js';
import { currentPassJson } from '../render/current.js';
import { stringsOf } from '../render/localizations.js';
import { appendEvent, withEvents } from '../store/events.js';
import { preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import { findPass, findTemplateAndPassType } from './access.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import { Empty, Id, PassRef } from './schemas.js';

const Config = Type.Object({
  issuerId: Type.String(),
  clientEmail: Type.String({ description: "the service account's client_email" }),
});

export interface GoogleAccount extends ServiceAccount {
  issuerId: string;
}

const accountRow = preparedIn(1, (db, accountId: number) =>
  db
    .selectFrom('accounts')
    .select(['googleIssuerId', 'googleClientEmail', 'googleKeyEnc'])
    .where('id', '=', accountId),
);

/** An account's Google Wallet settings (the key unsealed), or undefined when it has none. */
export async function googleAccountOf(
  app: Pick<App, 'db' | 'secrets'>,
  accountId: number,
): Promise<GoogleAccount | undefined> {
  const [row] = await accountRow(app.db, accountId);
  if (!row?.googleIssuerId || !row.googleClientEmail || !row.googleKeyEnc) return undefined;
  return {
    issuerId: row.googleIssuerId,
    clientEmail: row.googleClientEmail,
    privateKeyPem: app.secrets.decrypt(row.googleKeyEnc),
  };
}

async function requireAccount(ctx: ActionContext): Promise<GoogleAccount> {
  const account = await googleAccountOf(ctx.app, ctx.grant.accountId);
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

/** The pass page's Google Wallet link: it saves the pass, as it is when followed, to Google Wallet. */
export const googleLink = (publicUrl: string, pass: Pick<PassRow, 'publicId' | 'linkToken'>): string =>
  `${publicUrl}/p/${pass.publicId}/google?t=${pass.linkToken}`;

/** The pass page's Google Wallet link when the pass's account has Google Wallet, else undefined. */
export async function googleLinkOf(
  app: Pick<App, 'db' | 'config'>,
  pass: Pick<PassRow, 'accountId' | 'publicId' | 'linkToken'>,
): Promise<string | undefined> {
  return (await hasGoogleWallet(app.db, pass.accountId)) ? googleLink(app.config.publicUrl, pass) : undefined;
}

/** Google's image sizes: logos are shown masked in a circle, heroes as a wide banner. */
const LOGO_MIN = 660;
const HERO_MIN_WIDTH = 1032;

/**
 * The template's images as Google fetches them (public URLs under its link token), and what Google will show badly:
 * Apple's logo and icon are far smaller than Google's logo, and a strip is seldom as wide as Google's hero.
 */
async function imagesOf(
  app: App,
  template: TemplateRow,
): Promise<{ images: GoogleImages; warnings: string[] }> {
  const rows = await templateImageSizes(app.db, template.id);
  const largest = new Map<string, { width: number; height: number }>();
  for (const r of rows) {
    const known = largest.get(r.type);
    if (!known || r.width > known.width) largest.set(r.type, { width: r.width, height: r.height });
  }
  const url = (type: string) => `${app.config.publicUrl}/t/${template.linkToken}/google/${type}.png`;
  const logo = largest.has('logo') ? 'logo' : largest.has('icon') ? 'icon' : undefined;
  const hero = largest.has('strip') ? 'strip' : largest.has('background') ? 'background' : undefined;
  const warnings: string[] = [];
  const size = (type: string) => largest.get(type)!;
  if (logo && (size(logo).width < LOGO_MIN || size(logo).width !== size(logo).height))
    warnings.push(
      `the ${logo} image is ${size(logo).width}×${size(logo).height} px: Google shows the logo in a circle and asks ` +
        `for a square PNG of at least ${LOGO_MIN}×${LOGO_MIN} px`,
    );
  if (hero && (size(hero).width < HERO_MIN_WIDTH || size(hero).width < 3 * size(hero).height))
    warnings.push(
      `the ${hero} image is ${size(hero).width}×${size(hero).height} px: Google's hero image is at least ` +
        `${HERO_MIN_WIDTH} px wide and three times as wide as high`,
    );
  return {
    images: { ...(logo ? { logo: url(logo) } : {}), ...(hero ? { hero: url(hero) } : {}) },
    warnings,
  };
}

const templateImageSizes = preparedIn(1, (db, templateId: number) =>
  db
    .selectFrom('images')
    .select(['type', 'width', 'height'])
    .where('ownerKind', '=', 'template')
    .where('ownerId', '=', templateId),
);

/**
 * A pass's translations as it shows them: the template's strings tables with the pass's values in both the texts
 * and their translations (a text whose values the pass lacks is left out).
 */
function translationsOf(template: TemplateRow, values: Record<string, unknown>) {
  const render = compileTemplate({}).renderText;
  const out: Record<string, Record<string, string>> = {};
  for (const [lang, table] of Object.entries(stringsOf(template))) {
    const rendered: Record<string, string> = {};
    for (const [text, translation] of Object.entries(table)) {
      try {
        rendered[render(text, values)] = render(translation, values);
      } catch (err) {
        if (!(err instanceof MissingValuesError)) throw err;
      }
    }
    out[lang] = rendered;
  }
  return out;
}

/**
 * The class suffix: one class per template, patched when the template changes (Google keeps an object in the class
 * it was saved with, so a class per version would leave saved passes behind on the old one).
 */
const classSuffixOf = (template: Pick<TemplateRow, 'id'>) => `t${template.id}`;
/** The object suffix: one object per pass, by its public id. */
export const objectSuffixOf = (pass: Pick<PassRow, 'publicId'>) => `p${pass.publicId}`;

const languageOf = (body: JsonObject) =>
  typeof body.language === 'string' && body.language ? body.language : 'en';

/** Where Google posts its save and delete callbacks for an account's classes. */
export const googleCallbackUrl = (publicUrl: string): string => `${publicUrl}/google/callback`;

/** A template's class as Google gets it: the mapping, with the callback URL of its saves and deletes. */
async function classOf(app: App, account: GoogleAccount, template: TemplateRow) {
  const body = JSON.parse(template.body) as JsonObject;
  const { images, warnings } = await imagesOf(app, template);
  const context = {
    issuerId: account.issuerId,
    classSuffix: classSuffixOf(template),
    language: languageOf(body),
    images,
    publicUrl: app.config.publicUrl,
    translations: stringsOf(template),
  };
  const cls = classFor(body, context);
  cls.json.callbackOptions = { url: googleCallbackUrl(app.config.publicUrl) };
  cls.warnings.push(...warnings);
  return { cls, context };
}

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
    const { cls } = await classOf(ctx.app, await requireAccount(ctx), template);
    return { type: cls.type, warnings: cls.warnings, class: cls.json };
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

/** A pass's Google Wallet class and object as they are now, and the pass.json they come from. */
export async function googleModel(
  app: App,
  account: GoogleAccount,
  pass: PassRow,
  passType: PassTypeRow,
  template: TemplateRow,
): Promise<{ cls: MappedClass; obj: MappedClass; rendered: JsonObject }> {
  const rendered = JSON.parse(await currentPassJson(app, pass, passType)) as JsonObject;
  const { cls, context } = await classOf(app, account, template);
  const obj = objectFor(rendered, {
    ...context,
    translations: translationsOf(template, JSON.parse(pass.values) as Record<string, unknown>),
    objectSuffix: objectSuffixOf(pass),
    state: stateOf(pass, rendered, app.clock.now()),
  });
  return { cls, obj, rendered };
}

const googleObjectOf = preparedIn(1, (db, passId: number) =>
  db.selectFrom('googleObjects').selectAll().where('passId', '=', passId),
);

const Sync = Type.Object(
  {
    inserted: Type.Boolean({ description: 'Google has the object (inserted through its API, or saved)' }),
    syncedVersion: Type.Integer({ description: 'the pass version Google has' }),
    saved: Type.Boolean({ description: "the pass is in a holder's Google Wallet" }),
    error: Type.Union([Type.String(), Type.Null()], {
      description: "Google's refusal of the last sync, until one succeeds",
    }),
  },
  { description: 'what Google Wallet has of the pass' },
);

export const getPassGoogle = defineAction({
  name: 'get_pass_google',
  title: "Get a pass's Save to Google Wallet link",
  description:
    'Returns the "Save to Google Wallet" link of a pass (a JWT signed with the account\'s service account, carrying ' +
    "the pass's object, or only its id once Google has it), the object as it is now, warnings for what cannot map, " +
    'and what Google has (inserted, the version synced, saved to a wallet, its last refusal). Needs Google Wallet ' +
    'connected (set_google_wallet).',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object(PassRef),
  output: Type.Object({
    saveUrl: Type.String(),
    ...Mapped.properties,
    object: Type.Record(Type.String(), Type.Unknown()),
    sync: Sync,
  }),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const { template } = await findTemplateAndPassType(ctx, { id: pass.templateId });
    const google = await googlePass(ctx.app, await requireAccount(ctx), pass, passType, template);
    const [row] = await googleObjectOf(ctx.app.db, pass.id);
    return {
      ...google,
      sync: {
        inserted: !!row?.inserted,
        syncedVersion: row?.syncedVersion ?? 0,
        saved: !!row?.saved,
        error: row?.error ?? null,
      },
    };
  },
});

/**
 * A pass's Google Wallet object and its save link: once Google has the object, the link names only its id and class
 * (a "skinny" JWT: short, and Google shows the object as last synced); before, it carries the class and the object.
 */
export async function googlePass(
  app: App,
  account: GoogleAccount,
  pass: PassRow,
  passType: PassTypeRow,
  template: TemplateRow,
): Promise<{ saveUrl: string; type: string; warnings: string[]; object: JsonObject }> {
  const { cls, obj } = await googleModel(app, account, pass, passType, template);
  const [row] = await googleObjectOf(app.db, pass.id);
  const payload: JsonObject = row?.inserted
    ? { [payloadKeyOf(obj.type, 'Objects')]: [{ id: obj.json.id!, classId: obj.json.classId! }] }
    : { [payloadKeyOf(cls.type, 'Classes')]: [cls.json], [payloadKeyOf(obj.type, 'Objects')]: [obj.json] };
  const saveUrl = saveLink(account, [new URL(app.config.publicUrl).origin], payload, app.clock.now());
  return { saveUrl, type: obj.type, warnings: [...cls.warnings, ...obj.warnings], object: obj.json };
}

/** The save link of a pass found by its public link, for the pass page's Google Wallet button. */
export async function googleSaveUrlOf(ctx: ActionContext, pass: PassRow): Promise<string> {
  const account = await googleAccountOf(ctx.app, pass.accountId);
  if (!account) throw notFound('Google Wallet for this pass');
  const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
  const template = await ctx.app.rows.template(ctx.app.db, pass.templateId);
  return (await googlePass(ctx.app, account, pass, passType, template)).saveUrl;
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

const CallbackPayload = Type.Object({
  signature: Type.String({ maxLength: 1000 }),
  intermediateSigningKey: Type.Object({
    signedKey: Type.String({ maxLength: 2000 }),
    signatures: Type.Array(Type.String({ maxLength: 1000 }), { minItems: 1, maxItems: 10 }),
  }),
  protocolVersion: Type.String({ maxLength: 50 }),
  signedMessage: Type.String({ maxLength: 4000 }),
});

/** The issuer a class or object id belongs to, and its suffix: "<issuer>.<suffix>". */
function splitId(id: string): { issuer: string; suffix: string } {
  const dot = id.indexOf('.');
  return dot < 0 ? { issuer: '', suffix: id } : { issuer: id.slice(0, dot), suffix: id.slice(dot + 1) };
}

const passOfObject = preparedIn(2, (db, issuerId: string, publicId: string) =>
  db
    .selectFrom('passes')
    .innerJoin('accounts', 'accounts.id', 'passes.accountId')
    .selectAll('passes')
    .where('accounts.googleIssuerId', '=', issuerId)
    .where('passes.publicId', '=', publicId),
);

export const receiveGoogleCallback = defineAction({
  name: 'receive_google_callback',
  title: "Take Google Wallet's save and delete callbacks",
  description:
    'Takes a callback Google Wallet posts when a holder saves a pass or deletes it (POST /google/callback): verifies ' +
    "Google's signature (ECv2SigningOnly, the keys from PASSSLOT_GOOGLE_KEYS_URL; else 403, nothing kept), ignores a " +
    'nonce already seen, and writes registration.created or registration.deleted with "wallet": "google". Run by ' +
    'Passslot for those requests.',
  scope: 'system',
  mutates: true,
  input: Type.Object({ payload: Type.String({ maxLength: 20_000 }) }),
  output: Type.Object({ recorded: Type.Boolean() }),
  async handler(ctx, input) {
    let body: Static<typeof CallbackPayload>;
    try {
      body = JSON.parse(input.payload) as Static<typeof CallbackPayload>;
    } catch {
      throw badRequest('the callback is not JSON');
    }
    if (!Value.Check(CallbackPayload, body))
      throw badRequest(
        'the callback lacks signature, intermediateSigningKey, protocolVersion or signedMessage',
      );
    // the recipient the signature binds is the issuer named in the message (checked by the signature)
    let claimed: { classId?: unknown };
    try {
      claimed = JSON.parse(body.signedMessage) as { classId?: unknown };
    } catch {
      throw badRequest('the signed message is not JSON');
    }
    const recipientId = splitId(typeof claimed.classId === 'string' ? claimed.classId : '').issuer;
    const verifyWith = (rootKeys: SigningKey[]) =>
      verifyCallback(body, { recipientId, rootKeys, now: ctx.app.clock.now() });
    let message: CallbackMessage;
    try {
      const url = ctx.app.config.googleKeysUrl;
      try {
        message = verifyWith(await ctx.app.google.signingKeys(url));
      } catch (err) {
        if (!(err instanceof CallbackError)) throw err;
        // Google may have started signing with a key published since the keys were fetched
        message = verifyWith(await ctx.app.google.signingKeys(url, true));
      }
    } catch (err) {
      if (err instanceof CallbackError)
        throw new AppError('invalid_signature', `Google callback: ${err.message}`);
      throw err;
    }
    const { issuer, suffix } = splitId(message.objectId);
    const [pass] = suffix.startsWith('p') ? await passOfObject(ctx.app.db, issuer, suffix.slice(1)) : [];
    if (!pass) {
      ctx.app.log.warn(
        { objectId: message.objectId },
        'Google callback for an object that is not a pass here',
      );
      return { recorded: false };
    }
    const passType = await ctx.app.rows.passType(ctx.app.db, pass.passTypeId);
    const now = ctx.app.clock.now();
    const recorded = await withEvents(ctx.app, async (trx) => {
      const fresh = await trx
        .insertInto('googleCallbacks')
        .values({ nonce: message.nonce, createdAt: now.toISOString() })
        .onConflict((oc) => oc.column('nonce').doNothing())
        .executeTakeFirst();
      if (Number(fresh.numInsertedOrUpdatedRows ?? 0) === 0) return false; // delivered again
      const saved = message.eventType === 'save' ? 1 : 0;
      // a saved object is one Google has: later syncs patch it and its link names only its id
      await trx
        .insertInto('googleObjects')
        .values({
          passId: pass.id,
          accountId: pass.accountId,
          objectId: message.objectId,
          inserted: 1,
          syncedVersion: 0,
          message: null,
          error: null,
          saved,
          updatedAt: now.toISOString(),
        })
        .onConflict((oc) =>
          oc.column('passId').doUpdateSet({ saved, inserted: 1, updatedAt: now.toISOString() }),
        )
        .execute();
      await appendEvent(
        trx,
        registrationEvent(saved ? 'registration.created' : 'registration.deleted', pass, passType, null, {
          wallet: 'google',
          objectId: message.objectId,
        }),
        now,
      );
      return true;
    });
    return { recorded };
  },
});

export const googleActions = [
  receiveGoogleCallback,
  getTemplateGoogleImage,
  setGoogleWallet,
  getGoogleWallet,
  deleteGoogleWallet,
  getTemplateGoogle,
  getPassGoogle,
];
