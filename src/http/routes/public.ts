// Public pass links: `${PASSSLOT_PUBLIC_URL}/p/<id>?t=<token>` serves the .pkpass to Wallet, Safari and Passbook user
// agents and a small page with a download link to everything else. Template links (/t/<token>) show the template.
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { openPassLink, openTemplateLink } from '../../actions/links.js';
import { runAction, systemContext } from '../../actions/registry.js';
import type { App } from '../../app.js';
import { AppError } from '../../errors.js';
import { escapeHtml } from '../../html.js';
import { page } from '../page.js';

const WALLET_AGENT = /(iPhone|iPad|iPod|Passbook|PassKit|Wallet|Macintosh.*Safari)/i;

export async function publicRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  fastify.get('/p/:publicId', { schema: { hide: true } }, async (req, reply) => {
    const { publicId } = req.params as { publicId: string };
    const { t, download } = req.query as { t?: string; download?: string };
    const userAgent = req.headers['user-agent'] ?? null;
    let opened: Static<typeof openPassLink.output>;
    try {
      opened = await runAction(openPassLink, systemContext(app, 0, req.id, 'page'), {
        publicId,
        token: t ?? '',
        download: download === '1' || WALLET_AGENT.test(userAgent ?? ''),
        userAgent,
      });
    } catch (err) {
      if (err instanceof AppError && (err.code === 'not_found' || err.code === 'validation_failed'))
        return page(reply, 404, 'Pass not found', '<h1>Pass not found</h1><p>This link is not valid.</p>');
      throw err;
    }
    if (opened.kind === 'removed') return page(reply, 410, 'Pass removed', '<h1>This pass was removed</h1>');
    if (opened.kind === 'page') {
      const href = `/p/${encodeURIComponent(publicId)}?t=${encodeURIComponent(t ?? '')}&download=1`;
      return page(
        reply,
        200,
        opened.templateName,
        `<h1>${escapeHtml(opened.templateName)}</h1><p>Open this page on your iPhone to add the pass to Apple Wallet, or download it.</p>` +
          `<p><a class="button" href="${escapeHtml(href)}">Add to Apple Wallet</a></p>`,
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

  fastify.get('/t/:token', { schema: { hide: true } }, async (req, reply) => {
    const { token } = req.params as { token: string };
    const row = await runAction(openTemplateLink, systemContext(app, 0, req.id, 'page'), { token }).catch(
      (err: unknown) => {
        if (err instanceof AppError && (err.code === 'not_found' || err.code === 'validation_failed'))
          return undefined;
        throw err;
      },
    );
    if (!row) return page(reply, 404, 'Not found', '<h1>Not found</h1>');
    return page(
      reply,
      200,
      row.name,
      `<h1>${escapeHtml(row.name)}</h1><p>Passes of this template are issued by its owner.</p>`,
    );
  });
}
