/**
 * wrk (C, its own process) as the load generator: a Node load generator in the bench's process
 * tops out below what a bare express route can answer, which holds the baseline down with the
 * product and flatters the ratio. Closed loop: `connections` requests in flight for `seconds`.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface WrkRequest {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers plus socket errors and timeouts. */
  errors: number;
}

/** Exits with the install hint when wrk is missing (the bench is not run in CI). */
export function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // wrk --version exits 1 after printing; only a missing binary throws ENOENT.
    if ((error as { code?: string }).code !== 'ENOENT') return;
    process.stderr.write('This benchmark needs wrk, a load generator that runs in its own process: install it with `apt-get install wrk` (Debian/Ubuntu) and run it again.\n');
    process.exit(2);
  }
}

function millis(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 'ms' ? value : match[2] === 's' ? value * 1000 : value * 60_000;
}

export function parseWrk(output: string): WrkResult {
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!rate) throw new Error(`wrk printed no rate:\n${output}`);
  const percentile = (p: string) => millis(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(output)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requestsPerSecond: Number(rate[1]), p50Ms: percentile('50'), p99Ms: percentile('99'), errors: non2xx + socketErrors };
}

export async function runWrk(request: WrkRequest, options: { seconds: number; connections: number; threads?: number }): Promise<WrkResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-wrk-'));
  const script = path.join(dir, 'request.lua');
  const bodyFile = path.join(dir, 'body');
  fs.writeFileSync(bodyFile, request.body ?? '');
  const lines = [`wrk.method = ${JSON.stringify(request.method)}`];
  for (const [name, value] of Object.entries(request.headers ?? {})) lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  if (request.body !== undefined) lines.push(`local f = io.open(${JSON.stringify(bodyFile)}, "rb")`, 'wrk.body = f:read("*a")', 'f:close()');
  fs.writeFileSync(script, `${lines.join('\n')}\n`);
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', ['-t', String(options.threads ?? 1), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency', '-s', script, request.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}:\n${out}`))));
    });
    return parseWrk(output);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
