/**
 * `npm run bench`: every benchmark in bench/, one after another (they would disturb each other
 * side by side), each printing its own detailed table; then one summary table of every figure
 * beside the baseline measured in the same run. Set DATABASE_URL to add the PostgreSQL-server
 * figures (each benchmark creates and drops its own database there).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { SummaryRow } from './load';

const BENCHES = ['soap.ts', 'rest.ts', 'delivery.ts', 'tracing.ts'];

function run(file: string): Promise<Array<{ bench: string; rows: SummaryRow[] }>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, file)], { env: { ...process.env, BENCH_SUMMARY: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const summaries: Array<{ bench: string; rows: SummaryRow[] }> = [];
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

async function main() {
  const all: Array<{ bench: string; rows: SummaryRow[] }> = [];
  for (const file of BENCHES) {
    console.log(`\n=== bench/${file}`);
    all.push(...(await run(file)));
  }
  console.log('\n=== Summary: each figure beside its baseline from the same run\n');
  console.log('| benchmark | figure | value | baseline | ratio |');
  console.log('|---|---|---:|---:|---:|');
  for (const { bench, rows } of all) {
    for (const row of rows) {
      console.log(`| ${bench} | ${row.figure} | ${row.value.toFixed(0)} ${row.unit} | ${row.baseline.toFixed(0)} | ${((100 * row.value) / row.baseline).toFixed(0)}% |`);
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
