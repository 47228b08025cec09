/** Retention: purging finished deliveries, their attempts and old events in batches (delivery/retention.ts runs it). */
import { type Db, select } from './statements';

export interface RetentionCutoffs {
  /** Events, succeeded and cancelled deliveries, attempts: kept this many days. */
  retentionDays: number;
  /** Failed deliveries and their attempts: kept this many days. */
  failedRetentionDays: number;
}

// $1 = retentionDays, $2 = failedRetentionDays. Pending and held deliveries are never purgeable.
const PURGEABLE_DELIVERY = `(d.status IN ('succeeded', 'cancelled') AND COALESCE(d.completed_at, d.created_at) < now() - $1::int * interval '1 day'
   OR d.status = 'failed' AND COALESCE(d.completed_at, d.created_at) < now() - $2::int * interval '1 day')`;
// An attempt goes with its retention: not while its delivery is open, nor while a failed one is kept.
const PURGEABLE_ATTEMPT = `a.attempted_at < now() - $1::int * interval '1 day' AND NOT EXISTS (
     SELECT 1 FROM delivery d WHERE d.delivery_id = a.delivery_id
       AND (d.status IN ('pending', 'held') OR d.status = 'failed' AND a.attempted_at >= now() - $2::int * interval '1 day'))`;
const OLD_EVENT = `e.signalled_at < now() - $1::int * interval '1 day'`;
// Notifications (emails sent or given up, in-app ones stored) go after RETENTION_DAYS; an email still pending never.
const PURGEABLE_NOTIFICATION = `n.status <> 'pending' AND n.created_at < now() - $1::int * interval '1 day'`;

/**
 * One batch of each purge: at most `limit` rows, locked with SKIP LOCKED (a row another
 * transaction holds is left for the next run) and deleted in one short statement.
 */
export async function purgeAttempts(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(db, `SELECT a.attempt_id AS id FROM delivery_attempt a WHERE ${PURGEABLE_ATTEMPT}`, 'delivery_attempt', 'attempt_id', cutoffs, limit);
}

/** Finished deliveries past their retention (failed ones: FAILED_RETENTION_DAYS); purge their attempts first. */
export async function purgeDeliveries(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(db, `SELECT d.delivery_id AS id FROM delivery d WHERE ${PURGEABLE_DELIVERY}`, 'delivery', 'delivery_id', cutoffs, limit);
}

/** Old events no delivery refers to any more (so never those of pending, held or kept failed deliveries). */
export async function purgeEvents(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(
    db,
    `SELECT e.event_id AS id FROM event e WHERE ${OLD_EVENT} AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event_id = e.event_id)`,
    'event',
    'event_id',
    cutoffs,
    limit,
  );
}

/** Old notifications (webhook_notification): emails sent or given up on, in-app notifications stored. */
export async function purgeNotifications(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(db, `SELECT n.notification_id AS id FROM webhook_notification n WHERE ${PURGEABLE_NOTIFICATION}`, 'webhook_notification', 'notification_id', cutoffs, limit);
}

async function purgeBatch(db: Db, pick: string, table: string, key: string, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  const [row] = await select<{ purged: number }>(
    db,
    // typed: each parameter is typed here, whether the pick uses it or not (events do not use $2).
    `WITH typed AS (SELECT $1::int, $2::int, $3::int),
     doomed AS (${pick} LIMIT $3 FOR UPDATE SKIP LOCKED),
     purged AS (DELETE FROM ${table} t USING doomed WHERE t.${key} = doomed.id RETURNING 1)
     SELECT count(*)::int AS purged FROM purged`,
    [cutoffs.retentionDays, cutoffs.failedRetentionDays, limit],
  );
  return row.purged;
}

export interface PurgeCounts {
  events: number;
  deliveries: number;
  attempts: number;
  notifications: number;
}

/** What a purge would delete now (`webhook-agent purge --dry-run`): the same rules, counted. */
export async function countPurgeable(db: Db, cutoffs: RetentionCutoffs): Promise<PurgeCounts> {
  const [row] = await select<PurgeCounts>(
    db,
    `SELECT (SELECT count(*) FROM delivery_attempt a WHERE ${PURGEABLE_ATTEMPT})::int AS attempts,
            (SELECT count(*) FROM delivery d WHERE ${PURGEABLE_DELIVERY})::int AS deliveries,
            (SELECT count(*) FROM event e WHERE ${OLD_EVENT}
               AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event_id = e.event_id AND NOT ${PURGEABLE_DELIVERY}))::int AS events,
            (SELECT count(*) FROM webhook_notification n WHERE ${PURGEABLE_NOTIFICATION})::int AS notifications`,
    [cutoffs.retentionDays, cutoffs.failedRetentionDays],
  );
  return row;
}
