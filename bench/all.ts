/**
 * `npm run bench`: every benchmark in bench/, one after another (they would disturb each other
 * side by side), each printing its own detailed table; then one summary table of every figure
 * beside the baseline measured in the same run, and issue 11's table of aims with the figures
 * that answer it. Request path and open loop run on the embedded database and, when
 * DATABASE_URL is set, on that PostgreSQL server too (each creates and drops its own database
 * there); bench/delivery.ts covers both modes itself. Needs wrk (apt-get install wrk).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { SummaryRow } from './load';
import { requireWrk } from './wrk';

interface Summary {
  bench: string;
  rows: SummaryRow[];
}

/** Each benchmark file, and whether it runs once per database mode (else once: it covers the modes itself). */
const BENCHES: Array<{ file: string; perMode: boolean; env?: NodeJS.ProcessEnv }> = [
  { file: 'requestPath.ts', perMode: true },
  // Short: its scale figures (idle webhooks, heartbeat on a backlog), not its growth tables.
  { file: 'claimCost.ts', perMode: true, env: { BENCH_ROUNDS: '300', BENCH_DRAIN: '10000', BENCH_DRAIN_CLAIMS: '64' } },
  { file: 'openLoop.ts', perMode: true },
  { file: 'delivery.ts', perMode: false },
  { file: 'tracing.ts', perMode: true },
];

function run(file: string, env: NodeJS.ProcessEnv): Promise<Summary[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, file)], { env: { ...env, BENCH_SUMMARY: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const summaries: Summary[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('BENCH_SUMMARY ')) summaries.push(JSON.parse(line.slice('BENCH_SUMMARY '.length)));
        else process.stdout.write(`${line}\n`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(summaries) : reject(new Error(`${file} exited with ${code}`))));
  });
}

const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1)) : '—');
const isRate = (unit: string) => unit.endsWith('/s');

/** Issue 11's table: each aim, and how to read it from the summaries of one database mode. */
interface Aim {
  figure: string;
  aim: string;
  value(find: (bench: RegExp, figure: RegExp) => SummaryRow | undefined): { text: string; met: boolean | null };
}

const ratioOf = (row: SummaryRow | undefined, atLeast: number) =>
  row ? { text: `${((100 * row.value) / row.baseline).toFixed(0)}% (${fmt(row.value)} of ${fmt(row.baseline)} ${row.unit})`, met: row.value / row.baseline >= atLeast } : { text: 'not measured', met: null };

const AIMS: Aim[] = [
  { figure: 'SOAP GetWebhook ÷ bare express route, same bytes', aim: '≥ 45%', value: (f) => ratioOf(f(/^request path/, /^SOAP GetWebhook$/), 0.45) },
  { figure: 'SOAP GetAllWebhooks (1,000 stored, 100 match) ÷ bare', aim: '≥ 25%', value: (f) => ratioOf(f(/^request path/, /^SOAP GetAllWebhooks/), 0.25) },
  { figure: 'SOAP SaveWebhook (Stopped) ÷ bare', aim: '≥ 25%', value: (f) => ratioOf(f(/^request path/, /^SOAP SaveWebhook/), 0.25) },
  { figure: 'REST GET /api/v1/Webhook/{id} ÷ bare route, same bytes', aim: '≥ 55%', value: (f) => ratioOf(f(/^request path/, /Webhook\/\{id\}/), 0.55) },
  { figure: 'REST GET /api/v1/Webhook/default (no database) ÷ bare', aim: '≥ 80%', value: (f) => ratioOf(f(/^request path/, /Webhook\/default/), 0.8) },
  { figure: 'deliveries/s while signalling ÷ plain undici POSTs/s', aim: '≥ 15%', value: (f) => ratioOf(f(/^delivery/, /while signalling/), 0.15) },
  // Embedded: one process owns the database, so its one draining worker is serve's own.
  { figure: 'queue drained by one worker process ÷ undici', aim: '≥ 35%', value: (f) => ratioOf(f(/^delivery/, /drained by 1 worker/) ?? f(/^delivery/, /drained by serve's in-process worker/), 0.35) },
  {
    figure: 'two worker processes ÷ one',
    aim: '≥ 1.0×',
    value: (f) => {
      const one = f(/^delivery/, /drained by 1 worker/);
      const two = f(/^delivery/, /drained by 2 worker/);
      return one && two ? { text: `${(two.value / one.value).toFixed(2)}× (${fmt(two.value)} / ${fmt(one.value)} ${one.unit})`, met: two.value / one.value >= 1 } : { text: 'not measured', met: null };
    },
  },
  {
    figure: 'signal-to-delivery p99 at a fixed 500 signals/s',
    aim: '≤ 25 ms',
    value: (f) => {
      const row = f(/^open loop/, /p99 at 500\/s/);
      // An undelivered signal makes p99 infinite (null in JSON): not met.
      return row ? { text: `${Number.isFinite(row.value) ? `${fmt(row.value)} ms` : 'not delivered in time'} (baseline ${fmt(row.baseline)} ms)`, met: Number.isFinite(row.value) && row.value <= 25 } : { text: 'not measured', met: null };
    },
  },
  {
    figure: 'peak RSS of serve under delivery load',
    aim: '≤ 150 MB',
    value: (f) => {
      const row = f(/^open loop/, /peak RSS of serve/);
      return row ? { text: `${fmt(row.value)} MB`, met: row.value <= 150 } : { text: 'not measured', met: null };
    },
  },
];

async function main() {
  requireWrk();
  const started = Date.now();
  const server = process.env.DATABASE_URL;
  const modes: Array<{ name: string; env: NodeJS.ProcessEnv }> = [{ name: 'embedded', env: { ...process.env, DATABASE_URL: '' } }];
  if (server) modes.push({ name: 'server', env: process.env });
  const all: Summary[] = [];
  for (const { file, perMode, env } of BENCHES) {
    for (const mode of perMode ? modes : [{ name: 'both', env: process.env }]) {
      console.log(`\n=== bench/${file}${perMode ? ` (${mode.name} database)` : ''}`);
      all.push(...(await run(file, { ...mode.env, ...env })));
    }
  }

  console.log('\n=== Summary: each figure beside its baseline from the same run\n');
  console.log('| benchmark | figure | value | baseline | ratio |');
  console.log('|---|---|---:|---:|---:|');
  for (const { bench, rows } of all) {
    for (const row of rows) {
      const ratio = !Number.isFinite(row.baseline) ? '' : isRate(row.unit) ? `${((100 * row.value) / row.baseline).toFixed(0)}%` : `${(row.value / row.baseline).toFixed(1)}×`;
      console.log(`| ${bench} | ${row.figure} | ${fmt(row.value)} ${row.unit} | ${Number.isFinite(row.baseline) ? fmt(row.baseline) : ''} | ${ratio} |`);
    }
  }

  console.log('\n=== Issue 11: aims (wrk or open loop, baselines from the same run)\n');
  const modeNames = [...new Set(all.map((s) => /\((server|embedded)/.exec(s.bench)?.[1]).filter(Boolean))] as string[];
  console.log(`| figure | aim | ${modeNames.join(' | ')} |`);
  console.log(`|---|---|${modeNames.map(() => '---|').join('')}`);
  for (const aim of AIMS) {
    const cells = modeNames.map((mode) => {
      const find = (bench: RegExp, figure: RegExp) => {
        for (const summary of all) {
          if (!bench.test(summary.bench)) continue;
          // The delivery bench names its mode in the figure; the others in the bench.
          const inMode = summary.bench.includes(mode) || !/\((server|embedded)/.test(summary.bench);
          const row = summary.rows.find((r) => figure.test(r.figure) && (summary.bench.includes(mode) || (inMode && (mode === 'server' ? /server/i : /embedded/i).test(r.figure))));
          if (row) return row;
        }
        return undefined;
      };
      const { text, met } = aim.value(find);
      return `${text}${met === null ? '' : met ? ' ✓' : ' ✗'}`;
    });
    console.log(`| ${aim.figure} | ${aim.aim} | ${cells.join(' | ')} |`);
  }
  console.log(`\nnpm run bench took ${((Date.now() - started) / 60_000).toFixed(1)} min.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
