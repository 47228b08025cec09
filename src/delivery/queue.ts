/**
 * Every SQL statement of the delivery engine, one named function each (as graphile-worker's
 * src/sql). Statements work on a batch, so a worker makes a few round trips per batch of
 * deliveries, not per delivery.
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { StringEntry, TypedEntry } from '../core/webhook';

type Db = DataSource | EntityManager;

/** The channel a PostgreSQL server uses to wake listening workers when deliveries become due. */
export const WAKE_CHANNEL = 'webhook_delivery';

// TypeORM returns [rows, rowCount] for a top-level UPDATE/DELETE; every statement here with
// results is a SELECT over CTEs so that rows come back as rows.
async function select<T>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  return (await db.query(sql, params)) as T[];
}

export interface NewEvent {
  eventId: string;
  name: string;
  primaryKey: number;
  data: TypedEntry[] | null;
  associateId: number;
}

/**
 * Stores an event and one pending delivery per Active webhook subscribed to its name (the GIN
 * index answers `events @> ARRAY[name]`), in one statement; notifies listening workers at commit.
 */
export async function insertEventWithDeliveries(db: Db, event: NewEvent): Promise<number> {
  const [row] = await select<{ deliveries: number }>(
    db,
    `WITH ev AS (
       INSERT INTO event (event_id, name, primary_key, data, associate_id) VALUES ($1::uuid, $2::text, $3::int, $4::jsonb, $5::int)
       RETURNING event_id
     ), d AS (
       INSERT INTO delivery (event_id, webhook_id)
       SELECT ev.event_id, w.webhook_id FROM ev, webhook w WHERE w.state = 1 AND w.events @> ARRAY[$2::text]
       RETURNING 1
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM d LIMIT 1) any_delivery
     )
     SELECT (SELECT count(*) FROM d)::int AS deliveries, (SELECT count(*) FROM wake)::int AS woken`,
    [event.eventId, event.name, event.primaryKey, event.data === null ? null : JSON.stringify(event.data), event.associateId],
  );
  return row.deliveries;
}

export interface ClaimedDelivery {
  deliveryId: string;
  /** Attempts recorded before this one. */
  attempts: number;
  eventId: string;
  eventName: string;
  primaryKey: number;
  data: TypedEntry[] | null;
  associateId: number;
  signalledAt: Date;
  webhookId: number;
  /** null when the webhook was deleted. */
  webhookState: number | null;
  webhookName: string | null;
  targetUrl: string | null;
  secret: string | null;
  headers: StringEntry[] | null;
  properties: TypedEntry[] | null;
}

/**
 * Claims up to `limit` due deliveries for `workerId`, skipping rows other workers hold. The
 * lease moves run_at to the lease expiry, so a dead worker's claims fall due again by themselves.
 */
export async function claimDueDeliveries(db: Db, workerId: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  return select<ClaimedDelivery>(
    db,
    `WITH due AS (
       SELECT delivery_id FROM delivery
       WHERE status = 'pending' AND run_at <= now()
       ORDER BY run_at
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE delivery d
       SET locked_by = $1, locked_until = now() + $3::int * interval '1 millisecond', run_at = now() + $3::int * interval '1 millisecond'
       FROM due WHERE d.delivery_id = due.delivery_id
       RETURNING d.delivery_id, d.event_id, d.webhook_id, d.attempts
     )
     SELECT c.delivery_id::text AS "deliveryId", c.attempts, e.event_id AS "eventId", e.name AS "eventName",
            e.primary_key AS "primaryKey", e.data, e.associate_id AS "associateId", e.signalled_at AS "signalledAt",
            c.webhook_id AS "webhookId", w.state AS "webhookState", w.name AS "webhookName", w.target_url AS "targetUrl",
            w.secret, w.headers, w.properties
     FROM claimed c JOIN event e ON e.event_id = c.event_id LEFT JOIN webhook w ON w.webhook_id = c.webhook_id`,
    [workerId, limit, leaseMs],
  );
}

/** When the next pending delivery falls due (a retry, or a lease expiring), or null. */
export async function nextDueAt(db: Db): Promise<Date | null> {
  const [row] = await select<{ at: Date | null }>(db, `SELECT min(run_at) AS at FROM delivery WHERE status = 'pending'`, []);
  return row?.at ?? null;
}

export interface AttemptRecord {
  deliveryId: string;
  webhookId: number;
  eventId: string;
  attemptNumber: number;
  attemptedAt: Date;
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
}

/** Appends attempts to the log. */
export async function insertAttempts(db: Db, workerId: string, attempts: AttemptRecord[]): Promise<void> {
  if (attempts.length === 0) return;
  await db.query(
    `INSERT INTO delivery_attempt (delivery_id, webhook_id, event_id, attempt_number, attempted_at, http_status, latency_ms, error, response_body, worker)
     SELECT a.*, $10 FROM unnest($1::bigint[], $2::int[], $3::uuid[], $4::int[], $5::timestamptz[], $6::int[], $7::int[], $8::text[], $9::text[]) AS a`,
    [
      attempts.map((a) => a.deliveryId),
      attempts.map((a) => a.webhookId),
      attempts.map((a) => a.eventId),
      attempts.map((a) => a.attemptNumber),
      attempts.map((a) => a.attemptedAt.toISOString()),
      attempts.map((a) => a.httpStatus),
      attempts.map((a) => a.latencyMs),
      attempts.map((a) => a.error),
      attempts.map((a) => a.responseBody),
      workerId,
    ],
  );
}

export interface WebhookCounterChange {
  webhookId: number;
  calls: number;
  errors: number;
  resets: boolean;
  trailingFailures: number;
  lastError: string | null;
}

export interface WebhookCounters {
  webhookId: number;
  state: number;
  consecutiveErrors: number;
}

/**
 * Adds a batch's calls and errors to its webhooks as atomic increments (other workers update
 * the same rows). Rows are locked in id order first, so concurrent batches cannot deadlock.
 */
export async function addWebhookCounters(db: Db, changes: WebhookCounterChange[]): Promise<WebhookCounters[]> {
  if (changes.length === 0) return [];
  const ids = changes.map((c) => c.webhookId);
  await db.query(`SELECT webhook_id FROM webhook WHERE webhook_id = ANY($1::int[]) ORDER BY webhook_id FOR UPDATE`, [ids]);
  return select<WebhookCounters>(
    db,
    `WITH c AS (
       SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::bool[], $5::int[], $6::text[])
         AS c(webhook_id, calls, errors, resets, trailing_failures, last_error)
     ), updated AS (
       UPDATE webhook w SET
         total_calls = w.total_calls + c.calls,
         total_errors = w.total_errors + c.errors,
         consecutive_errors = CASE WHEN c.resets THEN c.trailing_failures ELSE w.consecutive_errors + c.trailing_failures END,
         last_error = COALESCE(c.last_error, w.last_error)
       FROM c WHERE w.webhook_id = c.webhook_id
       RETURNING w.webhook_id, w.state, w.consecutive_errors
     )
     SELECT webhook_id AS "webhookId", state, consecutive_errors AS "consecutiveErrors" FROM updated`,
    [ids, changes.map((c) => c.calls), changes.map((c) => c.errors), changes.map((c) => c.resets), changes.map((c) => c.trailingFailures), changes.map((c) => c.lastError)],
  );
}

export interface TrippedWebhook {
  webhookId: number;
  name: string | null;
  targetUrl: string;
  errorsEmail: string | null;
  lastError: string | null;
}

/** Active -> TooManyErrors; only the webhooks this call changed come back (one worker wins a race). */
export async function tripWebhooks(db: Db, webhookIds: number[]): Promise<TrippedWebhook[]> {
  if (webhookIds.length === 0) return [];
  return select<TrippedWebhook>(
    db,
    `WITH t AS (
       UPDATE webhook SET state = 3 WHERE webhook_id = ANY($1::int[]) AND state = 1
       RETURNING webhook_id, name, target_url, errors_email, last_error
     )
     SELECT webhook_id AS "webhookId", name, target_url AS "targetUrl", errors_email AS "errorsEmail", last_error AS "lastError" FROM t`,
    [webhookIds],
  );
}

/** A webhook that is not Active keeps its pending deliveries, held, until it is Active again. */
export async function holdOpenDeliveries(db: Db, webhookIds: number[]): Promise<void> {
  if (webhookIds.length === 0) return;
  await db.query(`UPDATE delivery SET status = 'held' WHERE webhook_id = ANY($1::int[]) AND status = 'pending'`, [webhookIds]);
}

/** Held deliveries resume; one still leased to a worker waits for its lease, so it is never sent twice at once. */
export async function releaseHeldDeliveries(db: Db, webhookId: number): Promise<void> {
  await db.query(
    `WITH released AS (
       UPDATE delivery SET status = 'pending', run_at = GREATEST(now(), COALESCE(locked_until, now()))
       WHERE webhook_id = $1 AND status = 'held'
       RETURNING 1
     )
     SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM released LIMIT 1) any_released`,
    [webhookId],
  );
}

/** DeleteWebhook: its open deliveries stop; they and their attempts stay as a log. */
export async function cancelOpenDeliveries(db: Db, webhookId: number): Promise<void> {
  await db.query(`UPDATE delivery SET status = 'cancelled', completed_at = now() WHERE webhook_id = $1 AND status IN ('pending', 'held')`, [webhookId]);
}

/** succeeded / failed: done. retry: the attempt failed, due again after delayMs. requeue: not attempted (webhook no longer Active at claim). */
export type SettleStep = 'succeeded' | 'failed' | 'retry' | 'requeue';

export interface Settlement {
  deliveryId: string;
  step: SettleStep;
  delayMs: number;
}

/**
 * Releases this worker's claims with their outcome. A retry of a webhook that is no longer
 * Active is held; of a deleted webhook, cancelled. Claims this worker lost (lease expired and
 * re-taken, or cancelled) are left alone.
 */
export async function settleDeliveries(db: Db, workerId: string, settlements: Settlement[]): Promise<void> {
  if (settlements.length === 0) return;
  await db.query(
    `UPDATE delivery d SET
       status = CASE WHEN s.step IN ('retry', 'requeue')
                     THEN CASE COALESCE((SELECT w.state FROM webhook w WHERE w.webhook_id = d.webhook_id), -1)
                            WHEN 1 THEN 'pending' WHEN -1 THEN 'cancelled' ELSE 'held' END
                     ELSE s.step END,
       attempts = d.attempts + CASE WHEN s.step = 'requeue' THEN 0 ELSE 1 END,
       run_at = now() + s.delay_ms * interval '1 millisecond',
       locked_by = NULL,
       locked_until = NULL,
       completed_at = CASE WHEN s.step IN ('succeeded', 'failed') THEN now() END
     FROM unnest($2::bigint[], $3::text[], $4::int[]) AS s(delivery_id, step, delay_ms)
     WHERE d.delivery_id = s.delivery_id AND d.locked_by = $1 AND d.status IN ('pending', 'held')`,
    [workerId, settlements.map((s) => s.deliveryId), settlements.map((s) => s.step), settlements.map((s) => s.delayMs)],
  );
}

export interface AttemptLogEntry extends AttemptRecord {
  attemptId: string;
  worker: string | null;
}

/** A webhook's most recent attempts, newest first. */
export async function recentAttempts(db: Db, webhookId: number, limit = 50): Promise<AttemptLogEntry[]> {
  return select<AttemptLogEntry>(
    db,
    `SELECT attempt_id::text AS "attemptId", delivery_id::text AS "deliveryId", webhook_id AS "webhookId", event_id AS "eventId",
            attempt_number AS "attemptNumber", attempted_at AS "attemptedAt", http_status AS "httpStatus", latency_ms AS "latencyMs",
            error, response_body AS "responseBody", worker
     FROM delivery_attempt WHERE webhook_id = $1 ORDER BY attempted_at DESC, attempt_id DESC LIMIT $2`,
    [webhookId, limit],
  );
}

export interface DeliveryStatusCount {
  status: string;
  count: number;
}

/** Deliveries by status, optionally for one webhook (tests, operators). */
export async function countDeliveries(db: Db, webhookId?: number): Promise<Record<string, number>> {
  const rows = await select<DeliveryStatusCount>(
    db,
    `SELECT status, count(*)::int AS count FROM delivery WHERE ($1::int IS NULL OR webhook_id = $1) GROUP BY status`,
    [webhookId ?? null],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

export interface DeliverySummary {
  deliveryId: string;
  eventId: string;
  eventName: string;
  primaryKey: number;
  webhookId: number;
  status: string;
  /** Attempts in the current cycle. */
  attempts: number;
  createdAt: Date;
  completedAt: Date | null;
  /** The newest attempt's error (network error, or `HTTP <status>`); null when it succeeded or none was made. */
  lastError: string | null;
}

const DELIVERY_SUMMARY = `
  SELECT d.delivery_id::text AS "deliveryId", d.event_id AS "eventId", e.name AS "eventName", e.primary_key AS "primaryKey",
         d.webhook_id AS "webhookId", d.status, d.attempts, d.created_at AS "createdAt", d.completed_at AS "completedAt",
         (SELECT CASE WHEN a.http_status BETWEEN 200 AND 299 THEN NULL ELSE COALESCE(a.error, 'HTTP ' || a.http_status) END
          FROM delivery_attempt a WHERE a.delivery_id = d.delivery_id ORDER BY a.attempt_id DESC LIMIT 1) AS "lastError"
  FROM delivery d JOIN event e ON e.event_id = d.event_id`;

/** One delivery, or null. */
export async function findDelivery(db: Db, deliveryId: string): Promise<DeliverySummary | null> {
  const [row] = await select<DeliverySummary>(db, `${DELIVERY_SUMMARY} WHERE d.delivery_id = $1::bigint`, [deliveryId]);
  return row ?? null;
}

/** A webhook's deliveries, newest first; `failedOnly` lists those an operator may redeliver. */
export async function listDeliveries(db: Db, webhookId: number, options: { failedOnly?: boolean; limit?: number } = {}): Promise<DeliverySummary[]> {
  return select<DeliverySummary>(
    db,
    `${DELIVERY_SUMMARY} WHERE d.webhook_id = $1 AND ($2::bool IS NOT TRUE OR d.status = 'failed') ORDER BY d.delivery_id DESC LIMIT $3`,
    [webhookId, options.failedOnly ?? false, options.limit ?? 100],
  );
}

export interface Redelivered {
  deliveryId: string;
  eventId: string;
  /** pending: due now; held: its webhook is not Active, it goes out when the webhook is Active again. */
  status: 'pending' | 'held';
}

/**
 * Redelivery (SPEC 5: a failed delivery "can be redelivered by an operator"): a failed delivery
 * of a webhook that still exists starts a fresh attempt cycle: same event (so the same EventId),
 * attempts counted from 0 again (X-SuperOffice-Retry starts at 0), due now. Its earlier attempts
 * stay in the attempt log. Deliveries of deleted webhooks, and any not failed, are left alone.
 */
function redeliverSql(where: string): string {
  return `WITH picked AS (
       SELECT d.delivery_id FROM delivery d WHERE d.status = 'failed' AND ${where}
       ORDER BY d.delivery_id LIMIT $LIMIT FOR UPDATE OF d
     ), redelivered AS (
       UPDATE delivery d SET status = CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END,
         attempts = 0, run_at = now(), locked_by = NULL, locked_until = NULL, completed_at = NULL
       FROM picked p, webhook w WHERE d.delivery_id = p.delivery_id AND w.webhook_id = d.webhook_id
       RETURNING d.delivery_id, d.event_id, d.status
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM redelivered WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT delivery_id::text AS "deliveryId", event_id AS "eventId", status, (SELECT count(*) FROM wake)::int AS woken
     FROM redelivered ORDER BY delivery_id`;
}

/** Redelivers the given deliveries (those that qualify, see redeliverSql). */
export async function redeliverDeliveries(db: Db, deliveryIds: string[]): Promise<Redelivered[]> {
  if (deliveryIds.length === 0) return [];
  const rows = await select<Redelivered & { woken: number }>(db, redeliverSql('d.delivery_id = ANY($1::bigint[])').replace('$LIMIT', '$2'), [deliveryIds, deliveryIds.length]);
  return rows.map(({ deliveryId, eventId, status }) => ({ deliveryId, eventId, status }));
}

/**
 * One batch of a webhook's failed deliveries created at or after `since`, in delivery id order
 * after `afterDeliveryId` (a cursor, so a delivery that fails again meanwhile is not taken twice).
 */
export async function redeliverFailedSince(db: Db, webhookId: number, since: Date, afterDeliveryId: string, limit: number): Promise<Redelivered[]> {
  const rows = await select<Redelivered & { woken: number }>(
    db,
    redeliverSql('d.webhook_id = $1 AND d.created_at >= $2 AND d.delivery_id > $3::bigint').replace('$LIMIT', '$4'),
    [webhookId, since.toISOString(), afterDeliveryId, limit],
  );
  return rows.map(({ deliveryId, eventId, status }) => ({ deliveryId, eventId, status }));
}
