// The dashboard: signed in with a session (the /login page), every screen at its own URL, every change through the
// actions. Roles decide what each person sees: viewers read, developers change templates and passes, owners and admins
// also manage keys, grants and integrations.
import { type JSX, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Analytics } from './analytics.js';
import {
  type Account,
  chooseAccount,
  currentAccount,
  loadSession,
  type SessionInfo,
  signInUrl,
} from './api.js';
import { Designer } from './designer.js';
import { Integrations } from './integrations.js';
import { PassPage, PassSearch } from './passes.js';
import { STYLES, type Style } from './preview.js';
import { match, navigate, onLink, useLocation } from './router.js';
import { TemplateList } from './templates.js';
import { ErrorBox } from './ui.js';
import './styles.css';

const canAdmin = (a: Account | undefined) => a?.role === 'owner' || a?.role === 'admin';

/** The screens, by URL pattern; the first that matches draws the page. */
const SCREENS: [string, (m: Record<string, string>, query: URLSearchParams) => JSX.Element][] = [
  ['/app/templates', () => <TemplateList />],
  [
    '/app/templates/new',
    (_, query) => {
      const style = STYLES.find((s) => s === query.get('style')) as Style | undefined;
      const from = query.get('from');
      return (
        <Designer
          key={`new-${style}-${from}`}
          id="new"
          style={style}
          from={from ? Number(from) : undefined}
        />
      );
    },
  ],
  ['/app/templates/:id/analytics', (m, query) => <Analytics id={Number(m.id)} query={query} />],
  ['/app/templates/:id', (m) => <Designer key={m.id} id={Number(m.id)} />],
  ['/app/passes', (_, query) => <PassSearch query={query} />],
  ['/app/passes/:type/:serial', (m) => <PassPage passTypeIdentifier={m.type!} serialNumber={m.serial!} />],
  ['/app/integrations', (_, query) => <Integrations tab="webhooks" query={query} />],
  ['/app/integrations/:tab', (m, query) => <Integrations tab={m.tab!} query={query} />],
];

function Screen() {
  const { path, query } = useLocation();
  if (path === '/app' || path === '/app/') {
    navigate('/app/templates', true);
    return null;
  }
  for (const [pattern, draw] of SCREENS) {
    const m = match(pattern, path);
    if (m) return draw(m, query);
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No screen at {path}. <a href="/app/templates">Templates</a>
      </p>
    </section>
  );
}

function App() {
  const [session, setSession] = useState<SessionInfo | null>();
  const [error, setError] = useState<unknown>();
  const [, setAccount] = useState<number>();
  const { path } = useLocation();
  useEffect(() => {
    loadSession().then((s) => {
      if (!s) location.assign(signInUrl());
      else setSession(s);
    }, setError);
  }, []);
  if (error) return <ErrorBox error={error} />;
  if (!session) return <p class="loading">Loading…</p>;
  const account = currentAccount();
  if (!account)
    return (
      <main id="main">
        <h1>No account</h1>
        <p>{session.email} is not a member of any account yet: ask its owner to add you.</p>
      </main>
    );
  const nav: [string, string][] = [
    ['/app/templates', 'Templates'],
    ['/app/passes', 'Passes'],
    ['/app/integrations', 'Integrations'],
  ];
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the click handler only routes the links inside
    // biome-ignore lint/a11y/useKeyWithClickEvents: links keep their own keyboard behaviour
    <div class="shell" onClick={(e) => onLink(e as unknown as MouseEvent)}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/app/templates">
          Passslot
        </a>
        <nav aria-label="Main">
          {nav.map(([href, label]) => (
            <a key={href} href={href} aria-current={path.startsWith(href) ? 'page' : undefined}>
              {label}
            </a>
          ))}
          <a href="/scan">Scanner</a>
        </nav>
        <div class="who">
          {session.accounts.length > 1 ? (
            <label>
              <span class="visually-hidden">Account</span>
              <select
                value={account.id}
                onChange={(e) => {
                  chooseAccount(Number((e.target as HTMLSelectElement).value));
                  setAccount(Number((e.target as HTMLSelectElement).value));
                  navigate('/app/templates');
                }}
              >
                {session.accounts.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span>{account.name}</span>
          )}{' '}
          <span class="role" title={canAdmin(account) ? 'can manage keys and people' : undefined}>
            {session.email} ({account.role})
          </span>{' '}
          <a href="/logout">Sign out</a>
        </div>
      </header>
      <main id="main" key={account.id}>
        <Screen />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
