// Self-service forms at a template's link (/t/<token>): the form, built from the template's fields, and its
// submission, which issues the pass and goes to its page. Without JavaScript; guarded by a CSRF token (double-submit
// cookie), a honeypot field bots fill in, and a per-address limit on submissions.
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Field, openTemplateForm, submitTemplateForm } from '../../actions/forms.js';
import { runAction, systemContext } from '../../actions/registry.js';
import type { App } from '../../app.js';
import { cookie, cookiesOf, FORM_COOKIE, formTokenValid } from '../../auth/sessions.js';
import { randomToken } from '../../auth/tokens.js';
import { AppError } from '../../errors.js';
import { cssColor, escapeHtml } from '../../html.js';
import { qrSvg } from '../../render/qr.js';
import { page } from '../page.js';
import { memoryCounter } from '../rate-limit.js';

const SUBMISSIONS_PER_MINUTE = 10;
const HONEYPOT = 'website';

type Form = Static<typeof openTemplateForm.output>;

const INPUT_TYPE: Record<Field['type'], string> = {
  text: 'text',
  email: 'email',
  tel: 'tel',
  date: 'date',
  number: 'number',
  select: 'select',
};

function fieldHtml(f: Field, value: string, error: string | undefined): string {
  const id = `f-${escapeHtml(f.name)}`;
  const req = f.required ? ' required' : '';
  const control =
    f.type === 'select'
      ? `<select id="${id}" name="v:${escapeHtml(f.name)}"${req}><option value=""></option>${(f.options ?? [])
          .map((o) => `<option${o === value ? ' selected' : ''}>${escapeHtml(o)}</option>`)
          .join('')}</select>`
      : `<input id="${id}" type="${INPUT_TYPE[f.type]}" name="v:${escapeHtml(f.name)}" value="${escapeHtml(value)}"${req}${
          f.type === 'number' ? ' step="any"' : ''
        }>`;
  return `<label for="${id}">${escapeHtml(f.label)}${f.required ? '' : ' (optional)'}</label>${control}${
    error ? `<p class="error">${escapeHtml(error)}</p>` : ''
  }`;
}

export async function formRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  const secure = app.config.publicUrl.startsWith('https:');
  const limiter = memoryCounter();

  function formPage(
    reply: FastifyReply,
    status: number,
    form: Form,
    entered: Record<string, string> = {},
    errors: Map<string, string> = new Map(),
    message?: string,
  ): FastifyReply {
    const token = randomToken(24);
    const body = (form.body ?? {}) as Record<string, unknown>;
    const bg = cssColor(body.backgroundColor) ?? '#222';
    const fg = cssColor(body.foregroundColor) ?? '#fff';
    const header = `<div style="background:${bg};color:${fg};padding:1rem;border-radius:1rem"><h1 style="margin:0">${escapeHtml(form.title)}</h1>${
      form.intro ? `<p>${escapeHtml(form.intro)}</p>` : ''
    }</div>`;
    if (form.closed)
      return page(reply, 410, form.title, `${header}<p class="error">${escapeHtml(form.closed)}</p>`);
    const fields = [
      ...form.fields.map((f) => fieldHtml(f, entered[`v:${f.name}`] ?? '', errors.get(f.name))),
      ...(form.askEmail
        ? [
            fieldHtml(
              { name: 'email', label: 'Email', type: 'email', required: true, options: null },
              entered.email ?? '',
              errors.get('email'),
            ).replace(/name="v:email"/, 'name="email"'),
          ]
        : []),
      ...(form.askPhone
        ? [
            fieldHtml(
              { name: 'phone', label: 'Mobile number', type: 'tel', required: true, options: null },
              entered.phone ?? '',
              errors.get('phone'),
            ).replace(/name="v:phone"/, 'name="phone"'),
          ]
        : []),
      ...(form.askPassword
        ? [
            `<label for="f-password">Password</label><input id="f-password" type="password" name="password" required>${
              errors.get('password') ? `<p class="error">${escapeHtml(errors.get('password')!)}</p>` : ''
            }`,
          ]
        : []),
    ].join('');
    return page(
      reply.header('Set-Cookie', cookie(FORM_COOKIE, token, secure, 3600)),
      status,
      form.title,
      `${header}${message ? `<p class="error">${escapeHtml(message)}</p>` : ''}<form method="post">` +
        `<input type="hidden" name="csrf" value="${token}">` +
        // people do not see this field; bots that fill every field in do
        `<div style="position:absolute;left:-9999px" aria-hidden="true"><label>Website <input name="${HONEYPOT}" tabindex="-1" autocomplete="off"></label></div>` +
        `${fields}<p><button>Get my pass</button></p></form>`,
    );
  }

  const open = (req: { id: string }, token: string) =>
    runAction(openTemplateForm, systemContext(app, 0, req.id, 'page'), { token });

  const notFound = (reply: FastifyReply) =>
    page(reply, 404, 'Not found', '<h1>Not found</h1><p>This link is not valid.</p>');
  const isMissing = (err: unknown) =>
    err instanceof AppError && (err.code === 'not_found' || err.code === 'validation_failed');

  fastify.get('/t/:token', { schema: { hide: true } }, async (req, reply) => {
    const { token } = req.params as { token: string };
    try {
      return formPage(reply, 200, await open(req, token));
    } catch (err) {
      if (isMissing(err)) return notFound(reply);
      throw err;
    }
  });

  // the link's QR code, for posters and the counter (the dashboard shows it with the template's link)
  fastify.get('/t/:token/qr.svg', { schema: { hide: true } }, async (req, reply) => {
    const { token } = req.params as { token: string };
    try {
      await open(req, token);
    } catch (err) {
      if (isMissing(err)) return notFound(reply);
      throw err;
    }
    const base = app.config.publicUrl.replace(/\/+$/, '');
    return reply
      .type('image/svg+xml')
      .header('Cache-Control', 'no-store')
      .send(await qrSvg(`${base}/t/${encodeURIComponent(token)}`));
  });

  fastify.post('/t/:token', { schema: { hide: true } }, async (req, reply) => {
    const { token } = req.params as { token: string };
    const entered = Object.fromEntries(
      Object.entries((req.body ?? {}) as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string',
      ),
    );
    let form: Form;
    try {
      form = await open(req, token);
    } catch (err) {
      if (isMissing(err)) return notFound(reply);
      throw err;
    }
    if (!formTokenValid(cookiesOf(req.headers.cookie).get(FORM_COOKIE), entered.csrf))
      return formPage(reply, 403, form, entered, new Map(), 'This form expired; please send it again.');
    const hit = await limiter.hit(`form:${req.ip}`, 60_000);
    if (hit.count > SUBMISSIONS_PER_MINUTE)
      return formPage(
        reply.header('Retry-After', String(Math.ceil(hit.resetMs / 1000))),
        429,
        form,
        entered,
        new Map(),
        'Too many requests; please wait a minute.',
      );
    // a bot filled the hidden field in: nothing is issued, and nothing tells it why
    if (entered[HONEYPOT])
      return formPage(reply, 400, form, entered, new Map(), 'Please check the form and send it again.');
    const values = Object.fromEntries(
      Object.entries(entered)
        .filter(([k]) => k.startsWith('v:'))
        .map(([k, v]) => [k.slice(2), v]),
    );
    try {
      const done = await runAction(submitTemplateForm, systemContext(app, 0, req.id, 'page'), {
        token,
        values,
        email: form.askEmail ? entered.email : undefined,
        phone: form.askPhone ? entered.phone : undefined,
        password: form.askPassword ? entered.password : undefined,
      });
      return reply.header('Set-Cookie', cookie(FORM_COOKIE, '', secure, 0)).redirect(done.url, 303);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const errors = new Map(err.errors.map((e) => [e.field.replace(/^values\./, ''), e.reasons.join('; ')]));
      // what concerns no field of the form (the pass Wallet would refuse, say) is said above it
      const shown = new Set(['email', 'phone', 'password', ...form.fields.map((f) => f.name)]);
      const elsewhere = [...errors].filter(([field]) => !shown.has(field));
      const message = elsewhere.length
        ? `${err.message}: ${elsewhere.map(([field, reasons]) => `${field} ${reasons}`).join('; ')}`
        : errors.size
          ? undefined
          : err.message;
      const status = err.status === 422 ? 422 : err.status;
      return formPage(reply, status, form, entered, errors, message);
    }
  });
}
