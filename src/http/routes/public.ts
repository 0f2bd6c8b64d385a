// Public pass links: `${PASSSLOT_PUBLIC_URL}/p/<id>?t=<token>` serves the pass page (by device: http/pass-page.ts)
// and the .pkpass to Wallet and the page's button; `/p/<id>/qr.svg|png?t=` its QR code. (Template links, /t/<token>,
// are forms: routes/forms.ts.)
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { getTemplateGoogleImage } from '../../actions/google.js';
import { getPassLinkQr, openPassGoogle, openPassLink } from '../../actions/links.js';
import { runAction, systemContext } from '../../actions/registry.js';
import type { App } from '../../app.js';
import { AppError } from '../../errors.js';
import { escapeHtml } from '../../html.js';
import { qrSvg } from '../../render/qr.js';
import { page } from '../page.js';
import { deviceClassOf, languageOf, PASS_PAGE_STYLE, passPageBody, wordsOf } from '../pass-page.js';

/** A link that names nothing (an unknown id, a wrong token, a malformed one): the visitor's 404. */
const isMissing = (err: unknown): boolean =>
  err instanceof AppError && (err.code === 'not_found' || err.code === 'validation_failed');

export async function publicRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  fastify.get('/p/:publicId', { schema: { hide: true } }, async (req, reply) => {
    const { publicId } = req.params as { publicId: string };
    const { t, download } = req.query as { t?: string; download?: string };
    const device = deviceClassOf(req.headers['user-agent']);
    const lang = languageOf(req.headers['accept-language']);
    const words = wordsOf(lang);
    reply.header('Vary', 'User-Agent, Accept-Language');
    let opened: Static<typeof openPassLink.output>;
    try {
      opened = await runAction(openPassLink, systemContext(app, 0, req.id, 'page'), {
        publicId,
        token: t ?? '',
        // Wallet itself fetching the link gets the file; people get the page and its button
        download: download === '1' || device === 'wallet',
        deviceClass: device,
      });
    } catch (err) {
      if (isMissing(err))
        return page(reply, 404, words.notFound, `<h1>${escapeHtml(words.notFound)}</h1>`, { lang });
      throw err;
    }
    if (opened.kind === 'removed')
      return page(reply, 410, words.removed, `<h1>${escapeHtml(words.removed)}</h1>`, { lang });
    if (opened.kind === 'page') {
      // the template's languages count too: its translations of the pass's texts
      const pageLang = languageOf(req.headers['accept-language'], Object.keys(opened.view.translations));
      const view = { ...opened.view, ...opened.view.translations[pageLang] };
      const downloadHref = `/p/${encodeURIComponent(publicId)}?t=${encodeURIComponent(t ?? '')}&download=1`;
      const withQr = device === 'desktop' || device === 'other';
      return page(
        reply,
        200,
        view.organizationName,
        passPageBody({
          view,
          device,
          lang: pageLang,
          downloadHref,
          qrSvg: withQr ? await qrSvg(view.url) : undefined,
        }),
        { lang: pageLang, style: PASS_PAGE_STYLE },
      );
    }
    return reply
      .type(opened.file.contentType)
      .header(
        'Content-Disposition',
        `attachment; filename="${encodeURIComponent(opened.file.filename ?? 'pass.pkpass')}"`,
      )
      .header('Cache-Control', 'no-store')
      .send(Buffer.from(opened.file.data));
  });

  // the page's QR code, to embed (emails, printouts, a shop's screen)
  for (const format of ['svg', 'png'] as const)
    fastify.get(`/p/:publicId/qr.${format}`, { schema: { hide: true } }, async (req, reply) => {
      const { publicId } = req.params as { publicId: string };
      const { t } = req.query as { t?: string };
      try {
        const file = await runAction(getPassLinkQr, systemContext(app, 0, req.id, 'page'), {
          publicId,
          token: t ?? '',
          format,
        });
        return reply
          .type(file.contentType)
          .header('Cache-Control', 'private, max-age=3600')
          .send(Buffer.from(file.data));
      } catch (err) {
        if (isMissing(err)) return reply.status(404).type('text/plain; charset=utf-8').send('not found');
        throw err;
      }
    });

  // the page's Google Wallet button: to the pass's save link as it is now
  fastify.get('/p/:publicId/google', { schema: { hide: true } }, async (req, reply) => {
    const { publicId } = req.params as { publicId: string };
    const { t } = req.query as { t?: string };
    const lang = languageOf(req.headers['accept-language']);
    try {
      const { url } = await runAction(openPassGoogle, systemContext(app, 0, req.id, 'page'), {
        publicId,
        token: t ?? '',
        deviceClass: deviceClassOf(req.headers['user-agent']),
      });
      return reply.header('Cache-Control', 'no-store').redirect(url, 302);
    } catch (err) {
      if (isMissing(err)) {
        const words = wordsOf(lang);
        return page(reply, 404, words.notFound, `<h1>${escapeHtml(words.notFound)}</h1>`, { lang });
      }
      throw err;
    }
  });

  // a template's images, where Google Wallet fetches its class's logo and hero image
  fastify.get('/t/:token/google/:file', { schema: { hide: true } }, async (req, reply) => {
    const { token, file } = req.params as { token: string; file: string };
    try {
      const image = await runAction(getTemplateGoogleImage, systemContext(app, 0, req.id, 'page'), {
        token,
        type: file.replace(/\.png$/, ''),
      });
      return reply
        .type(image.contentType)
        .header('Cache-Control', 'public, max-age=3600')
        .send(Buffer.from(image.data));
    } catch (err) {
      if (isMissing(err)) return reply.status(404).type('text/plain; charset=utf-8').send('not found');
      throw err;
    }
  });
}
