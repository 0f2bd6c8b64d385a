// Distribution and analytics of a template: the funnel (issued → opened → downloaded → installed, removed, redeemed)
// as a chart over a date range, and the template's form link with its QR code.
import { useEffect, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import { call } from './api.js';
import { navigate } from './router.js';
import { ErrorBox, Page, TextInput } from './ui.js';

const STAGES = ['issued', 'opened', 'downloaded', 'installed', 'removed', 'redeemed'] as const;
const day = (d: Date) => d.toISOString().slice(0, 10);

export function Analytics(props: { id: number; query: URLSearchParams }) {
  const to = props.query.get('to') ?? day(new Date());
  const from = props.query.get('from') ?? day(new Date(Date.now() - 29 * 86400_000));
  const [range, setRange] = useState({ from, to });
  const [stats, setStats] = useState<Actions['get_template_stats']['output']>();
  const [template, setTemplate] = useState<Actions['get_template']['output']>();
  const [link, setLink] = useState<string>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    call('get_template', { id: props.id }).then(setTemplate, setError);
    call('get_template_url', { id: props.id }).then((u) => setLink(u.url), setError);
  }, [props.id]);
  useEffect(() => {
    setError(undefined);
    call('get_template_stats', {
      id: props.id,
      from: `${from}T00:00:00Z`,
      to: `${to}T23:59:59Z`,
    }).then(setStats, setError);
  }, [props.id, from, to]);
  const max = Math.max(1, ...STAGES.map((s) => stats?.counts[s] ?? 0));
  const qrPath = link ? `${new URL(link).pathname}/qr.svg` : undefined;
  return (
    <Page title={`Analytics: ${template?.name ?? `template ${props.id}`}`}>
      <form
        class="row"
        aria-label="Date range"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/app/templates/${props.id}/analytics?from=${range.from}&to=${range.to}`);
        }}
      >
        <TextInput
          label="From"
          type="date"
          value={range.from}
          onInput={(v) => setRange({ ...range, from: v })}
        />
        <TextInput label="To" type="date" value={range.to} onInput={(v) => setRange({ ...range, to: v })} />
        <button type="submit" class="primary">
          Show
        </button>
      </form>
      <ErrorBox error={error} />
      {stats && (
        <figure class="funnel">
          <svg
            viewBox={`0 0 520 ${STAGES.length * 44}`}
            role="img"
            aria-labelledby="funnel-title"
            data-testid="funnel"
          >
            <title id="funnel-title">{STAGES.map((s) => `${s} ${stats.counts[s]}`).join(', ')}</title>
            {STAGES.map((s, i) => {
              const w = Math.round((stats.counts[s] / max) * 360);
              return (
                <g key={s} transform={`translate(0 ${i * 44})`}>
                  <text x="0" y="26" class="funnel-label">
                    {s}
                  </text>
                  <rect x="110" y="8" width={Math.max(w, 2)} height="26" rx="4" class={`bar ${s}`} />
                  <text x={116 + Math.max(w, 2)} y="26" class="funnel-count">
                    {stats.counts[s]}
                  </text>
                </g>
              );
            })}
          </svg>
          <figcaption>
            From {from} to {to}: {Math.round(stats.conversion.installed * 100)}% of the passes issued were
            added to a wallet, {Math.round(stats.conversion.redeemed * 100)}% redeemed.
          </figcaption>
        </figure>
      )}
      {link && (
        <section aria-labelledby="link-title" class="share">
          <h2 id="link-title">The template’s link</h2>
          <p>
            People open it to get a pass (the form asks for what the template needs):{' '}
            <a href={link}>{link}</a>
          </p>
          {qrPath && <img src={qrPath} width={180} height={180} alt={`QR code of ${link}`} />}
        </section>
      )}
    </Page>
  );
}
