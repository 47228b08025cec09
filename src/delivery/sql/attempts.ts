/** The attempt log (delivery_attempt): results settled after the send, and reading it back. */
import { type Db, select } from './statements';

/** One attempt's result; the attempt row was logged at claim time. */
export interface AttemptResultRecord {
  attemptId: string;
  outcome: 'success' | 'failure' | 'gone';
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
}

/**
 * Writes the results of attempts logged at claim time (result unknown until now). Returns the
 * ids of those it settled: an attempt whose result is already written is left alone, so a batch
 * recorded again (its commit went through but the answer was lost with the connection) counts
 * nothing twice. The caller applies counters and settlements for the returned ones only.
 */
export async function settleAttempts(db: Db, results: AttemptResultRecord[]): Promise<Set<string>> {
  if (results.length === 0) return new Set();
  const settled = await select<{ attemptId: string }>(
    db,
    `WITH settled AS (
       UPDATE delivery_attempt a SET outcome = r.outcome, http_status = r.http_status, latency_ms = r.latency_ms, error = r.error, response_body = r.response_body
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[]) AS r(attempt_id, outcome, http_status, latency_ms, error, response_body)
       WHERE a.attempt_id = r.attempt_id AND a.outcome IS NULL
       RETURNING a.attempt_id
     )
     SELECT attempt_id::text AS "attemptId" FROM settled`,
    [
      results.map((r) => r.attemptId),
      results.map((r) => r.outcome),
      results.map((r) => r.httpStatus),
      results.map((r) => r.latencyMs),
      results.map((r) => r.error),
      results.map((r) => r.responseBody),
    ],
  );
  return new Set(settled.map((row) => row.attemptId));
}

export interface AttemptLogEntry {
  attemptId: string;
  deliveryId: string;
  webhookId: number;
  eventId: string;
  attemptNumber: number;
  attemptedAt: Date;
  /** null: the result is not known (in flight, or its worker died before recording it). */
  outcome: 'success' | 'failure' | 'gone' | null;
  httpStatus: number | null;
  latencyMs: number | null;
  error: string | null;
  responseBody: string | null;
  worker: string | null;
}

/** A webhook's most recent attempts, newest first. */
export async function recentAttempts(db: Db, webhookId: number, limit = 50): Promise<AttemptLogEntry[]> {
  return select<AttemptLogEntry>(
    db,
    `SELECT attempt_id::text AS "attemptId", delivery_id::text AS "deliveryId", webhook_id AS "webhookId", event_id AS "eventId",
            attempt_number AS "attemptNumber", attempted_at AS "attemptedAt", outcome, http_status AS "httpStatus", latency_ms AS "latencyMs",
            error, response_body AS "responseBody", worker
     FROM delivery_attempt WHERE webhook_id = $1 ORDER BY attempted_at DESC, attempt_id DESC LIMIT $2`,
    [webhookId, limit],
  );
}
