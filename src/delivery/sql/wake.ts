/** Waking listening workers outside the transaction that made deliveries due (delivery/wakeListeners.ts). */
import { ASYNC_COMMIT, type Db, select, WAKE_CHANNEL } from './statements';

/**
 * One NOTIFY in a transaction of its own, committed without waiting for its WAL flush: it
 * changes no data, and PostgreSQL holds its cluster-wide notify lock until the commit is done.
 */
export async function notifyWorkers(db: Db): Promise<void> {
  await select(db, `SELECT ${ASYNC_COMMIT}, pg_notify('${WAKE_CHANNEL}', '')`, []);
}
