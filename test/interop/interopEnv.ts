/**
 * What the interop suites need from outside npm (Debian packages, NetServer's reference WSDL)
 * and the skip-or-fail rule: on a developer machine without them the suite is skipped with a
 * loud message, so `npm test` passes with only Node installed; with CI=true (where .ci/run
 * installs them) a missing tool fails the suite, because a skip there would hide a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** NetServer's reference WSDL lives in the shared folder beside the repository. */
export const REFERENCE_WSDL = path.resolve(REPO_ROOT, '..', 'shared', 'reference', 'Services88-Webhook.wsdl');
export const IS_CI = process.env.CI === 'true';

export interface Requirement {
  what: string;
  missing: string | null;
}

export function requireFile(what: string, file: string): Requirement {
  return { what, missing: fs.existsSync(file) ? null : `${file} does not exist` };
}

/** A command counts as present when it can be started and exits 0. */
export function requireCommand(what: string, command: string, args: string[]): Requirement {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 30000 });
  if (result.error) return { what, missing: `${command}: ${result.error.message}` };
  if (result.status !== 0) return { what, missing: `${command} ${args.join(' ')} exited ${result.status}: ${(result.stderr || result.stdout).trim().slice(0, 300)}` };
  return { what, missing: null };
}

/**
 * `describe` when every requirement is met; otherwise `describe.skip` with a loud warning, or
 * (CI=true) a suite whose single test fails naming what is missing.
 */
export function describeWhen(title: string, requirements: Requirement[], install: string, body: () => void): void {
  const missing = requirements.filter((r) => r.missing);
  if (missing.length === 0) {
    describe(title, body);
    return;
  }
  const lines = missing.map((r) => `  - ${r.what}: ${r.missing}`).join('\n');
  if (IS_CI) {
    describe(title, () => {
      it('has its interop tools (CI=true: missing tools fail, they do not skip)', () => {
        throw new Error(`CI=true but interop requirements are missing:\n${lines}\nInstall: ${install}`);
      });
    });
    return;
  }
  // Straight to stderr: jest drops console output of a file whose tests are all skipped.
  process.stderr.write(`\n!!!!!!!!!! SKIPPED: "${title}" !!!!!!!!!!\n${lines}\nInstall: ${install}\n(With CI=true this is a failure.)\n\n`);
  describe.skip(title, body);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a process to completion without blocking the event loop (our service runs in this process). */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
