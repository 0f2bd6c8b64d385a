// Passes: search by owner, serial number, status and template; a pass's page with its values, status, wallets and
// devices, the timeline of its events and pushes, and what can be done to it.
import { useEffect, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import { call, download, may } from './api.js';
import { navigate } from './router.js';
import { ActionButton, ErrorBox, Page, Select, Table, TextInput, when } from './ui.js';

const STATUSES = ['', 'valid', 'invalid', 'redeemed', 'unpaid', 'locked', 'incomplete'] as const;
type Status = Exclude<(typeof STATUSES)[number], ''>;

export function PassSearch(props: { query: URLSearchParams }) {
  const q = props.query;
  const [form, setForm] = useState({
    email: q.get('email') ?? '',
    userId: q.get('userId') ?? '',
    externalId: q.get('externalId') ?? '',
    status: q.get('status') ?? '',
    templateId: q.get('templateId') ?? '',
    serialNumber: q.get('serialNumber') ?? '',
  });
  const [templates, setTemplates] = useState<Actions['list_pass_templates']['output']>([]);
  const [result, setResult] = useState<Actions['search_passes_by_user']['output']>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    call('list_pass_templates', {}).then(setTemplates, setError);
  }, []);
  // the search the URL names (shared links open on their results)
  useEffect(() => {
    const input: Actions['search_passes_by_user']['input'] = { limit: 50 };
    for (const k of ['email', 'userId', 'externalId'] as const) {
      const v = q.get(k);
      if (v) input[k] = v;
    }
    const status = q.get('status');
    if (status) input.status = status as Status;
    const templateId = q.get('templateId');
    if (templateId) input.templateId = Number(templateId);
    const cursor = q.get('cursor');
    if (cursor) input.cursor = cursor;
    if (Object.keys(input).length === 1) {
      setResult(undefined);
      return;
    }
    setError(undefined);
    call('search_passes_by_user', input).then(setResult, setError);
  }, [q.toString()]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (form.serialNumber) {
      // a serial number names one pass: find its pass type among the templates'
      const types = [...new Set(templates.map((t) => t.passType))];
      for (const type of types) {
        try {
          await call('get_pass_status', { passTypeIdentifier: type, serialNumber: form.serialNumber });
          navigate(`/app/passes/${encodeURIComponent(type)}/${encodeURIComponent(form.serialNumber)}`);
          return;
        } catch {
          // not of this pass type
        }
      }
      setError(new Error(`No pass has the serial number ${form.serialNumber}`));
      return;
    }
    const params = new URLSearchParams(Object.entries(form).filter(([, v]) => v) as [string, string][]);
    navigate(`/app/passes?${params}`);
  };
  const set = (k: keyof typeof form) => (v: string) => setForm({ ...form, [k]: v });
  return (
    <Page title="Passes">
      <form class="search" onSubmit={submit} aria-label="Find passes">
        <TextInput label="Owner email" name="email" type="email" value={form.email} onInput={set('email')} />
        <TextInput label="User id" value={form.userId} onInput={set('userId')} />
        <TextInput label="External id" value={form.externalId} onInput={set('externalId')} />
        <TextInput label="Serial number" value={form.serialNumber} onInput={set('serialNumber')} />
        <Select
          label="Status"
          value={form.status}
          options={STATUSES.map((v): [string, string] => [v, v || 'any'])}
          onChange={set('status')}
        />
        <Select
          label="Template"
          value={form.templateId}
          options={[['', 'any'], ...templates.map((t): [string, string] => [String(t.id), t.name])]}
          onChange={set('templateId')}
        />
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      {result && (
        <>
          <Table
            caption="Passes found"
            rows={result.passes}
            empty="No pass matches."
            columns={[
              [
                'Serial number',
                (p) => (
                  <a
                    href={`/app/passes/${encodeURIComponent(p.passTypeIdentifier)}/${encodeURIComponent(p.serialNumber)}`}
                  >
                    {p.serialNumber}
                  </a>
                ),
              ],
              ['Owner', (p) => p.email ?? p.userId ?? p.externalId ?? '—'],
              ['Status', (p) => <span class={`status ${p.status}`}>{p.status}</span>],
              ['Template', (p) => templates.find((t) => t.id === p.templateId)?.name ?? p.templateId],
              ['Wallets', (p) => (p.wallets ?? []).join(', ') || '—'],
              ['Updated', (p) => when(p.updatedAt)],
            ]}
          />
          {result.nextCursor && (
            <a
              href={`/app/passes?${new URLSearchParams({ ...Object.fromEntries(q), cursor: result.nextCursor })}`}
            >
              Next page
            </a>
          )}
        </>
      )}
    </Page>
  );
}

type Details = Actions['get_pass_details']['output'];
type PassEvent = Actions['list_events']['output']['events'][number];

/** One line of a pass's story, from its event. */
function describe(e: PassEvent): string {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case 'scan.performed':
      return `Scanned: ${String(d.outcome ?? d.result ?? '')}${d.scanner ? ` by scanner ${String(d.scanner)}` : ''}`;
    case 'pass.status_changed':
      return `Status: ${String(d.previousStatus ?? '?')} → ${String(d.status ?? '?')}`;
    default: {
      const extra = d.wallet ? ` (${String(d.wallet)})` : d.channel ? ` (${String(d.channel)})` : '';
      return `${e.type}${extra}`;
    }
  }
}

export function PassPage(props: { passTypeIdentifier: string; serialNumber: string }) {
  const ref = { passTypeIdentifier: props.passTypeIdentifier, serialNumber: props.serialNumber };
  const [pass, setPass] = useState<Details>();
  const [events, setEvents] = useState<PassEvent[]>([]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [message, setMessage] = useState('');
  const load = async () => {
    const d = await call('get_pass_details', ref);
    setPass(d);
    setValues(Object.fromEntries(Object.entries(d.values).map(([k, v]) => [k, v === null ? '' : String(v)])));
    const ev = await call('list_events', { ...ref, limit: 100 });
    setEvents(ev.events);
  };
  useEffect(() => {
    load().catch(setError);
  }, [props.passTypeIdentifier, props.serialNumber]);
  if (!pass)
    return (
      <Page title={`Pass ${props.serialNumber}`}>{error ? <ErrorBox error={error} /> : <p>Loading…</p>}</Page>
    );
  /** Runs a change, says it is done, and shows the pass as it is now. */
  const change = (work: () => Promise<unknown>, text: string) => async () => {
    await work();
    setNotice(text);
    await load();
  };
  const timeline = [
    ...events.map((e) => ({ at: e.created, text: describe(e) })),
    ...pass.pushes.map((p) => ({
      at: p.at,
      text: `Push to ${p.deviceLibraryIdentifier.slice(0, 8)}…: ${p.status}${p.reason ? ` ${p.reason}` : ''}`,
    })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  return (
    <Page title={`Pass ${pass.serialNumber}`}>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`status ${pass.status}`} data-testid="pass-status">
            {pass.status}
          </span>
          {pass.voided && ' (voided)'}
        </dd>
        <dt>Template</dt>
        <dd>
          <a href={`/app/templates/${pass.template.id}`}>{pass.template.name}</a> (version {pass.version})
        </dd>
        <dt>Owner</dt>
        <dd>
          {[pass.owner.email, pass.owner.userId, pass.owner.externalId, pass.owner.phone]
            .filter(Boolean)
            .join(' · ') || '—'}
        </dd>
        <dt>Wallets</dt>
        <dd>{pass.wallets.join(', ') || 'not installed'}</dd>
        <dt>Devices</dt>
        <dd>
          {pass.devices.length
            ? pass.devices
                .map((d) => `${d.deviceLibraryIdentifier.slice(0, 8)}… since ${when(d.registeredAt)}`)
                .join('; ')
            : 'none'}
        </dd>
        <dt>Link</dt>
        <dd>
          <a href={pass.url}>{pass.url}</a>
        </dd>
      </dl>
      {notice && (
        <p class="ok" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={error} />

      <section aria-labelledby="values-title">
        <h2 id="values-title">Values</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
          }}
        >
          {Object.keys(values).map((k) => (
            <TextInput
              key={k}
              label={k}
              value={values[k] ?? ''}
              onInput={(v) => setValues({ ...values, [k]: v })}
            />
          ))}
          {may('passes:write') && (
            <ActionButton
              kind="primary"
              run={change(
                () => call('update_pass', { ...ref, values }),
                'Values saved; the phones are updated.',
              )}
            >
              Save values
            </ActionButton>
          )}
        </form>
      </section>

      {may('passes:write') && (
        <section aria-labelledby="do-title">
          <h2 id="do-title">Actions</h2>
          <TextInput
            label="Notification text"
            value={message}
            onInput={setMessage}
            hint="shown on the lock screen"
          />
          <div class="buttons">
            <ActionButton
              run={change(() => call('send_pass_notification', { ...ref, message }), 'Notification sent.')}
            >
              Notify
            </ActionButton>
            <ActionButton run={change(() => call('email_pass', ref), 'Email queued.')}>
              Resend by email
            </ActionButton>
            <ActionButton run={change(() => call('sms_pass', ref), 'SMS queued.')}>
              Resend by SMS
            </ActionButton>
            <ActionButton run={() => download('download_pass', ref, `${pass.serialNumber}.pkpass`)}>
              Download .pkpass
            </ActionButton>
            <ActionButton
              kind="danger"
              confirm="Revoke this pass? It becomes invalid on the phones that hold it."
              run={change(() => call('revoke_pass', ref), 'Pass revoked.')}
            >
              Revoke
            </ActionButton>
            <ActionButton
              kind="danger"
              confirm="Delete this pass for good?"
              run={async () => {
                await call('delete_pass', ref);
                navigate('/app/passes');
              }}
            >
              Delete
            </ActionButton>
          </div>
        </section>
      )}

      <section aria-labelledby="timeline-title">
        <h2 id="timeline-title">Timeline</h2>
        <ol class="timeline" data-testid="timeline">
          {timeline.map((t, i) => (
            <li key={i}>
              <time dateTime={t.at}>{when(t.at)}</time> {t.text}
            </li>
          ))}
        </ol>
      </section>
    </Page>
  );
}
