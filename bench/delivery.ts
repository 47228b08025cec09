/**
 * Delivery engine throughput: BENCH_EVENTS (10,000) events signalled over SOAP, spread over 10
 * webhooks (event bench.e0..e9, one webhook each, signed with a Standard Webhooks secret) on a
 * local receiver that answers 200 at once. Each row is run twice and the faster kept, as its
 * baseline is. Beside each figure, the limit measured right after
 * it: as many POSTs of the same bytes to the same receiver at the worker's concurrency with
 * plain undici, no database (in its own process, as the service is).
 *
 * The service is warmed up as the baseline is: WARM_UP_POSTS more events are delivered first and
 * not timed (a cold worker ran at a third of its speed for its first second here).
 *
 * Rows: `serve` with its in-process worker while the events are being signalled (deliveries/s
 * from the first signal to the last delivery, and signal-to-delivery latency), on a PostgreSQL
 * server (when DATABASE_URL is set: a database of its own, dropped after) and on the embedded
 * database; and on the server, a queue of already-signalled events drained by 1 and by 2
 * `worker` processes. Peak RSS is the service's (and the workers') VmHWM.
 *
 * Run: npm run build && npm run bench:delivery   (BENCH_EVENTS=2000 for a quick run; BENCH_ONLY=signalling
 * or drained for those rows alone; BENCH_DIST=dir runs another build)
 * BENCH_CPU_PROF=dir writes a CPU profile of every serve and worker process there (node --cpu-prof);
 * BENCH_HISTO=1 prints each drain's arrivals per 500 ms (a ramp, a stall).
 */
import { emitSummary } from './load';
import { cpuSeconds, postgresCpu, postgresCpuBetween } from './processCpu';
import { peakRssMb, startServe as startBenchServe, stop } from './processes';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { SOAP_PATH } from '../src/soap/endpoint';
import { createTestDatabase, type TestDatabase } from '../test/support/testDatabase';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000);
const WEBHOOKS = 10;
const CONCURRENCY = 64; // the worker's default WORKER_CONCURRENCY
const SIGNAL_CONCURRENCY = 16;
const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CLI = path.resolve(__dirname, '..', process.env.BENCH_DIST ?? 'dist', 'cli.js');
/** BENCH_ONLY=signalling or BENCH_ONLY=drained runs only those rows (comparing builds in one sitting). */
const only = (kind: 'signalling' | 'drained') => !process.env.BENCH_ONLY || process.env.BENCH_ONLY === kind;
/** The receiver is on 127.0.0.1 over http; the bench's own calls must not be rate-limited. */
const SERVICE_ENV = { LOG_LEVEL: 'warn', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '0' };
const STALL_MS = 30_000;
const WARM_UP_POSTS = 2000;
/** Events delivered before the timed ones, so the service is as warm as the baseline is after its WARM_UP_POSTS. */
const WARM_UP = Math.min(WARM_UP_POSTS, EVENTS);
const PROFILE_ARGS = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];

// ---------------------------------------------------------------- the receiver (this process)

interface Sample {
  headers: Record<string, string>;
  body: string;
}

class Receiver {
  readonly server = http.createServer((req, res) => this.onRequest(req, res));
  url = '';
  arrivals: number[] = [];
  byPrimaryKey = new Map<number, number>();
  sample: Sample | null = null;
  private target = 0;
  private reached: (() => void) | null = null;
  /** Called once when the arrivals since the last reset reach a count. */
  private marks = new Map<number, () => void>();

  async start(): Promise<void> {
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/hook`;
  }

  /** Resolves when `n` deliveries (or baseline POSTs) have arrived since the last reset; fails when they stop coming. */
  expect(n: number, what: string): Promise<void> {
    this.arrivals = [];
    this.byPrimaryKey.clear();
    this.marks.clear();
    this.target = n;
    let seen = -1;
    let since = performance.now();
    return new Promise<void>((resolve, reject) => {
      const watch = setInterval(() => {
        if (this.arrivals.length !== seen) {
          seen = this.arrivals.length;
          since = performance.now();
        } else if (performance.now() - since > STALL_MS) {
          clearInterval(watch);
          reject(new Error(`${what}: ${seen} of ${n} arrived, then nothing for ${STALL_MS / 1000} s`));
        }
      }, 500);
      this.reached = () => {
        clearInterval(watch);
        resolve();
      };
    });
  }

  /** Runs `then` when the `count`th arrival since the last expect() comes in (at once if count is 0). */
  at(count: number, then: () => void): void {
    if (count <= this.arrivals.length) then();
    else this.marks.set(count, then);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      if (req.headers['x-hook-test'] === 'true') return; // SaveWebhook's verification
      const now = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const payload = JSON.parse(body) as { PrimaryKey: number };
      this.arrivals.push(now);
      this.marks.get(this.arrivals.length)?.();
      if (!this.byPrimaryKey.has(payload.PrimaryKey)) this.byPrimaryKey.set(payload.PrimaryKey, now);
      if (!this.sample && req.headers['x-superoffice-eventid']) {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
        this.sample = { headers, body };
      }
      if (this.arrivals.length === this.target) this.reached?.();
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- the service (child processes)

interface Serve {
  child: ChildProcess;
  soapUrl: string;
  ticket: string;
}

async function startServe(env: Record<string, string>, firstStart = true): Promise<Serve> {
  const serve = await startBenchServe({ ...SERVICE_ENV, ...env }, PROFILE_ARGS, { firstStart });
  return { child: serve.child, soapUrl: `${serve.url}${SOAP_PATH}`, ticket: serve.ticket };
}

function startWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [...PROFILE_ARGS, CLI, 'worker'], { env: { ...process.env, ...SERVICE_ENV, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
}

// ---------------------------------------------------------------- SOAP calls

const envelope = (ticket: string, body: string) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body>${body}</s:Body></s:Envelope>`;

async function soapCall(pool: Pool, serve: Serve, operation: string, bodyXml: string): Promise<void> {
  const { statusCode, body } = await pool.request({
    path: SOAP_PATH,
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/${operation}"` },
    body: envelope(serve.ticket, bodyXml),
  });
  const text = await body.text();
  if (statusCode !== 200) throw new Error(`${operation} answered ${statusCode}: ${text.slice(0, 400)}`);
}

async function createWebhooks(pool: Pool, serve: Serve, target: string): Promise<void> {
  for (let i = 0; i < WEBHOOKS; i++) {
    await soapCall(
      pool,
      serve,
      'SaveWebhook',
      `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>bench ${i}</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>bench.e${i}</a:string></Events><TargetUrl>${target}</TargetUrl><Secret>${SECRET}</Secret><State>Active</State></Webhook></SaveWebhook>`,
    );
  }
}

/**
 * Signals `count` events (PrimaryKey firstKey.., round-robin over the webhooks); returns each
 * one's send time, by PrimaryKey.
 */
async function signalAll(pool: Pool, serve: Serve, count = EVENTS, firstKey = 1): Promise<{ sentAt: Float64Array; seconds: number }> {
  const sentAt = new Float64Array(firstKey + count);
  let next = firstKey;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: SIGNAL_CONCURRENCY }, async () => {
      while (next < firstKey + count) {
        const key = next++;
        sentAt[key] = performance.now();
        await soapCall(pool, serve, 'SignalEvent', `<SignalEvent xmlns="${TNS}"><EventName>bench.e${key % WEBHOOKS}</EventName><PrimaryKey>${key}</PrimaryKey></SignalEvent>`);
      }
    }),
  );
  return { sentAt, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------- the runs

interface Row {
  name: string;
  deliveriesPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  signalsPerSecond: number | null;
  rssMb: string;
  seconds: number;
  cpu: CpuPerDelivery | null;
}

/**
 * CPU µs per delivery (or baseline POST) over the timed part, by who spent it: the service's
 * processes (serve, the worker processes, or the baseline's undici client), PostgreSQL's, and
 * this process (the receiver; in the signalling rows also the SOAP client that signals).
 */
interface CpuPerDelivery {
  service: number;
  postgres: number;
  bench: number;
}

/** Starts counting CPU now; the function it returns ends the count and divides it by `deliveries`. */
function cpuMeter(servicePids: Array<number | undefined>): (deliveries: number) => CpuPerDelivery {
  const start = { service: cpuSeconds(servicePids), postgres: postgresCpu(), bench: process.cpuUsage() };
  return (deliveries) => {
    const bench = process.cpuUsage(start.bench);
    const us = (seconds: number) => (seconds * 1e6) / deliveries;
    return {
      service: us(cpuSeconds(servicePids) - start.service),
      postgres: us(postgresCpuBetween(start.postgres, postgresCpu())),
      bench: (bench.user + bench.system) / deliveries,
    };
  };
}

/**
 * CPU per delivery between the receiver's `from`th and `to`th arrivals since its last expect(),
 * read as they come in (at the last one, the sender is still alive to be read); the function it
 * returns gives it once the `to`th has arrived.
 */
function cpuBetweenArrivals(receiver: Receiver, from: number, to: number, servicePids: () => Array<number | undefined>): () => CpuPerDelivery | null {
  let result: CpuPerDelivery | null = null;
  receiver.at(from, () => {
    const meter = cpuMeter(servicePids());
    receiver.at(to, () => (result = meter(to - from)));
  });
  return () => result;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function withDatabase<T>(server: boolean, run: (env: Record<string, string>) => Promise<T>): Promise<T> {
  let database: TestDatabase | null = null;
  let env: Record<string, string>;
  if (server) {
    database = await createTestDatabase();
    env = { ...database.env } as Record<string, string>;
  } else {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-bench-'));
    fs.chmodSync(dataDir, 0o711); // as root the embedded server's OS user (postgres) must get through
    env = { DATA_DIR: dataDir, DATABASE_URL: '' };
  }
  try {
    return await run(env);
  } finally {
    if (database) await database.drop();
    else fs.rmSync(env.DATA_DIR, { recursive: true, force: true });
  }
}

/** `serve` with its own worker, delivering while the events are signalled. */
async function servedWhileSignalling(receiver: Receiver, server: boolean): Promise<Row> {
  return withDatabase(server, async (env) => {
    const serve = await startServe({ ...env, RUN_WORKER: 'true' });
    const pool = new Pool(new URL(serve.soapUrl).origin, { connections: SIGNAL_CONCURRENCY });
    try {
      await createWebhooks(pool, serve, receiver.url);
      // Warmed up as the baseline is: WARM_UP events signalled and delivered before the measured ones.
      const warm = receiver.expect(WARM_UP, 'serve warm-up');
      await signalAll(pool, serve, WARM_UP, EVENTS + 1);
      await warm;
      const all = receiver.expect(EVENTS, `serve (${server ? 'server' : 'embedded'})`);
      const cpu = cpuBetweenArrivals(receiver, 0, EVENTS, () => [serve.child.pid]);
      const { sentAt, seconds } = await signalAll(pool, serve);
      await all;
      const latencies = [...receiver.byPrimaryKey].map(([key, at]) => at - sentAt[key]).sort((a, b) => a - b);
      const last = Math.max(...receiver.arrivals);
      const total = (last - sentAt[1]) / 1000;
      return {
        name: `${server ? 'PostgreSQL server' : 'embedded'}: serve, in-process worker, while signalling`,
        deliveriesPerSecond: EVENTS / total,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        signalsPerSecond: EVENTS / seconds,
        rssMb: peakRssMb(serve.child.pid).toFixed(0),
        seconds: total,
        cpu: cpu(),
      };
    } finally {
      await pool.close();
      await stop(serve.child);
    }
  });
}

/**
 * Already-signalled events drained: by `workers` worker processes on the server, or on the
 * embedded database (one process owns it) by serve's own worker after a restart with it on.
 */
async function drained(receiver: Receiver, server: boolean, workers: number): Promise<Row> {
  return withDatabase(server, async (env) => {
    let serve = await startServe({ ...env, RUN_WORKER: 'false' });
    const pool = new Pool(new URL(serve.soapUrl).origin, { connections: SIGNAL_CONCURRENCY });
    const children: ChildProcess[] = [];
    try {
      await createWebhooks(pool, serve, receiver.url);
      // WARM_UP more events per worker process, queued first: each warms up on its share (as the
      // baseline's one process does on its WARM_UP_POSTS); with the same WARM_UP for two, each
      // started the timed part half as warm, and the first half second ran at two thirds speed.
      const warmUp = WARM_UP * (server ? workers : 1);
      // The EVENTS after them are timed.
      const all = receiver.expect(warmUp + EVENTS, server ? `${workers} worker process(es)` : 'embedded drain');
      const cpu = cpuBetweenArrivals(receiver, warmUp, warmUp + EVENTS, () => (server ? children.map((c) => c.pid) : [serve.child.pid]));
      await signalAll(pool, serve, warmUp, EVENTS + 1);
      await signalAll(pool, serve);
      if (server) {
        for (let i = 0; i < workers; i++) children.push(startWorker(env));
      } else {
        await stop(serve.child);
        serve = await startServe({ ...env, RUN_WORKER: 'true' }, false);
      }
      await all;
      // In arrival order: timed from the last warm-up arrival to the last arrival.
      const first = receiver.arrivals[warmUp - 1];
      const last = receiver.arrivals[receiver.arrivals.length - 1];
      const seconds = (last - first) / 1000;
      if (process.env.BENCH_HISTO) {
        const per = new Map<number, number>();
        for (const a of receiver.arrivals.filter((x) => x >= first)) per.set(Math.floor((a - first) / 500), (per.get(Math.floor((a - first) / 500)) ?? 0) + 1);
        console.log('arrivals per 500 ms:', [...per.values()].join(' '));
      }
      return {
        name: server ? `PostgreSQL server: queue drained by ${workers} worker process${workers > 1 ? 'es' : ''}` : "embedded: queue drained by serve's in-process worker",
        deliveriesPerSecond: EVENTS / seconds,
        p50Ms: null,
        p99Ms: null,
        signalsPerSecond: null,
        rssMb: server ? children.map((c) => peakRssMb(c.pid).toFixed(0)).join(' + ') : peakRssMb(serve.child.pid).toFixed(0),
        seconds,
        cpu: cpu(),
      };
    } finally {
      await Promise.all(children.map(stop));
      await pool.close();
      await stop(serve.child);
    }
  });
}

/** The limit: the same POSTs, plain undici at the same concurrency, no database, in a process of its own. */
interface Baseline {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpu: CpuPerDelivery | null;
}

async function baseline(receiver: Receiver): Promise<Baseline> {
  const sample = receiver.sample!;
  const warmUp = Math.min(WARM_UP_POSTS, EVENTS);
  const all = receiver.expect(EVENTS + warmUp, 'baseline');
  const child = spawn(process.execPath, [...process.execArgv, __filename, 'baseline'], {
    env: { ...process.env, BENCH_BASELINE: JSON.stringify({ url: receiver.url, sample, total: EVENTS, concurrency: CONCURRENCY }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const cpu = cpuBetweenArrivals(receiver, warmUp, warmUp + EVENTS, () => [child.pid]);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`baseline failed (${code}): ${out}`);
  await all;
  return { ...(JSON.parse(out.trim().split('\n').pop()!) as Omit<Baseline, 'cpu'>), cpu: cpu() };
}

async function runBaselineChild(): Promise<void> {
  const { url, sample, total, concurrency } = JSON.parse(process.env.BENCH_BASELINE!) as { url: string; sample: Sample; total: number; concurrency: number };
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency });
  /** `count` POSTs at `concurrency`, each one's latency in `latencies` (if given). */
  const post = async (count: number, latencies?: number[]) => {
    let issued = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (issued < count) {
          issued++;
          const t0 = performance.now();
          const { statusCode, body } = await pool.request({ path: target.pathname, method: 'POST', headers: sample.headers, body: sample.body });
          await body.dump();
          if (statusCode !== 200) throw new Error(`baseline POST answered ${statusCode}`);
          latencies?.push(performance.now() - t0);
        }
      }),
    );
  };
  // Warm-up first (JIT, connections), as the worker has warmed up by its first delivery.
  await post(Math.min(WARM_UP_POSTS, total));
  const latencies: number[] = [];
  const started = performance.now();
  await post(total, latencies);
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ perSecond: total / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) })}\n`);
}

/** The higher of two peak-RSS figures ("123", or "123 + 124" for two worker processes: their sum). */
function higherRss(a: string, b: string): string {
  const total = (rss: string) => rss.split('+').reduce((sum, part) => sum + (Number(part.trim()) || 0), 0);
  return total(a) >= total(b) ? a : b;
}

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (the service runs as its own process).');
  const server = Boolean(process.env.DATABASE_URL);
  const started = performance.now();
  const receiver = new Receiver();
  await receiver.start();
  const rows: Array<Row & { limit: Baseline }> = [];
  // Each row's baseline is measured right after it: this machine drifts by tens of percent
  // within minutes, and one baseline for every row carried that drift into the ratios. Twice,
  // keeping the faster: the same POSTs came out at either about 13k/s or about 21k/s here,
  // depending on where the scheduler put the two processes, and the limit is the faster. The row
  // itself is measured twice too, keeping the faster (its peak RSS is the higher of the two): the
  // faster of two baselines over one run of the service was a ratio biased against the service.
  const measure = async (row: () => Promise<Row>) => {
    const [a, b] = [await row(), await row()];
    const measured = a.deliveriesPerSecond >= b.deliveriesPerSecond ? a : b;
    const [first, second] = [await baseline(receiver), await baseline(receiver)];
    rows.push({ ...measured, rssMb: higherRss(a.rssMb, b.rssMb), limit: first.perSecond >= second.perSecond ? first : second });
  };
  try {
    if (server) {
      if (only('signalling')) await measure(() => servedWhileSignalling(receiver, true));
      if (only('drained')) await measure(() => drained(receiver, true, 1));
      if (only('drained')) await measure(() => drained(receiver, true, 2));
    }
    if (only('signalling')) await measure(() => servedWhileSignalling(receiver, false));
    if (only('drained')) await measure(() => drained(receiver, false, 1));

    const fmt = (n: number | null, digits = 0) => (n === null ? '-' : n.toFixed(digits));
    console.log(
      `\nDelivery engine: ${EVENTS} events over ${WEBHOOKS} webhooks (one delivery each, signed), timed after ${WARM_UP} more per process delivered to warm up, receiver on 127.0.0.1 answering 200 at once; ` +
        `signalled over SOAP at concurrency ${SIGNAL_CONCURRENCY}; worker concurrency ${CONCURRENCY}. ${os.cpus().length} CPUs. Each row: the faster of two runs (its figures; peak RSS: the higher of the two).\n` +
        `Baseline (the limit), measured right after each row, the faster of two runs: ${EVENTS} POSTs of the same bytes to the same receiver (after ${WARM_UP_POSTS} to warm up), ` +
        `plain undici at concurrency ${CONCURRENCY}, no database, in a process of its own.\n`,
    );
    console.log('| figure | deliveries/s | signal-to-delivery p50 / p99 ms | signals/s | baseline POSTs/s (p50 / p99 ms) | ratio | peak RSS MB |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const latency = r.p50Ms === null ? '-' : `${fmt(r.p50Ms, 1)} / ${fmt(r.p99Ms, 1)}`;
      console.log(`| ${r.name} | ${fmt(r.deliveriesPerSecond)} | ${latency} | ${fmt(r.signalsPerSecond)} | ${fmt(r.limit.perSecond)} (${fmt(r.limit.p50Ms, 2)} / ${fmt(r.limit.p99Ms, 2)}) | ${fmt((100 * r.deliveriesPerSecond) / r.limit.perSecond)}% | ${r.rssMb} |`);
    }
    const us = (n: number) => n.toFixed(0);
    const total = (c: CpuPerDelivery) => c.service + c.postgres + c.bench;
    console.log(
      `\nCPU per delivery, µs (utime + stime from /proc over the timed part): the service's processes (serve or the workers; the baseline's undici client), ` +
        `PostgreSQL's, and the bench process (the receiver; in the signalling rows also the SOAP client). With ${os.cpus().length} CPUs, ${os.cpus().length * 1e6} µs of CPU a second is all there is.\n`,
    );
    console.log('| figure | service | PostgreSQL | bench | total | baseline POST: client / bench / total | total ÷ baseline total |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      if (!r.cpu || !r.limit.cpu) continue;
      const base = r.limit.cpu;
      console.log(`| ${r.name} | ${us(r.cpu.service)} | ${us(r.cpu.postgres)} | ${us(r.cpu.bench)} | ${us(total(r.cpu))} | ${us(base.service)} / ${us(base.bench)} / ${us(total(base))} | ${(total(r.cpu) / total(base)).toFixed(1)}× |`);
    }
    emitSummary('delivery', rows.map((r) => ({ figure: r.name, value: r.deliveriesPerSecond, unit: 'deliveries/s', baseline: r.limit.perSecond })));
    if (!server) console.log('\n(Set DATABASE_URL to a PostgreSQL server for the server rows and the 1 vs 2 worker processes; the bench creates and drops its own database.)');
    console.log(`\nbench time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await receiver.close();
  }
}

(process.argv[2] === 'baseline' ? runBaselineChild() : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
