import { DatabaseUnavailableError } from '../core/errors';
import type { Logger } from '../logger';

/**
 * Which database failures are an outage (the server restarting, a dropped connection, a full
 * connection table) rather than a fault in a query. The one place that knows PostgreSQL's codes
 * and the driver's messages: the doors answer these with "briefly unavailable, retry" (503 /
 * soap:Server with Retry-After), and the pool reconnects by itself once the server is back.
 */

/** SQLSTATEs of an outage: class 08 (connection exception) and these. */
const TRANSIENT_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is stopping (a restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting up or shutting down
  '53300', // too_many_connections
  '58000', // system_error (I/O error talking to the server's own files during a restart)
]);

/** Node's socket errors: the server is not there (yet) or went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** What pg and TypeORM say when a connection died under them (they set no code). */
const TRANSIENT_MESSAGES = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Query runner already released|Connection is not established|terminating connection due to administrator command|the database system is (?:starting up|shutting down|in recovery mode)/i;

/** Seconds a client is told to wait: PostgreSQL restarts in well under that. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** The error itself and what it wraps (TypeORM's QueryFailedError.driverError, Error.cause, AggregateError). */
function* chain(error: unknown, depth = 0): Generator<{ code?: unknown; message?: unknown }> {
  if (!error || typeof error !== 'object' || depth > 4) return;
  yield error as { code?: unknown; message?: unknown };
  const { driverError, cause, errors } = error as { driverError?: unknown; cause?: unknown; errors?: unknown };
  if (driverError) yield* chain(driverError, depth + 1);
  if (cause) yield* chain(cause, depth + 1);
  if (Array.isArray(errors)) for (const inner of errors.slice(0, 4)) yield* chain(inner, depth + 1);
}

/** True when `error` means the database is briefly unreachable, not that the request was wrong. */
export function isTransientDatabaseError(error: unknown): boolean {
  for (const link of chain(error)) {
    const code = typeof link.code === 'string' ? link.code : '';
    if (code.startsWith('08') && code.length === 5) return true;
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code)) return true;
    if (typeof link.message === 'string' && TRANSIENT_MESSAGES.test(link.message)) return true;
  }
  return false;
}

/** A transient database error as the core's typed error (each door translates it once), or null. */
export function databaseUnavailable(error: unknown): DatabaseUnavailableError | null {
  if (error instanceof DatabaseUnavailableError) return error;
  if (!isTransientDatabaseError(error)) return null;
  return new DatabaseUnavailableError(
    `The database is briefly unavailable (it may be restarting); the request may not have been carried out. Retry it after ${DATABASE_RETRY_AFTER_SECONDS} s.`,
    DATABASE_RETRY_AFTER_SECONDS,
  );
}

/** The database's (or the socket's) own words for what went wrong, without our wrapping. */
export function databaseReason(error: unknown): string {
  let innermost = '';
  for (const link of chain(error)) {
    if (typeof link.message === 'string' && link.message) innermost = link.message;
  }
  if (!innermost && error instanceof AggregateError) innermost = 'connection refused';
  return innermost || String(error);
}

/** A new outage starts when no transient error was seen for this long. */
const OUTAGE_QUIET_MS = 30_000;

/**
 * Logs an outage once, at warn and without a stack trace (every request and poll fails alike
 * while the server restarts; one line says what happened). Shared by everything in a process.
 */
export class OutageLog {
  private lastSeen = 0;

  constructor(private readonly now: () => number = Date.now) {}

  report(logger: Logger, error: unknown, where: string): void {
    const now = this.now();
    const newOutage = now - this.lastSeen > OUTAGE_QUIET_MS;
    this.lastSeen = now;
    if (newOutage) logger.warn({ reason: databaseReason(error), where }, 'the database is briefly unavailable; answering 503 with Retry-After and reconnecting by itself');
  }
}

export const outageLog = new OutageLog();
