/**
 * The read side of the delivery log (the read API, `deliveries show` and the console): a
 * webhook's deliveries page by page, one delivery's attempts, and attempt statistics over a
 * window. Read-only SQL; the delivery engine's writes live in delivery/sql/.
 */
import type { DataSource, EntityManager } from 'typeorm';

type Db = DataSource | EntityManager;

export type DeliveryStatusName = 'pending' | 'held' | 'succeeded' | 'failed' | 'cancelled';
export const DELIVERY_STATUS_NAMES: readonly DeliveryStatusName[] = ['pending', 'held', 'succeeded', 'failed', 'cancelled'];

export interface DeliveryLogRow {
  deliveryId: string;
  webhookId: number;
  eventId: string;
  eventName: string;
  primaryKey: number;
  status: DeliveryStatusName;
  cycle: number;
  /** Attempts in the current cycle. */
  attempts: number;
  createdAt: Date;
  completedAt: Date | null;
  /** When it is due next (pending), or its lease expiry while a worker holds it. */
  runAt: Date;
  /** The newest attempt's error: the network error or `HTTP <status>`; null when it succeeded, is unsettled or none was made. */
  lastError: string | null;
}

export interface AttemptLogRow {
  attemptId: string;
  cycle: number;
  attemptNumber: number;
  attemptedAt: Date;
  /** null: a network error, or an attempt still in flight (status unknown). */
  httpStatus: number | null;
  /** The attempt log's result: success, failure or gone; null while unsettled (or never settled: its worker died). */
  settled: 'success' | 'failure' | 'gone' | null;
  /** null while unsettled. */
  latencyMs: number | null;
  error: string | null;
  responseBody: string | null;
}

const DELIVERY_ROW = `
  SELECT d.delivery_id::text AS "deliveryId", d.webhook_id AS "webhookId", d.event_id AS "eventId", e.name AS "eventName",
         e.primary_key AS "primaryKey", d.status, d.cycle, d.attempts, d.created_at AS "createdAt", d.completed_at AS "completedAt",
         d.run_at AS "runAt",
         (SELECT CASE WHEN a.outcome = 'success' OR (a.outcome IS NULL AND a.error IS NULL) THEN NULL
                      ELSE COALESCE(a.error, 'HTTP ' || a.http_status) END
          FROM delivery_attempt a WHERE a.delivery_id = d.delivery_id ORDER BY a.attempt_id DESC LIMIT 1) AS "lastError"
  FROM delivery d JOIN event e ON e.event_id = d.event_id`;

export interface DeliveryPageQuery {
  status: DeliveryStatusName | null;
  /** Created at or after. */
  since: Date | null;
  /** Created before. */
  until: Date | null;
  /** Only deliveries older than this one (the previous page's last delivery id). */
  beforeDeliveryId: string | null;
  limit: number;
}

/** One page of a webhook's deliveries, newest first (delivery id descending). */
export async function pageWebhookDeliveries(db: Db, webhookId: number, query: DeliveryPageQuery): Promise<DeliveryLogRow[]> {
  return (await db.query(
    `${DELIVERY_ROW}
     WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2) AND ($3::timestamptz IS NULL OR d.created_at >= $3)
       AND ($4::timestamptz IS NULL OR d.created_at < $4) AND ($5::bigint IS NULL OR d.delivery_id < $5)
     ORDER BY d.delivery_id DESC LIMIT $6`,
    [webhookId, query.status, query.since?.toISOString() ?? null, query.until?.toISOString() ?? null, query.beforeDeliveryId, query.limit],
  )) as DeliveryLogRow[];
}

export async function findDeliveryLogRow(db: Db, deliveryId: string): Promise<DeliveryLogRow | null> {
  const [row] = (await db.query(`${DELIVERY_ROW} WHERE d.delivery_id = $1::bigint`, [deliveryId])) as DeliveryLogRow[];
  return row ?? null;
}

/** A delivery's attempts in the order they were made: cycle by cycle, attempt by attempt. */
export async function attemptsOfDelivery(db: Db, deliveryId: string): Promise<AttemptLogRow[]> {
  return (await db.query(
    `SELECT attempt_id::text AS "attemptId", cycle, attempt_number AS "attemptNumber", attempted_at AS "attemptedAt",
            http_status AS "httpStatus", outcome AS settled, latency_ms AS "latencyMs", error, response_body AS "responseBody"
     FROM delivery_attempt WHERE delivery_id = $1::bigint ORDER BY cycle, attempt_number, attempt_id`,
    [deliveryId],
  )) as AttemptLogRow[];
}

export interface AttemptCounts {
  attempts: number;
  successes: number;
  failures: number;
  /** null when no attempt in the window has a known outcome. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
}

export interface AttemptBucket extends AttemptCounts {
  start: Date;
}

// An unsettled attempt (outcome null: in flight, or its worker died) is counted, neither success nor failure, no latency.
const COUNTS = `count(*)::int AS attempts,
  (count(*) FILTER (WHERE a.outcome = 'success'))::int AS successes,
  (count(*) FILTER (WHERE a.outcome IN ('failure', 'gone')))::int AS failures,
  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE a.outcome IS NOT NULL))::int AS "latencyP50Ms",
  round(percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE a.outcome IS NOT NULL))::int AS "latencyP95Ms"`;

/**
 * A webhook's attempts made in [since, until): totals and one bucket per `bucketSeconds` from
 * `since` (every bucket present, empty ones with zeros).
 */
export async function attemptStatistics(db: Db, webhookId: number, since: Date, until: Date, bucketSeconds: number): Promise<{ totals: AttemptCounts; buckets: AttemptBucket[] }> {
  const params = [webhookId, since.toISOString(), until.toISOString(), bucketSeconds];
  const [totals] = (await db.query(
    `SELECT ${COUNTS} FROM delivery_attempt a WHERE a.webhook_id = $1 AND a.attempted_at >= $2::timestamptz AND a.attempted_at < $3::timestamptz AND $4::int > 0`,
    params,
  )) as AttemptCounts[];
  const buckets = (await db.query(
    `WITH slots AS (
       SELECT generate_series(0, ceil(extract(epoch FROM $3::timestamptz - $2::timestamptz) / $4::int)::int - 1) AS slot
     ), counted AS (
       SELECT floor(extract(epoch FROM a.attempted_at - $2::timestamptz) / $4::int)::int AS slot, ${COUNTS}
       FROM delivery_attempt a WHERE a.webhook_id = $1 AND a.attempted_at >= $2::timestamptz AND a.attempted_at < $3::timestamptz
       GROUP BY 1
     )
     SELECT $2::timestamptz + s.slot * $4::int * interval '1 second' AS start,
            COALESCE(c.attempts, 0) AS attempts, COALESCE(c.successes, 0) AS successes, COALESCE(c.failures, 0) AS failures,
            c."latencyP50Ms", c."latencyP95Ms"
     FROM slots s LEFT JOIN counted c ON c.slot = s.slot ORDER BY s.slot`,
    params,
  )) as AttemptBucket[];
  return { totals, buckets };
}
