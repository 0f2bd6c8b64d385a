// The designer's form parts: colour and number inputs, the fields of one area, the image slots (with the size Apple
// expects at each scale) and the localizations. They edit the draft through the callbacks the designer gives them.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import { DATE_STYLES, NUMBER_STYLES, TEXT_ALIGNMENTS } from '../../src/engine/vocabulary.js';
import { call } from './api.js';
import type { Style } from './preview.js';
import { ActionButton, ErrorBox, Field, Select, TextInput } from './ui.js';

type Json = Record<string, unknown>;
type Problem = Actions['preview_template']['output']['problems'][number];
type ImageType = Actions['set_template_image']['input']['type'];

// '' leaves the key out: Wallet's default
const ALIGN = ['', ...TEXT_ALIGNMENTS];
const DATE_CHOICES = ['', ...DATE_STYLES];
const NUMBER_CHOICES = ['', ...NUMBER_STYLES];
/** The image slots and the size Apple expects at @1x (points); @2x and @3x are twice and three times. */
const IMAGE_SLOTS: [ImageType, string, Style[] | 'all'][] = [
  ['icon', '29 × 29 (required: notifications and the lock screen)', 'all'],
  ['logo', 'up to 160 × 50', 'all'],
  [
    'strip',
    '375 × 123 (375 × 144 on coupons and store cards, 375 × 98 on event tickets)',
    ['storeCard', 'coupon', 'eventTicket'],
  ],
  ['thumbnail', '90 × 90', ['generic', 'eventTicket']],
  ['background', '180 × 220, blurred by Wallet', ['eventTicket']],
  ['footer', '286 × 15', ['boardingPass']],
];
const RESOLUTIONS = [
  ['normal', '@1x'],
  ['high', '@2x'],
  ['ultra', '@3x'],
] as const;

export function ColourInput(props: {
  label: string;
  value: unknown;
  onInput: (v: string) => void;
  problems: string[];
}) {
  const rgb =
    typeof props.value === 'string' ? /rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)/.exec(props.value) : null;
  const hex = rgb
    ? `#${[rgb[1], rgb[2], rgb[3]].map((n) => Number(n).toString(16).padStart(2, '0')).join('')}`
    : '#000000';
  return (
    <Field label={props.label} problems={props.problems}>
      {(id, describedBy) => (
        <span class="colour">
          <input
            id={id}
            type="color"
            value={hex}
            aria-describedby={describedBy}
            onInput={(e) => {
              const h = (e.target as HTMLInputElement).value;
              props.onInput(
                `rgb(${parseInt(h.slice(1, 3), 16)},${parseInt(h.slice(3, 5), 16)},${parseInt(h.slice(5, 7), 16)})`,
              );
            }}
          />
          <code>{typeof props.value === 'string' ? props.value : 'default'}</code>
        </span>
      )}
    </Field>
  );
}

export function NumberInput(props: {
  label: string;
  value: unknown;
  onInput: (v: number | undefined) => void;
  problems: string[];
}) {
  return (
    <Field label={props.label} problems={props.problems}>
      {(id, describedBy) => (
        <input
          id={id}
          type="number"
          step="any"
          value={typeof props.value === 'number' ? props.value : ''}
          aria-describedby={describedBy}
          onInput={(e) => {
            const v = (e.target as HTMLInputElement).value;
            props.onInput(v === '' ? undefined : Number(v));
          }}
        />
      )}
    </Field>
  );
}

export function FieldList(props: {
  title: string;
  fields: Json[];
  path: (string | number)[];
  edit: (path: (string | number)[], value: unknown) => void;
  problemsAt: (path: (string | number)[]) => string[];
}) {
  const { fields, path, edit, problemsAt } = props;
  return (
    <fieldset>
      <legend>{props.title}</legend>
      {fields.map((f, i) => {
        const at = [...path, i];
        const input = (label: string, key: string, hint?: string) => (
          <TextInput
            label={label}
            value={String(f[key] ?? '')}
            onInput={(v) => edit([...at, key], v)}
            problems={problemsAt([...at, key])}
            hint={hint}
          />
        );
        return (
          <div class="field-row" key={i} data-area={String(path[1])}>
            {input(`${props.title.replace(/s$/, '')} ${i + 1} key`, 'key')}
            {input('Label', 'label')}
            {input('Value', 'value', '${placeholder} for a value given per pass')}
            <details>
              <summary>Alignment and formats</summary>
              <Select
                label="Alignment"
                value={String(f.textAlignment ?? '')}
                options={ALIGN}
                onChange={(v) => edit([...at, 'textAlignment'], v)}
                problems={problemsAt([...at, 'textAlignment'])}
              />
              <Select
                label="Date style"
                value={String(f.dateStyle ?? '')}
                options={DATE_CHOICES}
                onChange={(v) => edit([...at, 'dateStyle'], v)}
                problems={problemsAt([...at, 'dateStyle'])}
              />
              <Select
                label="Time style"
                value={String(f.timeStyle ?? '')}
                options={DATE_CHOICES}
                onChange={(v) => edit([...at, 'timeStyle'], v)}
                problems={problemsAt([...at, 'timeStyle'])}
              />
              <Select
                label="Number style"
                value={String(f.numberStyle ?? '')}
                options={NUMBER_CHOICES}
                onChange={(v) => edit([...at, 'numberStyle'], v)}
                problems={problemsAt([...at, 'numberStyle'])}
              />
              {input('Currency (ISO 4217)', 'currencyCode')}
            </details>
            <button type="button" class="plain" onClick={() => edit(at, undefined)}>
              Remove
            </button>
          </div>
        );
      })}
      <button
        type="button"
        class="plain"
        onClick={() =>
          edit([...path, fields.length], { key: `field${fields.length + 1}`, label: 'Label', value: '' })
        }
      >
        Add to {props.title.toLowerCase()}
      </button>
    </fieldset>
  );
}

export function ImagesEditor(props: {
  templateId: number;
  style: Style;
  list: Actions['list_template_images']['output'];
  problems: Problem[];
  onChange: () => Promise<void>;
}) {
  const [error, setError] = useState<unknown>();
  const slots = IMAGE_SLOTS.filter(([, , styles]) => styles === 'all' || styles.includes(props.style));
  const upload = async (type: ImageType, resolution: 'normal' | 'high' | 'ultra', file: File) => {
    setError(undefined);
    const bytes = new Uint8Array(await file.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    try {
      await call('set_template_image', { templateId: props.templateId, type, resolution, data: btoa(bin) });
      await props.onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <fieldset>
      <legend>Images (PNG)</legend>
      {slots.map(([type, size]) => (
        <div class="image-slot" key={type}>
          <strong>{type}</strong> <span class="hint">{size} points</span>
          <div class="row">
            {RESOLUTIONS.map(([res, label]) => {
              const have = props.list.find((i) => i.type === type && i.resolution === res);
              return (
                <Field
                  key={res}
                  label={`${type} ${label}`}
                  hint={have ? `${have.width} × ${have.height}` : 'none'}
                >
                  {(id, describedBy) => (
                    <input
                      id={id}
                      type="file"
                      accept="image/png"
                      aria-describedby={describedBy}
                      onChange={(e) => {
                        const f = (e.target as HTMLInputElement).files?.[0];
                        if (f) void upload(type, res, f);
                      }}
                    />
                  )}
                </Field>
              );
            })}
          </div>
        </div>
      ))}
      {props.problems.map((p) => (
        <p key={p.field + p.message} class={p.severity === 'error' ? 'problem' : 'warning'}>
          {p.field.replace(/^images\./, '')}: {p.message}
        </p>
      ))}
      <ErrorBox error={error} />
    </fieldset>
  );
}

export function Localizations(props: { templateId: number }) {
  const [text, setText] = useState<string>();
  const [status, setStatus] = useState<string>();
  useEffect(() => {
    call('get_template_localizations', { id: props.templateId })
      .then((l) => setText(JSON.stringify(l.localizations ?? {}, null, 2)))
      .catch(() => setText('{}'));
  }, [props.templateId]);
  const parsed = useMemo(() => {
    try {
      return { ok: JSON.parse(text ?? '{}') as Record<string, Record<string, string>> };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }, [text]);
  if (text === undefined) return null;
  return (
    <fieldset>
      <legend>Localizations</legend>
      <Field
        label="Strings by language (JSON)"
        hint='{"fr": {"Balance": "Solde"}}: a label or value equal to a key is shown translated'
        problems={parsed.error ? [parsed.error] : []}
      >
        {(id, describedBy) => (
          <textarea
            id={id}
            rows={6}
            aria-describedby={describedBy}
            value={text}
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          />
        )}
      </Field>
      <ActionButton
        run={async () => {
          if (!parsed.ok) throw new Error('The localizations are not valid JSON');
          await call('set_template_localizations', { id: props.templateId, localizations: parsed.ok });
          setStatus('Localizations saved.');
        }}
      >
        Save localizations
      </ActionButton>
      {status && <p role="status">{status}</p>}
    </fieldset>
  );
}
