import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every change to a webhook row announces itself on the WEBHOOK_CHANGED channel when its
 * transaction commits, whoever wrote it: a door, a worker's counters, a secret rotation, an
 * operator's SQL. Each process's read cache (db/webhookReadCache.ts) LISTENs and forgets what it
 * holds, so a cached read lags a commit by the notification's trip, not by a time-to-live.
 *
 * - A row trigger, not a statement trigger: a statement that matched no row (the claim's
 *   `UPDATE webhook SET next_probe_at = NULL ... AND next_probe_at IS NOT NULL`) must not notify.
 *   A NOTIFY serialises its transaction's commit behind a cluster-wide lock (delivery/
 *   wakeListeners.ts), so only transactions that really changed a webhook may take it.
 * - One empty payload: PostgreSQL folds identical notifications of one transaction into one, so a
 *   transaction that changed a thousand webhooks sends one, and a cache forgets everything.
 * - TRUNCATE has no row triggers; a statement trigger covers it.
 */
export class WebhookChangedNotify1765900000000 implements MigrationInterface {
  name = 'WebhookChangedNotify1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION webhook_changed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('webhook_changed', '');
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER webhook_changed AFTER INSERT OR UPDATE OR DELETE ON webhook FOR EACH ROW EXECUTE FUNCTION webhook_changed_notify()`);
    await q.query(`CREATE TRIGGER webhook_truncated AFTER TRUNCATE ON webhook FOR EACH STATEMENT EXECUTE FUNCTION webhook_changed_notify()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER webhook_truncated ON webhook`);
    await q.query(`DROP TRIGGER webhook_changed ON webhook`);
    await q.query(`DROP FUNCTION webhook_changed_notify()`);
  }
}
