import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two fewer index entries written per claim, one fewer per queued delivery (issue 11).
 *
 * A claim updates its delivery's locked_by and run_at, so it is never a HOT update: PostgreSQL
 * adds an entry for the new row version to every index whose predicate the row still meets. Two of
 * those indexes took an entry per claim for nothing:
 *
 * - `delivery_pending_order` (webhook_id, delivery_id) of pending deliveries, read only to find an
 *   ordered or probing webhook's head. `delivery_open_by_webhook` (webhook_id) of pending and held
 *   deliveries gains delivery_id and serves that too (a webhook whose deliveries are held is not
 *   claimed), besides counting live claims, holding, releasing and cancelling a webhook's deliveries.
 * - `delivery_due` (run_at) of pending deliveries, read only for the next due time of an unclaimed
 *   one (claims.ts nextDueAt): it now holds unclaimed ones alone, so a claim leaves it.
 *
 * Measured with bench/claimCost.ts (deep queue of 10,000, claims of 64, alternating builds):
 * PostgreSQL's CPU per delivery 104 and 105 µs before, 86 and 86 µs after; deliveries/s 8,662
 * and 8,207 before, 10,235 and 10,342 after.
 */
export class FewerDeliveryIndexes1766200000000 implements MigrationInterface {
  name = 'FewerDeliveryIndexes1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX delivery_open_by_webhook_order ON delivery (webhook_id, delivery_id) WHERE status IN ('pending', 'held')`);
    await q.query(`DROP INDEX delivery_open_by_webhook`);
    await q.query(`ALTER INDEX delivery_open_by_webhook_order RENAME TO delivery_open_by_webhook`);
    await q.query(`DROP INDEX delivery_pending_order`);
    await q.query(`DROP INDEX delivery_due`);
    await q.query(`CREATE INDEX delivery_due ON delivery (run_at) WHERE status = 'pending' AND locked_by IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_due`);
    await q.query(`CREATE INDEX delivery_due ON delivery (run_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX delivery_pending_order ON delivery (webhook_id, delivery_id) WHERE status = 'pending'`);
    await q.query(`DROP INDEX delivery_open_by_webhook`);
    await q.query(`CREATE INDEX delivery_open_by_webhook ON delivery (webhook_id) WHERE status IN ('pending', 'held')`);
  }
}
