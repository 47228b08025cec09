import http from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Config } from './config';
import { RequestRateLimiter } from './core/rateLimit';
import { createBootstrapTicket } from './core/tickets';
import { managerOptions, WebhookManager } from './core/WebhookManager';
import { openDatabase, type Database } from './db/dataSource';
import { WebhookReadCache } from './db/webhookReadCache';
import { reserveTokens } from './db/rateLimitBuckets';
import { DeliveryEngine } from './delivery/engine';
import { mountConsole } from './console/consoleRoutes';
import { mountHealth } from './health';
import { frontDoor } from './frontDoor';
import { createLogger, requestTracer, type Logger } from './logger';
import { Metrics } from './metrics';
import { mountRestApi } from './rest/routes';
import { SOAP_PATH } from './soap/endpoint';
import { mountSoapService } from './soap/soapService';
import { tenantPaths } from './tenantPaths';

export interface RunningService {
  url: string;
  port: number;
  db: Database;
  manager: WebhookManager;
  delivery: DeliveryEngine;
  /** The doors' webhook read cache (WEBHOOK_CACHE_MS), or null when it is off. */
  readCache: WebhookReadCache | null;
  /** The ticket created on first start (printed once), or null. */
  bootstrapTicket: string | null;
  close(): Promise<void>;
}

/** Opens the database, mounts the doors and listens. Used by `serve` and by the tests. */
export async function startService(config: Config, logger: Logger = createLogger(config)): Promise<RunningService> {
  const db = await openDatabase(config);
  let delivery: DeliveryEngine | null = null;
  const readCache = config.webhookCacheMs > 0 ? new WebhookReadCache({ maxEntries: WEBHOOK_CACHE_ENTRIES, maxAgeMs: config.webhookCacheMs }) : null;
  try {
    const manager = new WebhookManager(db.dataSource, managerOptions(config), logger);
    if (readCache) {
      readCache.listen(db.url, logger);
      manager.useReadCache(readCache);
    }
    // The engine LISTENs on the database in effect: DATABASE_URL, or the embedded server's socket.
    delivery = new DeliveryEngine(db.dataSource, { ...config, databaseUrl: db.url }, logger).attach(manager);
    const metrics = new Metrics(db.dataSource);
    delivery.metrics = metrics;
    if (readCache) metrics.watchReadCache(readCache);
    if (config.runWorker) delivery.startWorker();
    delivery.startRetention();
    // One limiter for both doors, its buckets in the database: a ticket's budget is shared
    // between SOAP and REST and between every process serving this database.
    const rateLimiter = new RequestRateLimiter(config.rateLimitPerMinute, (...args) => reserveTokens(db.dataSource, ...args));
    const soapDoor = newDoor();
    await mountSoapService(soapDoor, { ds: db.dataSource, manager, publicUrl: config.publicUrl, bodyLimitBytes: config.bodyLimitBytes, logger, rateLimiter });
    const restDoor = newDoor();
    mountRestApi(restDoor, { ds: db.dataSource, manager, bodyLimitBytes: config.bodyLimitBytes, logger, rateLimiter, delivery });
    const otherDoor = newDoor();
    mountHealth(otherDoor, db.dataSource);
    metrics.mount(otherDoor);
    mountConsole(otherDoor);
    for (const door of [soapDoor, restDoor, otherDoor]) door.use(notFound);
    const traceRequest = requestTracer(logger);
    const takeTenantPrefix = tenantPaths(config.contextIdentifier);
    const handler = frontDoor(SOAP_PATH, {
      prepare(req, res) {
        traceRequest(req, res);
        metrics.countRequest(req, res);
        return takeTenantPrefix(req, res);
      },
      soap: soapDoor,
      rest: restDoor,
      other: otherDoor,
    });

    const bootstrapTicket = config.bootstrapTicket ? await createBootstrapTicket(db.dataSource) : null;
    const server = http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, resolve);
    });
    const port = (server.address() as { port: number }).port;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      db,
      manager,
      delivery,
      readCache,
      bootstrapTicket,
      /**
       * Graceful: stops accepting requests and claiming deliveries at once; requests and attempts
       * in flight get SHUTDOWN_TIMEOUT_MS to finish (then their connections are cut and the
       * unfinished claims released); the database closes last.
       */
      async close() {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const cutOff = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
        await Promise.all([serverClosed, delivery!.close()]);
        clearTimeout(cutOff);
        await readCache?.close();
        await db.close();
      },
    };
  } catch (error) {
    await delivery?.close();
    await readCache?.close();
    await db.close();
    throw error;
  }
}

/** Webhooks, and lists (of at most 1,000), a process keeps for reads at most: each. */
const WEBHOOK_CACHE_ENTRIES = 10_000;

function newDoor() {
  const door = express();
  door.disable('x-powered-by');
  return door;
}

function notFound(_req: Request, res: Response): void {
  res.status(404).type('text/plain').send(`Not found. The operator console is at /; the SOAP endpoint is ${SOAP_PATH} (WSDL at ${SOAP_PATH}?wsdl); REST at /api/v1 (openapi.json).\n`);
}
