/** Deliveries: settling, holding and releasing, redelivery, and what operators read. */
import { type Db, select, WAKE_CHANNEL } from './statements';

/** A webhook that is not Active keeps its pending deliveries, held, until it is Active again. */
export async function holdOpenDeliveries(db: Db, webhookIds: number[]): Promise<void> {
  if (webhookIds.length === 0) return;
  await db.query(`UPDATE delivery SET status = 'held' WHERE webhook_id = ANY($1::int[]) AND status = 'pending'`, [webhookIds]);
}

/**
 * Held deliveries resume, due now; one still claimed by a worker stays its until settled, so it is
 * never sent twice at once. A probe pause ends: the webhook was just verified.
 */
export async function releaseHeldDeliveries(db: Db, webhookId: number): Promise<void> {
  await db.query(
    `WITH released AS (
       UPDATE delivery SET status = 'pending', run_at = CASE WHEN locked_by IS NULL THEN now() ELSE run_at END
       WHERE webhook_id = $1 AND status = 'held'
       RETURNING 1
     ), unpaused AS (
       UPDATE webhook SET next_probe_at = NULL WHERE webhook_id = $1 AND next_probe_at IS NOT NULL RETURNING 1
     )
     SELECT pg_notify('${WAKE_CHANNEL}', ''), (SELECT count(*) FROM unpaused) FROM (SELECT 1 FROM released LIMIT 1) any_released`,
    [webhookId],
  );
}

/** DeleteWebhook: its open deliveries stop; they and their attempts stay as a log (db/deliveryRows.ts, so core need not import delivery). */
export { cancelOpenDeliveries } from '../../db/deliveryRows';

/** succeeded / failed: done. retry: the attempt failed, due again after delayMs. */
export type SettleStep = 'succeeded' | 'failed' | 'retry';

export interface Settlement {
  deliveryId: string;
  step: SettleStep;
  delayMs: number;
}

/**
 * Releases this worker's claims with their outcome (the claim counted the attempt). A retry of a webhook that is no longer
 * Active is held; of a deleted webhook, cancelled. Claims this worker lost (lease expired and
 * re-taken, or cancelled) are left alone.
 */
export async function settleDeliveries(db: Db, workerId: string, settlements: Settlement[]): Promise<void> {
  if (settlements.length === 0) return;
  await db.query(
    `UPDATE delivery d SET
       status = CASE WHEN s.step = 'retry'
                     THEN CASE COALESCE((SELECT w.state FROM webhook w WHERE w.webhook_id = d.webhook_id), -1)
                            WHEN 1 THEN 'pending' WHEN -1 THEN 'cancelled' ELSE 'held' END
                     ELSE s.step END,
       run_at = now() + s.delay_ms * interval '1 millisecond',
       locked_by = NULL,
       locked_until = NULL,
       completed_at = CASE WHEN s.step IN ('succeeded', 'failed') THEN now() END
     FROM unnest($2::bigint[], $3::text[], $4::int[]) AS s(delivery_id, step, delay_ms)
     WHERE d.delivery_id = s.delivery_id AND d.locked_by = $1 AND d.status IN ('pending', 'held')`,
    [workerId, settlements.map((s) => s.deliveryId), settlements.map((s) => s.step), settlements.map((s) => s.delayMs)],
  );
}

/** Held deliveries per webhook (waiting for the webhook to be Active again); webhooks with none are absent. */
export async function heldCounts(db: Db, webhookIds: number[]): Promise<Map<number, number>> {
  if (webhookIds.length === 0) return new Map();
  const rows = await select<{ webhookId: number; held: number }>(
    db,
    `SELECT webhook_id AS "webhookId", count(*)::int AS held FROM delivery WHERE webhook_id = ANY($1::int[]) AND status = 'held' GROUP BY webhook_id`,
    [webhookIds],
  );
  return new Map(rows.map((r) => [r.webhookId, r.held]));
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
         attempts = 0, cycle = d.cycle + 1, run_at = now(), locked_by = NULL, locked_until = NULL, completed_at = NULL
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
