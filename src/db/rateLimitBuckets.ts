import type { DataSource } from 'typeorm';

/**
 * The shared token buckets of the rate limit (core/rateLimit.ts): a process takes tokens from a
 * ticket's bucket here, a few at a time, so every process on one database draws from the same
 * budget and the limit holds however many processes serve.
 */

export interface Reservation {
  /** Tokens taken (0 to `want`). */
  granted: number;
  /** With none granted: how long until one token is back. */
  retryAfterMs: number;
}

// Refill since the last touch, capped at capacity; take what is whole, up to $4. The row lock
// (UPDATE) makes concurrent takers from other processes queue, each seeing the other's result.
const TAKE = `WITH b AS (
    SELECT key, LEAST($2::float8, tokens + GREATEST(0, extract(epoch FROM clock_timestamp() - refilled_at)) * $3::float8) AS available
    FROM rate_limit_bucket WHERE key = $1 FOR UPDATE
  ), g AS (
    SELECT key, available, GREATEST(0, LEAST(floor(available), $4::int))::int AS granted FROM b
  ), taken AS (
    UPDATE rate_limit_bucket r SET tokens = g.available - g.granted, refilled_at = clock_timestamp() FROM g WHERE r.key = g.key RETURNING 1
  )
  SELECT g.granted, g.available, (SELECT count(*) FROM taken)::int AS updated FROM g`;

/**
 * Takes up to `want` whole tokens from `key`'s bucket, refilled at `perSecond` up to `capacity`
 * since it was last touched. A bucket that does not exist yet is created full first (its own
 * statement: the take must lock an existing row, or two first takers would both start full).
 */
export async function reserveTokens(ds: DataSource, key: string, capacity: number, perSecond: number, want: number): Promise<Reservation> {
  const parameters = [key, capacity, perSecond, want];
  let rows: Array<{ granted: number; available: number }> = await ds.query(TAKE, parameters);
  if (rows.length === 0) {
    await ds.query(`INSERT INTO rate_limit_bucket (key, tokens, refilled_at) VALUES ($1, $2, clock_timestamp()) ON CONFLICT (key) DO NOTHING`, [key, capacity]);
    rows = await ds.query(TAKE, parameters);
  }
  const { granted, available } = rows[0];
  return { granted, retryAfterMs: granted > 0 ? 0 : Math.max(1, Math.ceil(((1 - available) / perSecond) * 1000)) };
}
