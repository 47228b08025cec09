import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Settling an attempt (its outcome, status, latency and answer written after the send) becomes a
 * HOT update again: PostgreSQL rewrites no index entry for an update that changes no indexed
 * column, and leaves room on the page for it.
 *
 * - `delivery_attempt_unsettled` (StablePlans1765600000000) indexed `outcome IS NULL` for the
 *   heartbeat's marking of released claims' attempts. Its predicate column made every settlement
 *   a non-HOT update, an insert into each of the table's indexes per attempt (bench/claimCost.ts:
 *   0 of 3,552 settlements HOT with it, all of them without). The heartbeat no longer needs it:
 *   both statements that mark attempts "result unknown" read the attempt log only when they
 *   released something, and then by delivery (delivery_attempt_delivery).
 * - fillfactor 80 keeps a fifth of each new page free, so the settled row fits beside the one it
 *   replaces (an attempt grows when its answer and latency are written).
 */
export class HotAttemptSettlement1765700000000 implements MigrationInterface {
  name = 'HotAttemptSettlement1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_attempt_unsettled`);
    await q.query(`ALTER TABLE delivery_attempt SET (fillfactor = 80)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE delivery_attempt RESET (fillfactor)`);
    await q.query(`CREATE INDEX delivery_attempt_unsettled ON delivery_attempt (delivery_id) WHERE outcome IS NULL`);
  }
}
