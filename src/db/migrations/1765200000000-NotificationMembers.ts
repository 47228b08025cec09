import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * NetServer 12.4's notification members on the webhook (ErrorEmails, ErrorAssociates, NotifyVia,
 * NotifyWhen), and the notification outbox: a notification is written in the same transaction
 * as the state change that causes it, and the workers send it (with retries) from there, so a
 * crash between the two loses none. InApp notifications stay here to be listed and read.
 */
export class NotificationMembers1765200000000 implements MigrationInterface {
  name = 'NotificationMembers1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook
      ADD COLUMN error_emails text[] NOT NULL DEFAULT '{}',
      ADD COLUMN error_associates jsonb NOT NULL DEFAULT '[]',
      ADD COLUMN notify_via smallint NOT NULL DEFAULT 0,
      ADD COLUMN notify_when smallint NOT NULL DEFAULT 0`);
    await q.query(`CREATE TABLE webhook_notification (
      notification_id bigserial PRIMARY KEY,
      webhook_id integer NOT NULL,
      webhook_name varchar(400),
      application_hash char(64),
      reason varchar(20) NOT NULL,
      channel varchar(10) NOT NULL,
      recipients text[] NOT NULL DEFAULT '{}',
      associate_ids integer[] NOT NULL DEFAULT '{}',
      subject text NOT NULL,
      body text NOT NULL,
      status varchar(10) NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz,
      read_at timestamptz
    )`);
    await q.query(`CREATE INDEX webhook_notification_due ON webhook_notification (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX webhook_notification_inapp ON webhook_notification (created_at DESC) WHERE channel = 'InApp'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_notification`);
    await q.query(`ALTER TABLE webhook DROP COLUMN error_emails, DROP COLUMN error_associates, DROP COLUMN notify_via, DROP COLUMN notify_when`);
  }
}
