import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Plans that stay right as the delivery tables grow (issue 11: measured with pg_stat_statements
 * and auto_explain under the open-loop bench).
 *
 * - The queue tables are analyzed (and vacuumed) after 2% of their rows changed rather than 10-20%.
 *   PL/pgSQL (claim_deliveries) keeps a generic plan per statement and connection, made when it
 *   first ran: on a new database a sequential scan of `delivery` and `event`, tiny then, kept
 *   while they grew (7 ms a claim at 2,000 rows) until an ANALYZE invalidates it. (Turning
 *   sequential scans off in the function was tried: its scan of the Active webhooks then took
 *   110 ms a claim.)
 * - The events GIN index drops its pending list (fastupdate off). With it on, new entries wait in
 *   an unsorted list that every subscription lookup (every SignalEvent) reads through until a
 *   vacuum merges it: 0.3 ms for a lookup that found nothing after a few thousand saves.
 * - Unsettled attempts get a small index of their own: the heartbeat (every second, every worker)
 *   marks the attempts of released claims "result unknown", and without it PostgreSQL scanned the
 *   whole attempt log to find none (1 ms at 2,500 attempts, growing with the log).
 */
export class StablePlans1765600000000 implements MigrationInterface {
  name = 'StablePlans1765600000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['delivery', 'delivery_attempt', 'event']) {
      await q.query(`ALTER TABLE ${table} SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.02)`);
    }
    await q.query(`ALTER INDEX webhook_events_gin SET (fastupdate = off)`);
    // Entries already waiting are merged now, not at the next vacuum.
    await q.query(`SELECT gin_clean_pending_list('webhook_events_gin'::regclass)`);
    await q.query(`CREATE INDEX delivery_attempt_unsettled ON delivery_attempt (delivery_id) WHERE outcome IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX delivery_attempt_unsettled`);
    await q.query(`ALTER INDEX webhook_events_gin RESET (fastupdate)`);
    for (const table of ['delivery', 'delivery_attempt', 'event']) {
      await q.query(`ALTER TABLE ${table} RESET (autovacuum_analyze_scale_factor, autovacuum_vacuum_scale_factor)`);
    }
  }
}
