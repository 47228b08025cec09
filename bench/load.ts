/** What every benchmark reports to bench/all.ts: one row per figure, beside its same-run baseline. */

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
