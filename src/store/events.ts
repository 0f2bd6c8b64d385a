// The event outbox: every change to a pass writes its event in the same transaction. Delivering events (webhooks,
// CRM sync, live streams) reads from here.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface EventInput {
  accountId: number;
  type: string;
  passId?: number | null;
  data: Record<string, unknown>;
}

export interface EventEnvelope {
  id: string;
  type: string;
  created: string;
  data: Record<string, unknown>;
}

export async function appendEvent(db: Db, input: EventInput, now: Date): Promise<EventEnvelope> {
  const envelope: EventEnvelope = {
    id: randomUUID(),
    type: input.type,
    created: now.toISOString(),
    data: input.data,
  };
  await db
    .insertInto('events')
    .values({
      id: envelope.id,
      accountId: input.accountId,
      type: input.type,
      passId: input.passId ?? null,
      data: JSON.stringify(input.data),
      createdAt: envelope.created,
    })
    .execute();
  return envelope;
}
