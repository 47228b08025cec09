import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli';

export interface WorkerProcess {
  child: ChildProcess;
  /** Its log lines (pino JSON). */
  log: string[];
  /** Where it serves /healthz, /readyz and /metrics (METRICS_PORT=0: the port it picked, read from its start line). */
  opsUrl: string;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

/** `webhook-agent worker` as a child process with METRICS_PORT=0 (a free port); resolves once it logs that it started. */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    // Info and JSON whatever `env` says: the start line carries the port.
    env: { ...process.env, METRICS_PORT: '0', ...env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  let partial = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      log.push(...lines);
      const started = lines.find((l) => l.includes('delivery worker started'));
      if (started) resolve((JSON.parse(started) as { metricsPort: number }).metricsPort);
    });
    child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString('utf8')));
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before starting:\n${log.join('\n')}`)));
  });
  return {
    child,
    log,
    opsUrl: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** `name{a="x",b="y"} value` lines of Prometheus text into a map keyed by the name and labels as written. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    values.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return values;
}
