// Self-service forms: a template's link (/t/<token>, PassSlot's template URL) is a public form built from the
// template's placeholders, with labels and input types inferred from their names or declared by the template's owner.
// Submitting it issues a pass (PassSlot's restrictions enforced: end date, quantity, password; and one pass per email
// unless the owner allows more) and leads to the pass page; the pass can be emailed too.
import { type Static, Type } from '@sinclair/typebox';
import { safeEqual } from '../auth/tokens.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { TemplateRow } from '../store/schema.js';
import { findTemplate } from './access.js';
import { createPass, emailPass } from './passes.js';
import { type ActionContext, defineAction, runAction, systemContext } from './registry.js';
import { Id } from './schemas.js';

export const FIELD_TYPES = ['text', 'email', 'tel', 'date', 'number', 'select'] as const;
type FieldType = (typeof FIELD_TYPES)[number];

const FieldSpec = Type.Object(
  {
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    type: Type.Optional(Type.Union(FIELD_TYPES.map((t) => Type.Literal(t)))),
    options: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 50 }),
    ),
    required: Type.Optional(Type.Boolean()),
    hidden: Type.Optional(Type.Boolean({ description: 'not asked: the value is `default`' })),
    default: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const FormSettings = Type.Object(
  {
    fields: Type.Optional(Type.Record(Type.String(), FieldSpec, { description: 'by placeholder name' })),
    askEmail: Type.Optional(Type.Boolean({ description: 'ask for the holder’s email (default true)' })),
    askPhone: Type.Optional(
      Type.Boolean({ description: 'ask for the holder’s mobile number, kept for SMS (default false)' }),
    ),
    emailPass: Type.Optional(Type.Boolean({ description: 'email the pass after the form (default false)' })),
    onePerEmail: Type.Optional(
      Type.Boolean({
        description: 'one pass per email address (or phone, when only the phone is asked; default true)',
      }),
    ),
    title: Type.Optional(Type.String({ maxLength: 200 })),
    intro: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type FormSettings = Static<typeof FormSettings>;

const Field = Type.Object({
  name: Type.String(),
  label: Type.String(),
  type: Type.Union(FIELD_TYPES.map((t) => Type.Literal(t))),
  required: Type.Boolean(),
  options: Type.Union([Type.Array(Type.String()), Type.Null()]),
});
export type Field = Static<typeof Field>;

/** "firstName" → "First name", "member_since" → "Member since". */
const labelOf = (name: string): string => {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[._-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** The input type a placeholder's name suggests. */
export function inferType(name: string): FieldType {
  const n = name.toLowerCase();
  if (/e-?mail/.test(n)) return 'email';
  if (/phone|mobile|tel\b|^tel/.test(n)) return 'tel';
  if (/date|birthday|since|dob|expir/.test(n)) return 'date';
  if (/points|amount|count|qty|quantity|number|age|balance|seats?$/.test(n) && !/id$/.test(n))
    return 'number';
  return 'text';
}

const settingsOf = (t: TemplateRow): FormSettings => (t.form ? (JSON.parse(t.form) as FormSettings) : {});

/** The fields a template's form asks for, in the order its placeholders appear. */
export function fieldsOf(t: TemplateRow): Field[] {
  const settings = settingsOf(t);
  return (JSON.parse(t.placeholders) as string[])
    .filter((name) => !settings.fields?.[name]?.hidden)
    .map((name) => {
      const spec = settings.fields?.[name] ?? {};
      const type = spec.type ?? (spec.options ? 'select' : inferType(name));
      return {
        name,
        label: spec.label ?? labelOf(name),
        type,
        required: spec.required ?? true,
        options: type === 'select' ? (spec.options ?? []) : null,
      };
    });
}

export const getTemplateForm = defineAction({
  name: 'get_template_form',
  title: "Get a template's form",
  description:
    "How the template's public form (its link) asks for values: the settings as stored and the fields it shows.",
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Type.Object({ settings: FormSettings, fields: Type.Array(Field) }),
  async handler(ctx, input) {
    const t = await findTemplate(ctx, { id: input.id });
    return { settings: settingsOf(t), fields: fieldsOf(t) };
  },
});

export const setTemplateForm = defineAction({
  name: 'set_template_form',
  title: "Set a template's form",
  description:
    "Declares how the template's public form asks for values: per placeholder a label, an input type (text, email, " +
    'tel, date, number, select with options), required or not, or hidden with a default; whether to ask the ' +
    'holder’s email, email them the pass, and allow one pass per email. Example: {"id": 3, "fields": {"tier": ' +
    '{"type": "select", "options": ["Silver", "Gold"]}}, "emailPass": true}.',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({ id: Id, ...FormSettings.properties }),
  output: Type.Object({ settings: FormSettings, fields: Type.Array(Field) }),
  async handler(ctx, input) {
    const t = await findTemplate(ctx, { id: input.id });
    const { id: _id, ...settings } = input;
    const placeholders = JSON.parse(t.placeholders) as string[];
    const unknown = Object.keys(settings.fields ?? {}).filter((n) => !placeholders.includes(n));
    if (unknown.length)
      throw invalid([
        { field: 'fields', reasons: [`not placeholders of the template: ${unknown.join(', ')}`] },
      ]);
    for (const [name, spec] of Object.entries(settings.fields ?? {})) {
      if (spec.type === 'select' && !spec.options)
        throw invalid([{ field: `fields.${name}.options`, reasons: ['a select needs options'] }]);
      if (spec.hidden && spec.default === undefined)
        throw invalid([{ field: `fields.${name}.default`, reasons: ['a hidden field needs a default'] }]);
    }
    const form = JSON.stringify(settings);
    await ctx.app.db
      .updateTable('templates')
      .set({ form, updatedAt: ctx.app.clock.now().toISOString() })
      .where('id', '=', t.id)
      .execute();
    const updated = { ...t, form };
    return { settings, fields: fieldsOf(updated) };
  },
});

/** The template a form link names (its token is the template's link token), with its account. */
async function templateOfLink(ctx: ActionContext, token: string): Promise<TemplateRow> {
  const row = await ctx.app.db
    .selectFrom('templates')
    .selectAll()
    .where('linkToken', '=', token)
    .executeTakeFirst();
  if (!row) throw notFound('template link');
  return row;
}

const Restrictions = (t: TemplateRow) =>
  JSON.parse(t.restrictions) as {
    passwordProtection?: string;
    dateRestriction?: string;
    quantityRestriction?: number;
  };

export const openTemplateForm = defineAction({
  name: 'open_template_form',
  title: 'Open a template form',
  description:
    "What a template's public form shows: its name, fields, whether it asks for an email and a password, and why it " +
    'is closed when it no longer issues passes.',
  scope: 'system',
  mutates: false,
  input: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }),
  output: Type.Object({
    templateId: Type.Integer(),
    accountId: Type.Integer(),
    name: Type.String(),
    title: Type.String(),
    intro: Type.Union([Type.String(), Type.Null()]),
    body: Type.Unknown({ description: 'the template’s pass.json, for its look' }),
    fields: Type.Array(Field),
    askEmail: Type.Boolean(),
    askPhone: Type.Boolean(),
    askPassword: Type.Boolean(),
    closed: Type.Union([Type.String(), Type.Null()]),
  }),
  async handler(ctx, input) {
    const t = await templateOfLink(ctx, input.token);
    const settings = settingsOf(t);
    const r = Restrictions(t);
    let closed: string | null = null;
    if (r.dateRestriction && Date.parse(r.dateRestriction) < ctx.app.clock.now().getTime())
      closed = 'This offer has ended.';
    return {
      templateId: t.id,
      accountId: t.accountId,
      name: t.name,
      title: settings.title ?? t.name,
      intro: settings.intro ?? null,
      body: JSON.parse(t.body) as unknown,
      fields: fieldsOf(t),
      askEmail: settings.askEmail ?? true,
      askPhone: settings.askPhone ?? false,
      askPassword: !!r.passwordProtection,
      closed,
    };
  },
});

export const submitTemplateForm = defineAction({
  name: 'submit_template_form',
  title: 'Submit a template form',
  description:
    "Issues a pass from a template's public form: the values of its fields (as typed), the holder's email, the " +
    "template's password when it has one. Enforces the template's restrictions and one pass per email. Returns the " +
    'pass page to go to.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    token: Type.String({ minLength: 1, maxLength: 200 }),
    values: Type.Record(Type.String(), Type.String({ maxLength: 500 })),
    email: Type.Optional(Type.String({ maxLength: 320 })),
    phone: Type.Optional(Type.String({ maxLength: 40 })),
    password: Type.Optional(Type.String({ maxLength: 200 })),
  }),
  output: Type.Object({
    url: Type.String(),
    serialNumber: Type.String(),
    passTypeIdentifier: Type.String(),
    emailed: Type.Boolean(),
  }),
  async handler(outer, input) {
    const t = await templateOfLink(outer, input.token);
    // the pass is the template's account's, issued by its form
    const ctx: ActionContext = { ...systemContext(outer.app, t.accountId, outer.requestId, outer.edge) };
    const settings = settingsOf(t);
    const r = Restrictions(t);
    if (r.passwordProtection && !safeEqual(input.password ?? '', r.passwordProtection))
      throw invalid([{ field: 'password', reasons: ['is not the password of this offer'] }]);
    const errors: { field: string; reasons: string[] }[] = [];
    const values: Record<string, string | number> = {};
    for (const [name, spec] of Object.entries(settings.fields ?? {}))
      if (spec.hidden && spec.default !== undefined) values[name] = spec.default;
    for (const f of fieldsOf(t)) {
      const raw = (input.values[f.name] ?? '').trim();
      if (!raw) {
        if (f.required) errors.push({ field: f.name, reasons: ['is required'] });
        else values[f.name] = '';
        continue;
      }
      const problem =
        f.type === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(raw)
          ? 'is not an email address'
          : f.type === 'tel' && !/^\+?[0-9 ().-]{6,20}$/.test(raw)
            ? 'is not a phone number'
            : f.type === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(raw)
              ? 'is not a date (YYYY-MM-DD)'
              : f.type === 'number' && !Number.isFinite(Number(raw))
                ? 'is not a number'
                : f.type === 'select' && !f.options?.includes(raw)
                  ? `must be one of ${f.options?.join(', ')}`
                  : undefined;
      if (problem) errors.push({ field: f.name, reasons: [problem] });
      else values[f.name] = f.type === 'number' ? Number(raw) : raw;
    }
    const askEmail = settings.askEmail ?? true;
    const email = input.email?.trim().toLowerCase() || undefined;
    if (askEmail && !email) errors.push({ field: 'email', reasons: ['is required'] });
    else if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
      errors.push({ field: 'email', reasons: ['is not an email address'] });
    // a mobile number as people type it (spaces, dashes, brackets), kept in E.164
    const askPhone = settings.askPhone ?? false;
    const phone = input.phone?.replace(/[\s().-]/g, '') || undefined;
    if (askPhone && !phone) errors.push({ field: 'phone', reasons: ['is required'] });
    else if (phone && !/^\+[1-9]\d{7,14}$/.test(phone))
      errors.push({
        field: 'phone',
        reasons: ['is not a mobile number with its country code (+44 7700 900123)'],
      });
    if (errors.length) throw invalid(errors);
    const owner = email
      ? { field: 'email', column: 'ownerEmail' as const, value: email, what: 'email address' }
      : phone
        ? { field: 'phone', column: 'ownerPhone' as const, value: phone, what: 'phone number' }
        : undefined;
    if (owner && (settings.onePerEmail ?? true)) {
      const existing = await ctx.app.db
        .selectFrom('passes')
        .select('id')
        .where('templateId', '=', t.id)
        .where(owner.column, '=', owner.value)
        .where('deletedAt', 'is', null)
        .executeTakeFirst();
      if (existing)
        throw new AppError('conflict', `A pass of this offer was already issued to this ${owner.what}.`, [
          { field: owner.field, reasons: ['already has a pass of this offer'] },
        ]);
    }
    const created = await runAction(createPass, ctx, { templateId: t.id, values, email, phone });
    let emailed = false;
    if (email && settings.emailPass) {
      await runAction(emailPass, ctx, {
        passTypeIdentifier: created.passTypeIdentifier,
        serialNumber: created.serialNumber,
        email,
      });
      emailed = true;
    }
    return { ...created, emailed };
  },
});

export const formActions = [getTemplateForm, setTemplateForm, openTemplateForm, submitTemplateForm];
