import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The webhook_changed notification names the webhook that changed: its id as the payload ('' for
 * a TRUNCATE, which changes them all). A read cache (db/webhookReadCache.ts) then forgets that
 * webhook and the lists, not every webhook. Every record of deliveries changes its webhooks'
 * counters, so a service that delivers all the time is notified many times a second; with one
 * empty payload each of them emptied the whole cache.
 *
 * PostgreSQL still folds a transaction's identical notifications: a transaction sends one per
 * webhook it changed (a record of deliveries: one per webhook in the batch).
 */
export class WebhookChangedById1766000000000 implements MigrationInterface {
  name = 'WebhookChangedById1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(WEBHOOK_CHANGED_BY_ID);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE OR REPLACE FUNCTION webhook_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('webhook_changed', '');
        RETURN NULL;
      END $$`);
  }
}

/** The trigger function as this migration leaves it (later migrations change it from this text). */
export const WEBHOOK_CHANGED_BY_ID = `CREATE OR REPLACE FUNCTION webhook_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_LEVEL = 'ROW' THEN
          PERFORM pg_notify('webhook_changed', (CASE WHEN TG_OP = 'DELETE' THEN OLD.webhook_id ELSE NEW.webhook_id END)::text);
        ELSE
          PERFORM pg_notify('webhook_changed', '');
        END IF;
        RETURN NULL;
      END $$`;
