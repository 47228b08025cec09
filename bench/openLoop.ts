/**
 * Signal-to-delivery latency under an open loop: signals sent at a fixed rate (500/s, then
 * 1,000/s, BENCH_OPEN_SECONDS each) on a schedule that does not wait for answers, so a slow
 * service shows as latency instead of slowing the client down. Latency runs from each signal's
 * scheduled send time to its delivery's arrival at a local receiver (10 webhooks, one event
 * each). Baseline, same run and same schedule: plain undici POSTs of the same bytes straight to
 * the receiver. `serve` (its in-process worker delivering) runs in its own process; its peak
 * RSS is reported. Each run's latency is split at the claim, from the database's own times: signal
 * committed (event.signalled_at) to its attempt claimed (delivery_attempt.attempted_at), and the
 * rest (the send and the receiver), so a slow claim and a slow send tell themselves apart.
 *
 * Run: npm run build && npx tsx bench/openLoop.ts   (set DATABASE_URL for a PostgreSQL server)
 * BENCH_CPU_PROF=dir writes serve's CPU profile there; BENCH_TIMELINE=1 prints the worst latency and
 * the worst answer per 250 ms (whether the tail is a few stalls or spread over the run).
 */
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { Client } from 'pg';
import { createTestDatabase, queryEmbedded, type TestDatabase } from '../test/support/testDatabase';
import { samplePostgresPeak } from './postgresMemory';
import { emitSummary } from './load';
import { peakRssMb, startServe, stop } from './processes';
import { parseMetrics } from '../test/support/workerProcess';

/**
 * 10 s per rate: at 500/s a 5-s run's p99 is its 25th-worst signal, and one stall of the machine
 * (a 60 ms stall delays about 30 signals) set it alone; the same build's p99 ran from 23 to 46 ms.
 */
const SECONDS = Number(process.env.BENCH_OPEN_SECONDS ?? 10);
const RATES = (process.env.BENCH_OPEN_RATES ?? '500,1000').split(',').map(Number);
const WEBHOOKS = 10;
const DRAIN_TIMEOUT_MS = 60_000;

/** Arrival time of the first delivery of each PrimaryKey. */
class Receiver {
  readonly arrivals = new Map<number, number>();
  sampleBody = '';
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      if (req.headers['x-hook-test'] === 'true') return;
      const now = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const key = (JSON.parse(body) as { PrimaryKey: number }).PrimaryKey;
      if (!this.arrivals.has(key)) this.arrivals.set(key, now);
      this.sampleBody ||= body;
    });
  });
  url = '';

  async start(): Promise<void> {
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/hook`;
  }

  /** Waits until every key has arrived, or DRAIN_TIMEOUT_MS; says how many are missing (their latency counts as infinite). */
  async waitFor(keys: number[], what: string): Promise<number> {
    const deadline = performance.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const missing = keys.filter((key) => !this.arrivals.has(key)).length;
      if (missing === 0) return 0;
      if (performance.now() > deadline) {
        console.error(`${what}: ${keys.length - missing} of ${keys.length} arrived within ${DRAIN_TIMEOUT_MS / 1000} s of the last send`);
        return missing;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** One query on the bench's database (the embedded server through its socket, or the server). */
async function queryDatabase<T>(database: TestDatabase, sql: string): Promise<T[]> {
  if (database.mode === 'embedded') return queryEmbedded<T>(database.env.DATA_DIR, sql);
  const client = new Client({ connectionString: database.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** p50 / p99 of signal committed to first attempt claimed, in ms, for PrimaryKeys [from, to). */
async function claimLatency(database: TestDatabase, from: number, to: number): Promise<{ p50Ms: number; p99Ms: number }> {
  const [row] = await queryDatabase<{ p50: number; p99: number }>(
    database,
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99 FROM (
       SELECT extract(epoch FROM min(a.attempted_at) - e.signalled_at) * 1000 AS ms
       FROM event e JOIN delivery_attempt a ON a.event_id = e.event_id
       WHERE e.primary_key >= ${from} AND e.primary_key < ${to} GROUP BY e.event_id, e.signalled_at) t`,
  );
  return { p50Ms: Number(row.p50), p99Ms: Number(row.p99) };
}

interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: number;
  /** From the scheduled send to the answer (the signal committed, for the service). */
  answeredP50Ms: number;
  answeredP99Ms: number;
  /** Accepted but not delivered within DRAIN_TIMEOUT_MS of the last send. */
  missing: number;
}

/**
 * Sends `rate`/s for SECONDS on a fixed schedule (PrimaryKey firstKey, firstKey+1, ...); each
 * send starts at its scheduled time whether or not earlier ones have been answered.
 */
async function openLoop(rate: number, firstKey: number, send: (key: number) => Promise<boolean>, receiver: Receiver, what: string): Promise<Latency> {
  const total = Math.round(rate * SECONDS);
  const scheduled = new Float64Array(total);
  const answered = new Float64Array(total);
  const keys = Array.from({ length: total }, (_, i) => firstKey + i);
  const sends: Array<Promise<boolean>> = [];
  const start = performance.now() + 10;
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) {
        const at = start + (next * 1000) / rate;
        const index = next;
        scheduled[index] = at;
        sends.push(
          send(keys[index]).then((ok) => {
            answered[index] = performance.now() - at;
            return ok;
          }),
        );
        next++;
      }
      if (next < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const failures = (await Promise.all(sends)).filter((ok) => !ok).length;
  const missing = await receiver.waitFor(keys, what);
  if (process.env.BENCH_TIMELINE) {
    const line: string[] = [];
    for (let b = 0; b * 250 < SECONDS * 1000; b++) {
      let worst = 0;
      let worstAnswer = 0;
      for (let i = 0; i < total; i++) {
        if (scheduled[i] - start < b * 250 || scheduled[i] - start >= (b + 1) * 250) continue;
        worst = Math.max(worst, (receiver.arrivals.get(keys[i]) ?? Infinity) - scheduled[i]);
        worstAnswer = Math.max(worstAnswer, answered[i]);
      }
      line.push(`${worst.toFixed(0)}/${worstAnswer.toFixed(0)}`);
    }
    console.log(`${what}: worst latency / worst answer per 250 ms: ${line.join(' ')}`);
  }
  const latencies = keys.map((key, i) => (receiver.arrivals.get(key) ?? Infinity) - scheduled[i]).sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const answers = [...answered].sort((a, b) => a - b);
  const answeredAt = (p: number) => answers[Math.min(answers.length - 1, Math.floor(p * answers.length))];
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies[latencies.length - 1], failures, missing, answeredP50Ms: answeredAt(0.5), answeredP99Ms: answeredAt(0.99) };
}

/**
 * serve's own view of a phase, from its /metrics: the longest event-loop delay (prom-client resets
 * it at every scrape, so a scrape before the phase starts it afresh) and the time spent in GC.
 */
async function serveEventLoop(url: string): Promise<{ lagMaxMs: number; gcMs: number }> {
  const metrics = parseMetrics(await (await fetch(`${url}/metrics`)).text());
  let gcSeconds = 0;
  for (const [name, value] of metrics) if (name.startsWith('nodejs_gc_duration_seconds_sum')) gcSeconds += value;
  return { lagMaxMs: 1000 * (metrics.get('nodejs_eventloop_lag_max_seconds') ?? NaN), gcMs: 1000 * gcSeconds };
}

async function main() {
  const database = await createTestDatabase();
  const receiver = new Receiver();
  await receiver.start();
  const profileDir = process.env.BENCH_CPU_PROF;
  const serve = await startServe(
    { ...database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '1000000' },
    profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  );
  const api = new Pool(serve.url, { connections: 64 });
  const direct = new Pool(new URL(receiver.url).origin, { connections: 64 });
  // Embedded: the service's own PostgreSQL server counts too (its postmaster and backends, by PSS).
  const postgres = database.mode === 'embedded' ? samplePostgresPeak(database.env.DATA_DIR) : null;
  const auth = { authorization: `Bearer ${serve.ticket}` };
  try {
    for (let i = 0; i < WEBHOOKS; i++) {
      const created = await api.request({
        path: '/api/v1/Webhook',
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ Name: `open loop ${i}`, Events: [`bench.e${i}`], TargetUrl: receiver.url, Secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', State: 'Active' }),
      });
      const text = await created.body.text();
      if (created.statusCode !== 201) throw new Error(`creating a webhook answered ${created.statusCode}: ${text.slice(0, 300)}`);
    }
    const signal = async (key: number) => {
      const answer = await api.request({ path: `/api/v1/Webhook/bench.e${key % WEBHOOKS}/${key}`, method: 'POST', headers: auth }).catch(() => null);
      if (!answer) return false;
      await answer.body.dump();
      return answer.statusCode === 204;
    };
    // Warm-up: JIT, pools, the worker's LISTEN.
    await openLoop(200, 1, signal, receiver, 'warm-up');
    let key = 1_000_000;
    const rows: Array<{ rate: number; result: Latency; base: Latency; claim: { p50Ms: number; p99Ms: number }; loop: { lagMaxMs: number; gcMs: number } }> = [];
    for (const rate of RATES) {
      const before = await serveEventLoop(serve.url);
      const result = await openLoop(rate, key, signal, receiver, `signals at ${rate}/s`);
      const after = await serveEventLoop(serve.url);
      const loop = { lagMaxMs: after.lagMaxMs, gcMs: after.gcMs - before.gcMs };
      const claim = await claimLatency(database, key, key + 1_000_000);
      key += 1_000_000;
      const body = receiver.sampleBody;
      const base = await openLoop(
        rate,
        key,
        async (k) => {
          const answer = await direct
            .request({ path: new URL(receiver.url).pathname, method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: body.replace(/"PrimaryKey":-?\d+/, `"PrimaryKey":${k}`) })
            .catch(() => null);
          if (!answer) return false;
          await answer.body.dump();
          return answer.statusCode === 200;
        },
        receiver,
        `baseline at ${rate}/s`,
      );
      key += 1_000_000;
      rows.push({ rate, result, base, claim, loop });
    }
    const rss = peakRssMb(serve.child.pid);
    const postgresMb = postgres?.stop() ?? NaN;
    const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'not delivered');
    console.log(`\nOpen loop (database: ${database.mode}): signals over REST at a fixed rate for ${SECONDS} s; latency from each signal's scheduled time to its delivery. Baseline: plain undici POSTs to the receiver on the same schedule.\n`);
    console.log('| rate | signal-to-delivery p50 / p99 / max ms | signal answered p50 / p99 ms | committed-to-claimed p50 / p99 ms | serve: longest event-loop delay / GC ms | failed signals | not delivered in time | baseline p50 / p99 / max ms |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const { rate, result, base, claim, loop } of rows) {
      console.log(`| ${rate}/s | ${fmt(result.p50Ms)} / ${fmt(result.p99Ms)} / ${fmt(result.maxMs)} | ${fmt(result.answeredP50Ms)} / ${fmt(result.answeredP99Ms)} | ${fmt(claim.p50Ms)} / ${fmt(claim.p99Ms)} | ${fmt(loop.lagMaxMs)} / ${loop.gcMs.toFixed(0)} | ${result.failures} | ${result.missing} | ${fmt(base.p50Ms)} / ${fmt(base.p99Ms)} / ${fmt(base.maxMs)} |`);
    }
    console.log(`\nPeak RSS: serve ${rss.toFixed(0)} MB (signalling and delivering), this bench process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
    if (postgres) console.log(`Peak memory of the embedded PostgreSQL server (postmaster + backends, PSS): ${postgresMb.toFixed(0)} MB; serve + its server: ${(rss + postgresMb).toFixed(0)} MB`);
    emitSummary(`open loop (${database.mode})`, [
      ...rows.flatMap(({ rate, result, base }) => [
        { figure: `signal-to-delivery p50 at ${rate}/s`, value: result.p50Ms, unit: 'ms', baseline: base.p50Ms },
        { figure: `signal-to-delivery p99 at ${rate}/s`, value: result.p99Ms, unit: 'ms', baseline: base.p99Ms },
        { figure: `signal-to-delivery max at ${rate}/s`, value: result.maxMs, unit: 'ms', baseline: base.maxMs },
      ]),
      { figure: 'peak RSS of serve (signalling and delivering)', value: rss, unit: 'MB', baseline: NaN },
      ...(postgres ? [{ figure: 'peak PSS of its embedded PostgreSQL server', value: postgresMb, unit: 'MB', baseline: NaN }, { figure: 'serve + its PostgreSQL server', value: rss + postgresMb, unit: 'MB', baseline: NaN }] : []),
    ]);
  } finally {
    await api.close();
    await direct.close();
    await stop(serve.child);
    await receiver.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
