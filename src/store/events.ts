// The event outbox: every change to a pass writes its event in the same transaction, together with one delivery row
// per webhook or integration that wants it. Delivering (src/events/) reads the deliveries; the events API and the
// live stream read the events.
import { randomUUID } from 'node:crypto';
import type { Bus } from './bus.js';
import type { Db } from './db.js';
import { preparedIn } from './prepared.js';

export interface EventInput {
  accountId: number;
  type: EventType;
  passId?: number | null;
  data: Record<string, unknown>;
}

export interface EventEnvelope {
  id: string;
  type: string;
  created: string;
  data: Record<string, unknown>;
}

/** An event as the feed and the live stream read it. */
export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  createdAt: string;
  data: string;
}

/** Every event type Passslot writes: PassSlot's first, then its own. */
export const EVENT_TYPES = [
  'pass.created',
  'pass.updated',
  'pass.downloaded',
  'pass.link_opened',
  'registration.created',
  'registration.deleted',
  'scan.performed',
  'pass.deleted',
  'pass.status_changed',
  'pass.revoked',
  'pass.notified',
  'pass.personalized',
  'push.failed',
  'passtype.certificate_expiring',
  'webhook.disabled',
  'integration.disabled',
  'delivery.sent',
  'delivery.delivered',
  'delivery.failed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Does an event type match one of the patterns ("*", "pass.*", "registration.created")? */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === type) return true;
    if (p.endsWith('.*') && type.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

/** Transactions that queued deliveries: after they commit, the delivery engine is woken. */
const queuedDeliveries = new WeakSet<object>();
/** The passes each transaction wrote events about: after it commits, caches of them are dropped. */
const passesChanged = new WeakMap<object, Set<number>>();

const insertEvent = preparedIn(
  6,
  (db, id: string, accountId: number, type: string, passId: number | null, data: string, createdAt: string) =>
    db.insertInto('events').values({ id, accountId, type, passId, data, createdAt }),
);

/** The enabled webhooks and integrations of an account, with their event patterns. */
const targetsOf = preparedIn(1, (db, accountId: number) =>
  db
    .selectFrom('webhooks')
    .select(['id', 'events'])
    .select((eb) => eb.val('webhook').as('kind'))
    .where('accountId', '=', accountId)
    .where('enabled', '=', 1)
    .unionAll(
      db
        .selectFrom('integrations')
        .select(['id', 'events'])
        .select((eb) => eb.val('integration').as('kind'))
        .where('accountId', '=', accountId)
        .where('enabled', '=', 1),
    ),
);

/** What every event about a pass tells besides its own data: the template's name, its devices, its wallets. */
const passFacts = preparedIn(1, (db, passId: number) =>
  db
    .selectFrom('passes')
    .innerJoin('templates', 'templates.id', 'passes.templateId')
    .select('templates.name as templateName')
    .select((eb) =>
      eb
        .selectFrom('registrations')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('registrations.passId', '=', 'passes.id')
        .as('devicesInstalled'),
    )
    .select((eb) =>
      eb
        .selectFrom('googleObjects')
        .select('googleObjects.saved')
        .whereRef('googleObjects.passId', '=', 'passes.id')
        .as('googleSaved'),
    )
    .where('passes.id', '=', passId),
);

/**
 * Writes an event, and a delivery for every enabled webhook and integration of the account whose event patterns
 * match. Events about a pass carry its template name and how many devices have it installed.
 */
export async function appendEvent(db: Db, input: EventInput, now: Date): Promise<EventEnvelope> {
  const data = { ...input.data };
  if (input.passId != null) {
    const [facts] = await passFacts(db, input.passId);
    if (facts) {
      data.templateName ??= facts.templateName;
      data.devicesInstalled ??= Number(facts.devicesInstalled ?? 0);
      // which wallets hold the pass: Apple's while a device is registered, Google's while saved there
      data.wallets ??= [
        ...(Number(data.devicesInstalled) > 0 ? ['apple'] : []),
        ...(facts.googleSaved ? ['google'] : []),
      ];
    }
  }
  const envelope: EventEnvelope = { id: randomUUID(), type: input.type, created: now.toISOString(), data };
  if (input.passId != null) {
    const set = passesChanged.get(db) ?? new Set<number>();
    set.add(input.passId);
    passesChanged.set(db, set);
  }
  await insertEvent(
    db,
    envelope.id,
    input.accountId,
    input.type,
    input.passId ?? null,
    JSON.stringify(data),
    envelope.created,
  );
  const targets = await targetsOf(db, input.accountId);
  const wanted = targets.filter((t) => matchesEventType(JSON.parse(t.events) as string[], input.type));
  if (wanted.length) {
    await db
      .insertInto('deliveries')
      .values(
        wanted.map((t) => ({
          accountId: input.accountId,
          targetKind: t.kind as 'webhook' | 'integration',
          targetId: t.id,
          eventId: envelope.id,
          passId: input.passId ?? null,
          status: 'pending' as const,
          attempts: 0,
          nextAttemptAt: envelope.created,
          createdAt: envelope.created,
          updatedAt: envelope.created,
        })),
      )
      .execute();
    queuedDeliveries.add(db);
  }
  return envelope;
}

/** What withEvents needs of the App (kept narrow so the store does not depend on it). */
export interface EventSink {
  db: Db;
  /** Wakes this process's workers and streams. */
  wakeHere(kind: string): void;
  /** Told, after a commit, which passes changed. */
  hotPasses?: { forget(passIds: Iterable<number>): void };
  /** Tells the other processes (store/bus.ts). */
  bus?: Pick<Bus, 'announceIn' | 'settle'>;
}

/**
 * Runs `fn` in a transaction; once it has committed, drops the passes it wrote events about from the cache of
 * hot passes, here and (through the bus, whose notice commits with the transaction) in every other process before
 * returning, and wakes the live streams and, when deliveries were queued, the delivery engine, in every process
 * (which also poll, so a wake lost to a crash only delays).
 */
export async function withEvents<T>(sink: EventSink, fn: (trx: Db) => Promise<T>): Promise<T> {
  let used: Db | undefined;
  let notice: number | undefined;
  const out = await sink.db.transaction().execute(async (trx) => {
    used = trx;
    const result = await fn(trx);
    const changed = passesChanged.get(trx);
    const wake = queuedDeliveries.has(trx) ? ['events', 'deliveries'] : ['events'];
    notice = await sink.bus?.announceIn(trx, { passes: changed ? [...changed] : undefined, wake });
    return result;
  });
  if (used) {
    const changed = passesChanged.get(used);
    if (changed) sink.hotPasses?.forget(changed);
  }
  sink.wakeHere('events');
  if (used && queuedDeliveries.has(used)) sink.wakeHere('deliveries');
  await sink.bus?.settle(notice);
  return out;
}
