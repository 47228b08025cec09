import type { MigrationInterface, QueryRunner } from 'typeorm';
import { withChanges } from './1766100000000-LiveClaimCap';
import { claimDeliveriesVisitingReadyWebhooks, READY_WEBHOOKS, WEBHOOKS_WITH_READY_DELIVERIES } from './1766400000000-ClaimVisitsReadyWebhooks';

/**
 * claim_deliveries first visits the webhooks of the oldest due deliveries (as many deliveries as
 * the claim may take, read in run_at order from delivery_due), and only when those do not fill
 * it goes on to the other webhooks with work (the loose index scan, which reads one index entry
 * per such webhook). After a signal to many webhooks, a claim read every one of them to order
 * them by head: 5.2 ms for a claim of 64 with 1,000 webhooks holding two deliveries each. The
 * webhooks of the oldest due deliveries are exactly the first in head order, so the visiting
 * order is unchanged; the rest come after them, as before. Candidates come through a cursor,
 * one row at a time, so the second query runs only when the claim reaches it.
 */
export class ClaimStartsAtOldestDue1766600000000 implements MigrationInterface {
  name = 'ClaimStartsAtOldestDue1766600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesStartingAtOldestDue());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int, bigint[])`);
    await q.query(claimDeliveriesVisitingReadyWebhooks());
  }
}

/**
 * The webhook `head` names, if a claim may take from it (Active, not waiting for a probe), looked
 * up by its key. OFFSET 0 keeps it a lookup per candidate: as a plain join, PostgreSQL 18 chose a
 * hash join that read the whole webhook table (2.3 ms beside 10,000 idle webhooks, every claim).
 */
const CLAIMABLE_WEBHOOK = `SELECT w.webhook_id, w.ordered, w.failing_since IS NOT NULL AS probing FROM webhook w
             WHERE w.webhook_id = head.webhook_id AND w.state = 1 AND (w.next_probe_at IS NULL OR w.next_probe_at <= now())
             OFFSET 0`;

const OLDEST_DUE_FIRST = `
          WITH RECURSIVE oldest AS MATERIALIZED (
            -- The webhooks of the oldest due deliveries, each with its head (its oldest among them).
            -- Any bound is right (the other webhooks follow); a constant leaves the query without
            -- parameters, so PL/pgSQL plans it once per connection, not at every claim.
            SELECT due.webhook_id, min(due.run_at) AS run_at FROM (
              SELECT d.webhook_id, d.run_at FROM delivery d
              WHERE d.status = 'pending' AND d.locked_by IS NULL AND d.run_at <= now()
              ORDER BY d.run_at LIMIT 64
            ) due GROUP BY due.webhook_id
          ), ${READY_WEBHOOKS}
          (SELECT w.* FROM oldest head CROSS JOIN LATERAL (${CLAIMABLE_WEBHOOK}) w
           ORDER BY head.run_at)
          UNION ALL
          (SELECT w.* FROM ready head CROSS JOIN LATERAL (${CLAIMABLE_WEBHOOK}) w
           WHERE head.run_at <= now() AND NOT EXISTS (SELECT 1 FROM oldest o WHERE o.webhook_id = head.webhook_id)
           ORDER BY head.run_at)`;

export function claimDeliveriesStartingAtOldestDue(): string {
  return withChanges(claimDeliveriesVisitingReadyWebhooks(), [
    ['        v_hook record;\n', '        v_hook record;\n        v_candidates refcursor;\n'],
    [
      `        FOR v_hook IN${WEBHOOKS_WITH_READY_DELIVERIES}\n        LOOP\n          EXIT WHEN cardinality(v_ids) >= p_limit;\n`,
      // Full before the next fetch: a fetch past the oldest webhooks starts the second query.
      `        OPEN v_candidates FOR${OLDEST_DUE_FIRST};\n        LOOP\n          EXIT WHEN cardinality(v_ids) >= p_limit;\n          FETCH v_candidates INTO v_hook;\n          EXIT WHEN NOT FOUND;\n`,
    ],
    ['        END LOOP;\n\n        RETURN QUERY', '        END LOOP;\n        CLOSE v_candidates;\n\n        RETURN QUERY'],
  ]);
}
