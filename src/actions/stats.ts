// The funnel: how many passes were issued, had their page opened, were downloaded, added to Wallet, removed from it
// and redeemed, counted from the events (distinct passes per stage, so a pass opened five times counts once), for a
// template or the whole account, in total and per day or month.
import { type Static, Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { invalid } from '../errors.js';
import { findTemplate, requireUnrestricted } from './access.js';
import { type ActionContext, defineAction } from './registry.js';
import { Id } from './schemas.js';

const STAGES = {
  issued: 'pass.created',
  opened: 'pass.link_opened',
  downloaded: 'pass.downloaded',
  installed: 'registration.created',
  removed: 'registration.deleted',
  redeemed: 'pass.status_changed',
} as const;
type Stage = keyof typeof STAGES;

const countProps = Object.fromEntries(
  Object.keys(STAGES).map((s) => [s, Type.Integer({ minimum: 0 })]),
) as Record<Stage, ReturnType<typeof Type.Integer>>;
const Counts = Type.Object(countProps);
type Counts = Static<typeof Counts>;

const Funnel = Type.Object({
  from: Type.String(),
  to: Type.String(),
  interval: Type.String(),
  counts: Counts,
  conversion: Type.Object(
    {
      opened: Type.Number(),
      downloaded: Type.Number(),
      installed: Type.Number(),
      redeemed: Type.Number(),
    },
    { description: 'each stage as a share of the passes issued in the window (0 when none were issued)' },
  ),
  series: Type.Array(Type.Object({ date: Type.String(), ...countProps })),
});

const Window = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'default: 30 days before `to`' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'default: now' })),
  interval: Type.Optional(
    Type.Union([Type.Literal('day'), Type.Literal('month')], {
      description: 'the series’ step, default day',
    }),
  ),
};
type WindowIn = { from?: string; to?: string; interval?: 'day' | 'month' };

const zero = (): Counts => ({ issued: 0, opened: 0, downloaded: 0, installed: 0, removed: 0, redeemed: 0 });
const stageOf = (type: string): Stage => Object.entries(STAGES).find(([, t]) => t === type)![0] as Stage;

async function funnel(
  ctx: ActionContext,
  templateId: number | null,
  input: WindowIn,
): Promise<Static<typeof Funnel>> {
  const to = input.to ? new Date(input.to) : ctx.app.clock.now();
  const from = input.from ? new Date(input.from) : new Date(to.getTime() - 30 * 86_400_000);
  if (from >= to) throw invalid([{ field: 'from', reasons: ['must be before to'] }]);
  if (to.getTime() - from.getTime() > 3 * 366 * 86_400_000)
    throw invalid([{ field: 'from', reasons: ['the window is at most three years'] }]);
  const interval = input.interval ?? 'day';
  const width = interval === 'day' ? 10 : 7;
  // a status change counts as a redemption only when the new status is redeemed
  const status =
    ctx.app.dialect === 'postgres'
      ? sql<string>`(e.data::json->>'status')`
      : sql<string>`json_extract(e.data, '$.status')`;
  const rows = async (bucket: boolean) => {
    let q = ctx.app.db
      .selectFrom('events as e')
      .select((eb) => [
        'e.type',
        (bucket ? sql<string>`substr(e.created_at, 1, ${sql.lit(width)})` : sql<string>`''`).as('bucket'),
        eb.fn.count<number>('e.passId').distinct().as('n'),
      ])
      .where('e.accountId', '=', ctx.grant.accountId)
      .where('e.createdAt', '>=', from.toISOString())
      .where('e.createdAt', '<', to.toISOString())
      .where('e.type', 'in', Object.values(STAGES))
      .where((eb) => eb.or([eb('e.type', '!=', STAGES.redeemed), eb(status, '=', 'redeemed')]));
    if (templateId !== null)
      q = q.innerJoin('passes as p', 'p.id', 'e.passId').where('p.templateId', '=', templateId);
    return q.groupBy(bucket ? ['e.type', 'bucket'] : ['e.type']).execute();
  };
  const counts = zero();
  for (const r of await rows(false)) counts[stageOf(r.type)] = Number(r.n);
  const byDate = new Map<string, Counts>();
  for (const r of await rows(true)) {
    const c = byDate.get(r.bucket) ?? zero();
    c[stageOf(r.type)] = Number(r.n);
    byDate.set(r.bucket, c);
  }
  // every step of the window, empty ones too, so a chart has no gaps
  const series: Static<typeof Funnel>['series'] = [];
  const step = new Date(
    Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), interval === 'day' ? from.getUTCDate() : 1),
  );
  while (step < to) {
    const date = step.toISOString().slice(0, width);
    series.push({ date, ...(byDate.get(date) ?? zero()) });
    if (interval === 'day') step.setUTCDate(step.getUTCDate() + 1);
    else step.setUTCMonth(step.getUTCMonth() + 1);
  }
  const share = (n: number) => (counts.issued ? Math.round((n / counts.issued) * 10_000) / 10_000 : 0);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    interval,
    counts,
    conversion: {
      opened: share(counts.opened),
      downloaded: share(counts.downloaded),
      installed: share(counts.installed),
      redeemed: share(counts.redeemed),
    },
    series,
  };
}

const FUNNEL_TEXT =
  'issued (passes created), opened (their page visited), downloaded (the .pkpass fetched), installed (added to ' +
  'Wallet on a device), removed (taken out of Wallet) and redeemed (status set to redeemed); each counts distinct ' +
  'passes in the window, and the series gives the same per day or month.';

export const getTemplateStats = defineAction({
  name: 'get_template_stats',
  title: "A template's funnel",
  description: `How the passes of a template fare from issue to use: ${FUNNEL_TEXT} Example: {"id": 3, "interval": "day"}.`,
  scope: 'templates:read',
  mutates: false,
  input: Type.Object({ id: Id, ...Window }),
  output: Funnel,
  async handler(ctx, input) {
    const template = await findTemplate(ctx, { id: input.id });
    return funnel(ctx, template.id, input);
  },
});

export const getAccountStats = defineAction({
  name: 'get_account_stats',
  title: "The account's funnel",
  description: `How all the account's passes fare from issue to use: ${FUNNEL_TEXT}`,
  scope: 'passes:read',
  mutates: false,
  input: Type.Object(Window),
  output: Funnel,
  async handler(ctx, input) {
    requireUnrestricted(ctx, "read the whole account's funnel (ask for each template's)");
    return funnel(ctx, null, input);
  },
});

export const statsActions = [getTemplateStats, getAccountStats];
