// Public pass links: `${PASSSLOT_PUBLIC_URL}/p/<id>?t=<token>` serves the .pkpass to Wallet, Safari and Passbook user
// agents and a small page with a download link to everything else. Template links (/t/<token>) show the template.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { currentPkpass, passEventData } from '../../actions/pass-ops.js';
import { systemContext } from '../../actions/registry.js';
import type { App } from '../../app.js';
import { PKPASS_MIME } from '../../engine/index.js';
import { appendEvent, withEvents } from '../../store/events.js';

const WALLET_AGENT = /(iPhone|iPad|iPod|Passbook|PassKit|Wallet|Macintosh.*Safari)/i;

const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}` +
        `a.button{display:inline-block;background:#000;color:#fff;padding:.75rem 1.25rem;border-radius:.5rem;text-decoration:none}</style></head>` +
        `<body>${body}</body></html>`,
    );
}

export async function publicRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  fastify.get('/p/:publicId', { schema: { hide: true } }, async (req, reply) => {
    const { publicId } = req.params as { publicId: string };
    const { t, download } = req.query as { t?: string; download?: string };
    const row = await app.db
      .selectFrom('passes')
      .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
      .innerJoin('templates', 'templates.id', 'passes.templateId')
      .selectAll('passes')
      .select(['passTypes.passTypeIdentifier as ptid', 'templates.name as templateName'])
      .where('passes.publicId', '=', publicId)
      .executeTakeFirst();
    if (!row || !t || !safeEqual(t, row.linkToken))
      return page(reply, 404, 'Pass not found', '<h1>Pass not found</h1><p>This link is not valid.</p>');
    if (row.deletedAt) return page(reply, 410, 'Pass removed', '<h1>This pass was removed</h1>');
    const wantsFile = download === '1' || WALLET_AGENT.test(req.headers['user-agent'] ?? '');
    if (!wantsFile) {
      const href = `/p/${encodeURIComponent(publicId)}?t=${encodeURIComponent(t)}&download=1`;
      return page(
        reply,
        200,
        row.templateName,
        `<h1>${escapeHtml(row.templateName)}</h1><p>Open this page on your iPhone to add the pass to Apple Wallet, or download it.</p>` +
          `<p><a class="button" href="${escapeHtml(href)}">Add to Apple Wallet</a></p>`,
      );
    }
    const passType = await app.db
      .selectFrom('passTypes')
      .selectAll()
      .where('id', '=', row.passTypeId)
      .executeTakeFirstOrThrow();
    const ctx = systemContext(app, row.accountId, req.id, 'page');
    const bytes = await currentPkpass(ctx, row, passType);
    await withEvents(app, (trx) =>
      appendEvent(
        trx,
        {
          accountId: row.accountId,
          type: 'pass.downloaded',
          passId: row.id,
          data: passEventData(ctx, row, passType, { userAgent: req.headers['user-agent'] ?? null }),
        },
        app.clock.now(),
      ),
    );
    return reply
      .type(PKPASS_MIME)
      .header('Content-Disposition', `attachment; filename="${encodeURIComponent(row.serialNumber)}.pkpass"`)
      .header('Cache-Control', 'no-store')
      .send(Buffer.from(bytes));
  });

  fastify.get('/t/:token', { schema: { hide: true } }, async (req, reply) => {
    const { token } = req.params as { token: string };
    const row = await app.db
      .selectFrom('templates')
      .select(['name', 'linkToken'])
      .where('linkToken', '=', token)
      .executeTakeFirst();
    if (!row) return page(reply, 404, 'Not found', '<h1>Not found</h1>');
    return page(
      reply,
      200,
      row.name,
      `<h1>${escapeHtml(row.name)}</h1><p>Passes of this template are issued by its owner.</p>`,
    );
  });
}
