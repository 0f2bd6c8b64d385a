// The pass page: what a customer sees when they open their pass link, by device. On an iPhone, iPad or a Mac's Safari
// an "Add to Apple Wallet" button; on Android an "Add to Google Wallet" button when the account has Google Wallet (else
// the pass with a note); on a desktop a QR code of the page to scan with the phone (and the Google Wallet button). The pass's names, logo and colours; no JavaScript; the page's own words in
// the language the browser asks for, among those it has.
import type { PassView } from '../actions/links.js';
import { escapeHtml } from '../html.js';

export type DeviceClass = 'ios' | 'mac' | 'android' | 'desktop' | 'wallet' | 'other';

/** The kind of device a user agent is. Wallet's own fetches (PassKit, Passbook) are `wallet`. */
export function deviceClassOf(userAgent: string | undefined): DeviceClass {
  const ua = userAgent ?? '';
  if (/Passbook|PassKit|\bWallet\b/i.test(ua) && !/Mozilla/.test(ua)) return 'wallet';
  if (/iPhone|iPad|iPod/.test(ua)) return 'ios';
  if (/Android/.test(ua)) return 'android';
  // Safari on a Mac adds passes to Wallet; other Mac browsers only download the file
  if (/Macintosh/.test(ua))
    return /Safari/.test(ua) && !/Chrome|Chromium|Firefox|Edg\//.test(ua) ? 'mac' : 'desktop';
  if (/Windows|Linux|X11|CrOS/.test(ua)) return 'desktop';
  return 'other';
}

const WORDS = {
  en: {
    add: 'Add to Apple Wallet',
    addGoogle: 'Add to Google Wallet',
    scan: 'Scan with your phone’s camera to add this pass to your wallet.',
    download: 'Download the pass file (.pkpass)',
    android:
      'Google Wallet passes are coming. Meanwhile, an Android wallet app that opens .pkpass files can add this pass.',
    revoked: 'This pass is no longer valid.',
    removed: 'This pass was removed.',
    notFound: 'This link is not valid.',
  },
  fr: {
    add: 'Ajouter à Apple Wallet',
    addGoogle: 'Ajouter à Google Wallet',
    scan: 'Scannez ce code avec l’appareil photo de votre téléphone pour ajouter ce pass à votre portefeuille.',
    download: 'Télécharger le fichier du pass (.pkpass)',
    android:
      'Les pass Google Wallet arrivent bientôt. En attendant, une application Android qui ouvre les fichiers .pkpass peut ajouter ce pass.',
    revoked: 'Ce pass n’est plus valable.',
    removed: 'Ce pass a été supprimé.',
    notFound: 'Ce lien n’est pas valable.',
  },
  de: {
    add: 'Zu Apple Wallet hinzufügen',
    addGoogle: 'Zu Google Wallet hinzufügen',
    scan: 'Scannen Sie den Code mit der Kamera Ihres Telefons, um den Pass zur Wallet hinzuzufügen.',
    download: 'Pass-Datei herunterladen (.pkpass)',
    android:
      'Google-Wallet-Pässe kommen bald. Bis dahin kann eine Android-App, die .pkpass-Dateien öffnet, diesen Pass hinzufügen.',
    revoked: 'Dieser Pass ist nicht mehr gültig.',
    removed: 'Dieser Pass wurde entfernt.',
    notFound: 'Dieser Link ist ungültig.',
  },
  es: {
    add: 'Añadir a Apple Wallet',
    addGoogle: 'Añadir a Google Wallet',
    scan: 'Escanea el código con la cámara de tu teléfono para añadir este pase a tu cartera.',
    download: 'Descargar el archivo del pase (.pkpass)',
    android:
      'Los pases de Google Wallet llegarán pronto. Mientras tanto, una app de Android que abra archivos .pkpass puede añadir este pase.',
    revoked: 'Este pase ya no es válido.',
    removed: 'Este pase se ha eliminado.',
    notFound: 'Este enlace no es válido.',
  },
} as const;
export type Language = keyof typeof WORDS;
type Words = (typeof WORDS)[Language];

const primary = (tag: string): string => tag.toLowerCase().split('-')[0]!;

/**
 * The best language for an Accept-Language header (q-values honoured) among the template's (`template`: its
 * localizations, `pt-BR`, `zh-Hans`; a tag matches exactly, else by its language) and the page's own words, English
 * by default. A template's language wins over the page's words: the pass's texts matter more than the button's.
 */
export function languageOf(acceptLanguage: string | undefined, template: readonly string[] = []): string {
  const asked = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag: (tag ?? '').trim().toLowerCase(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((a) => a.tag && a.tag !== '*' && a.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const a of asked) {
    const found =
      template.find((t) => t.toLowerCase() === a.tag) ?? template.find((t) => primary(t) === primary(a.tag));
    if (found) return found;
    if (primary(a.tag) in WORDS) return primary(a.tag);
  }
  return 'en';
}

/** The page's words in a language (by its primary tag), English when the page does not have it. */
export const wordsOf = (lang: string): Words => WORDS[primary(lang) as Language] ?? WORDS.en;

export interface PassPage {
  view: PassView;
  device: DeviceClass;
  lang: string;
  downloadHref: string;
  /** The QR code of the page, as inline SVG (desktops). */
  qrSvg?: string;
}

/** The body of the pass page. */
export function passPageBody(p: PassPage): string {
  const w = wordsOf(p.lang);
  const v = p.view;
  const card =
    `<div class="card" style="background:${v.backgroundColor ?? 'rgb(40,40,40)'};color:${v.foregroundColor ?? 'rgb(255,255,255)'}">` +
    (v.logo ? `<img class="logo" src="${escapeHtml(v.logo)}" alt="">` : '') +
    `<div class="org">${escapeHtml(v.logoText ?? v.organizationName)}</div>` +
    `<div class="desc" style="color:${v.labelColor ?? 'inherit'}">${escapeHtml(v.description)}</div></div>`;
  if (v.revoked) return `${card}<p class="notice">${escapeHtml(w.revoked)}</p>`;
  const download = `<a class="plain" href="${escapeHtml(p.downloadHref)}">${escapeHtml(w.download)}</a>`;
  const add = `<p><a class="button" href="${escapeHtml(p.downloadHref)}">${escapeHtml(w.add)}</a></p>`;
  const google = v.googleUrl
    ? `<p><a class="button google" href="${escapeHtml(v.googleUrl)}">${escapeHtml(w.addGoogle)}</a></p>`
    : '';
  const qr = p.qrSvg
    ? `<figure class="qr">${p.qrSvg}<figcaption>${escapeHtml(w.scan)}</figcaption></figure>`
    : '';
  switch (p.device) {
    case 'ios':
    case 'mac':
    case 'wallet':
      return `${card}${add}`;
    case 'android':
      return google
        ? `${card}${google}<p>${download}</p>`
        : `${card}<p class="notice">${escapeHtml(w.android)}</p><p>${download}</p>`;
    case 'desktop':
      // a desktop cannot add an Apple pass (the QR code takes it to the phone); a Google Wallet save works anywhere
      return `${card}${qr}${google}<p>${download}</p>`;
    default:
      return `${card}${add}${google}${qr}`;
  }
}

export const PASS_PAGE_STYLE =
  '.card{border-radius:1rem;padding:1.25rem;margin:1rem 0}.card .logo{max-height:50px;max-width:160px;display:block;' +
  'margin-bottom:.5rem}.card .org{font-weight:600;font-size:1.25rem}.card .desc{margin-top:.25rem}' +
  '.qr svg{width:240px;height:240px}.qr{margin:1rem 0}.notice{padding:.75rem;background:#f4f4f4;border-radius:.5rem}' +
  'a.plain{color:inherit}';
