/**
 * `GET /metrics` in Prometheus' text format (prom-client). One registry per running service, so
 * several services in one process (tests) keep their own counts. Queue depth and webhook states
 * are read from the database when scraped (two indexed aggregate queries), so every replica
 * reports the shared queue; counters count what this process did.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request } from 'express';
import client from 'prom-client';
import type { DataSource } from 'typeorm';
import { WEBHOOK_STATE_NAMES } from './core/webhook';
import { OPERATION_NAMES } from './core/operations';
import { SOAP_ACTION_BASE, SOAP_PATH } from './soap/endpoint';

/** What the delivery worker reports (see DeliveryWorker). */
export interface DeliveryMetrics {
  /** One attempt sent: its outcome and how long the target took. */
  attempt(outcome: 'success' | 'failure', latencyMs: number): void;
  /** Deliveries whose cycle ended, as recorded. */
  finished(status: 'succeeded' | 'failed', count: number): void;
}

export class Metrics implements DeliveryMetrics {
  readonly registry = new client.Registry();
  private readonly attempts: client.Counter<'outcome'>;
  private readonly attemptSeconds: client.Histogram<'outcome'>;
  private readonly finishedDeliveries: client.Counter<'status'>;
  private readonly requests: client.Counter<'door' | 'operation' | 'outcome'>;
  /** The counter's child per label set: prom-client would hash the labels object on every inc. */
  private readonly requestChildren = new Map<string, client.Counter.Internal>();

  constructor(ds: DataSource) {
    const registers = [this.registry];
    // Unprefixed (process_*, nodejs_*): the names standard Node.js dashboards and alerts read.
    client.collectDefaultMetrics({ register: this.registry });
    this.attempts = new client.Counter({ name: 'webhook_agent_delivery_attempts_total', help: 'Delivery attempts sent by this process, by outcome (success: 2xx in time)', labelNames: ['outcome'], registers });
    this.attemptSeconds = new client.Histogram({
      name: 'webhook_agent_delivery_attempt_duration_seconds',
      help: 'Time from sending an attempt to its answer (or error)',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.finishedDeliveries = new client.Counter({ name: 'webhook_agent_deliveries_total', help: 'Deliveries whose attempt cycle this process ended, by status', labelNames: ['status'], registers });
    this.requests = new client.Counter({ name: 'webhook_agent_requests_total', help: 'API requests by door (soap, rest), operation and outcome', labelNames: ['door', 'operation', 'outcome'], registers });
    for (const outcome of ['success', 'failure']) this.attempts.inc({ outcome }, 0);
    for (const status of ['succeeded', 'failed']) this.finishedDeliveries.inc({ status }, 0);

    new client.Gauge({
      name: 'webhook_agent_deliveries_open',
      help: 'Pending deliveries in the database: due (waiting for a worker) and in_flight (claimed by a worker)',
      labelNames: ['state'],
      registers,
      async collect() {
        const [row] = (await ds.query(
          `SELECT count(*) FILTER (WHERE locked_by IS NULL AND run_at <= now())::int AS due,
                  -- A live claim may outlast its lease (its worker's heartbeat keeps it): claimed is in flight.
                  count(*) FILTER (WHERE locked_by IS NOT NULL)::int AS in_flight
           FROM delivery WHERE status = 'pending'`,
        )) as Array<{ due: number; in_flight: number }>;
        this.set({ state: 'due' }, row.due);
        this.set({ state: 'in_flight' }, row.in_flight);
      },
    });
    new client.Gauge({
      name: 'webhook_agent_webhooks',
      help: 'Webhooks by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const rows = (await ds.query('SELECT state, count(*)::int AS n FROM webhook GROUP BY state')) as Array<{ state: number; n: number }>;
        for (const name of WEBHOOK_STATE_NAMES.slice(1)) this.set({ state: name }, 0);
        for (const row of rows) this.set({ state: WEBHOOK_STATE_NAMES[row.state] ?? String(row.state) }, row.n);
      },
    });
  }

  /** The webhook read cache's reads by result, and whether it is serving (listening for changes). */
  watchReadCache(cache: { hits: number; misses: number; active: boolean }): void {
    const registers = [this.registry];
    new client.Counter({
      name: 'webhook_agent_webhook_cache_reads_total',
      help: 'Reads of webhooks (GetWebhook, GetAllWebhooks, GET /api/v1/Webhook...) while the read cache served: hit answered from it, miss from the database',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, cache.hits);
        this.inc({ result: 'miss' }, cache.misses);
      },
    });
    new client.Gauge({
      name: 'webhook_agent_webhook_cache_listening',
      help: '1 while the read cache hears of webhook changes (LISTEN webhook_changed) and serves; 0 while every read goes to the database',
      registers,
      collect() {
        this.set(cache.active ? 1 : 0);
      },
    });
  }

  attempt(outcome: 'success' | 'failure', latencyMs: number): void {
    this.attempts.inc({ outcome });
    this.attemptSeconds.observe({ outcome }, latencyMs / 1000);
  }

  finished(status: 'succeeded' | 'failed', count: number): void {
    if (count > 0) this.finishedDeliveries.inc({ status }, count);
  }

  /** Counts every SOAP and REST request when its response is finished. Labels come from fixed lists and route templates, never from raw paths. */
  readonly countRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.once('finish', () => this.count(req as Request, res.statusCode));
  };

  private count(req: Request, status: number): void {
    const label = requestLabel(req, status);
    if (!label) return;
    const key = `${label.door} ${label.operation} ${label.outcome}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = this.requests.labels(label);
      this.requestChildren.set(key, child);
    }
    child.inc();
  }

  mount(app: Express): void {
    app.get('/metrics', async (_req, res) => {
      try {
        const text = await this.registry.metrics();
        res.type(this.registry.contentType).send(text);
      } catch (error) {
        res.status(503).type('text/plain').send(`metrics unavailable: ${(error as Error).message}\n`);
      }
    });
  }
}

function requestLabel(req: Request, status: number): { door: string; operation: string; outcome: string } | null {
  // originalUrl: express's, the URL before its routers took a mount path off; a request the front door answered itself never reached express.
  const url = req.originalUrl ?? req.url;
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (path === SOAP_PATH) {
    if (req.method !== 'POST') return null; // ?wsdl
    const action = String(req.headers.soapaction ?? '').replace(/^"|"$/g, '');
    const name = action.startsWith(SOAP_ACTION_BASE) ? action.slice(SOAP_ACTION_BASE.length) : '';
    const operation = (OPERATION_NAMES as readonly string[]).includes(name) ? name : 'unknown';
    // SOAP 1.1 answers every fault with 500; the fault code says whose fault it was.
    return { door: 'soap', operation, outcome: status < 400 ? 'success' : 'fault' };
  }
  if (path.startsWith('/api/')) {
    const route = req.route?.path;
    const operation = typeof route === 'string' ? `${req.method} ${req.baseUrl}${route}` : 'unmatched';
    return { door: 'rest', operation, outcome: status < 400 ? 'success' : status < 500 ? 'client_error' : 'server_error' };
  }
  return null;
}
