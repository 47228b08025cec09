import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The per-ticket rate limit shared by every process on one database (db/rateLimitBuckets.ts):
 * one token bucket a ticket. UNLOGGED: written on busy paths, and a crash that empties it only
 * hands every ticket a full bucket again.
 */
export class RateLimitBucket1765500000001 implements MigrationInterface {
  name = 'RateLimitBucket1765500000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNLOGGED TABLE rate_limit_bucket (key text PRIMARY KEY, tokens double precision NOT NULL, refilled_at timestamptz NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rate_limit_bucket`);
  }
}
