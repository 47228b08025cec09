/**
 * Where a CPU profile's time goes: `npx tsx bench/profileSummary.ts file.cpuprofile`.
 * Prints self time by function (top 25) and inclusive time by area (a package under
 * node_modules, our src/ folders, node internals, idle and GC), as shares of all samples.
 * Profiles come from `node --cpu-prof` (bench/requestPath.ts: BENCH_CPU_PROF=dir).
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
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const self = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

const selfByFunction = new Map<string, number>();
const inclusiveByArea = new Map<string, number>();
for (const [id, time] of self) {
  const node = byId.get(id)!;
  const key = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist|src)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + time);
  // Inclusive by area: each area on the sample's stack counts once.
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)!.callFrame;
    if (frame.functionName === '(root)') continue;
    seen.add(area(frame.url, frame.functionName));
  }
  for (const name of seen) inclusiveByArea.set(name, (inclusiveByArea.get(name) ?? 0) + time);
}

const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
console.log(`${(total / 1e6).toFixed(1)} s sampled\n\nSelf time, top 25:`);
for (const [key, time] of [...selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${pct(time).padStart(6)}  ${key}`);
console.log('\nInclusive time by area (top 30):');
for (const [key, time] of [...inclusiveByArea].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${pct(time).padStart(6)}  ${key}`);
