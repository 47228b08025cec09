/**
 * Memory of an embedded PostgreSQL server while a benchmark runs: the postmaster of
 * DATA_DIR/postgres and every backend it forked. Their RSS counts the shared buffers once per
 * process, so the figure is the sum of PSS (each shared page divided among the processes that
 * map it), read from /proc/PID/smaps_rollup, sampled until stopped; the peak is reported.
 */
import fs from 'node:fs';
import path from 'node:path';

function postmasterOf(dataDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may hold spaces, so split after its ')'.
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent) children.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The server's PSS in MB now (0 when it does not run). */
export function postgresPssMb(dataDir: string): number {
  const postmaster = postmasterOf(dataDir);
  if (postmaster === null) return 0;
  return [postmaster, ...childrenOf(postmaster)].reduce((sum, pid) => sum + pssKb(pid), 0) / 1024;
}

/** Samples the server's PSS every intervalMs; stop() returns the peak in MB. */
export function samplePostgresPeak(dataDir: string, intervalMs = 250): { stop(): number } {
  let peak = postgresPssMb(dataDir);
  const timer = setInterval(() => (peak = Math.max(peak, postgresPssMb(dataDir))), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, postgresPssMb(dataDir));
    },
  };
}
