import type { MigrationInterface, QueryRunner } from 'typeorm';
import { withChanges } from './1766100000000-LiveClaimCap';
import { claimDeliveriesReturningWhatSendingNeeds } from './1766300000000-ClaimReturnsWhatSendingNeeds';

/**
 * claim_deliveries visits only the webhooks that have a delivery ready (pending and unclaimed),
 * found by skipping through the delivery_ready index one webhook at a time; it used to read every
 * Active webhook and look up each one's head. A claim's cost followed the number of webhooks
 * stored, busy or not: 17 ms for a claim that found nothing beside 7,000 idle webhooks, on every
 * wake-up and poll of every worker. Now it follows the webhooks with work. Each step of the skip
 * gives a webhook and its head (the index is ordered by webhook, then run_at), so the webhooks
 * come out as before: Active, due, not waiting for a probe, oldest head first.
 */
export class ClaimVisitsReadyWebhooks1766400000000 implements MigrationInterface {
  name = 'ClaimVisitsReadyWebhooks1766400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesVisitingReadyWebhooks());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesReturningWhatSendingNeeds());
  }
}

const EVERY_ACTIVE_WEBHOOK = `
          SELECT w.webhook_id, w.ordered, w.failing_since IS NOT NULL AS probing
          FROM webhook w
          CROSS JOIN LATERAL (
            SELECT d.run_at FROM delivery d
            WHERE d.webhook_id = w.webhook_id AND d.status = 'pending' AND d.locked_by IS NULL
            ORDER BY d.run_at LIMIT 1
          ) head
          WHERE w.state = 1 AND head.run_at <= now() AND (w.next_probe_at IS NULL OR w.next_probe_at <= now())
          ORDER BY head.run_at`;

/**
 * CTE `ready`: each webhook with a ready delivery and its head, by a loose index scan of
 * delivery_ready (webhook_id, run_at, delivery_id): each step is one descent to the next
 * webhook's first ready delivery.
 */
export const READY_WEBHOOKS = `ready AS (
            (SELECT d.webhook_id, d.run_at FROM delivery d
             WHERE d.status = 'pending' AND d.locked_by IS NULL
             ORDER BY d.webhook_id, d.run_at LIMIT 1)
            UNION ALL
            SELECT next.webhook_id, next.run_at FROM ready r CROSS JOIN LATERAL (
              SELECT d.webhook_id, d.run_at FROM delivery d
              WHERE d.status = 'pending' AND d.locked_by IS NULL AND d.webhook_id > r.webhook_id
              ORDER BY d.webhook_id, d.run_at LIMIT 1
            ) next
          )`;

export const WEBHOOKS_WITH_READY_DELIVERIES = `
          WITH RECURSIVE ${READY_WEBHOOKS}
          SELECT w.webhook_id, w.ordered, w.failing_since IS NOT NULL AS probing
          FROM ready head JOIN webhook w ON w.webhook_id = head.webhook_id
          WHERE w.state = 1 AND head.run_at <= now() AND (w.next_probe_at IS NULL OR w.next_probe_at <= now())
          ORDER BY head.run_at`;

export function claimDeliveriesVisitingReadyWebhooks(): string {
  return withChanges(claimDeliveriesReturningWhatSendingNeeds(), [[EVERY_ACTIVE_WEBHOOK, WEBHOOKS_WITH_READY_DELIVERIES]]);
}
