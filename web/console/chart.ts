import type { Statistics } from './api';
import { formatMs } from './format';
import { html } from './html';

const WIDTH = 720;
const HEIGHT = 240;
const PAD = { left: 44, right: 56, top: 12, bottom: 28 };
const PLOT_W = WIDTH - PAD.left - PAD.right;
const PLOT_H = HEIGHT - PAD.top - PAD.bottom;

const niceMax = (value: number) => {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
};

/** Latency line segments: a bucket without settled attempts breaks the line. */
function linePaths(values: Array<number | null>, x: (i: number) => number, y: (v: number) => number): string {
  let path = '';
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null) {
      drawing = false;
      return;
    }
    path += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)},${y(value).toFixed(1)} `;
    drawing = true;
  });
  return path.trim();
}

const hourLabel = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

/**
 * The last 24 hours as SVG: successes (solid) and failures (hatched) stacked per bucket on the
 * left axis, latency p50 (solid line) and p95 (dashed line) on the right axis. Patterns and
 * dashes tell the series apart without colour; the numbers are also in a table below.
 */
export function DeliveryChart({ stats }: { stats: Statistics }) {
  const buckets = stats.Buckets;
  const maxCount = niceMax(Math.max(0, ...buckets.map((b) => b.Successes + b.Failures)));
  const maxLatency = niceMax(Math.max(0, ...buckets.map((b) => b.LatencyP95Ms ?? 0)));
  const slot = PLOT_W / Math.max(1, buckets.length);
  const barW = Math.max(2, slot * 0.7);
  const x = (i: number) => PAD.left + i * slot + slot / 2;
  const yCount = (v: number) => PAD.top + PLOT_H - (v / maxCount) * PLOT_H;
  const yLatency = (v: number) => PAD.top + PLOT_H - (v / maxLatency) * PLOT_H;
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 6));
  const summary = `${stats.Attempts} attempts: ${stats.Successes} succeeded, ${stats.Failures} failed; latency p50 ${formatMs(stats.LatencyP50Ms)}, p95 ${formatMs(stats.LatencyP95Ms)}`;

  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">
      <title id="chart-title">Delivery attempts in the last 24 hours</title>
      <desc id="chart-desc">${summary}</desc>
      <defs>
        <pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="6" height="6" class="fail-bg" />
          <line x1="0" y1="0" x2="0" y2="6" class="fail-line" stroke-width="3" />
        </pattern>
      </defs>
      <g class="grid">
        ${[0, 0.5, 1].map(
          (f) => html`<line x1=${PAD.left} x2=${WIDTH - PAD.right} y1=${PAD.top + PLOT_H * (1 - f)} y2=${PAD.top + PLOT_H * (1 - f)} />
            <text x=${PAD.left - 6} y=${PAD.top + PLOT_H * (1 - f) + 4} text-anchor="end">${Math.round(maxCount * f)}</text>
            <text x=${WIDTH - PAD.right + 6} y=${PAD.top + PLOT_H * (1 - f) + 4}>${formatMs(Math.round(maxLatency * f))}</text>`,
        )}
      </g>
      <g class="bars">
        ${buckets.map((b, i) => {
          const top = yCount(b.Successes);
          return html`<g key=${b.Start}>
            ${b.Successes > 0 && html`<rect class="ok" x=${x(i) - barW / 2} y=${top} width=${barW} height=${PAD.top + PLOT_H - top} />`}
            ${b.Failures > 0 && html`<rect class="fail" fill="url(#hatch)" x=${x(i) - barW / 2} y=${yCount(b.Successes + b.Failures)} width=${barW} height=${top - yCount(b.Successes + b.Failures)} />`}
          </g>`;
        })}
      </g>
      <path class="p50" d=${linePaths(buckets.map((b) => b.LatencyP50Ms), x, yLatency)} fill="none" />
      <path class="p95" d=${linePaths(buckets.map((b) => b.LatencyP95Ms), x, yLatency)} fill="none" stroke-dasharray="6 4" />
      <g class="points">
        ${buckets.map((b, i) => html`<g key=${b.Start}>
          ${b.LatencyP50Ms !== null && html`<circle class="p50" cx=${x(i)} cy=${yLatency(b.LatencyP50Ms)} r="3" />`}
          ${b.LatencyP95Ms !== null && html`<rect class="p95" x=${x(i) - 3} y=${yLatency(b.LatencyP95Ms) - 3} width="6" height="6" />`}
        </g>`)}
      </g>
      <g class="axis">
        ${buckets.map((b, i) => (i % labelEvery === 0 ? html`<text x=${x(i)} y=${HEIGHT - 8} text-anchor="middle">${hourLabel(b.Start)}</text>` : null))}
      </g>
    </svg>
    <figcaption>
      <ul class="legend">
        <li><svg width="14" height="14" aria-hidden="true"><rect class="ok" width="14" height="14" /></svg> Succeeded (count, left axis)</li>
        <li><svg width="14" height="14" aria-hidden="true"><rect fill="url(#hatch)" width="14" height="14" /></svg> Failed (hatched, count)</li>
        <li><svg width="24" height="14" aria-hidden="true"><line class="p50" x1="0" x2="24" y1="7" y2="7" /><circle class="p50" cx="12" cy="7" r="3" /></svg> Latency p50 (line with dots, right axis)</li>
        <li><svg width="24" height="14" aria-hidden="true"><line class="p95" x1="0" x2="24" y1="7" y2="7" stroke-dasharray="6 4" /><rect class="p95" x="9" y="4" width="6" height="6" /></svg> Latency p95 (dashed with squares)</li>
      </ul>
      <p class="summary">${summary}</p>
      <details>
        <summary>The chart's numbers as a table</summary>
        <table class="compact">
          <thead><tr><th scope="col">From</th><th scope="col">Attempts</th><th scope="col">Succeeded</th><th scope="col">Failed</th><th scope="col">p50</th><th scope="col">p95</th></tr></thead>
          <tbody>
            ${buckets.map((b) => html`<tr key=${b.Start}><td>${hourLabel(b.Start)}</td><td>${b.Attempts}</td><td>${b.Successes}</td><td>${b.Failures}</td><td>${formatMs(b.LatencyP50Ms)}</td><td>${formatMs(b.LatencyP95Ms)}</td></tr>`)}
          </tbody>
        </table>
      </details>
    </figcaption>
  </figure>`;
}
