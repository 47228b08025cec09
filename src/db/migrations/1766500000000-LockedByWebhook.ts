import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The index of claimed deliveries is keyed by webhook, not by worker. claim_deliveries counts a
 * webhook's live claims for every webhook it visits; through `delivery_locked_by` (locked_by)
 * that count read every claimed delivery of every webhook and threw the others' away, so a claim
 * cost webhooks visited x deliveries in flight. `delivery_locked` (webhook_id) reads just that
 * webhook's. The index holds the same rows (claimed ones only), so it costs writes exactly what
 * the old one did; the statements that look for a worker's claims (release, heartbeat) read all
 * of it, as few rows as before.
 */
export class LockedByWebhook1766500000000 implements MigrationInterface {
  name = 'LockedByWebhook1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX delivery_locked ON delivery (webhook_id) WHERE locked_by IS NOT NULL`);
    await q.query(`DROP INDEX delivery_locked_by`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX delivery_locked_by ON delivery (locked_by) WHERE locked_by IS NOT NULL`);
    await q.query(`DROP INDEX delivery_locked`);
  }
}
