// The small server-rendered pages (pass links, sign-in, consent): one frame, readable without JavaScript, never cached.
import type { FastifyReply } from 'fastify';
import { escapeHtml } from '../html.js';

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}' +
  'a.button,button{display:inline-block;background:#000;color:#fff;padding:.75rem 1.25rem;border-radius:.5rem;' +
  'text-decoration:none;border:0;font:inherit;cursor:pointer}button.secondary{background:#eee;color:#000}' +
  'label{display:block;margin:.5rem 0}input[type=email],input[type=password],select{width:100%;padding:.5rem;' +
  'font:inherit;box-sizing:border-box}.error{color:#b00020}fieldset{border:1px solid #ddd;border-radius:.5rem}';

export function page(
  reply: FastifyReply,
  status: number,
  title: string,
  body: string,
  options: { lang?: string; style?: string } = {},
): FastifyReply {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .header('X-Frame-Options', 'DENY')
    .send(
      `<!doctype html><html lang="${options.lang ?? 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>${STYLE}${options.style ?? ''}</style></head><body>${body}</body></html>`,
    );
}
