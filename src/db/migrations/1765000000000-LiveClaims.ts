import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ClaimPerWebhookCap1764720000000 } from './1764720000000-ClaimPerWebhookCap';

/**
 * Claims that follow their worker's life, a probe mode for failing webhooks, ordered webhooks,
 * and attempts logged before they are sent (issues 10 and 11).
 *
 * - `delivery_worker`: one row per running worker, its heartbeat renewed every second. A claim
 *   is live while its worker beats; any worker releases the claims of a worker whose heartbeat
 *   stopped (delivery/sql/workers.ts), so a dead worker's claims come back in seconds, whatever
 *   the delivery timeout. The claim's lease (locked_until) only backs up a worker with no row.
 * - `webhook.failing_since`: set by the first failed attempt after a success; while it is set the
 *   webhook is probed (one delivery at a time). Only the first failure and failures of probes
 *   (attempts claimed while it was set: claim_deliveries returns `probe`) add to
 *   ConsecutiveErrors; sends in flight together when a receiver went down say one thing.
 *   `webhook.next_probe_at`: after a probe's cycle fails, the next probe waits the cycle's last wait.
 * - `webhook.ordered`: deliveries one at a time in signal order.
 * - `delivery_attempt.outcome`: null while the attempt's result is not known (it is inserted as
 *   the delivery is claimed, before the send); success / failure / gone once settled.
 *
 * claim_deliveries replaces claim_due_deliveries without its global advisory lock: a claim takes
 * a transaction-scoped advisory lock per webhook with pg_try_advisory_xact_lock, skipping webhooks
 * another claim holds, so concurrent claims partition the webhooks between them. Counting a
 * webhook's live claims in a statement after its lock is taken (PL/pgSQL, READ COMMITTED: a fresh
 * snapshot per statement) sees every claim committed by whoever held the lock before, so the
 * per-webhook cap (WEBHOOK_MAX_IN_FLIGHT) stays exact across workers.
 */
export class LiveClaims1765000000000 implements MigrationInterface {
  name = 'LiveClaims1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE delivery_worker (
        worker_id varchar(200) PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`ALTER TABLE webhook ADD COLUMN ordered boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE webhook ADD COLUMN failing_since timestamptz`);
    await q.query(`ALTER TABLE webhook ADD COLUMN next_probe_at timestamptz`);
    await q.query(`ALTER TABLE delivery_attempt ADD COLUMN outcome varchar(8)`);
    await q.query(`ALTER TABLE delivery_attempt ALTER COLUMN latency_ms DROP NOT NULL`);
    await q.query(`
      UPDATE delivery_attempt SET outcome = CASE
        WHEN error IS NULL AND http_status BETWEEN 200 AND 299 THEN 'success'
        WHEN error IS NULL AND http_status = 410 THEN 'gone'
        ELSE 'failure' END`);
    // A claim's "due unclaimed deliveries of this webhook, earliest first" and an ordered webhook's head.
    await q.query(`CREATE INDEX delivery_ready ON delivery (webhook_id, run_at) WHERE status = 'pending' AND locked_by IS NULL`);
    await q.query(`CREATE INDEX delivery_pending_order ON delivery (webhook_id, delivery_id) WHERE status = 'pending'`);
    // Releasing the claims of a worker that stopped beating.
    await q.query(`CREATE INDEX delivery_locked_by ON delivery (locked_by) WHERE locked_by IS NOT NULL`);
    // Settled and released claims no longer need their lease (never reclaimed by run_at alone); any old one is released now.
    await q.query(`UPDATE delivery SET locked_by = NULL, locked_until = NULL, run_at = now() WHERE locked_by IS NOT NULL AND status IN ('pending', 'held')`);
    await q.query(`DROP FUNCTION claim_due_deliveries(text, int, int, int)`);
    await q.query(CLAIM_DELIVERIES);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_deliveries(text, int, int, int)`);
    await q.query(`DROP INDEX delivery_locked_by`);
    await q.query(`DROP INDEX delivery_pending_order`);
    await q.query(`DROP INDEX delivery_ready`);
    await q.query(`UPDATE delivery_attempt SET latency_ms = 0 WHERE latency_ms IS NULL`);
    await q.query(`ALTER TABLE delivery_attempt ALTER COLUMN latency_ms SET NOT NULL`);
    await q.query(`ALTER TABLE delivery_attempt DROP COLUMN outcome`);
    await q.query(`ALTER TABLE webhook DROP COLUMN next_probe_at`);
    await q.query(`ALTER TABLE webhook DROP COLUMN failing_since`);
    await q.query(`ALTER TABLE webhook DROP COLUMN ordered`);
    await q.query(`DROP TABLE delivery_worker`);
    // The previous claim function (and its index) as that migration made them.
    await q.query(`DROP INDEX delivery_leased`);
    await new ClaimPerWebhookCap1764720000000().up(q);
  }
}

/** The claim function as this migration made it (LiveClaimCap1766100000000 derives its successor from it). */
export const CLAIM_DELIVERIES = `
      CREATE FUNCTION claim_deliveries(p_worker text, p_limit int, p_lease_ms int, p_max_in_flight int)
      RETURNS TABLE ("deliveryId" text, attempts int, "eventId" uuid, "eventName" text, "primaryKey" int, data jsonb,
                     "associateId" int, "signalledAt" timestamptz, "webhookId" int, "webhookState" int, "webhookName" text,
                     "targetUrl" text, secret text, headers jsonb, properties jsonb, probe boolean)
      LANGUAGE plpgsql VOLATILE AS $fn$
      #variable_conflict use_column
      DECLARE
        v_hook record;
        v_ids bigint[] := '{}';
        v_probes bigint[] := '{}';
        v_picked bigint[];
        v_head bigint;
        v_live int;
        v_window int;
      BEGIN
        FOR v_hook IN
          SELECT w.webhook_id, w.ordered, w.failing_since IS NOT NULL AS probing
          FROM webhook w
          CROSS JOIN LATERAL (
            SELECT d.run_at FROM delivery d
            WHERE d.webhook_id = w.webhook_id AND d.status = 'pending' AND d.locked_by IS NULL
            ORDER BY d.run_at LIMIT 1
          ) head
          WHERE w.state = 1 AND head.run_at <= now() AND (w.next_probe_at IS NULL OR w.next_probe_at <= now())
          ORDER BY head.run_at
        LOOP
          EXIT WHEN cardinality(v_ids) >= p_limit;
          -- Another claim holds this webhook: it is theirs this round.
          CONTINUE WHEN NOT pg_try_advisory_xact_lock(72420013, v_hook.webhook_id);
          SELECT count(*) INTO v_live FROM delivery l
          WHERE l.webhook_id = v_hook.webhook_id AND l.locked_by IS NOT NULL AND l.status IN ('pending', 'held');
          v_window := CASE WHEN v_hook.ordered OR v_hook.probing THEN 1 ELSE p_max_in_flight END;
          CONTINUE WHEN v_live >= v_window;
          v_picked := NULL;
          IF v_hook.ordered OR v_hook.probing THEN
            -- Ordered: the oldest open delivery, due or not, is the only one that may go.
            -- Probing: the delivery already in its cycle goes on; the others wait in order.
            v_head := NULL;
            IF v_hook.ordered THEN
              SELECT d.delivery_id INTO v_head FROM delivery d
              WHERE d.webhook_id = v_hook.webhook_id AND d.status = 'pending' ORDER BY d.delivery_id LIMIT 1;
            ELSE
              SELECT d.delivery_id INTO v_head FROM delivery d
              WHERE d.webhook_id = v_hook.webhook_id AND d.status = 'pending' AND d.attempts > 0 ORDER BY d.delivery_id LIMIT 1;
              IF v_head IS NULL THEN
                SELECT d.delivery_id INTO v_head FROM delivery d
                WHERE d.webhook_id = v_hook.webhook_id AND d.status = 'pending' AND d.locked_by IS NULL AND d.run_at <= now()
                ORDER BY d.delivery_id LIMIT 1;
              END IF;
            END IF;
            SELECT array_agg(p.delivery_id) INTO v_picked FROM (
              SELECT d.delivery_id FROM delivery d
              WHERE d.delivery_id = v_head AND d.status = 'pending' AND d.locked_by IS NULL AND d.run_at <= now()
              FOR UPDATE SKIP LOCKED
            ) p;
          ELSE
            SELECT array_agg(p.delivery_id) INTO v_picked FROM (
              SELECT d.delivery_id FROM delivery d
              WHERE d.webhook_id = v_hook.webhook_id AND d.status = 'pending' AND d.locked_by IS NULL AND d.run_at <= now()
              ORDER BY d.run_at, d.delivery_id
              LIMIT LEAST(v_window - v_live, p_limit - cardinality(v_ids))
              FOR UPDATE SKIP LOCKED
            ) p;
          END IF;
          IF v_picked IS NOT NULL THEN
            v_ids := v_ids || v_picked;
            IF v_hook.probing THEN
              v_probes := v_probes || v_picked;
            END IF;
          END IF;
        END LOOP;

        RETURN QUERY
        WITH claimed AS (
          UPDATE delivery d
          SET locked_by = p_worker, locked_until = now() + p_lease_ms * interval '1 millisecond',
              run_at = now() + p_lease_ms * interval '1 millisecond', attempts = d.attempts + 1
          WHERE d.delivery_id = ANY (v_ids)
          RETURNING d.delivery_id, d.event_id, d.webhook_id, d.attempts
        )
        SELECT c.delivery_id::text, c.attempts - 1, e.event_id, e.name::text, e.primary_key, e.data, e.associate_id, e.signalled_at,
               c.webhook_id, w.state::int, w.name::text, w.target_url::text, w.secret, w.headers, w.properties,
               c.delivery_id = ANY (v_probes)
        FROM claimed c JOIN event e ON e.event_id = c.event_id LEFT JOIN webhook w ON w.webhook_id = c.webhook_id
        ORDER BY c.delivery_id;
      END
      $fn$`;
