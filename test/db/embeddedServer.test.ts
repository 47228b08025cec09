/**
 * The embedded database is a real PostgreSQL server in DATA_DIR, started by the product. These
 * tests run the compiled CLI as child processes against empty folders (first start, initdb
 * included): one server per folder, workers and CLI commands beside serve, a clean stop, and a
 * SIGKILLed node whose orphaned server the next start adopts. They ignore DATABASE_URL.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, runCli } from '../support/cli';
import { queryEmbedded } from '../support/testDatabase';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/receiver';

const EMBEDDED = { DATABASE_URL: '', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true' };

interface Serve {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stdout: () => string;
  exited: Promise<number | null>;
}

function startServe(dataDir: string, extra: Record<string, string> = {}): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...EMBEDDED, DATA_DIR: dataDir, PORT: '0', ...extra }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${out}`)), 60_000);
    const check = () => {
      const match = /"url":"http:\/\/localhost:(\d+)"/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve({ child, port: Number(match[1]), stdout: () => out, exited });
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening:\n${out}`));
    });
  });
}

function postmasterPid(dataDir: string): number | null {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
}

/** Running (a stopped postmaster may stay a zombie until whoever adopted it reaps it). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every postmaster whose data directory is dataDir/postgres, read from /proc (there must never be two). */
function postmastersOf(dataDir: string): number[] {
  const cluster = path.join(dataDir, 'postgres');
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return path.basename(args[0]) === 'postgres' && args[1] === '-D' && args[2] === cluster && alive(Number(pid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function waitForRequest(receiver: Receiver, url: string, timeoutMs: number): Promise<ReceivedRequest> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
    const found = receiver.requests.find((request) => request.url === url);
    if (found) return found;
  }
  throw new Error(`no request to ${url} within ${timeoutMs} ms`);
}

function freshDataDir(): { root: string; dataDir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-embedded-'));
  fs.chmodSync(root, 0o711); // as root, the server's OS user (postgres) must get through
  return { root, dataDir: path.join(root, 'data') };
}

describe('the embedded PostgreSQL server in DATA_DIR', () => {
  let root: string;
  let dataDir: string;
  let receiver: Receiver;
  const running: Serve[] = [];

  beforeAll(async () => {
    ({ root, dataDir } = freshDataDir());
    receiver = await startReceiver((_request, response) => response.writeHead(200).end());
  });
  afterAll(async () => {
    for (const serve of running) serve.child.kill('SIGKILL');
    const pid = postmasterPid(dataDir);
    if (pid && alive(pid)) process.kill(pid, 'SIGQUIT');
    await receiver.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('first start initialises a cluster, prints the bootstrap ticket and listens only on a socket inside DATA_DIR', async () => {
    // serve's own worker is off, so that only the worker process of a later test can deliver.
    const serve = await startServe(dataDir, { RUN_WORKER: 'false' });
    running.push(serve);
    // Printed just after the listening line, in a write of its own.
    for (const deadline = Date.now() + 5000; !/wat_[A-Za-z0-9_-]{43}/.test(serve.stdout()) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(serve.stdout()).toMatch(/First start: created an API ticket[\s\S]*wat_[A-Za-z0-9_-]{43}/);
    expect(serve.stdout()).toContain('"database":"embedded"');
    expect((await fetch(`http://127.0.0.1:${serve.port}/readyz`)).status).toBe(200);
    expect(fs.existsSync(path.join(dataDir, 'postgres', '.s.PGSQL.5432'))).toBe(true);
    expect(fs.statSync(path.join(dataDir, 'postgres.password')).mode & 0o777).toBe(0o600);
    const [settings] = await queryEmbedded<{ listen: string; version: string }>(dataDir, "SELECT current_setting('listen_addresses') AS listen, current_setting('server_version_num') AS version");
    expect(settings.listen).toBe(''); // no TCP port: two installs on one machine never collide
    expect(Number(settings.version)).toBeGreaterThanOrEqual(180000);
    expect(postmastersOf(dataDir)).toHaveLength(1);
  });

  it('refuses a second serve on the same DATA_DIR with a message naming the first', async () => {
    const second = await runCli(['serve'], { ...EMBEDDED, DATA_DIR: dataDir, PORT: '0' });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by another webhook-agent process \\(serve, pid ${running[0].child.pid}\\)`));
    expect(postmastersOf(dataDir)).toHaveLength(1);
  });

  it('CLI commands and a worker process join the running server: a webhook created and signalled by the CLI is delivered by the worker', async () => {
    const ticket = await runCli(['tickets', 'create', '--name', 'beside serve'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(ticket.code).toBe(0);
    const target = `http://127.0.0.1:${receiver.port}/joined`;
    const [{ id }] = await queryEmbedded<{ id: number }>(
      dataDir,
      `INSERT INTO webhook (name, events, target_url, state, type, registered, updated) VALUES ('joined', '{order.created}', '${target}', 1, 'webhook', now(), now()) RETURNING webhook_id AS id`,
    );
    const worker = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, ...EMBEDDED, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let workerOut = '';
    worker.stdout.on('data', (chunk) => (workerOut += chunk));
    worker.stderr.on('data', (chunk) => (workerOut += chunk));
    try {
      const signalled = await runCli(['signal', 'order.created', '7', '--data', 'total=12'], { ...EMBEDDED, DATA_DIR: dataDir });
      expect(signalled.code).toBe(0);
      const request = await waitForRequest(receiver, '/joined', 30_000);
      expect(JSON.parse(request.body.toString())).toMatchObject({ Event: 'order.created', PrimaryKey: 7, WebhookName: 'joined' });
      expect(workerOut).toContain('"database":"embedded"');
      expect(id).toBeGreaterThan(0);
    } finally {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
    }
    expect(postmastersOf(dataDir)).toHaveLength(1); // nobody started a second server
  });

  it('SIGTERM stops the service gracefully and then its PostgreSQL server', async () => {
    const serve = running.pop()!;
    const pid = postmasterPid(dataDir)!;
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'webhook-agent.lock'))).toBe(false);
  });

  it('a CLI command with no service running starts the server for its own run and stops it after', async () => {
    const list = await runCli(['webhooks', 'list'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('joined');
    expect(postmastersOf(dataDir)).toHaveLength(0);
  });

  it('after a SIGKILL of serve, the next start adopts the orphaned server: one server, no row lost, no manual step', async () => {
    const first = await startServe(dataDir);
    const orphan = postmasterPid(dataDir)!;
    first.child.kill('SIGKILL');
    await first.exited;
    expect(alive(orphan)).toBe(true); // PostgreSQL does not die with its parent

    const second = await startServe(dataDir);
    running.push(second);
    expect(postmastersOf(dataDir)).toEqual([orphan]);
    const rows = await queryEmbedded<{ name: string }>(dataDir, 'SELECT name FROM webhook');
    expect(rows.map((r) => r.name)).toEqual(['joined']);
    expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    running.pop();
    expect(postmastersOf(dataDir)).toHaveLength(0);
  });

  it('an orphaned server too busy to answer the first probe is waited for and adopted, not restarted', async () => {
    const first = await startServe(dataDir);
    const orphan = postmasterPid(dataDir)!;
    first.child.kill('SIGKILL');
    await first.exited;
    // Stopped, it takes connections into the socket's backlog but answers none: the next start's
    // first probe (3 s) gets no answer, as from a server on a machine under load.
    process.kill(orphan, 'SIGSTOP');
    const resume = setTimeout(() => process.kill(orphan, 'SIGCONT'), 5_000);
    let second: Serve | null = null;
    try {
      second = await startServe(dataDir);
      running.push(second);
      expect(postmastersOf(dataDir)).toEqual([orphan]);
      const rows = await queryEmbedded<{ name: string }>(dataDir, 'SELECT name FROM webhook');
      expect(rows.map((r) => r.name)).toEqual(['joined']);
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
      running.pop();
    } finally {
      clearTimeout(resume);
      try {
        process.kill(orphan, 'SIGCONT');
      } catch {
        // already gone
      }
      // Failed half-way: stop this serve (and its server) so the next test starts from a stopped folder.
      if (second && running.at(-1) === second) {
        second.child.kill('SIGINT');
        await second.exited;
        running.pop();
      }
    }
  }, 60_000);

  it('after a SIGKILL of both node and PostgreSQL, the next start recovers the cluster and loses no committed row', async () => {
    const first = await startServe(dataDir);
    await queryEmbedded(dataDir, "INSERT INTO webhook (name, events, target_url, state, type, registered, updated) VALUES ('committed', '{a.b}', 'https://example.com/x', 2, 'webhook', now(), now())");
    const postmaster = postmasterPid(dataDir)!;
    first.child.kill('SIGKILL');
    process.kill(postmaster, 'SIGKILL');
    await first.exited;
    const second = await startServe(dataDir);
    running.push(second);
    const rows = await queryEmbedded<{ name: string }>(dataDir, 'SELECT name FROM webhook ORDER BY webhook_id');
    expect(rows.map((r) => r.name)).toEqual(['joined', 'committed']);
    expect(postmastersOf(dataDir)).toHaveLength(1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    running.pop();
  });
});

describe('embedded server set-up problems fail at start with what to do (exit 2)', () => {
  it('a DATA_DIR that cannot be created', async () => {
    const { root } = freshDataDir();
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, '');
    try {
      const run = await runCli(['serve'], { ...EMBEDDED, DATA_DIR: path.join(file, 'data'), PORT: '0' });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/Cannot use DATA_DIR .*a-file\/data for the embedded database: ENOTDIR\. Choose a folder this user can create and write/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  const asRoot = process.getuid?.() === 0 ? it : it.skip; // a non-root user cannot be root; the next test covers that side
  asRoot('as root: a DATA_DIR below a folder the server\'s OS user cannot enter', async () => {
    const closed = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-closed-')); // 0700, owned by root
    try {
      const run = await runCli(['serve'], { ...EMBEDDED, DATA_DIR: path.join(closed, 'data'), PORT: '0' });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`runs as the OS user postgres (PostgreSQL refuses root) and cannot enter ${closed} (mode 700). Let it through (chmod o+x ${closed})`);
      expect(fs.existsSync(path.join(closed, 'data', 'postgres'))).toBe(false);
    } finally {
      fs.rmSync(closed, { recursive: true, force: true });
    }
  });
});

describe('as an ordinary OS user', () => {
  const user = 'nobody';
  const asRoot = process.getuid?.() === 0 ? it : it.skip; // already an ordinary user: every other test here is the proof
  asRoot('serve starts its own server as that user (no postgres user involved), answers and stops cleanly', async () => {
    const ids = { uid: Number(require('node:child_process').execFileSync('id', ['-u', user]).toString()), gid: Number(require('node:child_process').execFileSync('id', ['-g', user]).toString()) };
    const checkout = path.resolve(__dirname, '..', '..');
    for (let dir = checkout; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      // .ci/run lets ordinary users through to the checkout; elsewhere say why this cannot run.
      if ((fs.statSync(dir).mode & 0o001) === 0) throw new Error(`${user} cannot enter ${dir}: chmod o+x ${dir} to run this test`);
    }
    const { root, dataDir } = freshDataDir();
    fs.chownSync(root, ids.uid, ids.gid);
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...EMBEDDED, DATA_DIR: dataDir, PORT: '0', HOME: root }, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      for (const deadline = Date.now() + 60_000; !/"url":"http:\/\/localhost:\d+"/.test(out); await new Promise((resolve) => setTimeout(resolve, 100))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve as ${user} did not start:\n${out}`);
      }
      const port = Number(/"url":"http:\/\/localhost:(\d+)"/.exec(out)![1]);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      expect(out).toMatch(/wat_[A-Za-z0-9_-]{43}/);
      const [owner] = postmastersOf(dataDir).map((pid) => fs.statSync(`/proc/${pid}`).uid);
      expect(owner).toBe(ids.uid);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(postmastersOf(dataDir)).toHaveLength(0);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
