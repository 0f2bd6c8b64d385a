// A template's translations (its localizations column: pass.strings by language) as the engine's package assets.
import type { Localization } from '../engine/index.js';
import type { TemplateRow } from '../store/schema.js';

/** The pass.strings tables of a template, by language. */
export const stringsOf = (
  template: Pick<TemplateRow, 'localizations'>,
): Record<string, Record<string, string>> =>
  template.localizations
    ? (JSON.parse(template.localizations) as Record<string, Record<string, string>>)
    : {};

export const localizationAssets = (
  strings: Record<string, Record<string, string>>,
): Record<string, Localization> =>
  Object.fromEntries(Object.entries(strings).map(([lang, table]) => [lang, { strings: table }]));
