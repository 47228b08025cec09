import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes shaped to the claim as it is now (issue 11, measured with pg_stat_statements under a
 * drain of 10,000 deliveries).
 *
 * - `delivery_ready` gains delivery_id: a claim takes a webhook's due deliveries `ORDER BY run_at,
 *   delivery_id`, and a batch of signals shares one run_at (their transaction's now()). Without the
 *   tie-breaker in the index PostgreSQL read every due row and sorted them to take 8; it preferred
 *   `delivery_due` and filtered out the other webhooks' rows (288 of 321 read, thrown away).
 * - `delivery_leased` goes: no statement reads it since claims follow their worker's heartbeat
 *   (LiveClaims1765000000000 counts live claims by locked_by), yet every claim and settlement wrote
 *   an entry to it for each delivery.
 */
export class ClaimIndexes1765800000000 implements MigrationInterface {
  name = 'ClaimIndexes1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_leased`);
    await q.query(`DROP INDEX delivery_ready`);
    await q.query(`CREATE INDEX delivery_ready ON delivery (webhook_id, run_at, delivery_id) WHERE status = 'pending' AND locked_by IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_ready`);
    await q.query(`CREATE INDEX delivery_ready ON delivery (webhook_id, run_at) WHERE status = 'pending' AND locked_by IS NULL`);
    await q.query(`CREATE INDEX delivery_leased ON delivery (webhook_id, locked_until) WHERE locked_until IS NOT NULL AND status IN ('pending', 'held')`);
  }
}
