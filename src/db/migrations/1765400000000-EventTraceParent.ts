import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The W3C `traceparent` of the SignalEvent span (src/tracing.ts), so a delivery attempt sent
 * later by any worker process joins the signal's trace. NULL when tracing was off.
 */
export class EventTraceParent1765400000000 implements MigrationInterface {
  name = 'EventTraceParent1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE event ADD COLUMN trace_parent varchar(55)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE event DROP COLUMN trace_parent`);
  }
}
