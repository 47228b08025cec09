/**
 * Every SQL statement of the delivery engine, one named function each (as graphile-worker's
 * src/sql). Statements work on a batch, so a worker makes a few round trips per batch of
 * deliveries, not per delivery.
 */
import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { StringEntry, TypedEntry } from '../core/webhook';
import { openPreviousSecret } from '../db/previousSecret';
import { preparedOn } from '../db/preparedQuery';
import { SecretDecryptionError, secretBoxOf, type SecretBox } from '../db/secretBox';

type Db = DataSource | EntityManager;

/** The channel a PostgreSQL server uses to wake listening workers when deliveries become due. */
export const WAKE_CHANNEL = 'webhook_delivery';

// TypeORM returns [rows, rowCount] for a top-level UPDATE/DELETE; every statement here with
// results is a SELECT over CTEs so that rows come back as rows.
async function select<T>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  // A named prepared statement: PostgreSQL plans it once per connection. Planning the signal's
  // and the claim's CTEs took longer than running them (0.7 ms a signal).
  return preparedOn<T>(db, statementName(sql), sql, params);
}

/** A stable name per SQL text (every text here is one of a fixed few). */
const statementNames = new Map<string, string>();
function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) {
    name = `delivery_${crypto.createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
    statementNames.set(sql, name);
  }
  return name;
}

export interface NewEvent {
  eventId: string;
  name: string;
  primaryKey: number;
  data: TypedEntry[] | null;
  associateId: number;
  /** Whose webhooks receive it (delivery/signal.ts says why). */
  audience: EventAudience;
  /** The SignalEvent span's W3C traceparent (src/tracing.ts), or null. */
  traceParent?: string | null;
}

/** 'everyone': every subscriber; otherwise only webhooks owned by that application hash (null: operator-owned ones). */
export type EventAudience = 'everyone' | { application: string | null };

/**
 * Stores an event and one pending delivery per Active webhook subscribed to its name (the GIN
 * index answers `events @> ARRAY[name]`) within its audience, in one statement; notifies
 * listening workers at commit.
 */
export async function insertEventWithDeliveries(db: Db, event: NewEvent, holdForTooManyErrors = true): Promise<number> {
  const [row] = await select<{ deliveries: number }>(
    db,
    // State 1 Active: pending. State 3 TooManyErrors (unless $6 is false): held, sent once it is Active again.
    `WITH ev AS (
       INSERT INTO event (event_id, name, primary_key, data, associate_id, trace_parent) VALUES ($1::uuid, $2::text, $3::int, $4::jsonb, $5::int, $7::text)
       RETURNING event_id
     ), d AS (
       INSERT INTO delivery (event_id, webhook_id, status)
       SELECT ev.event_id, w.webhook_id, CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END
       FROM ev, webhook w WHERE (w.state = 1 OR w.state = 3 AND $6::bool) AND w.events @> ARRAY[$2::text]
         AND ($8::bool OR w.application_hash IS NOT DISTINCT FROM $9::text)
       RETURNING status
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM d WHERE status = 'pending' LIMIT 1) any_delivery
     )
     SELECT (SELECT count(*) FROM d WHERE status = 'pending')::int AS deliveries, (SELECT count(*) FROM wake)::int AS woken`,
    [
      event.eventId,
      event.name,
      event.primaryKey,
      event.data === null ? null : JSON.stringify(event.data),
      event.associateId,
      holdForTooManyErrors,
      event.traceParent ?? null,
      event.audience === 'everyone',
      event.audience === 'everyone' ? null : event.audience.application,
    ],
  );
  return row.deliveries;
}

export interface ClaimedDelivery {
  deliveryId: string;
  /** Attempts recorded before this one. */
  attempts: number;
  eventId: string;
  eventName: string;
  primaryKey: number;
  data: TypedEntry[] | null;
  associateId: number;
  signalledAt: Date;
  webhookId: number;
  /** null when the webhook was deleted. */
  webhookState: number | null;
  webhookName: string | null;
  targetUrl: string | null;
  /** Opened (db/secretBox.ts); null when unset, or when it could not be opened (then secretError says why). */
  secret: string | null;
  /** The stored Secret could not be decrypted: the attempt must fail, never go out unsigned. */
  secretError?: string;
  /** The Secret a rotation replaced, while its window lasts (db/previousSecret.ts): it signs too. */
  previousSecret?: string | null;
  headers: StringEntry[] | null;
  properties: TypedEntry[] | null;
  /** Claimed while its webhook was failing: a probe (its failure adds to ConsecutiveErrors). */
  probe: boolean;
  /** The attempt logged for this claim (result unknown until settleAttempts). */
  attemptId: string;
  /** When the claim logged it (database time). */
  attemptedAt: Date;
  /** The signal's W3C traceparent (null: the attempt starts its own trace). */
  traceParent?: string | null;
}

/**
 * Claims up to `limit` due deliveries for `workerId` and logs an attempt for each, result unknown,
 * before anything is sent: a send whose worker dies still shows in the attempt log. At most
 * `maxInFlightPerWebhook` live claims per webhook across all workers (WEBHOOK_MAX_IN_FLIGHT;
 * omitted: no cap); one at a time for an ordered webhook (its oldest open delivery) and for a
 * failing one (its probe). The claim is the function claim_deliveries (migration
 * LiveClaims1765000000000 says why it is a function and how workers share webhooks); the attempt
 * rows are inserted in the same statement: one round trip.
 */
export async function claimDueDeliveries(db: Db, workerId: string, limit: number, leaseMs: number, maxInFlightPerWebhook = NO_CAP): Promise<ClaimedDelivery[]> {
  // One round trip: the claim, its attempt rows, and what signing and tracing need besides the
  // claim function's columns (a previous Secret in its window, the signal's traceparent).
  const claimed = await select<ClaimedDelivery & { previousSealed: string | null }>(
    db,
    `WITH c AS (SELECT * FROM claim_deliveries($1::text, $2::int, $3::int, $4::int)),
     started AS (
       INSERT INTO delivery_attempt (delivery_id, webhook_id, event_id, attempt_number, attempted_at, worker, cycle)
       -- Every claim must get its attempt row, or it would be held and never sent. claim_deliveries
       -- (plpgsql) reads with fresh snapshots and may claim a delivery committed after this
       -- statement's snapshot, which the join cannot see: such a delivery is new, cycle 1.
       SELECT c."deliveryId"::bigint, c."webhookId", c."eventId", c.attempts + 1, now(), $1, COALESCE(d.cycle, 1)
       FROM c LEFT JOIN delivery d ON d.delivery_id = c."deliveryId"::bigint
       RETURNING delivery_id, attempt_id, attempted_at
     )
     SELECT c.*, s.attempt_id::text AS "attemptId", s.attempted_at AS "attemptedAt",
       (SELECT w.previous_secret FROM webhook w WHERE w.webhook_id = c."webhookId" AND w.previous_secret_until > now()) AS "previousSealed",
       -- An event newer than this statement's snapshot has no traceparent here: its attempt starts its own trace.
       (SELECT e.trace_parent FROM event e WHERE e.event_id = c."eventId") AS "traceParent"
     FROM c JOIN started s ON s.delivery_id = c."deliveryId"::bigint ORDER BY s.attempt_id`,
    [workerId, limit, leaseMs, maxInFlightPerWebhook],
  );
  const box = secretBoxOf(db);
  return claimed.map(({ previousSealed, ...claim }) => {
    openClaimSecret(box, claim);
    claim.previousSecret = openPreviousSecret(box, previousSealed, claim.webhookId);
    return claim;
  });
}

const NO_CAP = 2_147_483_647;

/** One undecryptable Secret fails its own deliveries (secretError), not the whole claim. */
function openClaimSecret(box: SecretBox, claim: ClaimedDelivery): void {
  try {
    claim.secret = box.open(claim.secret, `webhook ${claim.webhookId}`);
  } catch (error) {
    if (!(error instanceof SecretDecryptionError)) throw error;
    claim.secret = null;
    claim.secretError = error.message;
  }
}

/** When the next unclaimed pending delivery falls due (a retry), or null. */
export async function nextDueAt(db: Db): Promise<Date | null> {
  const [row] = await select<{ at: Date | null }>(db, `SELECT min(run_at) AS at FROM delivery WHERE status = 'pending' AND locked_by IS NULL`, []);
  return row?.at ?? null;
}

/** One attempt's result; the attempt row was logged at claim time. */
export interface AttemptResultRecord {
  attemptId: string;
  outcome: 'success' | 'failure' | 'gone';
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
}

/** Writes the results of attempts logged at claim time (result unknown until now). */
export async function settleAttempts(db: Db, results: AttemptResultRecord[]): Promise<void> {
  if (results.length === 0) return;
  await db.query(
    `UPDATE delivery_attempt a SET outcome = r.outcome, http_status = r.http_status, latency_ms = r.latency_ms, error = r.error, response_body = r.response_body
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[]) AS r(attempt_id, outcome, http_status, latency_ms, error, response_body)
     WHERE a.attempt_id = r.attempt_id`,
    [
      results.map((r) => r.attemptId),
      results.map((r) => r.outcome),
      results.map((r) => r.httpStatus),
      results.map((r) => r.latencyMs),
      results.map((r) => r.error),
      results.map((r) => r.responseBody),
    ],
  );
}

/**
 * Registers or renews this worker's heartbeat, and releases the claims of workers whose
 * heartbeat is older than `deadAfterMs` (or, for a claim whose worker has no row, whose lease
 * ran out): due at once and ahead of their webhook's backlog (run_at = created_at), their logged
 * attempts marked "result unknown". Also holds stray pending deliveries of webhooks that are not
 * Active. Returns how many claims it released.
 */
export async function beatAndReleaseDeadClaims(db: Db, workerId: string, deadAfterMs: number): Promise<number> {
  const [row] = await select<{ released: number }>(
    db,
    `WITH beat AS (
       INSERT INTO delivery_worker (worker_id) VALUES ($1) ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()
       RETURNING 1
     ), dead AS (
       DELETE FROM delivery_worker WHERE worker_id <> $1 AND heartbeat_at < now() - $2::int * interval '1 millisecond'
       RETURNING worker_id
     ), released AS (
       UPDATE delivery d SET locked_by = NULL, locked_until = NULL, run_at = LEAST(now(), d.created_at)
       WHERE d.locked_by IS NOT NULL AND d.locked_by <> $1 AND d.status IN ('pending', 'held')
         AND (d.locked_by IN (SELECT worker_id FROM dead)
              OR d.locked_until < now() AND NOT EXISTS (SELECT 1 FROM delivery_worker w WHERE w.worker_id = d.locked_by))
       RETURNING d.delivery_id, d.locked_by, d.status
     ), unknown AS (
       UPDATE delivery_attempt a SET error = 'result unknown: worker ' || a.worker || ' stopped before recording it (the receiver may have got it)'
       FROM released r WHERE a.delivery_id = r.delivery_id AND a.outcome IS NULL AND a.error IS NULL
       RETURNING 1
     ), stray AS (
       -- A signal that saw the webhook Active and committed after it stopped or tripped left a
       -- pending delivery no claim takes (claims take Active webhooks only): hold it.
       UPDATE delivery d SET status = 'held'
       WHERE d.status = 'pending' AND d.locked_by IS NULL AND d.webhook_id IN (SELECT webhook_id FROM webhook WHERE state <> 1)
       RETURNING 1
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM released WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT (SELECT count(*) FROM released)::int AS released, (SELECT count(*) FROM beat)::int AS beat,
            (SELECT count(*) FROM unknown)::int AS unknown, (SELECT count(*) FROM stray)::int AS held, (SELECT count(*) FROM wake)::int AS woken`,
    [workerId, deadAfterMs],
  );
  return row.released;
}

/** A worker that stopped cleanly leaves the heartbeat table. */
export async function retireWorker(db: Db, workerId: string): Promise<void> {
  await db.query(`DELETE FROM delivery_worker WHERE worker_id = $1`, [workerId]);
}

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

/** A webhook that is not Active keeps its pending deliveries, held, until it is Active again. */
export async function holdOpenDeliveries(db: Db, webhookIds: number[]): Promise<void> {
  if (webhookIds.length === 0) return;
  await db.query(`UPDATE delivery SET status = 'held' WHERE webhook_id = ANY($1::int[]) AND status = 'pending'`, [webhookIds]);
}

/**
 * Held deliveries resume, due now; one still claimed by a worker stays its until settled, so it is
 * never sent twice at once. A probe pause ends: the webhook was just verified.
 */
export async function releaseHeldDeliveries(db: Db, webhookId: number): Promise<void> {
  await db.query(
    `WITH released AS (
       UPDATE delivery SET status = 'pending', run_at = CASE WHEN locked_by IS NULL THEN now() ELSE run_at END
       WHERE webhook_id = $1 AND status = 'held'
       RETURNING 1
     ), unpaused AS (
       UPDATE webhook SET next_probe_at = NULL WHERE webhook_id = $1 AND next_probe_at IS NOT NULL RETURNING 1
     )
     SELECT pg_notify('${WAKE_CHANNEL}', ''), (SELECT count(*) FROM unpaused) FROM (SELECT 1 FROM released LIMIT 1) any_released`,
    [webhookId],
  );
}

/**
 * Graceful shutdown: hands back this worker's claims it could not finish, due now and unlocked,
 * so another worker takes them at once instead of after the lease. Returns how many.
 * `keep`: claims the worker still works on (released after a claim whose answer was lost: the
 * database may have committed it, and this worker would hold those rows unseen while it lives).
 */
export async function releaseClaims(db: Db, workerId: string, keep: string[] = [], reason: string | null = null): Promise<number> {
  const [row] = await select<{ released: number }>(
    db,
    `WITH released AS (
       UPDATE delivery SET run_at = now(), locked_by = NULL, locked_until = NULL
       WHERE locked_by = $1 AND status IN ('pending', 'held') AND NOT (delivery_id = ANY($2::bigint[]))
       RETURNING delivery_id, status
     ), unknown AS (
       UPDATE delivery_attempt a SET error = COALESCE($3::text, 'result unknown: worker ' || a.worker || ' stopped before recording it (the receiver may have got it)')
       FROM released r WHERE a.delivery_id = r.delivery_id AND a.outcome IS NULL AND a.error IS NULL
       RETURNING 1
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM released WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT (SELECT count(*) FROM released)::int AS released, (SELECT count(*) FROM unknown)::int AS unknown, (SELECT count(*) FROM wake)::int AS woken`,
    [workerId, keep, reason],
  );
  return row.released;
}

/** DeleteWebhook: its open deliveries stop; they and their attempts stay as a log (db/deliveryRows.ts, so core need not import delivery). */
export { cancelOpenDeliveries } from '../db/deliveryRows';

/** succeeded / failed: done. retry: the attempt failed, due again after delayMs. */
export type SettleStep = 'succeeded' | 'failed' | 'retry';

export interface Settlement {
  deliveryId: string;
  step: SettleStep;
  delayMs: number;
}

/**
 * Releases this worker's claims with their outcome (the claim counted the attempt). A retry of a webhook that is no longer
 * Active is held; of a deleted webhook, cancelled. Claims this worker lost (lease expired and
 * re-taken, or cancelled) are left alone.
 */
export async function settleDeliveries(db: Db, workerId: string, settlements: Settlement[]): Promise<void> {
  if (settlements.length === 0) return;
  await db.query(
    `UPDATE delivery d SET
       status = CASE WHEN s.step = 'retry'
                     THEN CASE COALESCE((SELECT w.state FROM webhook w WHERE w.webhook_id = d.webhook_id), -1)
                            WHEN 1 THEN 'pending' WHEN -1 THEN 'cancelled' ELSE 'held' END
                     ELSE s.step END,
       run_at = now() + s.delay_ms * interval '1 millisecond',
       locked_by = NULL,
       locked_until = NULL,
       completed_at = CASE WHEN s.step IN ('succeeded', 'failed') THEN now() END
     FROM unnest($2::bigint[], $3::text[], $4::int[]) AS s(delivery_id, step, delay_ms)
     WHERE d.delivery_id = s.delivery_id AND d.locked_by = $1 AND d.status IN ('pending', 'held')`,
    [workerId, settlements.map((s) => s.deliveryId), settlements.map((s) => s.step), settlements.map((s) => s.delayMs)],
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
 * (the scalar subqueries make PostgreSQL run `counted` before it touches an attempt or a delivery).
 */
export async function recordSuccesses(db: Db, workerId: string, attempts: SucceededAttempt[]): Promise<void> {
  if (attempts.length === 0) return;
  const calls = new Map<number, number>();
  for (const a of [...attempts].sort((x, y) => x.webhookId - y.webhookId)) calls.set(a.webhookId, (calls.get(a.webhookId) ?? 0) + 1);
  await select(
    db,
    `WITH locked AS (
       SELECT webhook_id FROM webhook WHERE webhook_id = ANY($2::int[]) ORDER BY webhook_id FOR UPDATE
     ), counted AS (
       -- A success resets ConsecutiveErrors and ends probing (addWebhookCounters with resets and no trailing failures).
       UPDATE webhook w SET total_calls = w.total_calls + c.calls, consecutive_errors = 0, failing_since = NULL, next_probe_at = NULL
       FROM unnest($2::int[], $3::int[]) AS c(webhook_id, calls)
       WHERE w.webhook_id = c.webhook_id AND w.webhook_id IN (SELECT webhook_id FROM locked)
       RETURNING 1
     ), settled_attempts AS (
       UPDATE delivery_attempt a SET outcome = 'success', http_status = r.http_status, latency_ms = r.latency_ms, error = NULL, response_body = r.response_body
       FROM unnest($4::bigint[], $5::int[], $6::int[], $7::text[]) AS r(attempt_id, http_status, latency_ms, response_body)
       WHERE a.attempt_id = r.attempt_id AND (SELECT count(*) FROM counted) >= 0
       RETURNING 1
     ), settled AS (
       UPDATE delivery d SET status = 'succeeded', run_at = now(), locked_by = NULL, locked_until = NULL, completed_at = now()
       WHERE d.delivery_id = ANY($8::bigint[]) AND d.locked_by = $1 AND d.status IN ('pending', 'held') AND (SELECT count(*) FROM counted) >= 0
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM counted)::int AS webhooks, (SELECT count(*) FROM settled_attempts)::int AS attempts, (SELECT count(*) FROM settled)::int AS deliveries`,
    [
      workerId,
      [...calls.keys()],
      [...calls.values()],
      attempts.map((a) => a.attemptId),
      attempts.map((a) => a.httpStatus),
      attempts.map((a) => a.latencyMs),
      attempts.map((a) => a.responseBody),
      attempts.map((a) => a.deliveryId),
    ],
  );
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

/** Held deliveries per webhook (waiting for the webhook to be Active again); webhooks with none are absent. */
export async function heldCounts(db: Db, webhookIds: number[]): Promise<Map<number, number>> {
  if (webhookIds.length === 0) return new Map();
  const rows = await select<{ webhookId: number; held: number }>(
    db,
    `SELECT webhook_id AS "webhookId", count(*)::int AS held FROM delivery WHERE webhook_id = ANY($1::int[]) AND status = 'held' GROUP BY webhook_id`,
    [webhookIds],
  );
  return new Map(rows.map((r) => [r.webhookId, r.held]));
}

export interface DeliveryStatusCount {
  status: string;
  count: number;
}

/** Deliveries by status, optionally for one webhook (tests, operators). */
export async function countDeliveries(db: Db, webhookId?: number): Promise<Record<string, number>> {
  const rows = await select<DeliveryStatusCount>(
    db,
    `SELECT status, count(*)::int AS count FROM delivery WHERE ($1::int IS NULL OR webhook_id = $1) GROUP BY status`,
    [webhookId ?? null],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

export interface DeliverySummary {
  deliveryId: string;
  eventId: string;
  eventName: string;
  primaryKey: number;
  webhookId: number;
  status: string;
  /** Attempts in the current cycle. */
  attempts: number;
  createdAt: Date;
  completedAt: Date | null;
  /** The newest attempt's error (network error, or `HTTP <status>`); null when it succeeded or none was made. */
  lastError: string | null;
}

const DELIVERY_SUMMARY = `
  SELECT d.delivery_id::text AS "deliveryId", d.event_id AS "eventId", e.name AS "eventName", e.primary_key AS "primaryKey",
         d.webhook_id AS "webhookId", d.status, d.attempts, d.created_at AS "createdAt", d.completed_at AS "completedAt",
         (SELECT CASE WHEN a.http_status BETWEEN 200 AND 299 THEN NULL ELSE COALESCE(a.error, 'HTTP ' || a.http_status) END
          FROM delivery_attempt a WHERE a.delivery_id = d.delivery_id ORDER BY a.attempt_id DESC LIMIT 1) AS "lastError"
  FROM delivery d JOIN event e ON e.event_id = d.event_id`;

/** One delivery, or null. */
export async function findDelivery(db: Db, deliveryId: string): Promise<DeliverySummary | null> {
  const [row] = await select<DeliverySummary>(db, `${DELIVERY_SUMMARY} WHERE d.delivery_id = $1::bigint`, [deliveryId]);
  return row ?? null;
}

/** A webhook's deliveries, newest first; `failedOnly` lists those an operator may redeliver. */
export async function listDeliveries(db: Db, webhookId: number, options: { failedOnly?: boolean; limit?: number } = {}): Promise<DeliverySummary[]> {
  return select<DeliverySummary>(
    db,
    `${DELIVERY_SUMMARY} WHERE d.webhook_id = $1 AND ($2::bool IS NOT TRUE OR d.status = 'failed') ORDER BY d.delivery_id DESC LIMIT $3`,
    [webhookId, options.failedOnly ?? false, options.limit ?? 100],
  );
}

export interface Redelivered {
  deliveryId: string;
  eventId: string;
  /** pending: due now; held: its webhook is not Active, it goes out when the webhook is Active again. */
  status: 'pending' | 'held';
}

/**
 * Redelivery (SPEC 5: a failed delivery "can be redelivered by an operator"): a failed delivery
 * of a webhook that still exists starts a fresh attempt cycle: same event (so the same EventId),
 * attempts counted from 0 again (X-SuperOffice-Retry starts at 0), due now. Its earlier attempts
 * stay in the attempt log. Deliveries of deleted webhooks, and any not failed, are left alone.
 */
function redeliverSql(where: string): string {
  return `WITH picked AS (
       SELECT d.delivery_id FROM delivery d WHERE d.status = 'failed' AND ${where}
       ORDER BY d.delivery_id LIMIT $LIMIT FOR UPDATE OF d
     ), redelivered AS (
       UPDATE delivery d SET status = CASE WHEN w.state = 1 THEN 'pending' ELSE 'held' END,
         attempts = 0, cycle = d.cycle + 1, run_at = now(), locked_by = NULL, locked_until = NULL, completed_at = NULL
       FROM picked p, webhook w WHERE d.delivery_id = p.delivery_id AND w.webhook_id = d.webhook_id
       RETURNING d.delivery_id, d.event_id, d.status
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM redelivered WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT delivery_id::text AS "deliveryId", event_id AS "eventId", status, (SELECT count(*) FROM wake)::int AS woken
     FROM redelivered ORDER BY delivery_id`;
}

/** Redelivers the given deliveries (those that qualify, see redeliverSql). */
export async function redeliverDeliveries(db: Db, deliveryIds: string[]): Promise<Redelivered[]> {
  if (deliveryIds.length === 0) return [];
  const rows = await select<Redelivered & { woken: number }>(db, redeliverSql('d.delivery_id = ANY($1::bigint[])').replace('$LIMIT', '$2'), [deliveryIds, deliveryIds.length]);
  return rows.map(({ deliveryId, eventId, status }) => ({ deliveryId, eventId, status }));
}

/**
 * One batch of a webhook's failed deliveries created at or after `since`, in delivery id order
 * after `afterDeliveryId` (a cursor, so a delivery that fails again meanwhile is not taken twice).
 */
export async function redeliverFailedSince(db: Db, webhookId: number, since: Date, afterDeliveryId: string, limit: number): Promise<Redelivered[]> {
  const rows = await select<Redelivered & { woken: number }>(
    db,
    redeliverSql('d.webhook_id = $1 AND d.created_at >= $2 AND d.delivery_id > $3::bigint').replace('$LIMIT', '$4'),
    [webhookId, since.toISOString(), afterDeliveryId, limit],
  );
  return rows.map(({ deliveryId, eventId, status }) => ({ deliveryId, eventId, status }));
}

// ---- retention ----------------------------------------------------------------------------

export interface RetentionCutoffs {
  /** Events, succeeded and cancelled deliveries, attempts: kept this many days. */
  retentionDays: number;
  /** Failed deliveries and their attempts: kept this many days. */
  failedRetentionDays: number;
}

// $1 = retentionDays, $2 = failedRetentionDays. Pending and held deliveries are never purgeable.
const PURGEABLE_DELIVERY = `(d.status IN ('succeeded', 'cancelled') AND COALESCE(d.completed_at, d.created_at) < now() - $1::int * interval '1 day'
   OR d.status = 'failed' AND COALESCE(d.completed_at, d.created_at) < now() - $2::int * interval '1 day')`;
// An attempt goes with its retention: not while its delivery is open, nor while a failed one is kept.
const PURGEABLE_ATTEMPT = `a.attempted_at < now() - $1::int * interval '1 day' AND NOT EXISTS (
     SELECT 1 FROM delivery d WHERE d.delivery_id = a.delivery_id
       AND (d.status IN ('pending', 'held') OR d.status = 'failed' AND a.attempted_at >= now() - $2::int * interval '1 day'))`;
const OLD_EVENT = `e.signalled_at < now() - $1::int * interval '1 day'`;

/**
 * One batch of each purge: at most `limit` rows, locked with SKIP LOCKED (a row another
 * transaction holds is left for the next run) and deleted in one short statement.
 */
export async function purgeAttempts(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(db, `SELECT a.attempt_id AS id FROM delivery_attempt a WHERE ${PURGEABLE_ATTEMPT}`, 'delivery_attempt', 'attempt_id', cutoffs, limit);
}

/** Finished deliveries past their retention (failed ones: FAILED_RETENTION_DAYS); purge their attempts first. */
export async function purgeDeliveries(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(db, `SELECT d.delivery_id AS id FROM delivery d WHERE ${PURGEABLE_DELIVERY}`, 'delivery', 'delivery_id', cutoffs, limit);
}

/** Old events no delivery refers to any more (so never those of pending, held or kept failed deliveries). */
export async function purgeEvents(db: Db, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  return purgeBatch(
    db,
    `SELECT e.event_id AS id FROM event e WHERE ${OLD_EVENT} AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event_id = e.event_id)`,
    'event',
    'event_id',
    cutoffs,
    limit,
  );
}

async function purgeBatch(db: Db, pick: string, table: string, key: string, cutoffs: RetentionCutoffs, limit: number): Promise<number> {
  const [row] = await select<{ purged: number }>(
    db,
    // typed: each parameter is typed here, whether the pick uses it or not (events do not use $2).
    `WITH typed AS (SELECT $1::int, $2::int, $3::int),
     doomed AS (${pick} LIMIT $3 FOR UPDATE SKIP LOCKED),
     purged AS (DELETE FROM ${table} t USING doomed WHERE t.${key} = doomed.id RETURNING 1)
     SELECT count(*)::int AS purged FROM purged`,
    [cutoffs.retentionDays, cutoffs.failedRetentionDays, limit],
  );
  return row.purged;
}

export interface PurgeCounts {
  events: number;
  deliveries: number;
  attempts: number;
}

/** What a purge would delete now (`webhook-agent purge --dry-run`): the same rules, counted. */
export async function countPurgeable(db: Db, cutoffs: RetentionCutoffs): Promise<PurgeCounts> {
  const [row] = await select<PurgeCounts>(
    db,
    `SELECT (SELECT count(*) FROM delivery_attempt a WHERE ${PURGEABLE_ATTEMPT})::int AS attempts,
            (SELECT count(*) FROM delivery d WHERE ${PURGEABLE_DELIVERY})::int AS deliveries,
            (SELECT count(*) FROM event e WHERE ${OLD_EVENT}
               AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event_id = e.event_id AND NOT ${PURGEABLE_DELIVERY}))::int AS events`,
    [cutoffs.retentionDays, cutoffs.failedRetentionDays],
  );
  return row;
}
