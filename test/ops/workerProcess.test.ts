/**
 * A standalone `webhook-agent worker` is observable: /healthz, /readyz and /metrics on
 * METRICS_PORT, on both databases (on the embedded one the worker joins the test service's server).
 */
import path from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import { ACTOR, createWebhook, SECRET, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import { runCli } from '../support/cli';
import { databaseAdmin, startTestService, type TestService } from '../support/testService';
import { parseMetrics, startWorkerProcess, type WorkerProcess } from '../support/workerProcess';


describe('a worker process serves /healthz, /readyz and /metrics on METRICS_PORT', () => {
  let t: TestService;
  let r: CheckingReceiver;
  let worker: WorkerProcess | null = null;

  beforeAll(async () => {
    // The API sends nothing itself: every attempt below is the worker process's.
    t = await startTestService({ RUN_WORKER: 'false' });
    // PrimaryKey 3 always fails.
    r = await startCheckingReceiver(SECRET, (_n, payload) => (payload.PrimaryKey === 3 ? 500 : 200));
    worker = await startWorkerProcess({ ...t.env, DELIVERY_RETRY_SCHEDULE_MS: '50,50', POLL_INTERVAL_MS: '100' });
  });
  afterAll(async () => {
    await worker?.stop();
    await r?.close();
    await t?.stop();
  });

  async function scrape(): Promise<Map<string, number>> {
    const response = await fetch(`${worker!.opsUrl}/metrics`);
    expect(response.status).toBe(200);
    return parseMetrics(await response.text());
  }

  it('counts its own attempts and finished deliveries, and has the standard process_* and nodejs_* metrics', async () => {
    expect((await fetch(`${worker!.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${worker!.opsUrl}/readyz`)).status).toBe(200);
    await createWebhook(t.service.manager, r.url, ['worker.counted']);
    for (const key of [1, 2, 3]) await t.service.manager.signalEvent('worker.counted', key, null, ACTOR);
    await waitFor('every delivery finished, by the worker process', async () => {
      const m = await scrape();
      return (m.get('webhook_agent_deliveries_total{status="succeeded"}') ?? 0) + (m.get('webhook_agent_deliveries_total{status="failed"}') ?? 0) === 3;
    });
    const m = await scrape();
    expect(m.get('webhook_agent_delivery_attempts_total{outcome="success"}')).toBe(2);
    expect(m.get('webhook_agent_delivery_attempts_total{outcome="failure"}')).toBe(3); // key 3: three attempts
    expect(m.get('webhook_agent_delivery_attempt_duration_seconds_count{outcome="success"}')).toBe(2);
    expect(m.get('webhook_agent_deliveries_total{status="failed"}')).toBe(1);
    expect(m.get('webhook_agent_deliveries_open{state="due"}')).toBe(0);
    // The API process sent none of them: its own counters stayed at zero.
    const api = parseMetrics(await (await fetch(`${t.service.url}/metrics`)).text());
    expect(api.get('webhook_agent_delivery_attempts_total{outcome="success"}')).toBe(0);
    // prom-client's defaults under their standard names, as Node.js dashboards read them.
    expect(m.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(m.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect([...m.keys()].filter((name) => /^webhook_agent_(process|nodejs)_/.test(name))).toEqual([]);
    expect((await fetch(`${worker!.opsUrl}/Remote/Services88/Webhook.svc?wsdl`)).status).toBe(404); // no API here
  });

  it('/readyz answers 503 while the database is down and 200 once it is back; /healthz stays 200', async () => {
    const { dbName, adminUrl } = databaseAdmin(t);
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
      const down = await waitFor('/readyz to fail', async () => {
        const response = await fetch(`${worker!.opsUrl}/readyz`);
        return response.status === 503 ? ((await response.json()) as { reason: string }) : null;
      });
      expect(down.reason).toMatch(/^database unreachable/);
      expect((await fetch(`${worker!.opsUrl}/healthz`)).status).toBe(200);
    } finally {
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await waitFor('/readyz to be 200 again', async () => (await fetch(`${worker!.opsUrl}/readyz`)).status === 200, 30_000, 100);
  });
});

describe('METRICS_PORT and the OpenTelemetry switch', () => {
  it('are off unless set: no worker port, no traces', () => {
    const config = loadConfig({});
    expect([config.metricsPort, config.otlpTracing]).toEqual([null, false]);
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).otlpTracing).toBe(true);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces' }).otlpTracing).toBe(true);
    // The standard switches that turn the SDK off win over an endpoint.
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).otlpTracing).toBe(false);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).otlpTracing).toBe(false);
  });

  it('a bad METRICS_PORT or OTLP endpoint stops `worker` with exit 2, naming both, before it opens anything', async () => {
    const run = await runCli(['worker'], { METRICS_PORT: 'ninety', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/METRICS_PORT="ninety" is not a whole number from 0 to 65535/);
    expect(run.stderr).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318" is not an http\(s\) URL/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('what a worker process loads', () => {
  it('never loads the API: no node-soap, no express app, no REST or console routes (they cost a worker about 25 MB)', async () => {
    const t = await startTestService({ RUN_WORKER: 'false' });
    try {
      const probe = path.join(__dirname, '..', 'support', 'loadedModules.cjs');
      const worker = await startWorkerProcess({ ...t.env, METRICS_PORT: '', NODE_OPTIONS: `--require ${probe}` });
      await worker.stop();
      const line = worker.log.join('\n').split('\n').find((l) => l.startsWith('loaded-modules '));
      expect(line).toBeDefined();
      const loaded = (JSON.parse(line!.slice('loaded-modules '.length)) as string[]).map((file) => file.replace(/\\/g, '/'));
      // It did load what it works with, so the list is not empty by mistake.
      expect(loaded.some((file) => file.endsWith('/dist/delivery/worker.js'))).toBe(true);
      expect(loaded.some((file) => file.includes('/node_modules/undici/'))).toBe(true);
      const api = loaded.filter((file) => /\/node_modules\/(soap|express|body-parser)\/|\/dist\/(service|frontDoor)\.js$|\/dist\/(soap\/soapService|rest|console)\b/.test(file));
      expect(api).toEqual([]);
    } finally {
      await t.stop();
    }
  });
});
