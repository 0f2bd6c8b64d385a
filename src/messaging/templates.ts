// What a pass says when it is sent: a template's messages (set by set_template_messages) or the defaults, rendered
// with the pass's values, ${templateName}, ${passUrl}, ${googleUrl} (empty without Google Wallet) and, in an email's
// HTML, ${qrCode} (an inline image). Values are escaped in HTML. The default email has both wallets' buttons when the
// account has Google Wallet: an email is read on a device nobody knows when it is sent.
import { compileTemplate } from '../engine/index.js';
import { escapeHtml } from '../html.js';
import type { TemplateRow } from '../store/schema.js';

export interface TemplateMessages {
  email?: { subject?: string; text?: string; html?: string };
  sms?: string;
}

/** The content id of the QR code image inside an email (`${qrCode}` in HTML becomes an <img> of it). */
export const QR_CID = 'qr@passslot';

export const DEFAULTS = {
  subject: 'Your pass: ${templateName}',
  text: 'Your ${templateName} is ready.\n\nAdd it to Apple Wallet: ${passUrl}\n\nThe pass is also attached to this email.\n',
  html:
    '<p>Your ${templateName} is ready.</p><p><a href="${passUrl}">Add it to Apple Wallet</a></p>' +
    '<p>${qrCode}</p><p>Or scan the code with your phone. The pass is also attached to this email.</p>',
  sms: 'Your ${templateName} pass: ${passUrl}',
};

/** The default email with a Google Wallet button beside Apple's. */
const WITH_GOOGLE = {
  text: 'Your ${templateName} is ready.\n\nAdd it to Apple Wallet: ${passUrl}\nAdd it to Google Wallet: ${googleUrl}\n\nThe pass is also attached to this email.\n',
  html:
    '<p>Your ${templateName} is ready.</p><p><a href="${passUrl}">Add it to Apple Wallet</a> · ' +
    '<a href="${googleUrl}">Add it to Google Wallet</a></p>' +
    '<p>${qrCode}</p><p>Or scan the code with your phone. The pass is also attached to this email.</p>',
};

export const messagesOf = (t: Pick<TemplateRow, 'messages'>): TemplateMessages =>
  t.messages ? (JSON.parse(t.messages) as TemplateMessages) : {};

const render = (text: string, values: Record<string, unknown>): string =>
  compileTemplate({}).renderText(text, values);

/** An email of a pass: its subject, text and HTML (values escaped in HTML), by the template's messages or defaults. */
export function emailOf(
  t: Pick<TemplateRow, 'messages' | 'name'>,
  values: Record<string, unknown>,
  passUrl: string,
  googleUrl?: string,
): { subject: string; text: string; html: string } {
  const m = messagesOf(t).email ?? {};
  const plain = { ...values, templateName: t.name, passUrl, googleUrl: googleUrl ?? '' };
  const defaults = googleUrl ? { ...DEFAULTS, ...WITH_GOOGLE } : DEFAULTS;
  const escaped = Object.fromEntries(
    Object.entries(plain).map(([k, v]) => [k, v === null || v === undefined ? '' : escapeHtml(String(v))]),
  );
  return {
    subject: render(m.subject ?? DEFAULTS.subject, plain).replace(/[\r\n]+/g, ' '),
    text: render(m.text ?? defaults.text, plain),
    html: render(m.html ?? defaults.html, {
      ...escaped,
      qrCode: `<img src="cid:${QR_CID}" width="200" height="200" alt="QR code of your pass">`,
    }),
  };
}

/** The SMS text of a pass when none is given: the template's, or the default. */
export const smsTemplateOf = (t: Pick<TemplateRow, 'messages'>): string | undefined => messagesOf(t).sms;
export const DEFAULT_SMS = DEFAULTS.sms;
