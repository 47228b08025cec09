import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Redelivery cycles: a delivery counts its attempt cycles (1 for the first, +1 per redelivery)
 * and each attempt records the cycle it belongs to, so a redelivered delivery's attempts are told
 * apart. Plus the index behind a webhook's deliveries, newest first (the read API and console).
 */
export class AttemptCycle1765300000000 implements MigrationInterface {
  name = 'AttemptCycle1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE delivery ADD COLUMN cycle integer NOT NULL DEFAULT 1`);
    await q.query(`ALTER TABLE delivery_attempt ADD COLUMN cycle integer NOT NULL DEFAULT 1`);
    await q.query(`CREATE INDEX delivery_by_webhook ON delivery (webhook_id, delivery_id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_by_webhook`);
    await q.query(`ALTER TABLE delivery_attempt DROP COLUMN cycle`);
    await q.query(`ALTER TABLE delivery DROP COLUMN cycle`);
  }
}
