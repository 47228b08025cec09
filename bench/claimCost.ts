/**
 * What the database's side of a delivery costs, without HTTP, load generator or a second client:
 * one client signals, claims and records in turn, as a worker at a steady rate does (a few
 * deliveries per claim), and the time of each statement is printed by the size the tables had
 * grown to, beside a trivial round trip (SELECT 1) in the same run. The signals go on one
 * connection; the claim and the record on the DataSource's pool (2 connections), as a worker sends
 * them (each its own transaction, committed without waiting for its flush: sql/statements.ts).
 * Planner statistics are refreshed as a worker does (db/tableStatistics.ts, every 100 rounds
 * here), so the figures follow a young database growing, as the other benchmarks see it.
 *
 * Then a deep queue: BENCH_DRAIN (10,000) deliveries queued at once, drained by claims of 16, 32
 * and 64 and a record after each, one at a time: the pace the database's side alone allows a
 * worker draining a backlog (a worker overlaps its sends with these round trips, not them with
 * each other), with the CPU time PostgreSQL's processes spent per delivery (steadier here than any
 * duration), beside SELECT 1 round trips per second on the same pool.
 *
 * Run: npx tsx bench/claimCost.ts   (set DATABASE_URL for a PostgreSQL server)
 * BENCH_ROUNDS (3000) rounds of BENCH_PER_ROUND (2) signals, one claim and one record each;
 * BENCH_DRAIN_CLAIMS (16,32,64) the claim sizes of the deep queue, in order (the tables keep growing).
 *
 * Then a broad fan-out: 5 signals to 1,000 webhooks each, drained by claims of 64.
 *
 * Last, claims beside idle webhooks: the same claims with 10 webhooks stored and with
 * BENCH_IDLE_WEBHOOKS (10,000) more Active ones that nothing is signalled to, and their ratio.
 */
import { performance } from 'node:perf_hooks';
import type { DataSource, EntityManager } from 'typeorm';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/dataSource';
import { preparedOn } from '../src/db/preparedQuery';
import { insertWebhook } from '../src/db/webhookRepository';
import { createDefaultWebhook, WebhookState } from '../src/core/webhook';
import { analyzeGrownTables } from '../src/db/tableStatistics';
import { claimDueDeliveries } from '../src/delivery/sql/claims';
import { insertEventWithDeliveries } from '../src/delivery/sql/events';
import { recordSuccesses } from '../src/delivery/sql/webhookCounters';
import { beatAndReleaseDeadClaims } from '../src/delivery/sql/workers';
import { createTestDatabase } from '../test/support/testDatabase';
import { postgresCpu, postgresCpuBetween } from './processCpu';
import { emitSummary } from './load';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3000);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 2);
const DRAIN = Number(process.env.BENCH_DRAIN ?? 10_000);
const DRAIN_CLAIM_SIZES = (process.env.BENCH_DRAIN_CLAIMS ?? '16,32,64').split(',').map(Number);
/** The worker's default WEBHOOK_MAX_IN_FLIGHT. */
const CAP = 8;
const WEBHOOKS = 10;
/** Active webhooks with nothing to deliver, added for the last table: a claim should not visit them. */
const IDLE = Number(process.env.BENCH_IDLE_WEBHOOKS ?? 10_000);
const IDLE_ROUNDS = 300;
/** Webhooks subscribed to one event, and how many of its signals are drained. */
const BROAD = 1000;
const BROAD_SIGNALS = 5;
const BUCKET = Math.max(1, Math.floor(ROUNDS / 3));

type Kind = 'SELECT 1' | 'signal' | 'claim' | 'record';

async function main(): Promise<void> {
  const database = await createTestDatabase();
  const db = await openDatabase(loadConfig({ ...database.env, LOG_LEVEL: 'silent' }), { poolSize: 2 });
  try {
    // One runner: every statement on one connection, as a worker's claim and record would be.
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    const tx = runner.manager;
    for (let i = 0; i < WEBHOOKS; i++) {
      const now = new Date();
      const who = { associateId: 1, name: 'bench' };
      await insertWebhook(tx, { ...createDefaultWebhook(), name: `bench ${i}`, events: [`bench.e${i}`], targetUrl: 'http://127.0.0.1:9/', registered: now, registeredAssociate: who, updated: now, updatedAssociate: who });
    }
    const timings = new Map<Kind, number[][]>();
    const time = async <T>(kind: Kind, bucket: number, run: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const result = await run();
      const per = timings.get(kind) ?? [];
      (per[bucket] ??= []).push(performance.now() - started);
      timings.set(kind, per);
      return result;
    };
    let key = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const bucket = Math.min(2, Math.floor(round / BUCKET));
      // The floor: a named statement on the same connection, as every statement below is sent.
      await time('SELECT 1', bucket, () => preparedOn(tx, 'bench_select_1', 'SELECT 1', []));
      for (let i = 0; i < PER_ROUND; i++) {
        key += 1;
        await time('signal', bucket, () =>
          insertEventWithDeliveries(tx, { eventId: crypto.randomUUID(), name: `bench.e${key % WEBHOOKS}`, primaryKey: key, data: null, associateId: 1, audience: 'everyone' }, true, false),
        );
      }
      const claimed = await time('claim', bucket, () => claimDueDeliveries(db.dataSource, 'bench-worker', 32, 60_000, 8));
      await time('record', bucket, () =>
        recordSuccesses(db.dataSource, 'bench-worker', claimed.map((c) => ({ attemptId: c.attemptId, deliveryId: c.deliveryId, webhookId: c.webhookId, httpStatus: 200, latencyMs: 1, responseBody: '' }))),
      );
      if (round % 100 === 99) await analyzeGrownTables(tx);
      // BENCH_EXPLAIN=1: the last rounds' plans (nested statements too) go to the server's log.
      if (process.env.BENCH_EXPLAIN && round === ROUNDS - 4) {
        const explain = `LOAD 'auto_explain'; ${['log_min_duration = 0', 'log_analyze = on', 'log_nested_statements = on', 'log_buffers = on'].map((setting) => `SET auto_explain.${setting};`).join(' ')}`;
        await tx.query(explain);
        // Both pooled connections at once (each held 50 ms), where the claim and the record run.
        await Promise.all([1, 2].map(() => db.dataSource.query(`${explain} SELECT pg_sleep(0.05)`)));
      }
    }
    // Updates that rewrote index entries (not HOT) cost an insert into every index of the table.
    const hot = await tx.query(
      `SELECT relname AS table, n_tup_upd::int AS updates, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname IN ('webhook', 'delivery', 'delivery_attempt') ORDER BY relname`,
    );

    const mean = (xs: number[] = []) => (xs.length ? (1000 * xs.reduce((a, b) => a + b, 0)) / xs.length : NaN);
    const median = (xs: number[] = []) => (xs.length ? (1000 * [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]) : NaN);
    const sizes = [1, 2, 3].map((b) => `${(b - 1) * BUCKET * PER_ROUND}–${b * BUCKET * PER_ROUND}`);
    console.log(`\nDatabase cost of a delivery (${db.mode === 'embedded' ? 'embedded' : 'server'}): ${ROUNDS} rounds of ${PER_ROUND} signals, one claim, one record; one connection; µs per statement (mean / median), by deliveries already in the tables.\n`);
    console.log(`| statement | ${sizes.map((s) => `${s} rows`).join(' | ')} | ÷ SELECT 1 (last) |`);
    console.log(`|---|${sizes.map(() => '---:').join('|')}|---:|`);
    const base = timings.get('SELECT 1')!;
    for (const kind of ['SELECT 1', 'signal', 'claim', 'record'] as Kind[]) {
      const per = timings.get(kind)!;
      console.log(`| ${kind} | ${per.map((xs) => `${mean(xs).toFixed(0)} / ${median(xs).toFixed(0)}`).join(' | ')} | ${(mean(per[2]) / mean(base[2])).toFixed(1)}× |`);
    }
    const perDelivery = (b: number) => (mean(timings.get('signal')![b]) * PER_ROUND + mean(timings.get('claim')![b]) + mean(timings.get('record')![b])) / PER_ROUND;
    console.log(`| per delivery (signal + claim and record shared) | ${[0, 1, 2].map((b) => perDelivery(b).toFixed(0)).join(' | ')} | |`);
    console.log(`\nHOT updates (no index entries rewritten): ${hot.map((h: { table: string; updates: number; hot: number }) => `${h.table} ${h.hot} of ${h.updates}`).join(', ')}`);

    let lastBeatMs = NaN;
    let lastPings = NaN;
    // A deployment has a Stopped webhook or two: the heartbeat's check for strays must not read the backlog for them.
    await insertWebhook(tx, { ...createDefaultWebhook(), name: 'bench stopped', events: ['bench.stopped'], targetUrl: 'http://127.0.0.1:9/', state: WebhookState.Stopped, registered: new Date(), registeredAssociate: { associateId: 1, name: 'bench' }, updated: new Date(), updatedAssociate: { associateId: 1, name: 'bench' } });
    console.log(`\nDeep queue: ${DRAIN} deliveries over ${WEBHOOKS} webhooks queued at once, drained by one claim then one record at a time (cap ${CAP} per webhook), one Stopped webhook beside them; SELECT 1 on the same pool for scale; a worker's heartbeat (once a second) on the full queue.\n`);
    console.log('| claim size | deliveries/s | claim ms | record µs a delivery | PostgreSQL CPU µs a delivery | SELECT 1 per s | heartbeat ms, queue full |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    for (const size of DRAIN_CLAIM_SIZES) {
      for (let k = 0; k < DRAIN; k++) {
        key += 1;
        await insertEventWithDeliveries(tx, { eventId: crypto.randomUUID(), name: `bench.e${key % WEBHOOKS}`, primaryKey: key, data: null, associateId: 1, audience: 'everyone' }, true, false);
      }
      // As a worker starting on a grown queue does at its first heartbeat (its counters may lag a second behind).
      await tx.query('ANALYZE delivery, event');
      // Every worker beats once a second, backlog or not.
      const beatMs = await meanMs(100, () => beatAndReleaseDeadClaims(db.dataSource, 'bench-drain', 60_000));
      const drained = await drain(db.dataSource, size);
      const pings = await selectOnePerSecond(db.dataSource);
      lastBeatMs = beatMs;
      lastPings = pings;
      console.log(`| ${size} | ${drained.perSecond.toFixed(0)} | ${drained.claimMs.toFixed(2)} | ${drained.recordUsPerDelivery.toFixed(0)} | ${drained.postgresUsPerDelivery.toFixed(0)} | ${pings.toFixed(0)} | ${beatMs.toFixed(2)} |`);
    }

    // A signal to many webhooks: each claim's first webhooks come from the oldest due deliveries.
    await tx.query(
      `INSERT INTO webhook (name, events, target_url, state, type, registered, updated)
       SELECT 'broad ' || g, ARRAY['bench.broad'], 'http://127.0.0.1:9/', 1, 'webhook', now(), now() FROM generate_series(1, $1) g`,
      [BROAD],
    );
    for (let k = 0; k < BROAD_SIGNALS; k++) {
      key += 1;
      await insertEventWithDeliveries(tx, { eventId: crypto.randomUUID(), name: 'bench.broad', primaryKey: key, data: null, associateId: 1, audience: 'everyone' }, true, false);
    }
    await tx.query('ANALYZE webhook, delivery, event');
    const broad = await drain(db.dataSource, 64);
    console.log(`\nBroad fan-out: ${BROAD_SIGNALS} signals to ${BROAD.toLocaleString('en')} webhooks each, drained by claims of 64: ${broad.perSecond.toFixed(0)} deliveries/s, claim ${broad.claimMs.toFixed(2)} ms, PostgreSQL CPU ${broad.postgresUsPerDelivery.toFixed(0)} µs a delivery.`);
    await tx.query(`UPDATE webhook SET state = 2 WHERE name LIKE 'broad %'`);

    // A claim's cost must follow the webhooks with work, not the webhooks stored.
    console.log(`\nIdle webhooks: a signal, a claim and a record, ${IDLE_ROUNDS} times, with ${WEBHOOKS} webhooks, then beside ${IDLE.toLocaleString('en')} more Active ones that nothing is signalled to; and claims that find nothing.\n`);
    console.log('| webhooks stored | claim finding one ms | claim finding none ms |');
    console.log('|---:|---:|---:|');
    const claimsBeside = async (stored: number) => {
      const one = await claimRounds(db.dataSource, tx, () => (key += 1));
      const none = await claimRounds(db.dataSource, null, () => key);
      console.log(`| ${stored.toLocaleString('en')} | ${one.toFixed(2)} | ${none.toFixed(2)} |`);
      return one;
    };
    const few = await claimsBeside(WEBHOOKS);
    await tx.query(
      `INSERT INTO webhook (name, events, target_url, state, type, registered, updated)
       SELECT 'idle ' || g, ARRAY['bench.idle'], 'http://127.0.0.1:9/', 1, 'webhook', now(), now() FROM generate_series(1, $1) g`,
      [IDLE],
    );
    await tx.query('ANALYZE webhook');
    const many = await claimsBeside(WEBHOOKS + IDLE);
    console.log(`\nA claim finding one beside ${IDLE.toLocaleString('en')} idle webhooks ÷ the same with ${WEBHOOKS}: ${(many / few).toFixed(2)}×`);
    const mode = db.mode === 'embedded' ? 'embedded' : 'server';
    emitSummary(`claim cost (${mode} database)`, [
      { figure: `claim finding one, beside ${IDLE.toLocaleString('en')} idle webhooks (baseline: with ${WEBHOOKS})`, value: many, unit: 'ms', baseline: few },
      { figure: `heartbeat, ${DRAIN.toLocaleString('en')} queued and a Stopped webhook (baseline: SELECT 1)`, value: lastBeatMs, unit: 'ms', baseline: 1000 / lastPings },
    ]);
    await runner.release();
  } finally {
    await db.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/** Claims of `size` and a record of each batch, one after the other, until nothing is due. */
async function drain(ds: DataSource, size: number): Promise<{ perSecond: number; claimMs: number; recordUsPerDelivery: number; postgresUsPerDelivery: number }> {
  // CPU, not time: steadier than a duration on a noisy machine (the backends run on the same cores as this process).
  const cpuBefore = postgresCpu();
  let delivered = 0;
  let claims = 0;
  let claimMs = 0;
  let recordMs = 0;
  const started = performance.now();
  for (;;) {
    let t = performance.now();
    const claimed = await claimDueDeliveries(ds, 'bench-drain', size, 60_000, CAP);
    claimMs += performance.now() - t;
    claims += 1;
    if (claimed.length === 0) break;
    t = performance.now();
    await recordSuccesses(ds, 'bench-drain', claimed.map((c) => ({ attemptId: c.attemptId, deliveryId: c.deliveryId, webhookId: c.webhookId, httpStatus: 200, latencyMs: 1, responseBody: '' })));
    recordMs += performance.now() - t;
    delivered += claimed.length;
  }
  const seconds = (performance.now() - started) / 1000;
  const postgresUsPerDelivery = (postgresCpuBetween(cpuBefore, postgresCpu()) * 1e6) / delivered;
  return { perSecond: delivered / seconds, claimMs: claimMs / claims, recordUsPerDelivery: (1000 * recordMs) / delivered, postgresUsPerDelivery };
}

/**
 * Mean ms of IDLE_ROUNDS claims (limit 32, as a worker at a steady rate), each after one signal
 * on `signalOn` to a busy webhook (or none: claims that find nothing), and its record.
 */
async function claimRounds(ds: DataSource, signalOn: EntityManager | null, nextKey: () => number): Promise<number> {
  let total = 0;
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    if (signalOn) {
      const key = nextKey();
      await insertEventWithDeliveries(signalOn, { eventId: crypto.randomUUID(), name: `bench.e${key % WEBHOOKS}`, primaryKey: key, data: null, associateId: 1, audience: 'everyone' }, true, false);
    }
    const started = performance.now();
    const claimed = await claimDueDeliveries(ds, 'bench-idle', 32, 60_000, CAP);
    total += performance.now() - started;
    await recordSuccesses(ds, 'bench-idle', claimed.map((c) => ({ attemptId: c.attemptId, deliveryId: c.deliveryId, webhookId: c.webhookId, httpStatus: 200, latencyMs: 1, responseBody: '' })));
  }
  return total / IDLE_ROUNDS;
}

/** Mean ms of `n` runs, one after the other. */
async function meanMs(n: number, run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) await run();
  return (performance.now() - started) / n;
}

async function selectOnePerSecond(ds: DataSource): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < 1000; i++) await preparedOn(ds, 'bench_select_1', 'SELECT 1', []);
  return 1000 / ((performance.now() - started) / 1000);
}
