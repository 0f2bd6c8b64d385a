// Text going into HTML (pass pages, email bodies) is escaped here, in one place.
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

/** A pass.json colour (rgb(r, g, b)) safe to put in a style attribute, or undefined. */
export const cssColor = (value: unknown): string | undefined =>
  typeof value === 'string' && /^rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$/.test(value)
    ? value
    : undefined;
