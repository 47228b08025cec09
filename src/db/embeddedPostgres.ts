import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded PostgreSQL: PGlite in the data folder, served on a Unix socket in that folder
 * so that the same `pg` driver, entities and migrations serve both modes, and so that a CLI
 * command can reach the database while the service holds it (PGlite is single-process).
 */

const SOCKET_PORT = 5432;
const LOCK_FILE = 'webhook-agent.lock';

export interface EmbeddedPostgres {
  /** Connection options for `pg` / TypeORM (host is the socket folder). */
  host: string;
  port: number;
  close(): Promise<void>;
}

export class DataDirInUseError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `The data folder ${dataDir} is in use by another webhook-agent process (pid ${pid}). ` +
        'Stop that process, or give this one its own folder with DATA_DIR, or use a PostgreSQL server with DATABASE_URL.',
    );
    this.name = 'DataDirInUseError';
  }
}

export function socketPathOf(dataDir: string): string {
  return path.join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
}

/** The socket of a service that holds dataDir right now, or null when none does. */
export async function findRunningEmbedded(dataDir: string): Promise<{ host: string; port: number; pid: number } | null> {
  const owner = readLock(dataDir);
  if (owner === null || !isAlive(owner)) return null;
  if (!(await canConnect(socketPathOf(dataDir)))) return null;
  return { host: dataDir, port: SOCKET_PORT, pid: owner };
}

/** Opens the data folder, refusing when another process holds it. */
export async function startEmbeddedPostgres(dataDir: string, maxConnections = 4): Promise<EmbeddedPostgres> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const socketPath = socketPathOf(dataDir);
  if (Buffer.byteLength(socketPath) > 100) {
    throw new Error(`DATA_DIR ${dataDir} is too long for a Unix socket path (${socketPath}); choose a shorter DATA_DIR.`);
  }
  acquireLock(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    db = await PGlite.create(path.join(dataDir, 'pgdata'));
    fs.rmSync(socketPath, { force: true }); // a stale socket of a process that died
    server = new PGLiteSocketServer({ db, path: socketPath, maxConnections });
    await server.start();
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    releaseLock(dataDir);
    throw error;
  }
  const openDb = db;
  const openServer = server;
  return {
    host: dataDir,
    port: SOCKET_PORT,
    async close() {
      await openServer.stop().catch(() => undefined);
      await openDb.close().catch(() => undefined);
      fs.rmSync(socketPath, { force: true });
      releaseLock(dataDir);
    },
  };
}

function acquireLock(dataDir: string): void {
  const lockPath = path.join(dataDir, LOCK_FILE);
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readLock(dataDir);
      if (owner !== null && isAlive(owner)) throw new DataDirInUseError(dataDir, owner);
      fs.rmSync(lockPath, { force: true }); // left by a process that is gone
    }
  }
  throw new Error(`Could not take the lock ${lockPath}; remove it if no webhook-agent is running.`);
}

function releaseLock(dataDir: string): void {
  if (readLock(dataDir) === process.pid) fs.rmSync(path.join(dataDir, LOCK_FILE), { force: true });
}

function readLock(dataDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
