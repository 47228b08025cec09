/** Claims: taking due deliveries (with their attempt rows) and handing them back. */
import type { DataSource } from 'typeorm';
import { ASYNC_COMMIT, type Db, select, WAKE_CHANNEL } from './statements';
import type { StringEntry, TypedEntry } from '../../core/webhook';
import { openPreviousSecret } from '../../db/previousSecret';
import { SecretDecryptionError, secretBoxOf, type SecretBox } from '../../db/secretBox';

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
 * `maxInFlightPerWebhook` requests in flight per webhook across all workers (WEBHOOK_MAX_IN_FLIGHT;
 * omitted: no cap): live claims, less `answered` (this worker's claims whose receiver has answered
 * and whose result is not recorded yet: LiveClaimCap1766100000000); one at a time for an ordered
 * webhook (its oldest open delivery) and for a failing one (its probe), until the result is
 * recorded. The claim is the function claim_deliveries (migration
 * LiveClaims1765000000000 says why it is a function and how workers share webhooks); the attempt
 * rows are inserted in the same statement: one round trip. Committed without waiting for the WAL
 * flush (ASYNC_COMMIT says why that loses nothing).
 */
export async function claimDueDeliveries(
  db: DataSource,
  workerId: string,
  limit: number,
  leaseMs: number,
  maxInFlightPerWebhook = NO_CAP,
  answered: string[] = [],
): Promise<ClaimedDelivery[]> {
  // One round trip: the claim and its attempt rows. The function returns what the attempt row and
  // the send need (cycle, traceparent, a previous Secret in its window: ClaimReturnsWhatSendingNeeds1766300000000).
  const claimed = await select<ClaimedDelivery & { cycle: number; previousSealed: string | null; asyncCommit: string }>(
    db,
    `WITH c AS (SELECT * FROM claim_deliveries($1::text, $2::int, $3::int, $4::int, $5::bigint[])),
     started AS (
       -- Every claim must get its attempt row, or it would be held and never sent.
       INSERT INTO delivery_attempt (delivery_id, webhook_id, event_id, attempt_number, attempted_at, worker, cycle)
       SELECT c."deliveryId"::bigint, c."webhookId", c."eventId", c.attempts + 1, now(), $1, c.cycle
       FROM c
       RETURNING delivery_id, attempt_id, attempted_at
     )
     SELECT c.*, s.attempt_id::text AS "attemptId", s.attempted_at AS "attemptedAt", ${ASYNC_COMMIT}
     FROM c JOIN started s ON s.delivery_id = c."deliveryId"::bigint ORDER BY s.attempt_id`,
    [workerId, limit, leaseMs, maxInFlightPerWebhook, answered],
  );
  const box = secretBoxOf(db);
  return claimed.map(({ previousSealed, asyncCommit: _, cycle: _cycle, ...claim }) => {
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
         AND EXISTS (SELECT 1 FROM released) -- nothing released (nearly every beat): the attempt log is not read
       RETURNING 1
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM released WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT (SELECT count(*) FROM released)::int AS released, (SELECT count(*) FROM unknown)::int AS unknown, (SELECT count(*) FROM wake)::int AS woken`,
    [workerId, keep, reason],
  );
  return row.released;
}
