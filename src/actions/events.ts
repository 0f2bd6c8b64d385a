// The event feed: every change in a pass's life, oldest first, with PassSlot's envelope.
import { type Static, Type } from '@sinclair/typebox';
import { invalid, notFound } from '../errors.js';
import { EVENT_TYPES, matchesEventType, type StoredEvent } from '../store/events.js';
import { requireUnrestricted } from './access.js';
import { Cursor, keyOf, Limit, NextCursor, pageOf } from './paging.js';
import { type ActionContext, defineAction } from './registry.js';

export const EventOut = Type.Object({
  id: Type.String({ description: 'the event id (a UUID), the same on every delivery of the event' }),
  type: Type.String({ description: `one of ${EVENT_TYPES.join(', ')}` }),
  created: Type.String({ description: 'when it happened (ISO 8601)' }),
  data: Type.Record(Type.String(), Type.Unknown()),
});

const PATTERN = '^(\\*|[a-z_]+(\\.[a-z_]+)*(\\.\\*)?)$';
export const EventPattern = Type.String({
  pattern: PATTERN,
  maxLength: 100,
  description: 'an event type ("pass.created"), a family ("pass.*") or "*" for all',
});

/** Refuses patterns that match no event type (a typo would otherwise silently receive nothing). */
export function checkPatterns(field: string, patterns: readonly string[]): void {
  const unknown = patterns.filter((p) => !EVENT_TYPES.some((t) => matchesEventType([p], t)));
  if (unknown.length)
    throw invalid([
      {
        field,
        reasons: [`${unknown.join(', ')} matches no event type; types are ${EVENT_TYPES.join(', ')}`],
      },
    ]);
}

export const EventFilter = Type.Object({
  type: Type.Optional(
    Type.String({
      maxLength: 1000,
      description: 'comma-separated event types or families, e.g. pass.*,registration.created',
    }),
  ),
  passTypeIdentifier: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  serialNumber: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
export type EventFilter = Static<typeof EventFilter>;

/** The type patterns and pass of a filter, checked. */
export async function resolveFilter(
  ctx: ActionContext,
  filter: EventFilter,
): Promise<{ patterns: string[] | undefined; passId: number | undefined }> {
  const patterns = filter.type
    ?.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (patterns) {
    const bad = patterns.filter((p) => !new RegExp(PATTERN).test(p));
    if (bad.length)
      throw invalid([{ field: 'type', reasons: [`${bad.join(', ')} is not an event type pattern`] }]);
    checkPatterns('type', patterns);
  }
  if ((filter.passTypeIdentifier === undefined) !== (filter.serialNumber === undefined))
    throw invalid([
      { field: 'serialNumber', reasons: ['give passTypeIdentifier and serialNumber together'] },
    ]);
  let passId: number | undefined;
  if (filter.passTypeIdentifier && filter.serialNumber) {
    const row = await ctx.app.db
      .selectFrom('passes')
      .innerJoin('passTypes', 'passTypes.id', 'passes.passTypeId')
      .select('passes.id')
      .where('passes.accountId', '=', ctx.grant.accountId)
      .where('passTypes.passTypeIdentifier', '=', filter.passTypeIdentifier)
      .where('passes.serialNumber', '=', filter.serialNumber)
      .executeTakeFirst();
    if (!row) throw notFound(`pass ${filter.passTypeIdentifier}/${filter.serialNumber}`);
    passId = row.id;
  }
  return { patterns, passId };
}

/** The account's events after a sequence number, oldest first, filtered. */
export function eventsAfter(
  ctx: ActionContext,
  filter: { patterns: string[] | undefined; passId: number | undefined },
  afterSeq: number,
  limit: number,
  since?: string,
) {
  let q = ctx.app.db
    .selectFrom('events')
    .select(['seq', 'id', 'type', 'createdAt', 'data'])
    .where('accountId', '=', ctx.grant.accountId)
    .where('seq', '>', afterSeq);
  if (filter.passId !== undefined) q = q.where('passId', '=', filter.passId);
  if (since) q = q.where('createdAt', '>=', new Date(since).toISOString());
  const { patterns } = filter;
  if (patterns && !patterns.includes('*'))
    q = q.where((eb) =>
      eb.or(
        patterns.map((p) =>
          p.endsWith('.*') ? eb('type', 'like', `${p.slice(0, -1)}%`) : eb('type', '=', p),
        ),
      ),
    );
  return q.orderBy('seq').limit(limit).execute();
}

export const eventOut = (r: { id: string; type: string; createdAt: string; data: string }) => ({
  id: r.id,
  type: r.type,
  created: r.createdAt,
  data: JSON.parse(r.data) as Record<string, unknown>,
});

export const listEvents = defineAction({
  name: 'list_events',
  title: 'List events',
  description:
    'Lists the events of the account oldest first (pass created, downloaded, added to or removed from Wallet, updated, ' +
    'redeemed, ...), filtered by type and pass; the next page is in the Link header (rel="next") and in nextCursor.',
  scope: 'events:read',
  mutates: false,
  input: Type.Object({
    ...EventFilter.properties,
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'only events at or after this time' }),
    ),
    limit: Limit,
    cursor: Cursor,
  }),
  output: Type.Object({ events: Type.Array(EventOut), nextCursor: NextCursor }),
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'read the account-wide event feed');
    const { patterns, passId } = await resolveFilter(ctx, input);
    const limit = input.limit ?? 100;
    const rows = await eventsAfter(
      ctx,
      { patterns, passId },
      keyOf(input.cursor) ?? 0,
      limit + 1,
      input.since,
    );
    const { items, nextCursor } = pageOf(rows, limit, (r) => r.seq);
    return { events: items.map(eventOut), nextCursor };
  },
});

export const getEvent = defineAction({
  name: 'get_event',
  title: 'Get an event',
  description: 'Returns one event by its id.',
  scope: 'events:read',
  mutates: false,
  input: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
  output: EventOut,
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'read the account-wide event feed');
    const row = await ctx.app.db
      .selectFrom('events')
      .select(['id', 'type', 'createdAt', 'data'])
      .where('accountId', '=', ctx.grant.accountId)
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (!row) throw notFound(`event ${input.id}`);
    return eventOut(row);
  },
});

/** What the event stream action answers: where to start, and how to read on (the edge streams it, e.g. as SSE). */
export interface EventFeed {
  after: number;
  read(afterSeq: number, limit: number): Promise<StoredEvent[]>;
}

export const streamEvents = defineAction({
  name: 'stream_events',
  title: 'Stream events live',
  description:
    'Follows the events of the account as they happen, after lastEventId (or from now), with the filters of ' +
    'list_events. Over HTTP it is Server-Sent Events: `id` (the event id), `event` (its type) and `data` (the envelope).',
  scope: 'events:read',
  mutates: false,
  answers: 'stream',
  input: Type.Object({
    ...EventFilter.properties,
    lastEventId: Type.Optional(
      Type.String({
        maxLength: 100,
        description: 'resume after this event (HTTP: the Last-Event-ID header)',
      }),
    ),
  }),
  output: Type.Unsafe<EventFeed>({ description: 'the events, one message each, as they happen' }),
  async handler(ctx, input) {
    requireUnrestricted(ctx, 'read the account-wide event feed');
    const filter = await resolveFilter(ctx, input);
    const db = ctx.app.db;
    let after: number;
    if (input.lastEventId) {
      const row = await db
        .selectFrom('events')
        .select('seq')
        .where('accountId', '=', ctx.grant.accountId)
        .where('id', '=', input.lastEventId)
        .executeTakeFirst();
      if (!row)
        throw invalid([{ field: 'lastEventId', reasons: [`no event ${input.lastEventId} on this account`] }]);
      after = row.seq;
    } else {
      const row = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('accountId', '=', ctx.grant.accountId)
        .executeTakeFirst();
      after = Number(row?.seq ?? 0);
    }
    return { after, read: (seq, limit) => eventsAfter(ctx, filter, seq, limit) };
  },
});

export const eventActions = [listEvents, getEvent, streamEvents];
