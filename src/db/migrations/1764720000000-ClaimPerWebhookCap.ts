import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The delivery claim as a function, so it can cap claimed-and-unfinished deliveries per webhook
 * (WEBHOOK_MAX_IN_FLIGHT) across all workers in one round trip.
 *
 * Why a function: a single statement counts live leases in the snapshot it started with, so two
 * workers claiming at the same moment would each miss the other's claims and together hand out
 * up to twice the cap. Here claims take a transaction-scoped advisory lock first, and the claim
 * query after it runs with a fresh snapshot (PL/pgSQL, READ COMMITTED): it sees every lease an
 * earlier claim committed. Claims are a few milliseconds, so serialising them costs little;
 * FOR UPDATE SKIP LOCKED still keeps claims off rows that other writers (settle, cancel) hold.
 * graphile-worker keeps its get_job the same way. delivery/sql/claims.ts claimDueDeliveries calls it.
 */
export class ClaimPerWebhookCap1764720000000 implements MigrationInterface {
  name = 'ClaimPerWebhookCap1764720000000';

  async up(q: QueryRunner): Promise<void> {
    // Live leases by webhook: only claimed rows have locked_until; settling and releasing clear it.
    await q.query(`CREATE INDEX delivery_leased ON delivery (webhook_id, locked_until) WHERE locked_until IS NOT NULL AND status IN ('pending', 'held')`);
    await q.query(`
      CREATE FUNCTION claim_due_deliveries(p_worker text, p_limit int, p_lease_ms int, p_max_in_flight int)
      RETURNS TABLE ("deliveryId" text, attempts int, "eventId" uuid, "eventName" text, "primaryKey" int, data jsonb,
                     "associateId" int, "signalledAt" timestamptz, "webhookId" int, "webhookState" int, "webhookName" text,
                     "targetUrl" text, secret text, headers jsonb, properties jsonb)
      LANGUAGE plpgsql VOLATILE AS $fn$
      #variable_conflict use_column
      BEGIN
        PERFORM pg_advisory_xact_lock(72420012);
        RETURN QUERY
        WITH live AS (
          SELECT l.webhook_id, count(*)::int AS n FROM delivery l
          WHERE l.locked_until IS NOT NULL AND l.status IN ('pending', 'held') AND l.locked_until > now()
          GROUP BY l.webhook_id
        ), due AS (
          -- Webhooks at their cap are skipped in the scan, so one webhook's backlog cannot fill the window.
          SELECT d.delivery_id, d.webhook_id, d.run_at FROM delivery d
          WHERE d.status = 'pending' AND d.run_at <= now()
            AND NOT EXISTS (SELECT 1 FROM live WHERE live.webhook_id = d.webhook_id AND live.n >= p_max_in_flight)
          ORDER BY d.run_at
          LIMIT p_limit * 2
          FOR UPDATE OF d SKIP LOCKED
        ), picked AS (
          SELECT r.delivery_id FROM (
            SELECT due.delivery_id, due.run_at,
                   row_number() OVER (PARTITION BY due.webhook_id ORDER BY due.run_at, due.delivery_id) + COALESCE(live.n, 0) AS slot
            FROM due LEFT JOIN live ON live.webhook_id = due.webhook_id
          ) r
          WHERE r.slot <= p_max_in_flight
          ORDER BY r.run_at
          LIMIT p_limit
        ), claimed AS (
          UPDATE delivery d
          SET locked_by = p_worker, locked_until = now() + p_lease_ms * interval '1 millisecond', run_at = now() + p_lease_ms * interval '1 millisecond'
          FROM picked WHERE d.delivery_id = picked.delivery_id
          RETURNING d.delivery_id, d.event_id, d.webhook_id, d.attempts
        )
        SELECT c.delivery_id::text, c.attempts, e.event_id, e.name::text, e.primary_key, e.data, e.associate_id, e.signalled_at,
               c.webhook_id, w.state::int, w.name::text, w.target_url::text, w.secret, w.headers, w.properties
        FROM claimed c JOIN event e ON e.event_id = c.event_id LEFT JOIN webhook w ON w.webhook_id = c.webhook_id;
      END
      $fn$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION claim_due_deliveries(text, int, int, int)`);
    await q.query(`DROP INDEX delivery_leased`);
  }
}
