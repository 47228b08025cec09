/** Signals: an event and its deliveries, in one statement. */
import { type Db, select, WAKE_CHANNEL } from './statements';
import type { TypedEntry } from '../../core/webhook';
import type { InsertTail } from '../../db/webhookRepository';

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
    `WITH ev AS (
       INSERT INTO event (event_id, name, primary_key, data, associate_id, trace_parent) VALUES ($1::uuid, $2::text, $3::int, $4::jsonb, $5::int, $7::text)
       RETURNING event_id
     ), ${fanOut('ev', { name: '$2::text', hold: '$6::bool', everyone: '$8::bool', application: '$9::text', notify: '$10::bool' })}
     SELECT ${fanOutCounts('ev')}`,
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

/** The state event of a webhook being created, before it has an id (delivery/signal.ts stateEventOfNewWebhook). */
export interface NewWebhookEvent {
  eventId: string;
  /** What follows `webhook{ID}` in its name: `.started` or `.stopped`. */
  nameSuffix: string;
  /** Its Data; the first entry's value is the webhook's id, which the statement sets. */
  data: TypedEntry[];
  associateId: number;
  /** The new webhook's owner: only that owner's subscribers hear of it (delivery/signal.ts). */
  application: string | null;
}

/**
 * A new webhook's state event as the tail of its INSERT statement (db/webhookRepository.ts
 * insertWebhookWith): the event and its deliveries commit with the row, in one round trip, and
 * NOTIFY listening workers at that commit. The fan-out reads the webhook table as it was before
 * the statement, so the new webhook is never among its own event's subscribers (it could not
 * have known its own id to subscribe to). Reads the pending deliveries made.
 */
export function newWebhookEventTail(event: NewWebhookEvent, holdForTooManyErrors: boolean): InsertTail<number> {
  return {
    ctes: (first) => {
      const $ = (n: number) => `$${first + n}`;
      return `state_event AS (
         INSERT INTO event (event_id, name, primary_key, data, associate_id, trace_parent)
         SELECT ${$(0)}::uuid, 'webhook' || inserted.webhook_id || ${$(1)}::text, inserted.webhook_id,
           jsonb_set(${$(2)}::jsonb, '{0,value}', to_jsonb(inserted.webhook_id)), ${$(3)}::int, NULL
         FROM inserted
         RETURNING event_id, name
       ), ${fanOut('state_event', { name: 'state_event.name::text', hold: `${$(4)}::bool`, everyone: 'false', application: `${$(5)}::text`, notify: 'true' })}`;
    },
    values: [event.eventId, event.nameSuffix, JSON.stringify(event.data), event.associateId, holdForTooManyErrors, event.application],
    select: fanOutCounts('state_event'),
    read: (row) => row.deliveries as number,
  };
}

/** SQL expressions (parameters, columns or literals) for fanOut. */
interface FanOutArguments {
  /** The event's name. */
  name: string;
  /** Whether TooManyErrors webhooks get held deliveries (HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS). */
  hold: string;
  /** Whether every subscriber hears it (an operator's signal), or only `application`'s. */
  everyone: string;
  application: string;
  /** Whether to NOTIFY listening workers at commit, if a delivery is pending. */
  notify: string;
}

/**
 * The CTEs `${event}_deliveries` and `${event}_wake` that fan out the event inserted by CTE
 * `event` (RETURNING event_id): one delivery per webhook subscribed to its name within its
 * audience (the GIN index answers `events @> ARRAY[name]`), pending for Active (state 1) ones,
 * held for TooManyErrors (state 3) ones when `hold`; then a NOTIFY if one is pending.
 */
function fanOut(event: string, a: FanOutArguments): string {
  return `${event}_deliveries AS (
       INSERT INTO delivery (event_id, webhook_id, status)
       SELECT ${event}.event_id, w.webhook_id, CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END
       FROM ${event}, webhook w WHERE (w.state = 1 OR w.state = 3 AND ${a.hold}) AND w.events @> ARRAY[${a.name}]
         AND (${a.everyone} OR w.application_hash IS NOT DISTINCT FROM ${a.application})
       RETURNING status
     ), ${event}_wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM ${event}_deliveries WHERE status = 'pending' AND ${a.notify} LIMIT 1) any_delivery
     )`;
}

/** Select-list items `deliveries` (pending deliveries made) and `woken`: the wake CTE runs only because this reads it. */
function fanOutCounts(event: string): string {
  return `(SELECT count(*) FROM ${event}_deliveries WHERE status = 'pending')::int AS deliveries, (SELECT count(*) FROM ${event}_wake)::int AS woken`;
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
