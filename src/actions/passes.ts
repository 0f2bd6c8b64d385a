// The pass actions: issuing, reading, changing, notifying, revoking and deleting passes.
import { randomUUID } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { randomToken as token } from '../auth/tokens.js';
import { type BuiltPass, PKPASS_MIME } from '../engine/index.js';
import { AppError, type FieldError, invalid } from '../errors.js';
import { passEvent, passLink } from '../events/payloads.js';
import { enqueueGoogleSync, queueGoogleSyncIfConnected, wakeGoogleSync } from '../google/sync-queue.js';
import { buildOr422, currentPassJson, currentPkpass, storeRender } from '../render/current.js';
import { appendEvent, withEvents } from '../store/events.js';
import { preparedRows } from '../store/prepared.js';
import type { PassRow, PassTypeRow } from '../store/schema.js';
import {
  checkPassTypeAllowed,
  findPass,
  findPassType,
  findPassValues,
  findTemplateAndPassType,
} from './access.js';
import { googleAccountOf, googleLink, googlePass } from './google.js';
import { queuePassMessage } from './messages.js';
import { changeCursor, changeKeyOf, keyOf, pageOf } from './paging.js';
import { decodeImages, imageFiles, type NormalizedImage } from './pass-images.js';
import { lastModifiedAfter, nextUpdateTag, writePassVersion } from './pass-versions.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import {
  Empty,
  Id,
  ImageInput,
  ListFilters,
  Owner,
  PassCreated,
  type PassListItem,
  PassPage,
  PassRef,
  PassStatus,
  Values,
} from './schemas.js';

// ---------------------------------------------------------------------------------------------------------------
// Issuing

/** Every column of a new pass (the id comes back). */
const insertPass = preparedRows(
  'passes',
  [
    'accountId',
    'passTypeId',
    'templateId',
    'serialNumber',
    'authToken',
    'publicId',
    'linkToken',
    'values',
    'status',
    'price',
    'ownerEmail',
    'ownerUserId',
    'ownerExternalId',
    'ownerPhone',
    'notification',
    'voided',
    'version',
    'createdAt',
    'updatedAt',
    'deletedAt',
    'updateTag',
    'modifiedAt',
    'personalization',
  ],
  { returningId: true },
);

/** A new pass's row, before it is built and stored (its id comes with the insert). */
function draftPass(
  ctx: ActionContext,
  ids: { passTypeId: number; templateId: number },
  input: {
    values: Static<typeof Values>;
    email?: string;
    userId?: string;
    externalId?: string;
    phone?: string;
  },
  now: Date,
): PassRow {
  return {
    id: 0,
    accountId: ctx.grant.accountId,
    passTypeId: ids.passTypeId,
    templateId: ids.templateId,
    serialNumber: randomUUID(),
    authToken: token(32),
    publicId: token(12),
    linkToken: token(16),
    values: JSON.stringify(input.values),
    status: 'valid',
    price: null,
    ownerEmail: input.email ?? null,
    ownerUserId: input.userId ?? null,
    ownerExternalId: input.externalId ?? null,
    ownerPhone: input.phone ?? null,
    notification: null,
    voided: 0,
    version: 1,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    deletedAt: null,
    updateTag: 0,
    modifiedAt: lastModifiedAfter(null, now),
    personalization: null,
    relevance: null,
    redemptions: 0,
  };
}

/** Stores built passes (rows, their first version, their images, their pass.created events) in one transaction. */
async function storeIssued(
  ctx: ActionContext,
  passType: PassTypeRow,
  issued: { draft: PassRow; built: BuiltPass; images?: NormalizedImage[] }[],
  now: Date,
  google: boolean,
): Promise<void> {
  await withEvents(ctx.app, async (trx) => {
    for (const { draft } of issued) draft.updateTag = await nextUpdateTag(trx, passType.id);
    const inserted = await insertPass(
      trx,
      issued.map(({ draft: { id: _omit, ...row } }) => row),
    );
    for (const [i, { draft, built, images }] of issued.entries()) {
      draft.id = inserted[i]!.id;
      for (const img of images ?? [])
        await trx
          .insertInto('images')
          .values({
            accountId: draft.accountId,
            ownerKind: 'pass',
            ownerId: draft.id,
            type: img.type,
            scale: img.scale,
            width: img.width,
            height: img.height,
            data: img.data,
            createdAt: draft.createdAt,
          })
          .execute();
      await storeRender(trx, draft.id, 1, built, now);
      await appendEvent(trx, passEvent('pass.created', ctx.app.config.publicUrl, draft, passType), now);
    }
    // the passes' Google Wallet objects are inserted after the commit
    if (google)
      await enqueueGoogleSync(
        ctx.app,
        trx,
        passType.accountId,
        issued.map(({ draft }) => draft.id),
        now,
      );
  });
  if (google) wakeGoogleSync(ctx.app);
}

export const createPass = defineAction({
  name: 'create_pass',
  title: 'Create a pass',
  description:
    'Issues a new Wallet pass from a template: give templateId (or templateName) and the values of its placeholders. ' +
    'Optionally record the holder (email, userId, externalId, phone) and per-pass images. Returns the serial number and the ' +
    'link to send to the holder. Fails with the missing placeholder names, or with what Wallet would reject.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    templateId: Type.Optional(Id),
    templateName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    values: Values,
    ...Owner,
    images: Type.Optional(Type.Array(ImageInput, { maxItems: 30 })),
  }),
  output: PassCreated,
  async handler(ctx, input) {
    if (input.templateId === undefined && input.templateName === undefined)
      throw invalid([{ field: 'templateId', reasons: ['give templateId or templateName'] }]);
    const { template, passType, googleWallet } = await findTemplateAndPassType(
      ctx,
      input.templateId !== undefined ? { id: input.templateId } : { name: input.templateName! },
    );
    checkPassTypeAllowed(ctx, passType.passTypeIdentifier);
    await restrictionRoom(ctx, template.id, template.restrictions);
    const images = await decodeImages(input.images);
    const now = ctx.app.clock.now();
    const draft = draftPass(ctx, { passTypeId: passType.id, templateId: template.id }, input, now);
    const built = await buildOr422(ctx.app, draft, template, passType, imageFiles(images));
    await storeIssued(ctx, passType, [{ draft, built, images }], now, googleWallet);
    const google = googleWallet ? await googleAccountOf(ctx.app, passType.accountId) : undefined;
    return {
      serialNumber: draft.serialNumber,
      passTypeIdentifier: passType.passTypeIdentifier,
      url: passUrl(ctx, draft),
      ...(google
        ? {
            googleUrl: googleLink(ctx.app.config.publicUrl, draft),
            googleSaveUrl: (await googlePass(ctx.app, google, draft, passType, template)).saveUrl,
          }
        : {}),
    };
  },
});

/** The most passes one create_passes call issues. */
export const MAX_BATCH = 1000;

export const createPasses = defineAction({
  name: 'create_passes',
  title: 'Create many passes',
  description:
    `Issues up to ${MAX_BATCH} passes from one template in one call, for importers and agents: each item has the values ` +
    'of its placeholders and optionally its holder (email, userId, externalId, phone). Every valid item is issued (in ' +
    'one transaction); the answer lists the passes created and, by index, the items refused with their field errors ' +
    '(or the template closing when its quantityRestriction runs out). Example: {"templateId": 3, "passes": ' +
    '[{"values": {"firstName": "Ada"}, "email": "ada@example.com"}]}.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    templateId: Id,
    passes: Type.Array(Type.Object({ values: Values, ...Owner }), { minItems: 1, maxItems: MAX_BATCH }),
  }),
  output: Type.Object({
    created: Type.Array(Type.Object({ index: Type.Integer(), ...PassCreated.properties })),
    failed: Type.Array(
      Type.Object({
        index: Type.Integer(),
        message: Type.String(),
        errors: Type.Array(Type.Object({ field: Type.String(), reasons: Type.Array(Type.String()) })),
      }),
    ),
  }),
  async handler(ctx, input) {
    const { template, passType, googleWallet } = await findTemplateAndPassType(ctx, { id: input.templateId });
    checkPassTypeAllowed(ctx, passType.passTypeIdentifier);
    const room = await restrictionRoom(ctx, template.id, template.restrictions);
    const now = ctx.app.clock.now();
    const failed: { index: number; message: string; errors: FieldError[] }[] = [];
    const built: ({ index: number; draft: PassRow; built: BuiltPass } | undefined)[] = [];
    const buildOne = async (index: number, here: boolean) => {
      const item = input.passes[index]!;
      if (index >= room) {
        failed.push({
          index,
          message: 'the template has issued its passes (quantityRestriction)',
          errors: [],
        });
        return;
      }
      const draft = draftPass(ctx, { passTypeId: passType.id, templateId: template.id }, item, now);
      try {
        built[index] = {
          index,
          draft,
          built: await buildOr422(ctx.app, draft, template, passType, {}, here),
        };
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 422) throw err;
        failed.push({
          index,
          message: err.message,
          errors: err.errors.map((e) => ({ ...e, field: `passes[${index}].${e.field}` })),
        });
      }
    };
    // lanes take the next item in turn: two per render thread (so none waits for its next message) and one on this
    // thread, which would otherwise only wait for them
    const threads = ctx.app.renderer.threads;
    let next = 0;
    await Promise.all(
      Array.from({ length: threads * 2 + 1 }, async (_, lane) => {
        const here = lane === threads * 2;
        for (let i = next++; i < input.passes.length; i = next++) {
          await buildOne(i, here);
          // a build here never waits: let the render threads' answers in between
          if (here && threads > 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    const issued = built.filter((b) => b !== undefined);
    if (issued.length) await storeIssued(ctx, passType, issued, now, googleWallet);
    return {
      created: issued.map(({ index, draft }) => ({
        index,
        serialNumber: draft.serialNumber,
        passTypeIdentifier: passType.passTypeIdentifier,
        url: passUrl(ctx, draft),
        ...(googleWallet ? { googleUrl: googleLink(ctx.app.config.publicUrl, draft) } : {}),
      })),
      failed: failed.sort((a, b) => a.index - b.index),
    };
  },
});

/** How many more passes the template may issue now (Infinity without a quantityRestriction); 403 when none. */
async function restrictionRoom(
  ctx: ActionContext,
  templateId: number,
  restrictionsJson: string,
): Promise<number> {
  const r = JSON.parse(restrictionsJson) as { quantityRestriction?: number; dateRestriction?: string };
  if (r.dateRestriction && Date.parse(r.dateRestriction) < ctx.app.clock.now().getTime())
    throw new AppError(
      'template_closed',
      `the template stopped issuing passes on ${r.dateRestriction} (dateRestriction)`,
    );
  if (r.quantityRestriction === undefined) return Number.POSITIVE_INFINITY;
  const { n } = await ctx.app.db
    .selectFrom('passes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('templateId', '=', templateId)
    .executeTakeFirstOrThrow();
  const room = r.quantityRestriction - Number(n);
  if (room <= 0)
    throw new AppError(
      'template_closed',
      `the template has issued its ${r.quantityRestriction} passes (quantityRestriction)`,
    );
  return room;
}

// ---------------------------------------------------------------------------------------------------------------
// Lists

type Filters = Static<ReturnType<typeof Type.Object<typeof ListFilters>>> & { passTypeIdentifier?: string };

async function listPasses(ctx: ActionContext, f: Filters): Promise<Static<typeof PassPage>> {
  const limit = f.limit ?? 100;
  let q = ctx.app.db
    .selectFrom('passes')
    .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
    .selectAll('passes')
    .select('passTypes.passTypeIdentifier as ptid')
    .where('passes.accountId', '=', ctx.grant.accountId)
    .where('passes.deletedAt', 'is', null);
  if (f.passTypeIdentifier) q = q.where('passTypes.passTypeIdentifier', '=', f.passTypeIdentifier);
  if (f.email) q = q.where('passes.ownerEmail', '=', f.email);
  if (f.userId) q = q.where('passes.ownerUserId', '=', f.userId);
  if (f.externalId) q = q.where('passes.ownerExternalId', '=', f.externalId);
  if (f.status) q = q.where('passes.status', '=', f.status);
  if (f.templateId) q = q.where('passes.templateId', '=', f.templateId);
  if (f.updatedSince) q = q.where('passes.updatedAt', '>=', new Date(f.updatedSince).toISOString());
  if (ctx.grant.templateIds)
    q = q.where('passes.templateId', 'in', ctx.grant.templateIds.length ? ctx.grant.templateIds : [-1]);
  if (ctx.grant.passTypeIds)
    q = q.where(
      'passTypes.passTypeIdentifier',
      'in',
      ctx.grant.passTypeIds.length ? ctx.grant.passTypeIds : [''],
    );
  if (f.updatedSince) {
    // changes since a time come in the order they happened (the account's change index): a sync reads what changed
    // and, with the next page, what changed since, however many passes there are
    const after = changeKeyOf(f.cursor);
    if (after)
      // a row comparison, which both databases read as a range of the (account_id, updated_at, id) index
      q = q.where((eb) =>
        eb(eb.refTuple('passes.updatedAt', 'passes.id'), '>', eb.tuple(after.updatedAt, after.id)),
      );
    const rows = await q
      .orderBy('passes.updatedAt')
      .orderBy('passes.id')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      passes: items.map((r) => listItem(ctx, r, r.ptid)),
      nextCursor: rows.length > limit && last ? changeCursor(last.updatedAt, last.id) : null,
    };
  }
  const after = keyOf(f.cursor);
  if (after !== undefined) q = q.where('passes.id', '>', after);
  const rows = await q
    .orderBy('passes.id')
    .limit(limit + 1)
    .execute();
  const { items, nextCursor } = pageOf(rows, limit, (r) => r.id);
  return { passes: items.map((r) => listItem(ctx, r, r.ptid)), nextCursor };
}

export const getPasses = defineAction({
  name: 'get_passes',
  title: 'List passes',
  description:
    'Lists the passes of the account, oldest first, a page at a time (limit up to 1000, then pass nextCursor as cursor). ' +
    'Filters: status, templateId, updatedSince (then in the order of last change: a sync), and the holder (email, ' +
    'userId, externalId).',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object(ListFilters),
  output: PassPage,
  handler: (ctx, input) => listPasses(ctx, input),
});

export const getPassesByPassType = defineAction({
  name: 'get_passes_by_pass_type',
  title: 'List the passes of one pass type',
  description:
    'Lists the passes issued under one pass type id (e.g. pass.com.example.member), with the same filters and paging as get_passes.',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object({ passTypeIdentifier: PassRef.passTypeIdentifier, ...ListFilters }),
  output: PassPage,
  async handler(ctx, input) {
    await findPassType(ctx, input.passTypeIdentifier);
    return listPasses(ctx, input);
  },
});

export const searchPassesByUser = defineAction({
  name: 'search_passes_by_user',
  title: 'Find the passes of a person',
  description:
    'Finds the passes held by one person, by their email, your userId for them, or their externalId (e.g. a CRM id). ' +
    'Give at least one of the three. Use this to answer "which passes does this customer have?".',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object(ListFilters),
  output: PassPage,
  async handler(ctx, input) {
    if (!input.email && !input.userId && !input.externalId)
      throw invalid([{ field: 'email', reasons: ['give email, userId or externalId'] }]);
    const page = await listPasses(ctx, input);
    const wallets = await walletsOf(
      ctx,
      page.passes.map((p) => p.serialNumber),
    );
    return {
      ...page,
      passes: page.passes.map((p) => ({
        ...p,
        wallets: wallets.get(`${p.passTypeIdentifier}\n${p.serialNumber}`) ?? [],
      })),
    };
  },
});

/** The wallets holding each of the account's passes with these serial numbers, by pass type and serial number. */
async function walletsOf(
  ctx: ActionContext,
  serialNumbers: string[],
): Promise<Map<string, ('apple' | 'google')[]>> {
  const out = new Map<string, ('apple' | 'google')[]>();
  if (serialNumbers.length === 0) return out;
  const rows = await ctx.app.db
    .selectFrom('passes')
    .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
    .select(['passes.serialNumber', 'passTypes.passTypeIdentifier'])
    .select((eb) =>
      eb
        .exists(
          eb.selectFrom('registrations').select('passId').whereRef('registrations.passId', '=', 'passes.id'),
        )
        .as('apple'),
    )
    .select((eb) =>
      eb
        .selectFrom('googleObjects')
        .select('googleObjects.saved')
        .whereRef('googleObjects.passId', '=', 'passes.id')
        .as('google'),
    )
    .where('passes.accountId', '=', ctx.grant.accountId)
    .where('passes.serialNumber', 'in', serialNumbers)
    .execute();
  for (const r of rows)
    out.set(`${r.passTypeIdentifier}\n${r.serialNumber}`, [
      ...(r.apple ? (['apple'] as const) : []),
      ...(r.google ? (['google'] as const) : []),
    ]);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading one pass

const Ref = Type.Object(PassRef);

export const getPassDetails = defineAction({
  name: 'get_pass_details',
  title: 'Get everything about a pass',
  description:
    'Returns one pass in full: its placeholder values, status, price, holder, template, version, link and timestamps, ' +
    'the devices it is installed on, its recent pushes (APNs status and reason), downloads and Wallet log messages. ' +
    'Use it before changing a pass, or to answer questions about one ("is it installed? did the update reach the phone?").',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Type.Object({
    serialNumber: Type.String(),
    passTypeIdentifier: Type.String(),
    values: Values,
    status: Type.String(),
    price: Type.Union([Type.Number(), Type.Null()]),
    owner: Type.Object({
      email: Type.Union([Type.String(), Type.Null()]),
      userId: Type.Union([Type.String(), Type.Null()]),
      externalId: Type.Union([Type.String(), Type.Null()]),
      phone: Type.Union([Type.String(), Type.Null()]),
    }),
    template: Type.Object({ id: Type.Integer(), name: Type.String() }),
    notification: Type.Union([Type.String(), Type.Null()]),
    voided: Type.Boolean(),
    version: Type.Integer(),
    url: Type.String(),
    googleUrl: Type.Union([Type.String(), Type.Null()], {
      description:
        'the link that saves the pass to Google Wallet; null when the account has no Google Wallet',
    }),
    googleSaveUrl: Type.Union([Type.String(), Type.Null()], {
      description:
        'the "Save to Google Wallet" link itself (https://pay.google.com/gp/v/save/<JWT>); null without Google Wallet',
    }),
    wallets: Type.Array(Type.Union([Type.Literal('apple'), Type.Literal('google')]), {
      description: 'the wallets that hold the pass now',
    }),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    personalization: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
    devices: Type.Array(Type.Object({ deviceLibraryIdentifier: Type.String(), registeredAt: Type.String() })),
    pushes: Type.Array(
      Type.Object({
        deviceLibraryIdentifier: Type.String(),
        status: Type.Integer({ description: 'the APNs HTTP status; 0 when APNs did not answer' }),
        reason: Type.Union([Type.String(), Type.Null()]),
        apnsId: Type.Union([Type.String(), Type.Null()]),
        at: Type.String(),
      }),
      { description: 'the last 50 pushes, newest first' },
    ),
    downloads: Type.Integer({ description: 'times the pass link served the .pkpass' }),
    logs: Type.Array(Type.Object({ message: Type.String(), at: Type.String() }), {
      description: "Wallet's last 20 log messages about this pass",
    }),
  }),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const db = ctx.app.db;
    const devices = await db
      .selectFrom('registrations')
      .innerJoin('devices', 'devices.id', 'registrations.deviceId')
      .select(['devices.deviceLibraryIdentifier', 'registrations.createdAt as registeredAt'])
      .where('registrations.passId', '=', pass.id)
      .orderBy('registrations.createdAt')
      .execute();
    const pushes = await db
      .selectFrom('pushLog')
      .select(['deviceLibraryIdentifier', 'status', 'reason', 'apnsId', 'createdAt as at'])
      .where('passId', '=', pass.id)
      .orderBy('id', 'desc')
      .limit(50)
      .execute();
    const { n: downloads } = await db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('passId', '=', pass.id)
      .where('type', '=', 'pass.downloaded')
      .executeTakeFirstOrThrow();
    const logs = await db
      .selectFrom('walletLogs')
      .select(['message', 'createdAt as at'])
      .where('passId', '=', pass.id)
      .orderBy('id', 'desc')
      .limit(20)
      .execute();
    const template = await ctx.app.db
      .selectFrom('templates')
      .select(['id', 'name'])
      .where('id', '=', pass.templateId)
      .executeTakeFirstOrThrow();
    const google = await googleAccountOf(ctx.app, pass.accountId);
    return {
      serialNumber: pass.serialNumber,
      passTypeIdentifier: passType.passTypeIdentifier,
      values: JSON.parse(pass.values),
      status: pass.status,
      price: pass.price,
      owner: {
        email: pass.ownerEmail,
        userId: pass.ownerUserId,
        externalId: pass.ownerExternalId,
        phone: pass.ownerPhone,
      },
      template,
      notification: pass.notification,
      voided: pass.voided === 1,
      version: pass.version,
      url: passUrl(ctx, pass),
      googleUrl: google ? googleLink(ctx.app.config.publicUrl, pass) : null,
      googleSaveUrl: google
        ? (
            await googlePass(
              ctx.app,
              google,
              pass,
              passType,
              await ctx.app.rows.template(db, pass.templateId),
            )
          ).saveUrl
        : null,
      wallets:
        (await walletsOf(ctx, [pass.serialNumber])).get(
          `${passType.passTypeIdentifier}\n${pass.serialNumber}`,
        ) ?? [],
      createdAt: pass.createdAt,
      updatedAt: pass.updatedAt,
      personalization: pass.personalization ? JSON.parse(pass.personalization) : null,
      devices,
      pushes,
      downloads: Number(downloads),
      logs,
    };
  },
});

export const getPassValues = defineAction({
  name: 'get_pass_values',
  title: 'Get the values of a pass',
  description: 'Returns the placeholder values of one pass as a flat object.',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Values,
  async handler(ctx, input) {
    return JSON.parse(await findPassValues(ctx, input.passTypeIdentifier, input.serialNumber));
  },
});

export const getPassJson = defineAction({
  name: 'get_pass_json',
  title: 'Get the pass.json of a pass',
  description: 'Returns the pass.json of the current version of a pass, as Wallet receives it.',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Type.Record(Type.String(), Type.Unknown()),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    return JSON.parse(await currentPassJson(ctx.app, pass, passType));
  },
});

export const getPassUrl = defineAction({
  name: 'get_pass_url',
  title: 'Get the link of a pass',
  description:
    'Returns the link that installs the pass: phones get the .pkpass, browsers a page with a download button.',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Type.Object({ url: Type.String() }),
  async handler(ctx, input) {
    const { pass } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    return { url: passUrl(ctx, pass) };
  },
});

export const getPassStatus = defineAction({
  name: 'get_pass_status',
  title: 'Get the status of a pass',
  description: 'Returns the status of a pass: valid, invalid, redeemed, unpaid, locked or incomplete.',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Type.Object({ status: Type.String() }),
  async handler(ctx, input) {
    const { pass } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    return { status: pass.status };
  },
});

export const getPassPrice = defineAction({
  name: 'get_pass_price',
  title: 'Get the price of a pass',
  description: 'Returns the price set on a pass, or null.',
  scope: 'passes:read',
  mutates: false,
  input: Ref,
  output: Type.Object({ price: Type.Union([Type.Number(), Type.Null()]) }),
  async handler(ctx, input) {
    const { pass } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    return { price: pass.price };
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Changing a pass

export const updatePass = defineAction({
  name: 'update_pass',
  title: 'Change the values of a pass',
  description:
    'Changes placeholder values of a pass (the others keep theirs). The pass is re-rendered and every device that ' +
    'installed it is told to update. Returns all the values after the change.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...PassRef, values: Values }),
  output: Values,
  async handler(ctx, input) {
    const found = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const { pass } = await writePassVersion(
      ctx,
      found,
      (current) => ({ values: JSON.stringify({ ...JSON.parse(current.values), ...input.values }) }),
      { type: 'pass.updated', extra: { changed: Object.keys(input.values) } },
    );
    return JSON.parse(pass.values);
  },
});

export const setPassStatus = defineAction({
  name: 'set_pass_status',
  title: 'Set the status of a pass',
  description:
    'Sets the status (valid, invalid, redeemed, unpaid, locked, incomplete). As in PassSlot this changes only the ' +
    'status: the pass on the phone is not updated. To make a pass unusable on the phone, use revoke_pass.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...PassRef, status: PassStatus }),
  output: Type.Object({ status: PassStatus }),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await changeStatusOnly(ctx, pass, passType, { status: input.status });
    return { status: input.status };
  },
});

async function changeStatusOnly(
  ctx: ActionContext,
  pass: PassRow,
  passType: Awaited<ReturnType<typeof findPass>>['passType'],
  change: { status: string; price?: number | null },
): Promise<void> {
  const now = ctx.app.clock.now();
  let google = false;
  await withEvents(ctx.app, async (trx) => {
    await trx
      .updateTable('passes')
      .set({ ...change, updatedAt: now.toISOString() })
      .where('id', '=', pass.id)
      .execute();
    // Google shows the status (a redeemed pass is completed, an invalid one expired)
    if (change.status !== pass.status) google = await queueGoogleSyncIfConnected(ctx.app, trx, pass, now);
    if (change.status !== pass.status)
      await appendEvent(
        trx,
        passEvent(
          'pass.status_changed',
          ctx.app.config.publicUrl,
          { ...pass, status: change.status },
          passType,
          {
            oldStatus: pass.status,
            newStatus: change.status,
          },
        ),
        now,
      );
  });
  if (google) wakeGoogleSync(ctx.app);
}

export const setPassPrice = defineAction({
  name: 'set_pass_price',
  title: 'Set the price of a pass',
  description: 'Sets a price on a pass; as in PassSlot the pass status becomes unpaid.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...PassRef, price: Type.Number({ minimum: 0, maximum: 1e9 }) }),
  output: Type.Object({ price: Type.Number() }),
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await changeStatusOnly(ctx, pass, passType, { status: 'unpaid', price: input.price });
    return { price: input.price };
  },
});

export const deletePassPrice = defineAction({
  name: 'delete_pass_price',
  title: 'Remove the price of a pass',
  description: 'Removes the price of a pass; an unpaid pass becomes valid again.',
  scope: 'passes:write',
  mutates: true,
  input: Ref,
  output: Empty,
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await changeStatusOnly(ctx, pass, passType, {
      status: pass.status === 'unpaid' ? 'valid' : pass.status,
      price: null,
    });
    return {};
  },
});

export const revokePass = defineAction({
  name: 'revoke_pass',
  title: 'Revoke a pass',
  description:
    'Makes a pass unusable: status invalid and the pass is voided on every phone that installed it (a push is sent). ' +
    'Give a reason for the record. The pass stays listed; use delete_pass to remove it.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...PassRef, reason: Type.Optional(Type.String({ maxLength: 500 })) }),
  output: Type.Object({ status: Type.String(), voided: Type.Boolean() }),
  async handler(ctx, input) {
    const found = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await writePassVersion(
      ctx,
      found,
      { status: 'invalid', voided: 1 },
      { type: 'pass.revoked', extra: { reason: input.reason ?? null, oldStatus: found.pass.status } },
    );
    return { status: 'invalid', voided: true };
  },
});

const Near = Type.Object(
  {
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
    radiusMeters: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: "the pass's maxDistance" }),
    ),
    text: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'shown on the lock screen near the place',
    }),
  },
  { additionalProperties: false },
);
const At = Type.String({ format: 'date-time' });

export const sendPassNotification = defineAction({
  name: 'send_pass_notification',
  title: 'Send a message to the lock screen of a pass holder',
  description:
    'Makes the pass speak on the lock screen of every phone holding it, one of three ways (give exactly one): ' +
    '`message` shows the text now (it goes into the pass’s notification field, a back field whose changeMessage is ' +
    '%@, added if the template has none, and a push is sent); `near` {latitude, longitude, radiusMeters?, text} makes ' +
    'Wallet surface the pass with the text when the phone comes within radiusMeters of the place (the pass’s own ' +
    'locations and maxDistance; Wallet also caps the distance by the pass style, about 100 m for most); `at` (an ISO ' +
    'date) with `text` makes Wallet surface it around that time (relevantDates), with the text in its notification ' +
    'field. The pass is pushed so phones pick the change up. Example: {"passTypeIdentifier": "pass.com.example", ' +
    '"serialNumber": "…", "near": {"latitude": 48.8584, "longitude": 2.2945, "radiusMeters": 100, "text": "Your ' +
    'table is ready"}}.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    ...PassRef,
    message: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    near: Type.Optional(Near),
    at: Type.Optional(At),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'with `at`: the message' })),
  }),
  output: Type.Object({
    message: Type.Union([Type.String(), Type.Null()]),
    relevance: Type.Optional(Type.Unknown({ description: 'with near or at: the pass’s own relevance now' })),
  }),
  async handler(ctx, input) {
    const ways = (['message', 'near', 'at'] as const).filter((k) => input[k] !== undefined);
    if (ways.length !== 1)
      throw invalid([{ field: 'message', reasons: ['give exactly one of message, near or at'] }]);
    if (input.at !== undefined && !input.text)
      throw invalid([{ field: 'text', reasons: ['is required with at'] }]);
    const found = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    const own = found.pass.relevance ? (JSON.parse(found.pass.relevance) as Record<string, unknown>) : {};
    let relevance: Record<string, unknown> | undefined;
    if (input.near) {
      const { latitude, longitude, radiusMeters, text } = input.near;
      relevance = { ...own, locations: [{ latitude, longitude, relevantText: text }] };
      if (radiusMeters !== undefined) relevance.maxDistance = radiusMeters;
    } else if (input.at) {
      // a moment: Wallet surfaces the pass from a little before to a little after it
      const at = new Date(input.at);
      const window = (minutes: number) => new Date(at.getTime() + minutes * 60_000).toISOString();
      relevance = { ...own, relevantDates: [{ startDate: window(-60), endDate: window(60) }] };
    }
    const message = input.message ?? input.text ?? null;
    await writePassVersion(
      ctx,
      found,
      {
        ...(message !== null ? { notification: message } : {}),
        ...(relevance ? { relevance: JSON.stringify(relevance) } : {}),
      },
      {
        type: 'pass.notified',
        extra: {
          message,
          ...(input.near ? { near: input.near } : {}),
          ...(input.at ? { at: input.at } : {}),
        },
      },
    );
    return relevance ? { message, relevance } : { message };
  },
});

export const syncPassState = defineAction({
  name: 'sync_pass_state',
  title: 'Re-render a pass and push it to phones',
  description:
    'Re-renders a pass from its template and values and tells every phone that holds it to fetch it, even when ' +
    'nothing changed (PassSlot push). Use after changing template images or when a phone shows an old version.',
  scope: 'passes:write',
  mutates: true,
  input: Ref,
  output: Empty,
  async handler(ctx, input) {
    const found = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await writePassVersion(ctx, found, {}, { type: 'pass.updated', extra: { reason: 'sync' } });
    return {};
  },
});

export const deletePass = defineAction({
  name: 'delete_pass',
  title: 'Delete a pass',
  description:
    'Deletes a pass: it disappears from the API and phones that installed it receive it voided, so it stops working. ' +
    'This cannot be undone.',
  scope: 'passes:write',
  mutates: true,
  input: Ref,
  output: Empty,
  async handler(ctx, input) {
    const found = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    await writePassVersion(
      ctx,
      found,
      { deletedAt: ctx.app.clock.now().toISOString(), voided: 1 },
      { type: 'pass.deleted' },
    );
    return {};
  },
});

export const emailPass = defineAction({
  name: 'email_pass',
  title: 'Email a pass',
  description:
    "Emails the pass to an address (default: the holder's email), with the .pkpass attached and its link. Sending is " +
    'queued and retried until the mail server accepts it; a delivery.sent event follows.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...PassRef, email: Type.Optional(Type.String({ format: 'email', maxLength: 320 })) }),
  output: Type.Object({ email: Type.String(), jobId: Type.Integer(), messageId: Type.Integer() }),
  async handler(ctx, input) {
    const { to, jobId, messageId } = await queuePassMessage(ctx, input, 'email', {
      to: input.email,
      toField: 'email',
    });
    return { email: to, jobId, messageId };
  },
});

export const downloadPass = defineAction({
  name: 'download_pass',
  title: 'Download the .pkpass of a pass',
  description:
    "Returns the signed .pkpass file of a pass's current version: the file Wallet installs (application/vnd.apple.pkpass).",
  scope: 'passes:read',
  mutates: false,
  answers: 'bytes',
  input: Ref,
  output: FileOut,
  async handler(ctx, input) {
    const { pass, passType } = await findPass(ctx, input.passTypeIdentifier, input.serialNumber);
    return {
      contentType: PKPASS_MIME,
      filename: `${pass.serialNumber}.pkpass`,
      data: await currentPkpass(ctx.app, pass, passType),
    };
  },
});

export const passUrl = (ctx: ActionContext, pass: Pick<PassRow, 'publicId' | 'linkToken'>): string =>
  passLink(ctx.app.config.publicUrl, pass);

export function listItem(ctx: ActionContext, pass: PassRow, passTypeIdentifier: string): PassListItem {
  return {
    serialNumber: pass.serialNumber,
    passType: passTypeIdentifier,
    passTypeIdentifier,
    templateId: pass.templateId,
    status: pass.status,
    email: pass.ownerEmail,
    userId: pass.ownerUserId,
    externalId: pass.ownerExternalId,
    createdAt: pass.createdAt,
    updatedAt: pass.updatedAt,
    url: passUrl(ctx, pass),
  };
}

export const passActions = [
  createPasses,
  createPass,
  getPasses,
  getPassesByPassType,
  searchPassesByUser,
  getPassDetails,
  downloadPass,
  getPassValues,
  getPassJson,
  getPassUrl,
  getPassStatus,
  getPassPrice,
  updatePass,
  setPassStatus,
  setPassPrice,
  deletePassPrice,
  revokePass,
  sendPassNotification,
  syncPassState,
  deletePass,
  emailPass,
];
