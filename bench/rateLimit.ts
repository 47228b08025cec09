/**
 * `npx tsx bench/rateLimit.ts`: what the shared rate limit (core/rateLimit.ts with
 * db/rateLimitBuckets.ts) costs per request, beside the per-process limiter it replaced
 * (baseline, same run). Figures: microseconds per take() for one busy ticket, and the round trip
 * of one reservation. Set DATABASE_URL for a PostgreSQL server; otherwise the embedded one.
 */
import { loadConfig } from '../src/config';
import { RequestRateLimiter } from '../src/core/rateLimit';
import { openDatabase } from '../src/db/dataSource';
import { reserveTokens } from '../src/db/rateLimitBuckets';
import { createTestDatabase } from '../test/support/testDatabase';

async function perTake(limiter: RequestRateLimiter, key: string, n: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await limiter.take(key);
  return Number(process.hrtime.bigint() - started) / 1000 / n;
}

async function main() {
  const database = await createTestDatabase();
  const db = await openDatabase(loadConfig({ LOG_LEVEL: 'silent', ...database.env }));
  try {
    const ds = db.dataSource;
    const reserve = (key: string, capacity: number, perSecond: number, want: number) => reserveTokens(ds, key, capacity, perSecond, want);
    const rows: Array<[string, number, number]> = [];
    // Default limit (600 a minute): a busy ticket spends its whole minute's budget.
    const n = 600;
    for (let round = 0; round < 3; round++) {
      const local = await perTake(new RequestRateLimiter(600), `local-${round}`, n);
      const shared = await perTake(new RequestRateLimiter(600, reserve), `shared-${round}`, n);
      rows.push([`take(), limit 600/min, ${n} requests`, shared, local]);
    }
    // A high limit (60,000 a minute: chunks of up to 1,000 tokens).
    const many = 20_000;
    rows.push([`take(), limit 60000/min, ${many} requests`, await perTake(new RequestRateLimiter(60_000, reserve), 'shared-high', many), await perTake(new RequestRateLimiter(60_000), 'local-high', many)]);
    // One reservation's round trip, against an in-memory Map lookup.
    const trips = 500;
    let started = process.hrtime.bigint();
    for (let i = 0; i < trips; i++) await reserve('trip', 1_000_000, 1_000_000, 1);
    const roundTrip = Number(process.hrtime.bigint() - started) / 1000 / trips;
    started = process.hrtime.bigint();
    for (let i = 0; i < trips; i++) await new RequestRateLimiter(1_000_000).take('x');
    rows.push(['one reservation (SQL round trip)', roundTrip, Number(process.hrtime.bigint() - started) / 1000 / trips]);

    console.log(`database: ${database.mode}\n`);
    console.log('| figure | shared limiter µs/request | baseline: per-process limiter µs/request | ratio |');
    console.log('|---|---:|---:|---:|');
    for (const [figure, value, baseline] of rows) console.log(`| ${figure} | ${value.toFixed(1)} | ${baseline.toFixed(1)} | ${(value / baseline).toFixed(1)}x |`);
  } finally {
    await db.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
