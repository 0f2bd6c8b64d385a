// The template designer: the form edits the pass.json body; beside it the live preview draws what the engine renders
// from it with sample values (preview_template, called as you type: the phone's pass, not a guess), and the engine's
// rule check is shown at the field it concerns. Save makes a new version and follows the job that refreshes the passes
// already issued.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import { CLASSIC_BARCODES, TRANSIT_TYPES } from '../../src/engine/vocabulary.js';
import { call, callBlob, download, may } from './api.js';
import { ColourInput, FieldList, ImagesEditor, Localizations, NumberInput } from './designer-parts.js';
import {
  contrast,
  PassPreview,
  type PreviewImages,
  STYLE_NAMES,
  STYLES,
  type Style,
  styleOf,
} from './preview.js';
import { navigate } from './router.js';
import { ActionButton, ErrorBox, Page, Select, TextInput } from './ui.js';

type Json = Record<string, unknown>;
type Problem = Actions['preview_template']['output']['problems'][number];

const AREAS = [
  ['headerFields', 'Header fields'],
  ['primaryFields', 'Primary fields'],
  ['secondaryFields', 'Secondary fields'],
  ['auxiliaryFields', 'Auxiliary fields'],
  ['backFields', 'Back fields'],
] as const;

/** A new template's body for a style: what a business would start from. */
export function starterBody(style: Style): Json {
  const fields: Record<Style, Json> = {
    storeCard: {
      headerFields: [{ key: 'points', label: 'Points', value: '${points}' }],
      primaryFields: [{ key: 'balance', label: 'Balance', value: '${balance}', currencyCode: 'EUR' }],
      secondaryFields: [{ key: 'member', label: 'Member', value: '${name}' }],
    },
    eventTicket: {
      primaryFields: [{ key: 'event', label: 'Event', value: '${event}' }],
      secondaryFields: [
        {
          key: 'date',
          label: 'Date',
          value: '${date}',
          dateStyle: 'PKDateStyleMedium',
          timeStyle: 'PKDateStyleShort',
        },
      ],
      auxiliaryFields: [{ key: 'seat', label: 'Seat', value: '${seat}' }],
    },
    coupon: {
      primaryFields: [{ key: 'offer', label: 'Offer', value: '${offer}' }],
      secondaryFields: [{ key: 'expires', label: 'Expires', value: '${expires}' }],
    },
    boardingPass: {
      transitType: 'PKTransitTypeTrain',
      primaryFields: [
        { key: 'from', label: 'From', value: '${from}' },
        { key: 'to', label: 'To', value: '${to}' },
      ],
      auxiliaryFields: [{ key: 'passenger', label: 'Passenger', value: '${name}' }],
    },
    generic: {
      primaryFields: [{ key: 'name', label: 'Name', value: '${name}' }],
      secondaryFields: [{ key: 'number', label: 'Number', value: '${number}' }],
    },
  };
  return {
    formatVersion: 1,
    organizationName: 'Example Ltd',
    description: `${STYLE_NAMES[style]} of Example Ltd`,
    logoText: 'Example',
    foregroundColor: 'rgb(255,255,255)',
    backgroundColor: 'rgb(32,64,128)',
    labelColor: 'rgb(220,230,255)',
    barcodes: [
      { format: 'PKBarcodeFormatQR', message: '${code}', altText: '${code}', messageEncoding: 'iso-8859-1' },
    ],
    [style]: {
      ...fields[style],
      backFields: [{ key: 'terms', label: 'Terms', value: 'Valid at participating stores.' }],
    },
  };
}

/** A copy of `obj` with `value` at `path` (a list of keys and indexes); undefined or '' removes the key. */
function setAt(obj: Json, path: (string | number)[], value: unknown): Json {
  const root = structuredClone(obj) as Json;
  let node: Record<string | number, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    if (node[k] === undefined || node[k] === null) node[k] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[k] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined || value === '') {
    if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
    else delete node[last];
  } else node[last] = value;
  return root;
}
const get = (obj: unknown, path: (string | number)[]): unknown =>
  path.reduce<unknown>(
    (n, k) => (n && typeof n === 'object' ? (n as Record<string, unknown>)[k] : undefined),
    obj,
  );
/** `storeCard.primaryFields[0].value`: how the engine names the place of a problem. */
const pathName = (path: (string | number)[]): string =>
  path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${k}` : k), '');

declare global {
  interface Window {
    /** Milliseconds from each keystroke to the preview drawn from its render (read by the browser test). */
    passslotPreviewTimings?: number[];
  }
}

interface Draft {
  name: string;
  passType: string;
  body: Json;
}

export function Designer(props: { id: number | 'new'; style?: Style; from?: number }) {
  const [draft, setDraft] = useState<Draft>();
  const [passTypes, setPassTypes] = useState<Actions['get_pass_types']['output']>([]);
  const [preview, setPreview] = useState<Actions['preview_template']['output']>();
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState<string>();
  const [job, setJob] = useState<Actions['get_job']['output']>();
  const [images, setImages] = useState<PreviewImages>({});
  const [imageList, setImageList] = useState<Actions['list_template_images']['output']>([]);
  const typed = useRef<number | undefined>(undefined);
  const inflight = useRef<AbortController | undefined>(undefined);

  // load the template (or start one), and the pass types to choose from
  useEffect(() => {
    let live = true;
    (async () => {
      const types = await call('get_pass_types', {});
      if (!live) return;
      setPassTypes(types);
      const source = props.id !== 'new' ? props.id : props.from;
      if (source !== undefined) {
        const t = await call('get_template', { id: source });
        if (!live) return;
        setDraft({
          name: props.id === 'new' ? `Copy of ${t.name}` : t.name,
          passType: t.passType,
          body: t.description,
        });
      } else {
        setDraft({
          name: '',
          passType: types[0]?.passTypeIdentifier ?? '',
          body: starterBody(props.style ?? 'storeCard'),
        });
      }
    })().catch(setError);
    return () => {
      live = false;
    };
  }, [props.id, props.from, props.style]);

  // the template's images, for the preview and the image list
  const loadImages = async (id: number) => {
    const list = await call('list_template_images', { templateId: id });
    setImageList(list);
    const urls: PreviewImages = {};
    for (const kind of ['logo', 'strip', 'thumbnail', 'background', 'icon'] as const) {
      const best = ['high', 'ultra', 'normal']
        .map((r) => list.find((i) => i.type === kind && i.resolution === r))
        .find(Boolean);
      if (!best) continue;
      const blob = await callBlob('get_template_image', {
        templateId: id,
        type: kind,
        resolution: best.resolution,
      });
      urls[kind] = URL.createObjectURL(blob);
    }
    setImages(urls);
  };
  useEffect(() => {
    if (props.id !== 'new') loadImages(props.id).catch(setError);
  }, [props.id]);

  // the live preview: every change renders the draft through the engine; the newest answer wins
  useEffect(() => {
    if (!draft?.passType) return;
    inflight.current?.abort();
    const ctl = new AbortController();
    inflight.current = ctl;
    const input: Actions['preview_template']['input'] = {
      passType: draft.passType,
      description: draft.body,
      values,
    };
    if (props.id !== 'new') input.templateId = props.id;
    call('preview_template', input, ctl.signal)
      .then((out) => {
        if (!ctl.signal.aborted) setPreview(out);
      })
      .catch((err: unknown) => {
        if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
      });
  }, [draft, values, imageList]);

  // how long from the keystroke to the preview drawn (printed by the browser test)
  useEffect(() => {
    if (preview && typed.current !== undefined) {
      const t0 = typed.current;
      typed.current = undefined;
      requestAnimationFrame(() => {
        window.passslotPreviewTimings = [...(window.passslotPreviewTimings ?? []), performance.now() - t0];
      });
    }
  }, [preview]);

  const problems = preview?.problems ?? [];
  const problemsAt = (path: (string | number)[]): string[] => {
    const name = `description.${pathName(path)}`;
    return [
      ...new Set(
        problems
          .filter((p) => p.field === name)
          .map((p) => `${p.severity === 'error' ? 'Error' : 'Warning'}: ${p.message}`),
      ),
    ];
  };

  if (!draft) return <Page title="Template">{error ? <ErrorBox error={error} /> : <p>Loading…</p>}</Page>;

  const body = draft.body;
  const style = styleOf(body);
  const edit = (path: (string | number)[], value: unknown) => {
    typed.current = performance.now();
    setSaved(undefined);
    setDraft({ ...draft, body: setAt(body, path, value) });
  };
  const text = (label: string, path: (string | number)[], hint?: string) => (
    <TextInput
      label={label}
      value={String(get(body, path) ?? '')}
      onInput={(v) => edit(path, v)}
      problems={problemsAt(path)}
      hint={hint}
    />
  );
  const changeStyle = (next: Style) => {
    if (next === style) return;
    const layout = body[style];
    const moved = { ...body, [next]: layout ?? {} };
    delete moved[style];
    setDraft({ ...draft, body: moved });
  };
  const ratio = contrast(body.foregroundColor, body.backgroundColor);
  const labelRatio = contrast(body.labelColor ?? body.foregroundColor, body.backgroundColor);

  const save = async () => {
    setError(undefined);
    if (props.id === 'new') {
      const t = await call('create_template', {
        name: draft.name,
        passType: draft.passType,
        description: body,
      });
      navigate(`/app/templates/${t.id}`, true);
      return;
    }
    const out = await call('update_template', {
      id: props.id,
      name: draft.name,
      passType: draft.passType,
      description: body,
    });
    setSaved('Saved: a new version. The passes already issued are being updated.');
    let status = await call('get_job', { id: out.jobId });
    setJob(status);
    while (status.status === 'pending' || status.status === 'running') {
      await new Promise((r) => setTimeout(r, 500));
      status = await call('get_job', { id: out.jobId });
      setJob(status);
    }
  };

  return (
    <Page
      title={props.id === 'new' ? 'New template' : `Template: ${draft.name}`}
      actions={
        props.id !== 'new' ? (
          <nav class="subnav" aria-label="Template">
            <a href={`/app/templates/${props.id}/analytics`}>Analytics and link</a>
          </nav>
        ) : undefined
      }
    >
      <div class="designer">
        <form class="designer-form" onSubmit={(e) => e.preventDefault()} aria-label="Template">
          <fieldset>
            <legend>Template</legend>
            <TextInput
              label="Name"
              name="name"
              value={draft.name}
              onInput={(v) => setDraft({ ...draft, name: v })}
              required
            />
            <Select
              label="Pass type"
              value={draft.passType}
              options={passTypes.map((p) => [
                p.passTypeIdentifier,
                `${p.passTypeIdentifier} (${p.organizationName})`,
              ])}
              onChange={(v) => setDraft({ ...draft, passType: v })}
            />
            <Select
              label="Style"
              value={style}
              options={STYLES.map((s) => [s, STYLE_NAMES[s]])}
              onChange={(v) => changeStyle(v as Style)}
            />
            {text('Organization name', ['organizationName'])}
            {text('Description (read aloud by VoiceOver)', ['description'])}
            {text('Logo text', ['logoText'])}
            {style === 'boardingPass' && (
              <Select
                label="Transit type"
                value={String(get(body, [style, 'transitType']) ?? '')}
                options={TRANSIT_TYPES}
                onChange={(v) => edit([style, 'transitType'], v)}
              />
            )}
          </fieldset>

          <fieldset>
            <legend>Colours</legend>
            {(['backgroundColor', 'foregroundColor', 'labelColor'] as const).map((k) => (
              <ColourInput
                key={k}
                label={k.replace('Color', ' colour')}
                value={body[k]}
                onInput={(v) => edit([k], v)}
                problems={problemsAt([k])}
              />
            ))}
            {ratio !== undefined && ratio < 4.5 && (
              <p class="warning" role="status">
                Low contrast between text and background ({ratio.toFixed(1)}:1; aim for 4.5:1 or more).
              </p>
            )}
            {labelRatio !== undefined && labelRatio < 3 && ratio !== undefined && ratio >= 4.5 && (
              <p class="warning" role="status">
                Labels are hard to read on the background ({labelRatio.toFixed(1)}:1).
              </p>
            )}
          </fieldset>

          {AREAS.map(([area, title]) => (
            <FieldList
              key={area}
              title={title}
              fields={(get(body, [style, area]) as Json[] | undefined) ?? []}
              path={[style, area]}
              edit={edit}
              problemsAt={problemsAt}
            />
          ))}

          <fieldset>
            <legend>Barcode</legend>
            <Select
              label="Format"
              value={String(get(body, ['barcodes', 0, 'format']) ?? '')}
              options={['', ...CLASSIC_BARCODES]}
              onChange={(v) =>
                edit(
                  ['barcodes'],
                  v
                    ? [
                        {
                          messageEncoding: 'iso-8859-1',
                          message: '${code}',
                          ...(get(body, ['barcodes', 0]) as Json),
                          format: v,
                        },
                      ]
                    : undefined,
                )
              }
            />
            {get(body, ['barcodes', 0]) !== undefined && (
              <>
                {text(
                  'Message',
                  ['barcodes', 0, 'message'],
                  'what the scanner reads: a ${placeholder} gives each pass its own',
                )}
                {text('Text under the code', ['barcodes', 0, 'altText'])}
              </>
            )}
          </fieldset>

          <fieldset>
            <legend>When and where</legend>
            {text(
              'Relevant date',
              ['relevantDate'],
              'ISO 8601 with a time zone, e.g. 2027-03-01T19:30:00+01:00',
            )}
            {((get(body, ['locations']) as Json[] | undefined) ?? []).map((_, i) => (
              <div class="row" key={i}>
                <NumberInput
                  label={`Location ${i + 1} latitude`}
                  value={get(body, ['locations', i, 'latitude'])}
                  onInput={(v) => edit(['locations', i, 'latitude'], v)}
                  problems={problemsAt(['locations', i, 'latitude'])}
                />
                <NumberInput
                  label="Longitude"
                  value={get(body, ['locations', i, 'longitude'])}
                  onInput={(v) => edit(['locations', i, 'longitude'], v)}
                  problems={problemsAt(['locations', i, 'longitude'])}
                />
                {text('Text on the lock screen', ['locations', i, 'relevantText'])}
                <button type="button" class="plain" onClick={() => edit(['locations', i], undefined)}>
                  Remove location {i + 1}
                </button>
              </div>
            ))}
            <button
              type="button"
              class="plain"
              onClick={() =>
                edit(['locations', ((get(body, ['locations']) as Json[] | undefined) ?? []).length], {
                  latitude: 0,
                  longitude: 0,
                })
              }
            >
              Add a location
            </button>
          </fieldset>

          {preview && preview.placeholders.length > 0 && (
            <fieldset>
              <legend>Sample values (preview only)</legend>
              {preview.placeholders.map((p) => (
                <TextInput
                  key={p}
                  label={p}
                  value={values[p] ?? ''}
                  hint={values[p] === undefined ? 'shown as “sample”' : undefined}
                  onInput={(v) => {
                    typed.current = performance.now();
                    setValues({ ...values, [p]: v });
                  }}
                />
              ))}
            </fieldset>
          )}

          {props.id !== 'new' && may('templates:write') && (
            <ImagesEditor
              templateId={props.id}
              style={style}
              list={imageList}
              problems={problems.filter((p) => p.field.startsWith('images.'))}
              onChange={() => loadImages(props.id as number)}
            />
          )}
          {props.id !== 'new' && may('templates:write') && <Localizations templateId={props.id} />}

          <div class="sticky-actions">
            {may('templates:write') ? (
              <ActionButton kind="primary" run={save} onError={setError}>
                {props.id === 'new' ? 'Create template' : 'Save (new version)'}
              </ActionButton>
            ) : (
              <p class="hint">Your role can look at templates, not change them.</p>
            )}
            {props.id !== 'new' && (
              <ActionButton
                run={() =>
                  download(
                    'get_template_sample',
                    { id: props.id as number, values },
                    `${draft.name}-sample.pkpass`,
                  )
                }
              >
                Download a sample .pkpass
              </ActionButton>
            )}
          </div>
          {saved && (
            <p class="ok" role="status">
              {saved}
            </p>
          )}
          {job && <JobProgress job={job} />}
          <ErrorBox error={error} />
        </form>

        <aside class="designer-preview" aria-label="Live preview">
          {preview ? <PassPreview pass={preview.pass} images={images} /> : <p>Rendering…</p>}
          <Problems problems={problems} />
        </aside>
      </div>
    </Page>
  );
}

function Problems({ problems }: { problems: Problem[] }) {
  if (!problems.length)
    return (
      <p class="ok" data-testid="rule-check">
        Apple’s rules: no problems.
      </p>
    );
  return (
    <div class="problems" data-testid="rule-check" role="status">
      <h2>Apple’s rules</h2>
      <ul>
        {problems.map((p) => (
          <li key={p.field + p.message} class={p.severity}>
            <code>{p.field.replace(/^(description|images)\./, '')}</code>: {p.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

function JobProgress({ job }: { job: Actions['get_job']['output'] }) {
  const p = (job.progress ?? {}) as { total?: number; processed?: number; failed?: number };
  const total = p.total ?? 0;
  const done = p.processed ?? 0;
  return (
    <div class="job" role="status" data-testid="job">
      Updating issued passes: {job.status}
      {total > 0 && (
        <>
          {' '}
          — <progress max={total} value={done} /> {done} of {total}
          {p.failed ? `, ${p.failed} failed` : ''}
        </>
      )}
    </div>
  );
}
