import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CLAIM_DELIVERIES } from './1765000000000-LiveClaims';

/**
 * The per-webhook cap (WEBHOOK_MAX_IN_FLIGHT) counts requests in flight to the webhook's target,
 * not claims whose result is still being written.
 *
 * A claim stays live until the worker records its result, a few milliseconds after the receiver
 * answered (results are written in batches). Counting those made a webhook with a backlog wait,
 * after every batch of answers, for the record's round trip before its next claim: with the
 * default cap of 8 and a backlog on 10 webhooks, one worker drained at most 80 deliveries per
 * claim-send-record cycle, and a second worker added nothing, since the cap is shared (issue 11).
 *
 * claim_deliveries takes the ids of the claiming worker's deliveries whose receiver has answered
 * and that are not recorded yet (`p_answered`), and leaves them out of the count: the receiver
 * has no request of theirs open. Only the caller's own claims are left out, so the count is
 * still never below the requests really open, and the cap stays exact across workers. An
 * ordered or probing webhook still waits for the record: its next delivery depends on the
 * result (the head is still pending until then, and the claim only takes an unclaimed head).
 * `p_answered` defaults to none, so a worker of the previous version calls it unchanged.
 */
export class LiveClaimCap1766100000000 implements MigrationInterface {
  name = 'LiveClaimCap1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int)`);
    await q.query(claimDeliveriesCountingOpenRequests());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(CLAIM_DELIVERIES);
  }
}

/** The claim function as this migration makes it: the previous one with the changes above. */
export function claimDeliveriesCountingOpenRequests(): string {
  return withChanges(CLAIM_DELIVERIES, [
    ['p_max_in_flight int)', "p_max_in_flight int, p_answered bigint[] DEFAULT '{}')"],
    [
      "l.locked_by IS NOT NULL AND l.status IN ('pending', 'held');",
      "l.locked_by IS NOT NULL AND l.status IN ('pending', 'held')\n            AND NOT (l.locked_by = p_worker AND l.delivery_id = ANY (p_answered));",
    ],
  ]);
}

/** A function's text with each [from, to] replaced; each `from` must occur exactly once. */
export function withChanges(sql: string, changes: Array<[string, string]>): string {
  return changes.reduce((text, [from, to]) => {
    if (text.split(from).length !== 2) throw new Error(`expected exactly one "${from}" in the function's text`);
    return text.replace(from, to);
  }, sql);
}
