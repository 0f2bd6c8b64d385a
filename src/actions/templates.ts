// Template actions: PassSlot's templates (a pass.json body with ${placeholders}), their restrictions and links.
import { type Static, Type } from '@sinclair/typebox';
import { randomToken as token } from '../auth/tokens.js';
import {
  checkImageSet,
  compileTemplate,
  type ImageKind,
  imageFileName,
  type JsonObject,
  type JsonValue,
  PKPASS_MIME,
  type Problem,
  type Scale,
  validatePassJson,
} from '../engine/index.js';
import { conflict, fieldErrors, invalid } from '../errors.js';
import { buildOr422 } from '../render/current.js';
import type { Db } from '../store/db.js';
import { bumpedVersion } from '../store/db.js';
import { enqueueJob } from '../store/jobs.js';
import type { TemplateRow } from '../store/schema.js';
import { findPassType, findTemplate, passTypeById } from './access.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import { describedId, Empty, Id } from './schemas.js';

export const TemplateOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  formatVersion: Type.Integer(),
  passType: Type.String({ description: 'the pass type id the template issues passes under' }),
  description: Type.Record(Type.String(), Type.Unknown(), {
    description: 'the pass.json body with ${placeholders}',
  }),
  placeholder: Type.Array(Type.String(), { description: 'the placeholder names, in order of appearance' }),
});
type TemplateOut = Static<typeof TemplateOut>;

const TemplateIn = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  passType: Type.String({ minLength: 1, maxLength: 255, description: 'one of your pass type ids' }),
  description: Type.Record(Type.String(), Type.Unknown(), {
    description: 'pass.json body; ${name} placeholders in any string',
  }),
});

const Restrictions = Type.Object(
  {
    quantityRestriction: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
    redemptionRestriction: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
    passwordProtection: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
    dateRestriction: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
    sharingRestriction: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    signedBarcodes: Type.Optional(
      Type.Union([Type.Boolean(), Type.Null()], {
        description:
          'give each pass the barcode PS1:<serial number>:<signature> (an HMAC under a key of the account): a forged ' +
          'or edited code is refused at the door (POST /v1/scans) without a lookup',
      }),
    ),
  },
  { additionalProperties: false },
);

async function templateOut(ctx: ActionContext, row: TemplateRow): Promise<TemplateOut> {
  const passType = await passTypeById(ctx, row.passTypeId);
  const description = JSON.parse(row.body) as Record<string, unknown>;
  return {
    id: row.id,
    name: row.name,
    formatVersion: typeof description.formatVersion === 'number' ? description.formatVersion : 1,
    passType: passType.passTypeIdentifier,
    description,
    placeholder: JSON.parse(row.placeholders) as string[],
  };
}

function at(body: JsonValue, path: string): JsonValue | undefined {
  let node: JsonValue | undefined = body;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (node === null || typeof node !== 'object') return undefined;
    node = Array.isArray(node) ? node[Number(part)] : node[part];
  }
  return node;
}

/** The values a sample of a template shows: those given, else "sample" for each placeholder. */
const sampleValues = (placeholders: readonly string[], values: Readonly<Record<string, unknown>> = {}) =>
  Object.fromEntries(placeholders.map((p) => [p, Object.hasOwn(values, p) ? values[p] : 'sample']));

/** A template body rendered with sample values, and what Apple's rules say of it (its designer's live preview). */
export interface TemplateCheck {
  pass: JsonObject;
  placeholders: string[];
  /** Problems with their path in the body; those where the body holds a placeholder are left for issue time. */
  problems: Problem[];
}

/**
 * Checks a template body against Apple's rules as far as it can before values exist: it is rendered with sample
 * values (`values`, else "sample"), and problems where the template holds a placeholder are left for issue time.
 */
export function checkTemplate(
  body: JsonObject,
  ids: { passTypeIdentifier: string; teamIdentifier: string },
  values: Readonly<Record<string, unknown>> = {},
): TemplateCheck {
  const template = compileTemplate(body);
  const pass: JsonObject = {
    formatVersion: 1,
    ...template.render(sampleValues(template.placeholders, values)),
    serialNumber: 'template-check',
    passTypeIdentifier: body.passTypeIdentifier ?? ids.passTypeIdentifier,
    teamIdentifier: body.teamIdentifier ?? ids.teamIdentifier,
  };
  const problems = validatePassJson(pass, { allowHttpWebService: true }).filter((p) => {
    const node = at(body, p.path);
    return node === undefined ? true : !JSON.stringify(node).includes('${');
  });
  if (body.passTypeIdentifier !== undefined && body.passTypeIdentifier !== ids.passTypeIdentifier)
    problems.push({
      path: 'passTypeIdentifier',
      message: `must be ${ids.passTypeIdentifier}, the template's pass type (or left out)`,
      severity: 'error',
    });
  return { pass, placeholders: [...template.placeholders], problems };
}

/** Refuses a template body that would make passes Wallet rejects (checkTemplate's errors), naming each field. */
export function checkTemplateBody(
  body: JsonObject,
  ids: { passTypeIdentifier: string; teamIdentifier: string },
): void {
  const errors = checkTemplate(body, ids).problems.filter((p) => p.severity === 'error');
  if (errors.length)
    throw invalid(
      fieldErrors(
        errors.map((p) => ({ field: p.path ? `description.${p.path}` : 'description', reason: p.message })),
      ),
      'The template would make passes Wallet rejects',
    );
}

/** Stores a new template (version 1, no restrictions, a fresh link token); the one place templates are created. */
export function insertTemplate(
  db: Db,
  t: { accountId: number; passTypeId: number; name: string; body: JsonObject; now: string },
): Promise<TemplateRow> {
  return db
    .insertInto('templates')
    .values({
      accountId: t.accountId,
      passTypeId: t.passTypeId,
      name: t.name,
      body: JSON.stringify(t.body),
      placeholders: JSON.stringify(compileTemplate(t.body).placeholders),
      restrictions: '{}',
      linkToken: token(16),
      version: 1,
      createdAt: t.now,
      updatedAt: t.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export const listPassTemplates = defineAction({
  name: 'list_pass_templates',
  title: 'List pass templates',
  description:
    'Lists the pass templates of the account with their placeholders. Call it first to find the templateId and the ' +
    'values create_pass needs.',
  scope: 'templates:read',
  mutates: false,
  input: Empty,
  output: Type.Array(TemplateOut),
  async handler(ctx) {
    let q = ctx.app.db.selectFrom('templates').selectAll().where('accountId', '=', ctx.grant.accountId);
    if (ctx.grant.templateIds)
      q = q.where('id', 'in', ctx.grant.templateIds.length ? ctx.grant.templateIds : [-1]);
    const rows = await q.orderBy('id').execute();
    const out: TemplateOut[] = [];
    for (const r of rows) {
      const t = await templateOut(ctx, r);
      if (!ctx.grant.passTypeIds || ctx.grant.passTypeIds.includes(t.passType)) out.push(t);
    }
    return out;
  },
});

export const getTemplate = defineAction({
  name: 'get_template',
  title: 'Get a pass template',
  description: 'Returns one template: its pass.json body (description), pass type and placeholders.',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: TemplateOut,
  handler: async (ctx, input) => templateOut(ctx, await findTemplate(ctx, { id: input.id })),
});

export const createTemplate = defineAction({
  name: 'create_template',
  title: 'Create a pass template',
  description:
    'Creates a template: a name, one of your pass types, and a pass.json body (description) with ${placeholders} ' +
    'in any string. The body is checked against Apple rules where it has no placeholders.',
  scope: 'templates:write',
  mutates: true,
  input: TemplateIn,
  output: TemplateOut,
  async handler(ctx, input) {
    const passType = await findPassType(ctx, input.passType);
    const body = input.description as JsonObject;
    checkTemplateBody(body, passType);
    const now = ctx.app.clock.now().toISOString();
    const exists = await ctx.app.db
      .selectFrom('templates')
      .select('id')
      .where('accountId', '=', ctx.grant.accountId)
      .where('name', '=', input.name)
      .executeTakeFirst();
    if (exists)
      throw invalid([
        { field: 'name', reasons: [`a template named "${input.name}" exists (id ${exists.id})`] },
      ]);
    const row = await insertTemplate(ctx.app.db, {
      accountId: ctx.grant.accountId,
      passTypeId: passType.id,
      name: input.name,
      body,
      now,
    });
    return templateOut(ctx, row);
  },
});

export const previewTemplate = defineAction({
  name: 'preview_template',
  title: 'Preview a template',
  description:
    'Renders a template body (saved or not) with sample values as the pass.json a phone would get, and checks it ' +
    "against Apple's rules: each problem with its field, severity and message (those where the body holds a " +
    "placeholder wait for issue time), and with templateId the template's images. Changes nothing; the designer " +
    'calls it as you type. Example: {"passType": ' +
    '"pass.com.example.member", "description": {...}, "values": {"name": "Ada"}}.',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({
    passType: TemplateIn.properties.passType,
    description: TemplateIn.properties.description,
    values: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Union([Type.String({ maxLength: 2000 }), Type.Number(), Type.Boolean()]),
        {
          description: 'sample values by placeholder name (default "sample")',
        },
      ),
    ),
    templateId: Type.Optional(
      describedId('a saved template whose images to check too (an icon is required; @2x and @3x expected)'),
    ),
  }),
  output: Type.Object({
    pass: Type.Record(Type.String(), Type.Unknown(), { description: 'pass.json as rendered' }),
    placeholders: Type.Array(Type.String()),
    problems: Type.Array(
      Type.Object({
        field: Type.String({ description: 'where, as description.<path>' }),
        severity: Type.Union([Type.Literal('error'), Type.Literal('warning')]),
        message: Type.String(),
      }),
    ),
  }),
  async handler(ctx, input) {
    const passType = await findPassType(ctx, input.passType);
    const check = checkTemplate(input.description as JsonObject, passType, input.values);
    const at = (prefix: string) => (p: Problem) => ({
      field: p.path ? `${prefix}.${p.path}` : prefix,
      severity: p.severity,
      message: p.message,
    });
    // a saved template's images are what its passes will carry (a draft has none yet)
    let imageProblems: Problem[] = [];
    if (input.templateId !== undefined) {
      const template = await findTemplate(ctx, { id: input.templateId });
      const images = await ctx.app.db
        .selectFrom('images')
        .select(['type', 'scale'])
        .where('ownerKind', '=', 'template')
        .where('ownerId', '=', template.id)
        .execute();
      imageProblems = checkImageSet(images.map((i) => imageFileName(i.type as ImageKind, i.scale as Scale)));
    }
    return {
      pass: check.pass,
      placeholders: check.placeholders,
      problems: [...imageProblems.map(at('images')), ...check.problems.map(at('description'))],
    };
  },
});

export const getTemplateSample = defineAction({
  name: 'get_template_sample',
  title: 'Download a sample pass of a template',
  description:
    'Builds a signed .pkpass of the template\'s current version with sample values (`values`, else "sample" for each ' +
    'placeholder), serial number sample-<id>, to try on a phone. Nothing is issued or stored; Wallet cannot ' +
    'register it for updates.',
  scope: 'templates:read',
  mutates: false,
  answers: 'bytes',
  input: Type.Object({
    id: Id,
    values: previewTemplate.input.properties.values,
  }),
  output: FileOut,
  async handler(ctx, input) {
    const template = await findTemplate(ctx, { id: input.id });
    const passType = await passTypeById(ctx, template.passTypeId);
    const values = sampleValues(JSON.parse(template.placeholders) as string[], input.values);
    const serialNumber = `sample-${template.id}`;
    const built = await buildOr422(
      ctx.app,
      {
        id: 0,
        serialNumber,
        authToken: token(24),
        values: JSON.stringify(values),
        voided: 0,
        deletedAt: null,
        notification: null,
        relevance: null,
        redemptions: 0,
      },
      template,
      passType,
      {},
      true,
    );
    return { contentType: PKPASS_MIME, filename: `${serialNumber}.pkpass`, data: built.pkpass };
  },
});

/**
 * A template's new version: the changed columns and the version bump, with the job that re-renders and pushes every
 * pass of the template (src/jobs/bulk.ts), in one transaction.
 */
export async function refreshTemplate(
  ctx: ActionContext,
  template: TemplateRow,
  changes: Partial<Pick<TemplateRow, 'name' | 'passTypeId' | 'body' | 'placeholders' | 'localizations'>>,
): Promise<number> {
  const now = ctx.app.clock.now();
  const jobId = await ctx.app.db.transaction().execute(async (trx) => {
    const { version } = await trx
      .updateTable('templates')
      .set({ ...changes, version: bumpedVersion, updatedAt: now.toISOString() })
      .where('id', '=', template.id)
      .returning('version')
      .executeTakeFirstOrThrow();
    return enqueueJob(
      trx,
      {
        accountId: template.accountId,
        kind: 'template_passes',
        payload: { templateId: template.id, version },
      },
      now,
    );
  });
  ctx.app.wake('template_passes');
  return jobId;
}

export const updateTemplate = defineAction({
  name: 'update_template',
  title: 'Change a pass template',
  description:
    'Changes the name, pass.json body or pass type of a template. Every pass of the template is re-rendered and ' +
    'pushed to the phones that hold it, in the background: the answer names that job (get_job follows it; over MCP ' +
    'with a progress token the call reports its progress and returns once it is done).',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({
    id: Id,
    name: Type.Optional(TemplateIn.properties.name),
    passType: Type.Optional(TemplateIn.properties.passType),
    description: Type.Optional(TemplateIn.properties.description),
  }),
  output: Type.Object({
    id: Type.Integer(),
    name: Type.String(),
    passType: Type.String(),
    jobId: Type.Integer({ description: "the background job refreshing the template's passes (get_job)" }),
    status: Type.Optional(
      Type.String({
        description: "over MCP with a progress token: the job's status once it was followed to its end",
      }),
    ),
  }),
  async handler(ctx, input) {
    const row = await findTemplate(ctx, { id: input.id });
    const passType = input.passType
      ? await findPassType(ctx, input.passType)
      : await passTypeById(ctx, row.passTypeId);
    if (passType.id !== row.passTypeId) {
      const used = await ctx.app.db
        .selectFrom('passes')
        .select('id')
        .where('templateId', '=', row.id)
        .executeTakeFirst();
      if (used)
        throw invalid([
          { field: 'passType', reasons: ['cannot change: the template has passes under its pass type'] },
        ]);
    }
    const body = (input.description as JsonObject | undefined) ?? (JSON.parse(row.body) as JsonObject);
    checkTemplateBody(body, passType);
    if (input.name && input.name !== row.name) {
      const clash = await ctx.app.db
        .selectFrom('templates')
        .select('id')
        .where('accountId', '=', ctx.grant.accountId)
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (clash)
        throw invalid([
          { field: 'name', reasons: [`a template named "${input.name}" exists (id ${clash.id})`] },
        ]);
    }
    const jobId = await refreshTemplate(ctx, row, {
      name: input.name ?? row.name,
      passTypeId: passType.id,
      body: JSON.stringify(body),
      placeholders: JSON.stringify(compileTemplate(body).placeholders),
    });
    return { id: row.id, name: input.name ?? row.name, passType: passType.passTypeIdentifier, jobId };
  },
});

export const deleteTemplate = defineAction({
  name: 'delete_template',
  title: 'Delete a pass template',
  description: 'Deletes a template that has no passes left (delete or keep its passes first).',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({ id: Id }),
  output: Empty,
  async handler(ctx, input) {
    const row = await findTemplate(ctx, { id: input.id });
    const { n } = await ctx.app.db
      .selectFrom('passes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('templateId', '=', row.id)
      .executeTakeFirstOrThrow();
    if (Number(n) > 0)
      throw conflict(`template ${row.id} has ${n} passes; it cannot be deleted while they exist`);
    await ctx.app.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('images')
        .where('ownerKind', '=', 'template')
        .where('ownerId', '=', row.id)
        .execute();
      await trx.deleteFrom('templates').where('id', '=', row.id).execute();
    });
    return {};
  },
});

export const getTemplateUrl = defineAction({
  name: 'get_template_url',
  title: 'Get the link of a template',
  description: 'Returns the distribution link of a template, where people can get a pass of it.',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Type.Object({ url: Type.String() }),
  async handler(ctx, input) {
    const row = await findTemplate(ctx, { id: input.id });
    return { url: `${ctx.app.config.publicUrl}/t/${row.linkToken}` };
  },
});

const clean = (r: Static<typeof Restrictions>): Static<typeof Restrictions> =>
  Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null && v !== undefined));

export const getTemplateRestrictions = defineAction({
  name: 'get_template_restrictions',
  title: 'Get the restrictions of a template',
  description:
    'Returns the distribution restrictions of a template (quantity, redemption, password, end date, sharing).',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Restrictions,
  async handler(ctx, input) {
    return JSON.parse((await findTemplate(ctx, { id: input.id })).restrictions);
  },
});

export const setTemplateRestrictions = defineAction({
  name: 'set_template_restrictions',
  title: 'Set the restrictions of a template',
  description:
    'Replaces the restrictions of a template. Leave a restriction out (or null) to disable it. quantityRestriction ' +
    'caps the passes issued; dateRestriction ends issuing at that time; passwordProtection makes the template’s form ' +
    'ask for that password; redemptionRestriction is how many times each pass may be redeemed (redeem_pass); ' +
    'sharingRestriction makes Wallet hide the share button of its passes (sharingProhibited); signedBarcodes gives ' +
    'each pass a signed barcode that scanners verify before any lookup (either re-renders and pushes the passes).',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({ id: Id, ...Restrictions.properties }, { additionalProperties: false }),
  output: Restrictions,
  async handler(ctx, input) {
    const { id, ...restrictions } = input;
    const row = await findTemplate(ctx, { id });
    const value = clean(restrictions);
    const before = JSON.parse(row.restrictions) as { sharingRestriction?: boolean; signedBarcodes?: boolean };
    await ctx.app.db
      .updateTable('templates')
      .set({ restrictions: JSON.stringify(value), updatedAt: ctx.app.clock.now().toISOString() })
      .where('id', '=', row.id)
      .execute();
    // sharingRestriction and signedBarcodes are in every pass (sharingProhibited, the barcodes): its passes are
    // re-rendered and pushed when either changes
    if (
      !!value.sharingRestriction !== !!before.sharingRestriction ||
      !!value.signedBarcodes !== !!before.signedBarcodes
    )
      await refreshTemplate(ctx, { ...row, restrictions: JSON.stringify(value) }, {});
    return value;
  },
});

export const templateActions = [
  listPassTemplates,
  getTemplate,
  createTemplate,
  previewTemplate,
  getTemplateSample,
  updateTemplate,
  deleteTemplate,
  getTemplateUrl,
  getTemplateRestrictions,
  setTemplateRestrictions,
];
