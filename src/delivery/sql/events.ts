/** Signals: an event and its deliveries, in one statement. */
import { type Db, select, WAKE_CHANNEL } from './statements';
import type { TypedEntry } from '../../core/webhook';

export interface NewEvent {
  eventId: string;
  name: string;
  primaryKey: number;
  data: TypedEntry[] | null;
  associateId: number;
  /** Whose webhooks receive it (delivery/signal.ts says why). */
  audience: EventAudience;
  /** The SignalEvent span's W3C traceparent (src/tracing.ts), or null. */
  traceParent?: string | null;
}

/** 'everyone': every subscriber; otherwise only webhooks owned by that application hash (null: operator-owned ones). */
export type EventAudience = 'everyone' | { application: string | null };

/**
 * Stores an event and one pending delivery per Active webhook subscribed to its name (the GIN
 * index answers `events @> ARRAY[name]`) within its audience, in one statement.
 * `notifyAtCommit`: NOTIFY listening workers in this transaction (a state change inside a save's
 * transaction); SignalEvent, which commits at once, wakes them afterwards instead
 * (delivery/wakeListeners.ts says why).
 */
export async function insertEventWithDeliveries(db: Db, event: NewEvent, holdForTooManyErrors = true, notifyAtCommit = true): Promise<number> {
  const [row] = await select<{ deliveries: number }>(
    db,
    // State 1 Active: pending. State 3 TooManyErrors (unless $6 is false): held, sent once it is Active again.
    `WITH ev AS (
       INSERT INTO event (event_id, name, primary_key, data, associate_id, trace_parent) VALUES ($1::uuid, $2::text, $3::int, $4::jsonb, $5::int, $7::text)
       RETURNING event_id
     ), d AS (
       INSERT INTO delivery (event_id, webhook_id, status)
       SELECT ev.event_id, w.webhook_id, CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END
       FROM ev, webhook w WHERE (w.state = 1 OR w.state = 3 AND $6::bool) AND w.events @> ARRAY[$2::text]
         AND ($8::bool OR w.application_hash IS NOT DISTINCT FROM $9::text)
       RETURNING status
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM d WHERE status = 'pending' AND $10::bool LIMIT 1) any_delivery
     )
     SELECT (SELECT count(*) FROM d WHERE status = 'pending')::int AS deliveries, (SELECT count(*) FROM wake)::int AS woken`,
    [
      event.eventId,
      event.name,
      event.primaryKey,
      event.data === null ? null : JSON.stringify(event.data),
      event.associateId,
      holdForTooManyErrors,
      event.traceParent ?? null,
      event.audience === 'everyone',
      event.audience === 'everyone' ? null : event.audience.application,
      notifyAtCommit,
    ],
  );
  return row.deliveries;
}
