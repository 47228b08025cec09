/**
 * The processes a benchmark measures, each on its own (as in production): `webhook-agent serve`
 * from dist/, and the bare express baseline. Peak RSS is read from /proc (VmHWM) before they stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// BENCH_DIST compares another build (e.g. the code before a change) under the same harness.
const CLI = path.resolve(__dirname, '..', process.env.BENCH_DIST ?? 'dist', 'cli.js');

export function peakRssMb(pid: number | undefined): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
  } catch {
    return NaN;
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** The bootstrap ticket printed on the database's first start. */
  ticket: string;
}

/**
 * `serve` on a fresh database (env holds DATABASE_URL or DATA_DIR); resolves once it prints its
 * bootstrap ticket. `firstStart: false` (a restart on the same database, no ticket printed, '' in
 * `ticket`): once it accepts connections.
 */
export async function startServe(env: Record<string, string>, nodeArgs: string[] = [], options: { firstStart?: boolean } = {}): Promise<ServeProcess> {
  const firstStart = options.firstStart ?? true;
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm run bench does).');
  const port = await freePort();
  // BENCH_NODE_ARGS compares node flags (e.g. --max-semi-space-size=4) under the same harness.
  const extraArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extraArgs, ...nodeArgs, CLI, 'serve'], {
    env: { ...process.env, ...env, PORT: String(port), BOOTSTRAP_TICKET: 'true', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`))));
  exited.catch(() => undefined);
  for (;;) {
    const match = /First start:.*\n\s*\n\s+(\S+)\s*\n/.exec(out);
    if (match || (!firstStart && (await canConnect(port)))) {
      // Whatever serve logs from now on is drained, never buffered here.
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      return { child, url: `http://127.0.0.1:${port}`, ticket: match?.[1] ?? '' };
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The bare baseline (bench/bareServer.ts) answering `body`; its URL is `${url}/bare`. */
export async function startBare(body: string, contentType: string): Promise<{ child: ChildProcess; url: string }> {
  // Through a file: a long response (GetAllWebhooks) is more than an environment variable may hold.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wa-bare-')), 'response.json');
  fs.writeFileSync(file, JSON.stringify({ body, contentType }));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'bareServer.ts')], {
    env: { ...process.env, BARE_RESPONSE_FILE: file },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString('utf8').trim())));
    child.once('exit', (code) => reject(new Error(`the bare baseline exited with ${code}`)));
  });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return { child, url: `http://127.0.0.1:${port}/bare` };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
