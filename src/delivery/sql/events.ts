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

/**
 * insertEventWithDeliveries for several events in one statement and one commit (SignalEvents
 * that arrived together: delivery/signalBatcher.ts). Deliveries are made in the order of
 * `events`, so an ordered webhook receives them in that order. Returns each event's pending
 * deliveries, in the order of `events`. Never NOTIFYs (the caller wakes workers after the commit).
 */
export async function insertEventsWithDeliveries(db: Db, events: NewEvent[], holdForTooManyErrors = true): Promise<number[]> {
  const rows = await select<{ position: number; deliveries: number }>(
    db,
    // A lookup per event (LATERAL, the GIN index on events), however many webhooks are stored.
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::jsonb[], $5::int[], $6::text[], $7::bool[], $8::text[])
         WITH ORDINALITY AS i(event_id, name, primary_key, data, associate_id, trace_parent, everyone, application, position)
     ), ev AS (
       INSERT INTO event (event_id, name, primary_key, data, associate_id, trace_parent)
       SELECT event_id, name, primary_key, data, associate_id, trace_parent FROM input ORDER BY position
       RETURNING event_id
     ), d AS (
       INSERT INTO delivery (event_id, webhook_id, status)
       SELECT i.event_id, w.webhook_id, CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END
       FROM ev JOIN input i USING (event_id)
       CROSS JOIN LATERAL (
         SELECT w.webhook_id, w.state FROM webhook w
         WHERE (w.state = 1 OR w.state = 3 AND $9::bool) AND w.events @> ARRAY[i.name]
           AND (i.everyone OR w.application_hash IS NOT DISTINCT FROM i.application)
       ) w
       ORDER BY i.position, w.webhook_id
       RETURNING event_id, status
     )
     SELECT i.position::int AS position, COALESCE(c.pending, 0)::int AS deliveries
     FROM input i LEFT JOIN (SELECT event_id, count(*) FILTER (WHERE status = 'pending') AS pending FROM d GROUP BY event_id) c USING (event_id)
     ORDER BY i.position`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.name),
      events.map((e) => e.primaryKey),
      events.map((e) => (e.data === null ? null : JSON.stringify(e.data))),
      events.map((e) => e.associateId),
      events.map((e) => e.traceParent ?? null),
      events.map((e) => e.audience === 'everyone'),
      events.map((e) => (e.audience === 'everyone' ? null : e.audience.application)),
      holdForTooManyErrors,
    ],
  );
  return rows.map((row) => row.deliveries);
}
