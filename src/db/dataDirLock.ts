import fs from 'node:fs';
import path from 'node:path';

/**
 * Which process owns the embedded PostgreSQL server of a data folder: the one that started it
 * and stops it. Others join the running server as clients. The lock is a file holding the
 * owner's pid and command, taken with O_EXCL, so two processes never both start a server.
 */

const LOCK_FILE = 'webhook-agent.lock';

export interface LockOwner {
  pid: number;
  command: string;
}

export class DataDirInUseError extends Error {
  constructor(dataDir: string, owner: LockOwner) {
    super(
      `The data folder ${dataDir} is in use by another webhook-agent process (${owner.command}, pid ${owner.pid}). ` +
        'Stop that process, or give this one its own folder with DATA_DIR, or use a PostgreSQL server with DATABASE_URL. ' +
        '(Worker and CLI commands can run beside a running serve: they connect to its database.)',
    );
    this.name = 'DataDirInUseError';
  }
}

/** Takes the lock for this process, or returns the live owner that holds it. */
export function tryLockDataDir(dataDir: string, command: string): LockOwner | null {
  const lockPath = path.join(dataDir, LOCK_FILE);
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lockPath, `${process.pid}\n${command}\n`, { flag: 'wx', mode: 0o600 });
      return null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readLockOwner(dataDir);
      if (owner !== null && isAlive(owner.pid)) return owner;
      fs.rmSync(lockPath, { force: true }); // left by a process that is gone (SIGKILL, crash)
    }
  }
  throw new Error(`Could not take the lock ${lockPath}; remove it if no webhook-agent is running.`);
}

export function unlockDataDir(dataDir: string): void {
  if (readLockOwner(dataDir)?.pid === process.pid) fs.rmSync(path.join(dataDir, LOCK_FILE), { force: true });
}

export function readLockOwner(dataDir: string): LockOwner | null {
  try {
    const [pidText, command] = fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8').split('\n');
    const pid = Number(pidText.trim());
    return Number.isInteger(pid) && pid > 0 ? { pid, command: command?.trim() || 'webhook-agent' } : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
