import type { Express } from 'express';
import type { DataSource } from 'typeorm';
import { pgPool } from './db/preparedQuery';
import { databaseReason } from './db/transientErrors';

const READY_TIMEOUT_MS = 2000;

/**
 * `/healthz`: the process answers. `/readyz`: the database answers within 2 s and its schema is
 * current; 503 otherwise, so a load balancer stops routing to an instance that cannot work.
 */
export function mountHealth(app: Express, ds: DataSource): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      // A plain round trip on the pool first: when the server is away its own words
      // ("the database system is starting up", "connect ECONNREFUSED ...") are the reason,
      // not a message from TypeORM's query runner.
      await withTimeout(pgPool(ds).query('SELECT 1'), READY_TIMEOUT_MS);
      const pending = await withTimeout(ds.showMigrations(), READY_TIMEOUT_MS);
      if (pending) {
        res.status(503).json({ status: 'unavailable', reason: 'database migrations are pending; run webhook-agent migrate' });
        return;
      }
      res.json({ status: 'ready' });
    } catch (error) {
      res.status(503).json({ status: 'unavailable', reason: `database unreachable: ${databaseReason(error)}` });
    }
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
