// People and agents at the edge: the sign-in pages (/login, /logout) and the OAuth 2.1 authorization server
// (metadata, registration, the authorize page with consent, token, revoke), per the MCP authorization spec. The rules
// (codes, PKCE, rotation, reuse detection) are in auth/oauth.ts; this file translates HTTP and renders pages.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app.js';
import {
  authenticateClient,
  type Client,
  canonicalResource,
  createCode,
  exchangeCode,
  findClient,
  OAUTH_SCOPES,
  OAuthError,
  parseScopes,
  refreshTokens,
  registerClient,
  resources,
  revokeToken,
} from '../../auth/oauth.js';
import { verifyPassword } from '../../auth/passwords.js';
import {
  closeSession,
  cookie,
  cookiesOf,
  FORM_COOKIE,
  formTokenValid,
  openSession,
  SESSION_COOKIE,
  type Session,
  sessionOf,
} from '../../auth/sessions.js';
import { randomToken } from '../../auth/tokens.js';
import { escapeHtml } from '../../html.js';
import type { Scope } from '../../store/keys.js';
import { findUser, membershipsOf, scopesOfRole } from '../../store/users.js';
import { page } from '../page.js';

const SCOPE_TEXT: Record<Scope, string> = {
  'passes:read': 'See passes, their holders and their history',
  'passes:write': 'Create, update, send, revoke and delete passes',
  'templates:read': 'See pass templates',
  'templates:write': 'Create, change and delete pass templates',
  'passtypes:read': 'See pass type identities',
  'passtypes:write': 'Add and change pass type certificates',
  'scanners:read': 'See scanners',
  'scanners:write': 'Add and remove scanners',
  'scans:write': 'Scan and redeem passes at the door',
  'audit:read': 'Read the execution log',
  'events:read': 'Read the event feed',
  'webhooks:read': 'See webhooks and their deliveries',
  'webhooks:write': 'Add, change and remove webhooks',
  'integrations:read': 'See CRM integrations',
  'integrations:write': 'Connect and change CRM integrations',
  '*': 'Everything, including app keys and people',
};

const FAILED_LOGINS = 10;
const FAILED_WINDOW_MS = 15 * 60_000;

/** A `next` that stays on this site: a path, not //host or /\host. */
const safeNext = (next: unknown): string =>
  typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/login';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

interface AuthorizationRequest {
  client: Client;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  scopes: Scope[];
  resource: string;
}

/** Problems before the redirect URI is known to be the client's: shown, never redirected (RFC 9700 §4.11). */
class PageError extends Error {}
/** Problems after: sent back to the client at its redirect URI. */
class RedirectError extends Error {
  constructor(
    readonly redirectUri: string,
    readonly error: string,
    description: string,
    readonly state: string | undefined,
  ) {
    super(description);
  }
}

export async function oauthRoutes(fastify: FastifyInstance, app: App): Promise<void> {
  const base = resources(app.config.publicUrl).base;
  const secure = base.startsWith('https:');
  const failures = new Map<string, { count: number; since: number }>();

  const backTo = (redirectUri: string, params: Record<string, string | undefined>): string => {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    return url.toString();
  };

  async function authorizationRequest(p: Record<string, unknown>): Promise<AuthorizationRequest> {
    const client = await findClient(app.db, p.client_id);
    if (!client) throw new PageError('Unknown client_id: the application is not registered here.');
    const asked = p.redirect_uri;
    const redirectUri =
      asked === undefined && client.redirectUris.length === 1 ? client.redirectUris[0]! : str(asked);
    if (!client.redirectUris.includes(redirectUri))
      throw new PageError('The redirect_uri is not one the application registered.');
    const state = typeof p.state === 'string' ? p.state : undefined;
    const fail = (error: string, description: string) =>
      new RedirectError(redirectUri, error, description, state);
    if (p.response_type !== 'code') throw fail('unsupported_response_type', 'response_type must be code');
    if (typeof p.code_challenge !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(p.code_challenge))
      throw fail('invalid_request', 'code_challenge (PKCE, S256) is required');
    if (p.code_challenge_method !== 'S256')
      throw fail('invalid_request', 'code_challenge_method must be S256');
    let scopes: Scope[];
    try {
      scopes = parseScopes(p.scope);
    } catch (err) {
      throw fail('invalid_scope', (err as Error).message);
    }
    const resource =
      p.resource === undefined || p.resource === '' ? base : canonicalResource(str(p.resource));
    const r = resources(app.config.publicUrl);
    if (!resource || ![r.base, r.mcp, r.v1].includes(resource))
      throw fail('invalid_target', `resource must be ${r.mcp}, ${r.v1} or ${r.base}`);
    return { client, redirectUri, state, codeChallenge: p.code_challenge, scopes, resource };
  }

  const HIDDEN = [
    'client_id',
    'redirect_uri',
    'state',
    'response_type',
    'code_challenge',
    'code_challenge_method',
    'scope',
    'resource',
  ];

  function consentPage(
    reply: FastifyReply,
    session: Session,
    req: AuthorizationRequest,
    raw: Record<string, unknown>,
    memberships: Awaited<ReturnType<typeof membershipsOf>>,
  ) {
    const hidden = HIDDEN.filter((k) => typeof raw[k] === 'string')
      .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(str(raw[k]))}">`)
      .join('');
    const accounts = memberships
      .map((m) => `<option value="${m.accountId}">${escapeHtml(m.accountName)} (${m.role})</option>`)
      .join('');
    const scopes = req.scopes
      .map(
        (s) =>
          `<label><input type="checkbox" name="grant:${s}" value="1"${s.endsWith(':read') ? ' checked' : ''}> ` +
          `<code>${s}</code>: ${escapeHtml(SCOPE_TEXT[s] ?? s)}</label>`,
      )
      .join('');
    const where = req.resource === base ? 'the whole Passslot API and MCP' : req.resource;
    return page(
      reply.header(
        'Content-Security-Policy',
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
      ),
      200,
      'Allow access',
      `<h1>Allow ${escapeHtml(req.client.name)}?</h1>` +
        `<p><strong>${escapeHtml(req.client.name)}</strong> asks to act on Passslot as <strong>${escapeHtml(session.email)}</strong>. ` +
        `It will come back to <code>${escapeHtml(new URL(req.redirectUri).origin)}</code> and may use ${escapeHtml(where)}.</p>` +
        `<form method="post" action="/oauth/authorize"><input type="hidden" name="csrf" value="${escapeHtml(session.csrf)}">${hidden}` +
        `<label>Account <select name="account">${accounts}</select></label>` +
        `<fieldset><legend>What it may do (reading is ticked; tick what it may change)</legend>${scopes}</fieldset>` +
        `<p>Scopes beyond your role in the chosen account are not granted. You can revoke this access at any time.</p>` +
        `<button name="decision" value="allow">Allow</button> <button class="secondary" name="decision" value="deny">Deny</button></form>`,
    );
  }

  await fastify.register(async (scope) => {
    // forms and token requests are application/x-www-form-urlencoded, parsed strictly here
    scope.removeContentTypeParser('application/x-www-form-urlencoded');
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    // the endpoints a browser-based client calls from another origin
    const cors = (reply: FastifyReply) =>
      reply
        .header('Access-Control-Allow-Origin', '*')
        .header('Access-Control-Allow-Headers', 'Authorization, Content-Type, MCP-Protocol-Version')
        .header('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    const OPEN = [
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource/v1',
      '/oauth/register',
      '/oauth/token',
      '/oauth/revoke',
    ];
    for (const url of OPEN)
      scope.options(url, { schema: { hide: true } }, async (_req, reply) => cors(reply).status(204).send());

    const oauthError = (reply: FastifyReply, err: unknown) => {
      if (!(err instanceof OAuthError)) throw err;
      return cors(reply)
        .status(err.status)
        .header('Cache-Control', 'no-store')
        .send({ error: err.error, error_description: err.message });
    };

    scope.get('/.well-known/oauth-authorization-server', { schema: { hide: true } }, async (_req, reply) =>
      cors(reply).send({
        issuer: base,
        authorization_endpoint: `${base}/oauth/authorize`,
        token_endpoint: `${base}/oauth/token`,
        registration_endpoint: `${base}/oauth/register`,
        revocation_endpoint: `${base}/oauth/revoke`,
        response_types_supported: ['code'],
        response_modes_supported: ['query'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
        revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
        scopes_supported: OAUTH_SCOPES,
        authorization_response_iss_parameter_supported: true,
        service_documentation: `${base}/docs`,
      }),
    );

    const r = resources(app.config.publicUrl);
    for (const [suffix, resource, name] of [
      ['', r.base, 'Passslot'],
      ['/mcp', r.mcp, 'Passslot MCP'],
      ['/v1', r.v1, 'Passslot REST API'],
    ] as const)
      scope.get(
        `/.well-known/oauth-protected-resource${suffix}`,
        { schema: { hide: true } },
        async (_req, reply) =>
          cors(reply).send({
            resource,
            authorization_servers: [base],
            scopes_supported: OAUTH_SCOPES,
            bearer_methods_supported: ['header'],
            resource_name: name,
            resource_documentation: `${base}/docs`,
          }),
      );

    scope.post('/oauth/register', { schema: { hide: true } }, async (req, reply) => {
      try {
        const body = (req.body ?? {}) as Record<string, unknown>;
        if (typeof body !== 'object' || Array.isArray(body))
          throw new OAuthError(
            'invalid_client_metadata',
            'the body must be a JSON object of client metadata',
          );
        return cors(reply)
          .status(201)
          .header('Cache-Control', 'no-store')
          .send(await registerClient(app.db, body, app.clock.now()));
      } catch (err) {
        return oauthError(reply, err);
      }
    });

    scope.post('/oauth/token', { schema: { hide: true } }, async (req, reply) => {
      try {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const client = await authenticateClient(app.db, body, req.headers.authorization);
        const now = app.clock.now();
        const tokens =
          body.grant_type === 'authorization_code'
            ? await exchangeCode(app.db, client, body as never, now)
            : body.grant_type === 'refresh_token'
              ? await refreshTokens(app.db, client, body as never, now)
              : (() => {
                  throw new OAuthError(
                    'unsupported_grant_type',
                    'grant_type must be authorization_code or refresh_token',
                  );
                })();
        return cors(reply).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(tokens);
      } catch (err) {
        // a reused code or refresh token revoked a grant: forget cached credentials now
        if (err instanceof OAuthError && err.error === 'invalid_grant') await app.auth.forget();
        return oauthError(reply, err);
      }
    });

    scope.post('/oauth/revoke', { schema: { hide: true } }, async (req, reply) => {
      try {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const client = await authenticateClient(app.db, body, req.headers.authorization);
        await revokeToken(app.db, client, body.token, app.clock.now());
        await app.auth.forget();
        return cors(reply).status(200).send({});
      } catch (err) {
        return oauthError(reply, err);
      }
    });

    const authorize = async (
      req: FastifyRequest,
      reply: FastifyReply,
      p: Record<string, unknown>,
      posted: boolean,
    ) => {
      let request: AuthorizationRequest;
      try {
        request = await authorizationRequest(p);
      } catch (err) {
        if (err instanceof PageError)
          return page(
            reply,
            400,
            'Cannot authorize',
            `<h1>Cannot authorize</h1><p class="error">${escapeHtml(err.message)}</p>`,
          );
        if (err instanceof RedirectError)
          return reply.redirect(
            backTo(err.redirectUri, {
              error: err.error,
              error_description: err.message,
              state: err.state,
              iss: base,
            }),
            302,
          );
        throw err;
      }
      const now = app.clock.now();
      const session = await sessionOf(app.db, req.headers.cookie, now);
      if (!session) {
        if (posted)
          return page(
            reply,
            401,
            'Signed out',
            '<h1>You were signed out</h1><p>Start again from the application.</p>',
          );
        return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 302);
      }
      const memberships = await membershipsOf(app.db, session.userId);
      if (memberships.length === 0)
        return page(
          reply,
          403,
          'No account',
          `<h1>No account</h1><p>${escapeHtml(session.email)} is not a member of any account yet.</p>`,
        );
      if (!posted) return consentPage(reply, session, request, p, memberships);
      if (!formTokenValid(session.csrf, p.csrf))
        return page(reply, 403, 'Expired form', '<h1>This form expired</h1><p>Go back and try again.</p>');
      const done = (params: Record<string, string | undefined>) =>
        reply.redirect(backTo(request.redirectUri, { ...params, state: request.state, iss: base }), 302);
      if (p.decision !== 'allow')
        return done({ error: 'access_denied', error_description: 'the user denied access' });
      const membership = memberships.find((m) => String(m.accountId) === p.account);
      if (!membership) return page(reply, 400, 'Pick an account', '<h1>Pick one of your accounts</h1>');
      const role = scopesOfRole(membership.role);
      const granted = request.scopes.filter((s) => p[`grant:${s}`] !== undefined && role.includes(s));
      if (granted.length === 0)
        return done({ error: 'access_denied', error_description: 'no scope was granted' });
      const code = await createCode(
        app.db,
        {
          clientId: request.client.clientId,
          userId: session.userId,
          accountId: membership.accountId,
          redirectUri: request.redirectUri,
          codeChallenge: request.codeChallenge,
          scopes: granted,
          resource: request.resource,
        },
        now,
      );
      return done({ code });
    };
    scope.get('/oauth/authorize', { schema: { hide: true } }, (req, reply) =>
      authorize(req, reply, req.query as Record<string, unknown>, false),
    );
    scope.post('/oauth/authorize', { schema: { hide: true } }, (req, reply) =>
      authorize(req, reply, (req.body ?? {}) as Record<string, unknown>, true),
    );

    // ——— sign-in ———
    const loginPage = (reply: FastifyReply, status: number, next: string, error?: string) => {
      const token = randomToken(24);
      return page(
        reply
          .header('Set-Cookie', cookie(FORM_COOKIE, token, secure, 3600))
          .header(
            'Content-Security-Policy',
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
          ),
        status,
        'Sign in to Passslot',
        `<h1>Sign in to Passslot</h1>${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}` +
          `<form method="post" action="/login"><input type="hidden" name="csrf" value="${token}">` +
          `<input type="hidden" name="next" value="${escapeHtml(next)}">` +
          '<label>Email <input type="email" name="email" autocomplete="username" required></label>' +
          '<label>Password <input type="password" name="password" autocomplete="current-password" required></label>' +
          '<button>Sign in</button></form>',
      );
    };

    scope.get('/login', { schema: { hide: true } }, async (req, reply) => {
      const next = safeNext((req.query as Record<string, unknown>).next);
      const session = await sessionOf(app.db, req.headers.cookie, app.clock.now());
      if (session && next !== '/login') return reply.redirect(next, 302);
      if (session)
        return page(
          reply,
          200,
          'Signed in',
          `<h1>Signed in</h1><p>as ${escapeHtml(session.email)}. <a href="/logout">Sign out</a></p>`,
        );
      return loginPage(reply, 200, next);
    });

    scope.post('/login', { schema: { hide: true } }, async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const next = safeNext(body.next);
      if (!formTokenValid(cookiesOf(req.headers.cookie).get(FORM_COOKIE), body.csrf))
        return loginPage(reply, 403, next, 'This form expired; please sign in again.');
      const email = str(body.email).trim().toLowerCase();
      const throttleKey = `${req.ip} ${email}`;
      const now = Date.now();
      const seen = failures.get(throttleKey);
      if (seen && now - seen.since < FAILED_WINDOW_MS && seen.count >= FAILED_LOGINS)
        return loginPage(
          reply.header('Retry-After', String(Math.ceil((seen.since + FAILED_WINDOW_MS - now) / 1000))),
          429,
          next,
          'Too many failed attempts; try again later.',
        );
      const user = email ? await findUser(app.db, email) : undefined;
      if (!(await verifyPassword(str(body.password), user?.passwordHash)) || !user) {
        const fresh = !seen || now - seen.since >= FAILED_WINDOW_MS;
        failures.set(throttleKey, { count: fresh ? 1 : seen.count + 1, since: fresh ? now : seen.since });
        if (failures.size > 100_000) failures.clear();
        return loginPage(reply, 401, next, 'Wrong email or password.');
      }
      failures.delete(throttleKey);
      const { token, maxAge } = await openSession(app.db, user.id, app.clock.now());
      return reply
        .header('Set-Cookie', [
          cookie(SESSION_COOKIE, token, secure, maxAge),
          cookie(FORM_COOKIE, '', secure, 0),
        ])
        .redirect(next, 303);
    });

    scope.get('/logout', { schema: { hide: true } }, async (req, reply) => {
      const session = await sessionOf(app.db, req.headers.cookie, app.clock.now());
      if (!session) return reply.redirect('/login', 302);
      return page(
        reply,
        200,
        'Sign out',
        `<h1>Sign out</h1><p>Signed in as ${escapeHtml(session.email)}.</p><form method="post" action="/logout">` +
          `<input type="hidden" name="csrf" value="${escapeHtml(session.csrf)}"><button>Sign out</button></form>`,
      );
    });

    scope.post('/logout', { schema: { hide: true } }, async (req, reply) => {
      const session = await sessionOf(app.db, req.headers.cookie, app.clock.now());
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (session && formTokenValid(session.csrf, body.csrf)) await closeSession(app.db, session.id);
      else if (session)
        return page(
          reply,
          403,
          'Expired form',
          '<h1>This form expired</h1><p><a href="/logout">Try again</a></p>',
        );
      return reply.header('Set-Cookie', cookie(SESSION_COOKIE, '', secure, 0)).redirect('/login', 303);
    });
  });
}
