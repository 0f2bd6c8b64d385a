// Integrations and access: webhooks and CRM connectors with their delivery logs (retry, replay), pass types and their
// certificates, scanners and their sign-in keys, app keys, OAuth grants, and the execution log and audit trail.
import { useEffect, useState } from 'preact/hooks';
import type { ActionName, Actions } from '../../src/client/actions.gen.js';
import { call, may } from './api.js';
import { navigate } from './router.js';
import { ActionButton, ErrorBox, Page, Select, Table, TextInput, when } from './ui.js';

/** The tabs, and the scope a person's role needs to see each (OAuth grants: everyone sees their own). */
const TABS = [
  ['webhooks', 'Webhooks', 'webhooks:read'],
  ['crm', 'CRM and messaging', 'integrations:read'],
  ['passtypes', 'Pass types', 'passtypes:read'],
  ['scanners', 'Scanners', 'scanners:read'],
  ['keys', 'App keys', '*'],
  ['grants', 'OAuth grants', ''],
  ['log', 'Execution log', 'audit:read'],
] as const;
type Tab = (typeof TABS)[number][0];

/** Loads an action's output once (and again when `reload` is called). */
function useAction<N extends ActionName>(name: N, input: Actions[N]['input'], deps: unknown[] = []) {
  const [out, setOut] = useState<Actions[N]['output']>();
  const [error, setError] = useState<unknown>();
  const [n, setN] = useState(0);
  useEffect(() => {
    setError(undefined);
    call(name, input).then(setOut, setError);
  }, [n, ...deps]);
  return { out, error, reload: () => setN(n + 1) };
}

export function Integrations(props: { tab: string; query: URLSearchParams }) {
  const tabs = TABS.filter(([, , scope]) => !scope || may(scope));
  const tab = (tabs.find(([t]) => t === props.tab)?.[0] ?? tabs[0]?.[0] ?? 'grants') as Tab;
  return (
    <Page title="Integrations and access">
      <nav class="tabs" aria-label="Integrations">
        {tabs.map(([t, label]) => (
          <a key={t} href={`/app/integrations/${t}`} aria-current={t === tab ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {tab === 'webhooks' && <Webhooks query={props.query} />}
      {tab === 'crm' && <Crm query={props.query} />}
      {tab === 'passtypes' && <PassTypes />}
      {tab === 'scanners' && <Scanners />}
      {tab === 'keys' && <Keys />}
      {tab === 'grants' && <Grants />}
      {tab === 'log' && <Log query={props.query} />}
    </Page>
  );
}

type Delivery = Actions['list_webhook_deliveries']['output']['deliveries'][number];
const deliveryColumns = (
  retry: (d: Delivery) => Promise<unknown>,
): [string, (d: Delivery) => preact.ComponentChildren][] => [
  ['Event', (d) => d.eventType],
  ['Status', (d) => <span class={`status ${d.status}`}>{d.status}</span>],
  ['Attempts', (d) => d.attempts],
  ['Last answer', (d) => d.lastError ?? d.lastStatus ?? '—'],
  ['Created', (d) => when(d.createdAt)],
  ['', (d) => (d.status === 'failed' ? <ActionButton run={() => retry(d)}>Retry</ActionButton> : null)],
];

/** A webhook's or connector's state: enabled, failing since when, or disabled and why. */
const stateOf = (t: { enabled: boolean; failingSince: string | null; disabledReason: string | null }) =>
  t.enabled
    ? t.failingSince
      ? `failing since ${when(t.failingSince)}`
      : 'enabled'
    : `disabled: ${t.disabledReason ?? ''}`;

/** Revokes a key or a grant, once confirmed, and reloads the list. */
function Revoke(props: { what: string; run: () => Promise<unknown>; then: () => void }) {
  return (
    <ActionButton
      kind="danger"
      confirm={`Revoke ${props.what}?`}
      run={async () => {
        await props.run();
        props.then();
      }}
    >
      Revoke
    </ActionButton>
  );
}

function Webhooks(props: { query: URLSearchParams }) {
  const hooks = useAction('list_webhooks', {});
  const selected = Number(props.query.get('id') ?? hooks.out?.[0]?.id ?? 0);
  return (
    <>
      <ErrorBox error={hooks.error} />
      <Table
        caption="Webhooks"
        rows={hooks.out ?? []}
        empty="No webhooks. Add one with the API (POST /v1/webhooks) or the CLI."
        columns={[
          ['URL', (h) => <a href={`/app/integrations/webhooks?id=${h.id}`}>{h.url}</a>],
          ['Events', (h) => h.events.join(', ')],
          ['State', stateOf],
          ['Last success', (h) => when(h.lastSuccessAt)],
        ]}
      />
      {selected > 0 && <Deliveries key={selected} kind="webhook" id={selected} />}
    </>
  );
}

function Deliveries(props: { kind: 'webhook' | 'integration'; id: number }) {
  const list = useAction(
    props.kind === 'webhook' ? 'list_webhook_deliveries' : 'list_integration_deliveries',
    { id: props.id, limit: 50 },
    [props.id],
  );
  const [since, setSince] = useState(new Date(Date.now() - 86400_000).toISOString().slice(0, 16));
  const [notice, setNotice] = useState<string>();
  const retry = async (d: Delivery) => {
    if (props.kind === 'webhook') await call('retry_webhook_delivery', { id: props.id, deliveryId: d.id });
    else await call('retry_integration_delivery', { id: props.id, deliveryId: d.id });
    list.reload();
  };
  const replay = async () => {
    const at = new Date(since).toISOString();
    const out =
      props.kind === 'webhook'
        ? await call('replay_webhook', { id: props.id, since: at })
        : await call('replay_integration', { id: props.id, since: at });
    setNotice(`Replay queued: ${JSON.stringify(out)}`);
    list.reload();
  };
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <ErrorBox error={list.error} />
      <Table
        caption="Latest deliveries"
        rows={list.out?.deliveries ?? []}
        empty="No deliveries yet."
        columns={deliveryColumns(retry)}
      />
      <div class="row">
        <TextInput label="Replay events since" type="datetime-local" value={since} onInput={setSince} />
        <ActionButton run={replay}>Replay</ActionButton>
      </div>
      {notice && <p role="status">{notice}</p>}
    </section>
  );
}

function Crm(props: { query: URLSearchParams }) {
  const list = useAction('list_integrations', {});
  const selected = Number(props.query.get('id') ?? list.out?.[0]?.id ?? 0);
  return (
    <>
      <ErrorBox error={list.error} />
      <Table
        caption="Connectors"
        rows={list.out ?? []}
        empty="No connectors. Connect HubSpot, Salesforce, Twilio or Stripe with the API or the CLI."
        columns={[
          ['Type', (c) => <a href={`/app/integrations/crm?id=${c.id}`}>{c.type}</a>],
          ['Description', (c) => c.description],
          ['Events', (c) => c.events.join(', ')],
          ['State', stateOf],
          ['Token expires', (c) => when(c.accessTokenExpiresAt)],
        ]}
      />
      {selected > 0 && <Deliveries key={selected} kind="integration" id={selected} />}
    </>
  );
}

function PassTypes() {
  const list = useAction('get_pass_types', {});
  const soon = Date.now() + 30 * 86400_000;
  return (
    <>
      <ErrorBox error={list.error} />
      <Table
        caption="Pass types and their certificates"
        rows={list.out ?? []}
        columns={[
          ['Pass type', (p) => <code>{p.passTypeIdentifier}</code>],
          ['Team', (p) => p.teamIdentifier],
          ['Organization', (p) => p.organizationName],
          [
            'Certificate expires',
            (p) => {
              const at = Date.parse(p.certificateExpirationDate);
              return (
                <span class={at < soon ? 'warning' : undefined}>
                  {when(p.certificateExpirationDate)}
                  {at < Date.now() ? ' — expired' : at < soon ? ' — renew it soon' : ''}
                </span>
              );
            },
          ],
          ['Health', (p) => (p.healthy ? 'healthy' : `unhealthy: ${p.unhealthyReason ?? ''}`)],
        ]}
      />
    </>
  );
}

function Scanners() {
  const list = useAction('list_scanners', {});
  const [name, setName] = useState('');
  const [key, setKey] = useState<Actions['create_scanner_key']['output']>();
  return (
    <>
      <ErrorBox error={list.error} />
      <Table
        caption="Scanners"
        rows={list.out ?? []}
        empty="No scanners yet."
        columns={[
          ['Name', (s) => s.name],
          ['Type', (s) => s.type],
          ['Templates', (s) => (s.fullAccess ? 'all' : s.allowedTemplates.join(', '))],
          [
            '',
            (s) => (
              <ActionButton run={async () => setKey(await call('create_scanner_key', { id: s.id }))}>
                Sign a phone in
              </ActionButton>
            ),
          ],
          [
            '',
            (s) => (
              <ActionButton
                kind="danger"
                confirm={`Delete the scanner ${s.name}? Its keys stop working.`}
                run={async () => {
                  await call('delete_scanner', { id: s.id });
                  list.reload();
                }}
              >
                Delete
              </ActionButton>
            ),
          ],
        ]}
      />
      {key && (
        <div class="ok" role="status">
          Open this link on the scanning phone (shown once): <a href={key.signInUrl}>{key.signInUrl}</a>
        </div>
      )}
      <form class="row" aria-label="New scanner" onSubmit={(e) => e.preventDefault()}>
        <TextInput label="New scanner name" value={name} onInput={setName} />
        <ActionButton
          run={async () => {
            await call('create_scanner', { name, type: 'Browser', fullAccess: true });
            setName('');
            list.reload();
          }}
        >
          Add scanner
        </ActionButton>
      </form>
    </>
  );
}

function Keys() {
  const list = useAction('list_app_keys', {});
  return (
    <>
      <ErrorBox error={list.error} />
      <Table
        caption="App keys"
        rows={(list.out ?? []).filter((k) => !k.revokedAt)}
        empty="No app keys."
        columns={[
          ['Name', (k) => k.name],
          ['Key', (k) => <code>{k.prefix}…</code>],
          ['Scopes', (k) => k.scopes.join(' ')],
          ['Last used', (k) => when(k.lastUsedAt)],
          [
            '',
            (x) => (
              <Revoke what={x.name} run={() => call('revoke_app_key', { id: x.id })} then={list.reload} />
            ),
          ],
        ]}
      />
    </>
  );
}

function Grants() {
  const list = useAction('list_oauth_grants', {});
  return (
    <>
      <ErrorBox error={list.error} />
      <Table
        caption="Agents and apps you allowed (OAuth)"
        rows={(list.out?.grants ?? []).filter((g) => !g.revokedAt)}
        empty="No OAuth grants."
        columns={[
          ['Client', (g) => g.clientName],
          ['Person', (g) => g.user],
          ['Scopes', (g) => g.scopes.join(' ')],
          ['Last used', (g) => when(g.lastUsedAt)],
          [
            '',
            (x) => (
              <Revoke
                what={x.clientName}
                run={() => call('revoke_oauth_grant', { id: x.id })}
                then={list.reload}
              />
            ),
          ],
        ]}
      />
    </>
  );
}

const EDGES = ['', 'rest', 'cli', 'mcp', 'job', 'page', 'wallet', 'trigger'] as const;

function Log(props: { query: URLSearchParams }) {
  const q = props.query;
  const [form, setForm] = useState({
    action: q.get('action') ?? '',
    edge: q.get('edge') ?? '',
    outcome: q.get('outcome') ?? '',
    user: q.get('user') ?? '',
  });
  const input: Actions['list_executions']['input'] = { limit: 50 };
  if (q.get('action')) input.action = q.get('action')!;
  if (q.get('edge')) input.edge = q.get('edge') as NonNullable<typeof input.edge>;
  if (q.get('outcome')) input.outcome = q.get('outcome') as 'ok' | 'error';
  if (q.get('user')) input.user = q.get('user')!;
  const list = useAction('list_executions', input, [q.toString()]);
  const [chain, setChain] = useState<string>();
  return (
    <>
      <form
        class="search"
        aria-label="Filter the log"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(
            `/app/integrations/log?${new URLSearchParams(Object.entries(form).filter(([, v]) => v) as [string, string][])}`,
          );
        }}
      >
        <TextInput label="Action" value={form.action} onInput={(v) => setForm({ ...form, action: v })} />
        <Select
          label="Edge"
          value={form.edge}
          options={EDGES}
          onChange={(v) => setForm({ ...form, edge: v })}
        />
        <Select
          label="Outcome"
          value={form.outcome}
          options={['', 'ok', 'error']}
          onChange={(v) => setForm({ ...form, outcome: v })}
        />
        <TextInput label="Person or key" value={form.user} onInput={(v) => setForm({ ...form, user: v })} />
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      <ErrorBox error={list.error} />
      <Table
        caption="Every action run (changes are also in the audit trail, hash-chained)"
        rows={list.out?.executions ?? []}
        columns={[
          ['When', (x) => when(x.createdAt)],
          ['Action', (x) => <code>{x.action}</code>],
          ['Edge', (x) => x.edge],
          ['By', (x) => x.onBehalfOf ?? x.credential ?? '—'],
          ['Target', (x) => x.target ?? '—'],
          ['Outcome', (x) => (x.ok ? `${x.outcome}` : `${x.outcome} ${x.error ?? ''}`)],
          ['ms', (x) => x.durationMs],
          ['Audited', (x) => (x.seq !== null ? `#${x.seq}` : '')],
        ]}
      />
      <div class="row">
        <ActionButton
          run={async () => {
            const v = await call('verify_audit_log', {});
            setChain(
              v.ok
                ? `The audit trail is intact: ${v.records} records, each hash chained to the one before.`
                : `The audit trail is broken at record #${v.broken?.seq}: ${v.broken?.reason}`,
            );
          }}
        >
          Verify the audit trail
        </ActionButton>
        {chain && <p role="status">{chain}</p>}
      </div>
    </>
  );
}
