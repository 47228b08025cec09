/** The record phase's webhook side: counters, TooManyErrors, and the one-statement record of a batch of successes. */
import type { DataSource } from 'typeorm';
import { ASYNC_COMMIT, type Db, select } from './statements';

export interface WebhookCounterChange {
  webhookId: number;
  calls: number;
  errors: number;
  resets: boolean;
  /** Failures after the batch's last success, and how many of them were probes. */
  trailingFailures: number;
  trailingProbeFailures: number;
  lastError: string | null;
  /** A delivery's cycle ended failed: the next probe waits this long (0: no change). */
  probePauseMs: number;
}

export interface WebhookCounters {
  webhookId: number;
  state: number;
  consecutiveErrors: number;
  /** It was not failing before this batch (or a success in it reset it) and fails now: NotifyWhen FirstFailure. */
  firstFailure: boolean;
}

/**
 * Adds a batch's calls and errors to its webhooks as atomic increments (other workers update
 * the same rows). Rows are locked in id order first, so concurrent batches cannot deadlock.
 * ConsecutiveErrors counts the first failure after a success, then only failures of probes
 * (claimed while the webhook was failing, one at a time): sends that were in flight together
 * when a receiver went down count once, so errors accrue at the pace of the probes.
 */
export async function addWebhookCounters(db: Db, changes: WebhookCounterChange[]): Promise<WebhookCounters[]> {
  if (changes.length === 0) return [];
  const ids = changes.map((c) => c.webhookId);
  await db.query(`SELECT webhook_id FROM webhook WHERE webhook_id = ANY($1::int[]) ORDER BY webhook_id FOR UPDATE`, [ids]);
  return select<WebhookCounters>(
    db,
    `WITH c AS (
       SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::bool[], $5::text[], $6::int[], $7::int[], $8::int[])
         AS c(webhook_id, calls, errors, resets, last_error, pause_ms, trailing_failures, probe_failures)
     ), base AS (
       SELECT c.*, CASE WHEN c.resets THEN NULL ELSE w.failing_since END AS since,
              CASE WHEN c.resets THEN 0 ELSE w.consecutive_errors END AS errors_before
       FROM c JOIN webhook w ON w.webhook_id = c.webhook_id
     ), counted AS (
       SELECT b.*, CASE WHEN b.trailing_failures = 0 THEN 0 WHEN b.since IS NULL THEN GREATEST(1, b.probe_failures) ELSE b.probe_failures END AS counted,
              CASE WHEN b.trailing_failures > 0 THEN COALESCE(b.since, now()) ELSE b.since END AS failing_since
       FROM base b
     ), updated AS (
       UPDATE webhook w SET
         total_calls = w.total_calls + k.calls,
         total_errors = w.total_errors + k.errors,
         consecutive_errors = k.errors_before + k.counted,
         failing_since = k.failing_since,
         next_probe_at = CASE WHEN k.failing_since IS NULL THEN NULL
                              WHEN k.pause_ms > 0 THEN now() + k.pause_ms * interval '1 millisecond' ELSE w.next_probe_at END,
         last_error = COALESCE(k.last_error, w.last_error)
       FROM counted k WHERE w.webhook_id = k.webhook_id
       RETURNING w.webhook_id, w.state, w.consecutive_errors, (k.since IS NULL AND k.trailing_failures > 0) AS first_failure
     )
     SELECT webhook_id AS "webhookId", state, consecutive_errors AS "consecutiveErrors", first_failure AS "firstFailure" FROM updated`,
    [
      ids,
      changes.map((c) => c.calls),
      changes.map((c) => c.errors),
      changes.map((c) => c.resets),
      changes.map((c) => c.lastError),
      changes.map((c) => c.probePauseMs),
      changes.map((c) => c.trailingFailures),
      changes.map((c) => c.trailingProbeFailures),
    ],
  );
}

export interface TrippedWebhook {
  webhookId: number;
  name: string | null;
  /** The owner's application hash: its state event goes to that application's subscribers only. */
  application: string | null;
  targetUrl: string;
  errorsEmail: string | null;
  lastError: string | null;
}

/** Active -> TooManyErrors; only the webhooks this call changed come back (one worker wins a race). */
export async function tripWebhooks(db: Db, webhookIds: number[]): Promise<TrippedWebhook[]> {
  if (webhookIds.length === 0) return [];
  return select<TrippedWebhook>(
    db,
    `WITH t AS (
       UPDATE webhook SET state = 3 WHERE webhook_id = ANY($1::int[]) AND state = 1
       RETURNING webhook_id, name, application_hash, target_url, errors_email, last_error
     )
     SELECT webhook_id AS "webhookId", name, application_hash AS application, target_url AS "targetUrl", errors_email AS "errorsEmail", last_error AS "lastError" FROM t`,
    [webhookIds],
  );
}

export interface SucceededAttempt {
  attemptId: string;
  deliveryId: string;
  webhookId: number;
  httpStatus: number | null;
  latencyMs: number;
  responseBody: string | null;
}

/**
 * A batch in which every attempt succeeded, recorded in one statement (one round trip, its own
 * transaction) instead of the general record phase's five: nothing can trip, nothing notifies,
 * every delivery is done. The same writes as settleAttempts + addWebhookCounters +
 * settleDeliveries for that case, and the same lock order: the webhook rows in id order first
 * (the scalar subqueries make PostgreSQL run each step after the one before). TotalCalls counts
 * the attempts this statement settled, so a batch recorded again after its commit's answer was
 * lost counts nothing twice. Committed without waiting for the WAL flush (ASYNC_COMMIT: lost in a
 * crash, the deliveries are sent again). Returns how many deliveries it settled.
 */
export async function recordSuccesses(db: DataSource, workerId: string, attempts: SucceededAttempt[]): Promise<number> {
  if (attempts.length === 0) return 0;
  const webhookIds = [...new Set(attempts.map((a) => a.webhookId))].sort((x, y) => x - y);
  const [row] = await select<{ deliveries: number }>(
    db,
    `WITH locked AS (
       SELECT webhook_id FROM webhook WHERE webhook_id = ANY($2::int[]) ORDER BY webhook_id FOR UPDATE
     ), settled_attempts AS (
       UPDATE delivery_attempt a SET outcome = 'success', http_status = r.http_status, latency_ms = r.latency_ms, error = NULL, response_body = r.response_body
       FROM unnest($3::bigint[], $4::int[], $5::int[], $6::text[]) AS r(attempt_id, http_status, latency_ms, response_body)
       WHERE a.attempt_id = r.attempt_id AND a.outcome IS NULL AND (SELECT count(*) FROM locked) >= 0
       RETURNING a.webhook_id
     ), counted AS (
       -- A success resets ConsecutiveErrors and ends probing (addWebhookCounters with resets and no trailing failures).
       UPDATE webhook w SET total_calls = w.total_calls + c.calls, consecutive_errors = 0, failing_since = NULL, next_probe_at = NULL
       FROM (SELECT webhook_id, count(*)::int AS calls FROM settled_attempts GROUP BY webhook_id) AS c
       WHERE w.webhook_id = c.webhook_id
       RETURNING 1
     ), settled AS (
       UPDATE delivery d SET status = 'succeeded', run_at = now(), locked_by = NULL, locked_until = NULL, completed_at = now()
       WHERE d.delivery_id = ANY($7::bigint[]) AND d.locked_by = $1 AND d.status IN ('pending', 'held') AND (SELECT count(*) FROM counted) >= 0
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM counted)::int AS webhooks, (SELECT count(*) FROM settled_attempts)::int AS attempts, (SELECT count(*) FROM settled)::int AS deliveries,
            ${ASYNC_COMMIT}`,
    [
      workerId,
      webhookIds,
      attempts.map((a) => a.attemptId),
      attempts.map((a) => a.httpStatus),
      attempts.map((a) => a.latencyMs),
      attempts.map((a) => a.responseBody),
      attempts.map((a) => a.deliveryId),
    ],
  );
  return row.deliveries;
}
