/**
 * A standalone worker's own HTTP port (METRICS_PORT): /healthz, /readyz and /metrics and nothing
 * else, so orchestrators can check it and Prometheus can count its attempts. `serve` has the same
 * three on its API port.
 */
import http from 'node:http';
import express from 'express';
import type { DataSource } from 'typeorm';
import { mountHealth } from './health';
import type { Metrics } from './metrics';

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

export async function startOpsServer(port: number, ds: DataSource, metrics: Metrics): Promise<OpsServer> {
  const app = express();
  app.disable('x-powered-by');
  mountHealth(app, ds);
  metrics.mount(app);
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found. This is a delivery worker: it serves /healthz, /readyz and /metrics only.\n');
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
