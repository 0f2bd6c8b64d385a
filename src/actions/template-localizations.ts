// A template's languages: for each, the pass.strings table Wallet uses on a phone set to that language (a text in
// pass.json is looked up as a key; its translation is shown), with the template's ${placeholders} allowed in
// translations. Every pass of the template carries them as <lang>.lproj/pass.strings, and its pass page is shown in
// the language the browser asks for among them.
import { type Static, Type } from '@sinclair/typebox';
import { invalid } from '../errors.js';
import { stringsOf } from '../render/localizations.js';
import { findTemplate } from './access.js';
import { defineAction } from './registry.js';
import { Id } from './schemas.js';
import { refreshTemplate } from './templates.js';

/** Apple's .lproj names: a language, then optional script or region (`fr`, `pt-BR`, `zh-Hans`). */
const LANGUAGE = '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$';

export const Localizations = Type.Record(
  Type.String({ pattern: LANGUAGE }),
  Type.Record(Type.String({ minLength: 1, maxLength: 500 }), Type.String({ maxLength: 2000 }), {
    maxProperties: 500,
    description: 'the pass.strings table: a text of pass.json → its translation',
  }),
  {
    maxProperties: 60,
    additionalProperties: false,
    description: 'by language (fr, de, pt-BR, zh-Hans): the strings Wallet shows on a phone in that language',
  },
);
export type Localizations = Static<typeof Localizations>;

export const getTemplateLocalizations = defineAction({
  name: 'get_template_localizations',
  title: "Get a template's languages",
  description:
    'The translations of a template’s texts, by language: what Wallet shows on a phone set to that language, and ' +
    'what the pass page shows to a browser asking for it.',
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id }),
  output: Type.Object({ localizations: Localizations }),
  async handler(ctx, input) {
    return { localizations: stringsOf(await findTemplate(ctx, { id: input.id })) };
  },
});

export const setTemplateLocalizations = defineAction({
  name: 'set_template_localizations',
  title: "Set a template's languages",
  description:
    'Replaces the translations of a template’s texts: for each language (fr, de, pt-BR, zh-Hans) a table from a ' +
    'text of the template’s pass.json (a label, a value, the description) to its translation, which may use the ' +
    'template’s ${placeholders}. Every pass of the template gets them (<lang>.lproj/pass.strings) and is pushed, in ' +
    'the background (the answer names the job); pass pages follow the browser’s language among them. An empty ' +
    'object removes them all. Example: {"id": 3, "localizations": {"fr": {"Membership card": "Carte de membre", ' +
    '"Points": "Points"}}}.',
  scope: 'templates:write',
  mutates: true,
  input: Type.Object({ id: Id, localizations: Localizations }),
  output: Type.Object({ localizations: Localizations, jobId: Type.Integer() }),
  async handler(ctx, input) {
    const template = await findTemplate(ctx, { id: input.id });
    const known = new Set(JSON.parse(template.placeholders) as string[]);
    const errors = Object.entries(input.localizations).flatMap(([lang, table]) =>
      Object.entries(table).flatMap(([key, text]) => {
        const unknown = [...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!).filter((n) => !known.has(n));
        return unknown.length
          ? [
              {
                field: `localizations.${lang}.${key}`,
                reasons: [
                  `uses ${unknown.map((n) => `\${${n}}`).join(', ')}, not a placeholder of the template (${[...known].join(', ')})`,
                ],
              },
            ]
          : [];
      }),
    );
    if (errors.length) throw invalid(errors);
    const localizations = Object.keys(input.localizations).length
      ? JSON.stringify(input.localizations)
      : null;
    const jobId = await refreshTemplate(ctx, template, { localizations });
    return { localizations: input.localizations, jobId };
  },
});

export const templateLocalizationActions = [getTemplateLocalizations, setTemplateLocalizations];
