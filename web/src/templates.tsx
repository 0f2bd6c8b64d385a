// Templates: the list, and new ones from one of the five styles or as a copy of another.
import { useEffect, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import { call, may } from './api.js';
import { STYLE_NAMES, STYLES, styleOf } from './preview.js';
import { ErrorBox, Page, Table } from './ui.js';

export function TemplateList() {
  const [templates, setTemplates] = useState<Actions['list_pass_templates']['output']>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    call('list_pass_templates', {}).then(setTemplates, setError);
  }, []);
  return (
    <Page title="Templates">
      {may('templates:write') && (
        <nav class="new-from" aria-label="New template">
          <h2>New template</h2>
          <ul>
            {STYLES.map((s) => (
              <li key={s}>
                <a class="button" href={`/app/templates/new?style=${s}`}>
                  {STYLE_NAMES[s]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <ErrorBox error={error} />
      {templates ? (
        <Table
          caption="Your templates"
          rows={templates}
          empty="No templates yet: start from a style above."
          columns={[
            ['Name', (t) => <a href={`/app/templates/${t.id}`}>{t.name}</a>],
            ['Style', (t) => STYLE_NAMES[styleOf(t.description)]],
            ['Pass type', (t) => <code>{t.passType}</code>],
            ['Placeholders', (t) => t.placeholder.join(', ') || '—'],
            [
              'Actions',
              (t) => (
                <span class="links">
                  {may('templates:write') && <a href={`/app/templates/new?from=${t.id}`}>Duplicate</a>}{' '}
                  <a href={`/app/templates/${t.id}/analytics`}>Analytics</a>{' '}
                  <a href={`/app/passes?templateId=${t.id}`}>Passes</a>
                </span>
              ),
            ],
          ]}
        />
      ) : (
        !error && <p>Loading…</p>
      )}
    </Page>
  );
}
