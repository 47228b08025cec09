/** The heartbeat table (delivery_worker): live workers keep their claims; dead workers' claims come back. */
import { type Db, select, WAKE_CHANNEL } from './statements';

/**
 * Registers or renews this worker's heartbeat, and releases the claims of workers whose
 * heartbeat is older than `deadAfterMs` (or, for a claim whose worker has no row, whose lease
 * ran out): due at once and ahead of their webhook's backlog (run_at = created_at), their logged
 * attempts marked "result unknown". Also holds stray pending deliveries of webhooks that are not
 * Active. Returns how many claims it released, how many other workers are alive, and when the
 * database server started (a change means it restarted: see DeliveryWorker.beat).
 */
export async function beatAndReleaseDeadClaims(db: Db, workerId: string, deadAfterMs: number): Promise<{ released: number; otherWorkers: number; serverStartedAt: string }> {
  const [row] = await select<{ released: number; otherWorkers: number; serverStartedAt: string }>(
    db,
    `WITH RECURSIVE ready AS (
       -- The webhooks with a delivery ready (pending, unclaimed), one index descent each (a loose
       -- scan of delivery_ready); the stray check below runs only if one of them is not Active.
       (SELECT d.webhook_id FROM delivery d WHERE d.status = 'pending' AND d.locked_by IS NULL ORDER BY d.webhook_id LIMIT 1)
       UNION ALL
       SELECT next.webhook_id FROM ready r CROSS JOIN LATERAL (
         SELECT d.webhook_id FROM delivery d
         WHERE d.status = 'pending' AND d.locked_by IS NULL AND d.webhook_id > r.webhook_id
         ORDER BY d.webhook_id LIMIT 1
       ) next
     ), beat AS (
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
         AND EXISTS (SELECT 1 FROM released) -- nothing released (nearly every beat): the attempt log is not read
       RETURNING 1
     ), stray AS (
       -- A signal that saw the webhook Active and committed after it stopped or tripped left a
       -- pending delivery no claim takes (claims take Active webhooks only): hold it.
       UPDATE delivery d SET status = 'held'
       WHERE d.status = 'pending' AND d.locked_by IS NULL AND d.webhook_id IN (SELECT webhook_id FROM webhook WHERE state <> 1)
         -- Without this gate every beat read the whole backlog (86 ms at 200,000 pending, each
         -- second, per worker); with it, nearly every beat reads one index entry per busy webhook.
         -- (Each state looked up by key, never a join the planner may make a scan of every webhook.)
         AND EXISTS (SELECT 1 FROM ready r WHERE (SELECT w.state FROM webhook w WHERE w.webhook_id = r.webhook_id) <> 1)
       RETURNING 1
     ), wake AS (
       SELECT pg_notify('${WAKE_CHANNEL}', '') FROM (SELECT 1 FROM released WHERE status = 'pending' LIMIT 1) any_pending
     )
     SELECT (SELECT count(*) FROM released)::int AS released, (SELECT count(*) FROM beat)::int AS beat,
            (SELECT count(*) FROM unknown)::int AS unknown, (SELECT count(*) FROM stray)::int AS held, (SELECT count(*) FROM wake)::int AS woken,
            (SELECT count(*) FROM delivery_worker WHERE worker_id <> $1 AND heartbeat_at >= now() - $2::int * interval '1 millisecond')::int AS "otherWorkers",
            pg_postmaster_start_time()::text AS "serverStartedAt"`,
    [workerId, deadAfterMs],
  );
  return { released: row.released, otherWorkers: row.otherWorkers, serverStartedAt: row.serverStartedAt };
}

/** A worker that stopped cleanly leaves the heartbeat table. */
export async function retireWorker(db: Db, workerId: string): Promise<void> {
  await db.query(`DELETE FROM delivery_worker WHERE worker_id = $1`, [workerId]);
}
