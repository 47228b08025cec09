/**
 * What every delivery statement shares: how it is sent (a named prepared statement, planned once
 * per connection) and the channel that wakes listening workers. The statements themselves are
 * one named function each, grouped by the table they write (as graphile-worker's src/sql), and
 * work on batches, so a worker makes a few round trips per batch of deliveries, not per delivery.
 */
import type { DataSource, EntityManager } from 'typeorm';
import { preparedOn, statementName } from '../../db/preparedQuery';

export type Db = DataSource | EntityManager;

/**
 * A select-list item that makes the statement's own transaction commit without waiting for its
 * WAL flush (set_config with is_local: it ends with that transaction, never reaching the pooled
 * session's next statement). Only for a wake-up NOTIFY (it changes no data), the claim and the
 * record of successes. If the database crashes in the next fraction of a second and loses a
 * claim's or a record's commit, the delivery is simply due again and sent again, which
 * at-least-once delivery allows (a worker dying after its send does the same). Signals, and records that change a webhook's state, still wait for their flush:
 * what was accepted is never lost. Waiting for the flush was a third of a claim's time here.
 * Only in a statement that is its own transaction (on the DataSource, never a caller's
 * EntityManager): inside a larger transaction it would make all of it asynchronous.
 */
export const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true) AS "asyncCommit"`;

/** The channel a PostgreSQL server uses to wake listening workers when deliveries become due. */
export const WAKE_CHANNEL = 'webhook_delivery';

// TypeORM returns [rows, rowCount] for a top-level UPDATE/DELETE; every statement here with
// results is a SELECT over CTEs so that rows come back as rows.
export async function select<T>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  // A named prepared statement: PostgreSQL plans it once per connection. Planning the signal's
  // and the claim's CTEs took longer than running them (0.7 ms a signal).
  return preparedOn<T>(db, statementName('delivery', sql), sql, params);
}
