import http from 'node:http';

/** A small closed-loop load generator: `total` requests, `concurrency` in flight, keep-alive. */

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface LoadRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | (() => string);
}

export async function runLoad(request: LoadRequest, total: number, concurrency: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(request.url);
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const body = typeof request.body === 'function' ? request.body() : request.body;
      const started = process.hrtime.bigint();
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: request.method, headers: { ...request.headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) errors++;
            latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (issued < total) {
      issued++;
      await once();
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { requestsPerSecond: total / seconds, p50Ms: pct(50), p99Ms: pct(99), errors };
}

export interface SummaryRow {
  figure: string;
  value: number;
  unit: string;
  baseline: number;
}

/** For `npm run bench` (bench/all.ts): one machine-readable line per benchmark run. */
export function emitSummary(bench: string, rows: SummaryRow[]): void {
  if (process.env.BENCH_SUMMARY === '1') console.log(`BENCH_SUMMARY ${JSON.stringify({ bench, rows })}`);
}

export function printTable(rows: Array<{ name: string; result: LoadResult; baseline: LoadResult }>, bench = 'load'): void {
  const fmt = (n: number, digits = 0) => n.toFixed(digits);
  console.log('| benchmark | req/s | p50 ms | p99 ms | baseline req/s | baseline p50/p99 ms | ratio | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, result, baseline } of rows) {
    console.log(
      `| ${name} | ${fmt(result.requestsPerSecond)} | ${fmt(result.p50Ms, 2)} | ${fmt(result.p99Ms, 2)} | ${fmt(baseline.requestsPerSecond)} | ${fmt(baseline.p50Ms, 2)}/${fmt(baseline.p99Ms, 2)} | ${fmt((100 * result.requestsPerSecond) / baseline.requestsPerSecond)}% | ${result.errors} |`,
    );
  }
  emitSummary(bench, rows.map(({ name, result, baseline }) => ({ figure: name, value: result.requestsPerSecond, unit: 'req/s', baseline: baseline.requestsPerSecond })));
}
