// What a template's passes say when they are sent: the email's subject, text and HTML bodies and the SMS text, with
// ${placeholders} of the template, ${passUrl} (the pass page) and, in HTML, ${qrCode} (the page's QR code, an image
// inside the email). Each has a default, so a template sends well without any.
import { type Static, Type } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { DEFAULTS, messagesOf } from '../messaging/templates.js';
import { findTemplate } from './access.js';
import { defineAction } from './registry.js';
import { Id } from './schemas.js';

export const TemplateMessages = Type.Object(
  {
    email: Type.Optional(
      Type.Object(
        {
          subject: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          text: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
          html: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    sms: Type.Optional(Type.String({ minLength: 1, maxLength: 1600 })),
  },
  { additionalProperties: false },
);
export type TemplateMessages = Static<typeof TemplateMessages>;

const Out = Type.Object({ messages: TemplateMessages, defaults: Type.Record(Type.String(), Type.String()) });

export const getTemplateMessages = defineAction({
  name: 'get_template_messages',
  title: "Get a template's messages",
  description:
    'What passes of the template say when they are sent by email or SMS: the template’s own messages, and the ' +
    'defaults used where it has none.',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Out,
  async handler(ctx, input) {
    return { messages: messagesOf(await findTemplate(ctx, { id: input.id })), defaults: DEFAULTS };
  },
});

export const setTemplateMessages = defineAction({
  name: 'set_template_messages',
  title: "Set a template's messages",
  description:
    'Sets what passes of the template say when sent: email subject, text and HTML, and the SMS text, each with ' +
    '${placeholders} of the template, ${templateName}, ${passUrl}, ${googleUrl} (the Google Wallet link; empty ' +
    'without Google Wallet) and, in HTML, ${qrCode}. Leave one out for its ' +
    'default. Example: {"id": 3, "email": {"subject": "Welcome, ${firstName}"}, "sms": "Hi ${firstName}, your card: ' +
    '${passUrl}"}.',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({ id: Id, ...TemplateMessages.properties }),
  output: Out,
  async handler(ctx, input) {
    const t = await findTemplate(ctx, { id: input.id });
    const { id: _id, ...messages } = input;
    const known = new Set([
      ...(JSON.parse(t.placeholders) as string[]),
      'templateName',
      'passUrl',
      'googleUrl',
    ]);
    const check = (field: string, text: string | undefined, extra: string[] = []) => {
      if (text === undefined) return;
      const names = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g)].map((m) => m[1]!);
      const unknown = names.filter((n) => !known.has(n) && !extra.includes(n));
      if (unknown.length)
        throw invalid([
          { field, reasons: [`names placeholders the template does not have: ${unknown.join(', ')}`] },
        ]);
    };
    check('email.subject', messages.email?.subject);
    check('email.text', messages.email?.text);
    check('email.html', messages.email?.html, ['qrCode']);
    check('sms', messages.sms);
    await ctx.app.db
      .updateTable('templates')
      .set({ messages: JSON.stringify(messages), updatedAt: ctx.app.clock.now().toISOString() })
      .where('id', '=', t.id)
      .execute();
    return { messages, defaults: DEFAULTS };
  },
});

export const templateMessageActions = [getTemplateMessages, setTemplateMessages];
