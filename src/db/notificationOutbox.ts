import type { DataSource, EntityManager } from 'typeorm';

/**
 * The webhook_notification table (migration NotificationMembers1765200000000): the outbox of
 * state-change notifications. Written in the transaction of the state change; Email rows are
 * claimed by the workers (SKIP LOCKED and a lease, like deliveries) and sent with retries; InApp
 * rows stay to be listed. The only place its SQL lives.
 */

type Db = DataSource | EntityManager;

export type NotificationReason = 'FirstFailure' | 'Disabling';
export type NotificationChannel = 'Email' | 'InApp';

export interface NewNotification {
  webhookId: number;
  webhookName: string | null;
  application: string | null;
  reason: NotificationReason;
  channel: NotificationChannel;
  recipients: string[];
  associateIds: number[];
  subject: string;
  body: string;
}

export interface StoredNotification extends NewNotification {
  notificationId: string;
  attempts: number;
  createdAt: Date;
  readAt: Date | null;
}

const COLUMNS = `notification_id::text AS "notificationId", webhook_id AS "webhookId", webhook_name AS "webhookName",
  application_hash AS "application", reason, channel, recipients, associate_ids AS "associateIds", subject, body,
  attempts, created_at AS "createdAt", read_at AS "readAt"`;

export async function insertNotifications(db: Db, notifications: NewNotification[]): Promise<void> {
  if (notifications.length === 0) return;
  const n = notifications;
  await db.query(
    `INSERT INTO webhook_notification (webhook_id, webhook_name, application_hash, reason, channel, recipients, associate_ids, subject, body, status)
     SELECT x.webhook_id, x.webhook_name, x.application_hash, x.reason, x.channel,
            ARRAY(SELECT jsonb_array_elements_text(x.recipients)), ARRAY(SELECT jsonb_array_elements_text(x.associate_ids)::int),
            x.subject, x.body, CASE WHEN x.channel = 'Email' THEN 'pending' ELSE 'stored' END
     FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::text[], $9::text[])
       AS x(webhook_id, webhook_name, application_hash, reason, channel, recipients, associate_ids, subject, body)`,
    [
      n.map((x) => x.webhookId), n.map((x) => x.webhookName), n.map((x) => x.application), n.map((x) => x.reason), n.map((x) => x.channel),
      n.map((x) => JSON.stringify(x.recipients)), n.map((x) => JSON.stringify(x.associateIds)), n.map((x) => x.subject), n.map((x) => x.body),
    ],
  );
}

/** Due Email notifications, leased to the caller for `leaseMs` (a dead sender's claims come back after it). */
export async function claimDueNotifications(db: Db, limit: number, leaseMs: number): Promise<StoredNotification[]> {
  // Wrapped in a CTE: TypeORM answers a bare UPDATE ... RETURNING as [rows, count].
  return db.query(
    `WITH claimed AS (
       UPDATE webhook_notification SET locked_until = now() + make_interval(secs => $2::double precision / 1000), attempts = attempts + 1
       WHERE notification_id IN (
         SELECT notification_id FROM webhook_notification
         WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
         ORDER BY notification_id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING *
     )
     SELECT ${COLUMNS} FROM claimed ORDER BY notification_id`,
    [limit, leaseMs],
  );
}

export async function markNotificationSent(db: Db, notificationId: string): Promise<void> {
  await db.query(`UPDATE webhook_notification SET status = 'sent', sent_at = now(), locked_until = NULL, last_error = NULL WHERE notification_id = $1`, [notificationId]);
}

/** A failed send: due again after `delayMs`, or given up (`failed`, kept with its error) when delayMs is null. */
export async function retryNotification(db: Db, notificationId: string, delayMs: number | null, error: string): Promise<void> {
  await db.query(
    `UPDATE webhook_notification SET locked_until = NULL, last_error = $3,
       status = CASE WHEN $2::int IS NULL THEN 'failed' ELSE status END,
       next_attempt_at = now() + make_interval(secs => COALESCE($2::int, 0)::double precision / 1000)
     WHERE notification_id = $1`,
    [notificationId, delayMs, error.slice(0, 2000)],
  );
}

/**
 * InApp notifications a caller may see, newest first: its application's (all for an operator),
 * addressed to no associate in particular or to the caller's. The listed ones are marked read;
 * each row says whether it had been read before.
 */
export async function readInAppNotifications(db: Db, application: string | null, associateId: number, limit: number): Promise<StoredNotification[]> {
  return db.query(
    `WITH listed AS (
       SELECT notification_id FROM webhook_notification
       WHERE channel = 'InApp' AND ($1::text IS NULL OR application_hash = $1)
         AND (cardinality(associate_ids) = 0 OR $2 = ANY(associate_ids))
       ORDER BY created_at DESC, notification_id DESC LIMIT $3
     ), marked AS (
       UPDATE webhook_notification n SET read_at = COALESCE(n.read_at, now()) FROM listed l
       WHERE n.notification_id = l.notification_id
       RETURNING n.notification_id
     )
     SELECT ${COLUMNS} FROM webhook_notification WHERE notification_id IN (SELECT notification_id FROM listed)
     ORDER BY created_at DESC, notification_id DESC`,
    [application, associateId, limit],
  );
}
