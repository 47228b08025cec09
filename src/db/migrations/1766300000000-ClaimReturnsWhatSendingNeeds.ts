import type { MigrationInterface, QueryRunner } from 'typeorm';
import { claimDeliveriesCountingOpenRequests, withChanges } from './1766100000000-LiveClaimCap';

/**
 * claim_deliveries returns, with each claimed delivery, what its attempt row and its send need
 * besides: the delivery's attempt cycle, the signal's traceparent, and the webhook's previous
 * Secret while its rotation window lasts (sealed, as stored). delivery/sql/claims.ts looked each
 * of them up again per claimed row after the function returned (three more index lookups a
 * delivery), and from that statement's older snapshot, which could miss a delivery or event
 * committed while the function ran (then it guessed cycle 1 and no traceparent). The function
 * reads them from the rows it already joins, in its own fresh snapshot: exact, and no lookups.
 */
export class ClaimReturnsWhatSendingNeeds1766300000000 implements MigrationInterface {
  name = 'ClaimReturnsWhatSendingNeeds1766300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesReturningWhatSendingNeeds());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesCountingOpenRequests());
  }
}

export function claimDeliveriesReturningWhatSendingNeeds(): string {
  return withChanges(claimDeliveriesCountingOpenRequests(), [
    ['probe boolean)', 'probe boolean, cycle int, "traceParent" text, "previousSealed" text)'],
    ['RETURNING d.delivery_id, d.event_id, d.webhook_id, d.attempts', 'RETURNING d.delivery_id, d.event_id, d.webhook_id, d.attempts, d.cycle'],
    [
      'c.delivery_id = ANY (v_probes)',
      'c.delivery_id = ANY (v_probes), c.cycle, e.trace_parent::text,\n' +
        '               CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END',
    ],
  ]);
}
