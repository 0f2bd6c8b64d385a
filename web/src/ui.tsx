// Small pieces every screen uses: a field with its label and errors, an action button that shows it is busy, an error
// box, a table, dates.
import type { ComponentChildren, JSX } from 'preact';
import { useId, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export function Field(props: {
  label: string;
  problems?: string[];
  hint?: string;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
}) {
  const id = useId();
  const problems = props.problems ?? [];
  const describedBy = problems.length || props.hint ? `${id}-note` : undefined;
  return (
    <div class={`field${problems.length ? ' has-problem' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {describedBy && (
        <div id={describedBy} class="note">
          {props.hint && <span class="hint">{props.hint}</span>}
          {problems.map((p) => (
            <span class="problem" key={p}>
              {p}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

export function TextInput(props: {
  label: string;
  value: string;
  onInput: (value: string) => void;
  problems?: string[];
  hint?: string;
  type?: string;
  name?: string;
  required?: boolean;
}) {
  return (
    <Field label={props.label} problems={props.problems} hint={props.hint}>
      {(id, describedBy) => (
        <input
          id={id}
          name={props.name}
          type={props.type ?? 'text'}
          value={props.value}
          required={props.required}
          aria-invalid={props.problems?.length ? 'true' : undefined}
          aria-describedby={describedBy}
          onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
        />
      )}
    </Field>
  );
}

export function Select(props: {
  label: string;
  value: string;
  options: readonly (string | [string, string])[];
  onChange: (value: string) => void;
  problems?: string[];
}) {
  return (
    <Field label={props.label} problems={props.problems}>
      {(id, describedBy) => (
        <select
          id={id}
          value={props.value}
          aria-describedby={describedBy}
          onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}
        >
          {props.options.map((o) => {
            const [value, text] = typeof o === 'string' ? [o, o || '—'] : o;
            return (
              <option key={value} value={value}>
                {text}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const fields = error instanceof ApiError ? error.errors : [];
  return (
    <div class="error-box" role="alert">
      <strong>{message}</strong>
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.reasons.join('; ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A button that runs an async task, is disabled while it runs, and shows the task's error. */
export function ActionButton(props: {
  children: ComponentChildren;
  run: () => Promise<unknown>;
  confirm?: string;
  kind?: 'primary' | 'danger' | 'plain';
  onError?: (err: unknown) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const click = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    setError(undefined);
    try {
      await props.run();
    } catch (err) {
      if (props.onError) props.onError(err);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.kind ?? 'plain'} disabled={busy} aria-busy={busy} onClick={click}>
        {props.children}
      </button>
      {error !== undefined && <ErrorBox error={error} />}
    </span>
  );
}

export function Table<T>(props: {
  caption: string;
  rows: readonly T[];
  columns: [string, (row: T) => ComponentChildren][];
  empty?: string;
}) {
  if (!props.rows.length) return <p class="empty">{props.empty ?? 'Nothing yet.'}</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map(([h]) => (
              <th scope="col" key={h}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r, i) => (
            <tr key={i}>
              {props.columns.map(([h, cell]) => (
                <td key={h}>{cell(r)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export const when = (iso: string | null | undefined): string =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '—';

export const Page = (props: { title: string; children: ComponentChildren; actions?: JSX.Element }) => (
  <section aria-labelledby="page-title">
    <header class="page-head">
      <h1 id="page-title">{props.title}</h1>
      {props.actions}
    </header>
    {props.children}
  </section>
);
