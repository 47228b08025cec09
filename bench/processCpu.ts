/**
 * CPU time of processes, read from /proc (utime + stime): the bench's processes by pid, and
 * PostgreSQL's as every process named `postgres` (the server's and the embedded one's backends,
 * whatever OS user runs them).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime+stime in seconds of the given pids (children not counted; a process gone counts nothing). */
export function cpuSeconds(pids: Array<number | undefined>): number {
  let ticks = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / TICKS;
}

/** A reading of every PostgreSQL process's CPU seconds, by pid (for postgresCpuBetween). */
export function postgresCpu(): Map<number, number> {
  return new Map(postgresPids().map((pid) => [pid, cpuSeconds([pid])]));
}

/**
 * CPU seconds PostgreSQL's processes used between two readings: only processes present at both
 * count (a backend whose connection closed in between took its CPU with it, and subtracting a
 * sum that still held it gave negative figures).
 */
export function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, then] of before) {
    const now = after.get(pid);
    if (now !== undefined) seconds += now - then;
  }
  return seconds;
}

function postgresPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return /^postgres\b/.test(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'));
      } catch {
        return false;
      }
    });
}
