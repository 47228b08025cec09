/**
 * What committing signals together saves on the database (delivery/signalBatcher.ts): events
 * with one delivery each (1,000 webhooks stored, one event name each), stored as single
 * statements on 8 connections at once (the baseline: each SignalEvent on its own) and as
 * batches of 10 and of 50 on 2 connections (the batcher's most in flight), in one run.
 *
 * Run: npx tsx bench/signalBatch.ts   (set DATABASE_URL for a PostgreSQL server)
 * BENCH_EVENTS (4000) per figure, BENCH_ROUNDS (3).
 */
import crypto from 'node:crypto';
import { loadConfig } from '../src/config';
import { createDefaultWebhook } from '../src/core/webhook';
import { openDatabase } from '../src/db/dataSource';
import { insertWebhook } from '../src/db/webhookRepository';
import { insertEventsWithDeliveries, insertEventWithDeliveries, type NewEvent } from '../src/delivery/sql/events';
import { createTestDatabase } from '../test/support/testDatabase';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WEBHOOKS = 1000;

async function main() {
  const database = await createTestDatabase();
  const db = await openDatabase(loadConfig({ ...database.env, LOG_LEVEL: 'silent' }), { poolSize: 8 });
  const ds = db.dataSource;
  try {
    const now = new Date();
    const who = { associateId: 1, name: 'bench' };
    for (let i = 0; i < WEBHOOKS; i++) {
      await insertWebhook(ds, { ...createDefaultWebhook(), name: `bench ${i}`, events: [`bench.e${i}`], targetUrl: 'http://127.0.0.1:9/', state: 1, registered: now, registeredAssociate: who, updated: now, updatedAssociate: who });
    }
    // Fresh statistics, as a worker's heartbeat gives a table that grew this much (db/tableStatistics.ts):
    // without them the batch statement's plan scans every webhook for every event.
    await ds.query('ANALYZE webhook');
    let key = 0;
    const event = (): NewEvent => ({ eventId: crypto.randomUUID(), name: `bench.e${key % WEBHOOKS}`, primaryKey: ++key, data: null, associateId: 1, audience: 'everyone' });
    /** Events per second, `connections` loops at once each storing `size` events per statement. */
    const rate = async (connections: number, size: number): Promise<number> => {
      let left = EVENTS;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (left > 0) {
            const n = Math.min(size, left);
            left -= n;
            if (size === 1) await insertEventWithDeliveries(ds, event(), true, false);
            else await insertEventsWithDeliveries(ds, Array.from({ length: n }, event), true);
          }
        }),
      );
      return EVENTS / ((performance.now() - started) / 1000);
    };
    await rate(8, 1); // warm-up: plans, caches
    await rate(2, 10);
    console.log(`Signals committed together (database: ${db.mode}): ${EVENTS} events per figure, one delivery each, ${WEBHOOKS} webhooks stored.\n`);
    console.log('| round | single statements, 8 connections (baseline) | batches of 10, 2 connections | ratio | batches of 50, 2 connections | ratio |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (let round = 1; round <= ROUNDS; round++) {
      const single = await rate(8, 1);
      const ten = await rate(2, 10);
      const fifty = await rate(2, 50);
      console.log(`| ${round} | ${single.toFixed(0)}/s | ${ten.toFixed(0)}/s | ${(ten / single).toFixed(2)}x | ${fifty.toFixed(0)}/s | ${(fifty / single).toFixed(2)}x |`);
    }
  } finally {
    await db.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
