/**
 * What the OpenTelemetry hooks (src/tracing.ts) cost. Two parts, each beside a baseline from
 * the same run:
 *
 * 1. Per hook, no database: `traceAttempt` around an empty send, tracing off and on (spans to an
 *    exporter that drops them), beside calling the send directly (off and direct: best of three
 *    alternating rounds of 500,000 calls).
 * 2. End to end: BENCH_EVENTS (2,000) events signalled through the engine (16 at a time) and
 *    delivered by the in-process worker to a local receiver, tracing off and on, alternating
 *    rounds (off, on, off, on) on one service; the figure is the better round of each.
 *    On a PostgreSQL server when DATABASE_URL is set (a database of its own), else embedded.
 *
 * Run: npm run bench:tracing   (DATABASE_URL=postgres://... for the server; BENCH_EVENTS=1000 for a quick run)
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { loadConfig } from '../src/config';
import type { AssociateRef } from '../src/core/webhook';
import { createLogger } from '../src/logger';
import { startService } from '../src/service';
import { startTracing, stopTracing, traceAttempt } from '../src/tracing';
import { createWebhook } from '../test/delivery/helpers';
import { createTestDatabase } from '../test/support/testDatabase';
import { emitSummary } from './load';

const CALLS = 500_000;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000);
const ACTOR: AssociateRef = { associateId: 1, name: 'bench' };

/** Spans are built and handed over, then dropped: the SDK's cost without any network. */
const droppingExporter: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };

async function perCall(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 10_000; i++) await run(); // warm up
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return ((performance.now() - start) * 1e6) / CALLS;
}

async function hookCost(): Promise<{ direct: number; off: number; on: number }> {
  const headers = { 'Content-Type': 'application/json' };
  const result = { status: 200, error: null };
  const send = async (_h: Record<string, string>) => result;
  const attempt = { traceParent: null, targetUrl: 'https://receiver.example.com/hook', webhookId: 1, attemptNumber: 1, deliveryId: '1', eventName: 'bench.e' };
  // Alternating rounds, the best of each: the first loop would otherwise also pay the JIT's warm-up.
  const directRounds: number[] = [];
  const offRounds: number[] = [];
  for (let round = 0; round < 3; round++) {
    directRounds.push(await perCall(() => send(headers)));
    offRounds.push(await perCall(() => traceAttempt(attempt, headers, send)));
  }
  const direct = Math.min(...directRounds);
  const off = Math.min(...offRounds);
  await startTracing({ exporter: droppingExporter });
  const on = await perCall(() => traceAttempt(attempt, headers, send));
  await stopTracing();
  return { direct, off, on };
}

async function endToEnd(): Promise<{ off: number; on: number; database: string }> {
  let delivered = 0;
  let allDelivered: () => void = () => undefined;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200).end();
      if (req.headers['x-hook-test'] !== 'true' && ++delivered === EVENTS) allDelivered();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const database = await createTestDatabase();
  const config = loadConfig({ PORT: '0', LOG_LEVEL: 'warn', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '0', BOOTSTRAP_TICKET: 'false', ...database.env });
  const service = await startService(config, createLogger(config));
  try {
    const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    await createWebhook(service.manager, url, ['bench.traced'], { secret: 'bench-secret' });
    const round = async (traced: boolean): Promise<number> => {
      if (traced) await startTracing({ exporter: droppingExporter });
      delivered = 0;
      const done = new Promise<void>((resolve) => (allDelivered = resolve));
      const start = performance.now();
      for (let i = 0; i < EVENTS; i += 16) {
        await Promise.all(Array.from({ length: Math.min(16, EVENTS - i) }, (_, j) => service.manager.signalEvent('bench.traced', i + j + 1, null, ACTOR)));
      }
      await done;
      const perSecond = EVENTS / ((performance.now() - start) / 1000);
      if (traced) await stopTracing();
      return perSecond;
    };
    const off = [await round(false)];
    const on = [await round(true)];
    off.push(await round(false));
    on.push(await round(true));
    return { off: Math.max(...off), on: Math.max(...on), database: database.mode };
  } finally {
    await service.close();
    await database.drop();
    receiver.closeAllConnections();
    receiver.close();
  }
}

async function main() {
  const hooks = await hookCost();
  const e2e = await endToEnd();
  console.log(`| figure | value | baseline (same run) | ratio |`);
  console.log(`|---|---:|---:|---:|`);
  console.log(`| traceAttempt, tracing off (ns/call) | ${hooks.off.toFixed(0)} | ${hooks.direct.toFixed(0)} (send called directly) | ${((100 * hooks.off) / hooks.direct).toFixed(0)}% |`);
  console.log(`| traceAttempt, tracing on (ns/call) | ${hooks.on.toFixed(0)} | ${hooks.direct.toFixed(0)} (send called directly) | ${((100 * hooks.on) / hooks.direct).toFixed(0)}% |`);
  console.log(`| signal + deliver, tracing on (events/s, ${e2e.database}) | ${e2e.on.toFixed(0)} | ${e2e.off.toFixed(0)} (tracing off) | ${((100 * e2e.on) / e2e.off).toFixed(0)}% |`);
  emitSummary('tracing', [
    { figure: 'traceAttempt off', value: hooks.off, unit: 'ns/call', baseline: hooks.direct },
    { figure: `signal+deliver traced (${e2e.database})`, value: e2e.on, unit: 'events/s', baseline: e2e.off },
  ]);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
