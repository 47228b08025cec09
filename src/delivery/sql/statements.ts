/**
 * What every delivery statement shares: how it is sent (a named prepared statement, planned once
 * per connection) and the channel that wakes listening workers. The statements themselves are
 * one named function each, grouped by the table they write (as graphile-worker's src/sql), and
 * work on batches, so a worker makes a few round trips per batch of deliveries, not per delivery.
 */
import type { DataSource, EntityManager } from 'typeorm';
import { preparedOn, statementName } from '../../db/preparedQuery';

export type Db = DataSource | EntityManager;

/** The channel a PostgreSQL server uses to wake listening workers when deliveries become due. */
export const WAKE_CHANNEL = 'webhook_delivery';

// TypeORM returns [rows, rowCount] for a top-level UPDATE/DELETE; every statement here with
// results is a SELECT over CTEs so that rows come back as rows.
export async function select<T>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  // A named prepared statement: PostgreSQL plans it once per connection. Planning the signal's
  // and the claim's CTEs took longer than running them (0.7 ms a signal).
  return preparedOn<T>(db, statementName('delivery', sql), sql, params);
}
