import { Client, type ClientConfig } from 'pg';

/**
 * A node-postgres Client that has an 'error' listener from the moment it exists.
 *
 * Why: when a backend is terminated the instant its startup finishes (a restart, an operator's
 * pg_terminate_backend), the server's ReadyForQuery and its FATAL arrive in one packet.
 * node-postgres parses both in one go: connect() has succeeded, the FATAL finds no query to
 * fail, and the client emits 'error' before any code that awaited connect() (or pg-pool's
 * caller, such as TypeORM's query runner) could attach a listener. An 'error' event without a
 * listener ends the process: CI lost a worker process this way (test/ops/terminatedAtStartup).
 *
 * The listener only keeps the process alive. The error is not lost: the client is no longer
 * queryable, so its next query fails and the pool discards it, and pg-pool's and TypeORM's own
 * listeners still see errors while they hold the client. `onError` lets an owner react too.
 */
export class ListenedClient extends Client {
  constructor(config?: string | ClientConfig, onError: (error: Error) => void = () => undefined) {
    super(config);
    this.on('error', onError);
  }
}
