/**
 * Where a CPU profile's time goes: `npx tsx bench/profileSummary.ts file.cpuprofile`.
 * Prints self time by function (top 25), inclusive time by area (a package under node_modules,
 * our src/ folders, node internals, idle and GC) and inclusive time by function (top 40), as
 * shares of the busy samples: idle is left out of the total, since a bench's profile also
 * holds its set-up and the time its baselines run elsewhere.
 * Profiles come from `node --cpu-prof` (bench/requestPath.ts and bench/cpuShare.ts: BENCH_CPU_PROF=dir).
 * `--window SECONDS` keeps only the busiest stretch of that length (the measured run, without
 * start-up, set-up and shutdown); `--after NAME` only what follows the last sample with function
 * NAME on its stack (the set-up that --window may pick as the busiest: insertWebhook in
 * bench/requestPath.ts); `--stalls MS` also lists the busy stretches of at least MS; `--top N`
 * lists N functions by inclusive time (40).
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function area(url: string, name: string): string {
  if (name === '(idle)' || name === '(garbage collector)' || name === '(program)') return name;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /\/(?:dist|src)\/((?:[^/]+\/)?)[^/]+$/.exec(url);
  if (ours) return `ours: ${ours[1] || '(top)'}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  return url ? 'other' : `native: ${name || '(anonymous)'}`;
}

const profile = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Profile;
const option = (name: string): string | null => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : null;
};
const windowMicros = option('--window') !== null ? Number(option('--window')) * 1e6 : Infinity;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const idleId = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
/** Each sample's time in microseconds since the profile's start. */
const sampleTimes: number[] = [];
{
  let t = 0;
  profile.samples.forEach((_id, i) => sampleTimes.push((t += profile.timeDeltas[i] ?? 0)));
}
const onStack = (id: number, functionName: string): boolean => {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (byId.get(at)!.callFrame.functionName === functionName) return true;
  return false;
};
/** `--after NAME`: only what follows the last sample with NAME on its stack (a bench's set-up, e.g. insertWebhook). */
const afterMicros = ((name) => {
  if (name === null) return -Infinity;
  let last = -Infinity;
  profile.samples.forEach((id, i) => {
    if (onStack(id, name)) last = sampleTimes[i];
  });
  return last;
})(option('--after'));
/** [from, to) in microseconds since the profile's start: the window with the most busy samples. */
function busiestWindow(): [number, number] {
  if (!Number.isFinite(windowMicros)) return [afterMicros, Infinity];
  let best: [number, number] = [0, windowMicros];
  let bestBusy = -1;
  let sum = 0;
  let start = 0;
  const busy = (i: number) => (idleId.has(profile.samples[i]) || sampleTimes[i] <= afterMicros ? 0 : (profile.timeDeltas[i] ?? 0));
  for (let end = 0; end < sampleTimes.length; end++) {
    sum += busy(end);
    while (sampleTimes[end] - sampleTimes[start] > windowMicros) sum -= busy(start++);
    if (sum > bestBusy) {
      bestBusy = sum;
      best = [Math.max(sampleTimes[start], afterMicros + 1), sampleTimes[end] + 1];
    }
  }
  return best;
}
const [windowFrom, windowTo] = busiestWindow();
const self = new Map<number, number>();
let total = 0;
let idle = 0;
let clock = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  clock += dt;
  if (clock < windowFrom || clock >= windowTo) return;
  if (byId.get(id)!.callFrame.functionName === '(idle)') {
    idle += dt;
    return;
  }
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

const functionKey = (frame: ProfileNode['callFrame']) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist|src)\//, '$1/')}:${frame.lineNumber + 1}`;
const selfByFunction = new Map<string, number>();
const inclusiveByArea = new Map<string, number>();
const inclusiveByFunction = new Map<string, number>();
for (const [id, time] of self) {
  const key = functionKey(byId.get(id)!.callFrame);
  selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + time);
  // Inclusive: each area and each function on the sample's stack counts once.
  const areas = new Set<string>();
  const functions = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)!.callFrame;
    if (frame.functionName === '(root)') continue;
    areas.add(area(frame.url, frame.functionName));
    functions.add(functionKey(frame));
  }
  for (const name of areas) inclusiveByArea.set(name, (inclusiveByArea.get(name) ?? 0) + time);
  for (const name of functions) inclusiveByFunction.set(name, (inclusiveByFunction.get(name) ?? 0) + time);
}

const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
console.log(`${(total / 1e6).toFixed(1)} s busy (${(idle / 1e6).toFixed(1)} s idle left out); shares of the busy time\n\nSelf time, top 25:`);
for (const [key, time] of [...selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(time).padStart(6)}  ${key}`);
console.log('\nInclusive time by area (top 30):');
for (const [key, time] of [...inclusiveByArea].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(time).padStart(6)}  ${key}`);
const topFunctions = Number(option('--top') ?? 40);
console.log(`\nInclusive time by function (top ${topFunctions}):`);
for (const [key, time] of [...inclusiveByFunction].sort((a, b) => b[1] - a[1]).slice(0, topFunctions)) console.log(`  ${pct(time).padStart(6)}  ${key}`);

/**
 * `--stalls MS`: the stretches of at least MS with no idle sample, longest first. A stretch holding
 * far fewer samples than its milliseconds was mostly off the CPU (the machine's cores were busy
 * elsewhere), not running one long task.
 */
const stallMs = option('--stalls');
if (stallMs !== null) {
  const stretches: Array<{ from: number; to: number; samples: number }> = [];
  let first = -1;
  profile.samples.forEach((id, i) => {
    const inWindow = sampleTimes[i] >= windowFrom && sampleTimes[i] < windowTo;
    const busy = inWindow && !idleId.has(id);
    if (busy && first < 0) first = i;
    if ((!busy || i === profile.samples.length - 1) && first >= 0) {
      if ((sampleTimes[i] - sampleTimes[first]) / 1000 >= Number(stallMs)) stretches.push({ from: first, to: i, samples: i - first });
      first = -1;
    }
  });
  console.log(`\nBusy stretches of ${stallMs} ms or more: ${stretches.length}`);
  for (const stretch of stretches.sort((a, b) => sampleTimes[b.to] - sampleTimes[b.from] - (sampleTimes[a.to] - sampleTimes[a.from])).slice(0, 8)) {
    const inside = new Map<string, number>();
    for (let i = stretch.from; i < stretch.to; i++) {
      const key = functionKey(byId.get(profile.samples[i])!.callFrame);
      inside.set(key, (inside.get(key) ?? 0) + 1);
    }
    const top = [...inside].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([key, n]) => `${key} (${n})`).join(', ');
    console.log(`  ${((sampleTimes[stretch.to] - sampleTimes[stretch.from]) / 1000).toFixed(1).padStart(6)} ms at ${(sampleTimes[stretch.from] / 1e6).toFixed(2)} s, ${stretch.samples} samples: ${top}`);
  }
}
