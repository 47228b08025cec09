/** GET /metrics: Prometheus text whose counters match what the test did, and gauges read from the database. */
import { WebhookState } from '../../src/core/webhook';
import { claimDueDeliveries } from '../../src/delivery/sql/claims';
import { settleDeliveries } from '../../src/delivery/sql/deliveries';
import { ACTOR, createWebhook, SECRET, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import { call, createSoapClient } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';
import { parseMetrics } from '../support/workerProcess';

describe('GET /metrics', () => {
  let t: TestService;
  let r: CheckingReceiver;

  beforeAll(async () => {
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50', POLL_INTERVAL_MS: '100' });
    // PrimaryKey 3 always fails.
    r = await startCheckingReceiver(SECRET, (_n, payload) => (payload.PrimaryKey === 3 ? 500 : 200));
  });
  afterAll(async () => {
    await r?.close();
    await t?.stop();
  });

  async function scrape(): Promise<Map<string, number>> {
    const response = await fetch(`${t.service.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(await response.text());
  }

  it('counts attempts and finished deliveries by outcome, with a latency histogram', async () => {
    const hook = await createWebhook(t.service.manager, r.url, ['metrics.counted']);
    for (const key of [1, 2, 3]) await t.service.manager.signalEvent('metrics.counted', key, null, ACTOR);
    await waitFor('every delivery finished', async () => {
      const m = await scrape();
      return (m.get('webhook_agent_deliveries_total{status="succeeded"}') ?? 0) + (m.get('webhook_agent_deliveries_total{status="failed"}') ?? 0) === 3;
    });
    const m = await scrape();
    expect(m.get('webhook_agent_delivery_attempts_total{outcome="success"}')).toBe(2);
    expect(m.get('webhook_agent_delivery_attempts_total{outcome="failure"}')).toBe(3); // key 3: three attempts
    expect(m.get('webhook_agent_deliveries_total{status="succeeded"}')).toBe(2);
    expect(m.get('webhook_agent_deliveries_total{status="failed"}')).toBe(1);
    expect(m.get('webhook_agent_delivery_attempt_duration_seconds_count{outcome="success"}')).toBe(2);
    expect(m.get('webhook_agent_delivery_attempt_duration_seconds_bucket{le="+Inf",outcome="failure"}')).toBe(3);
    expect(m.get('webhook_agent_deliveries_open{state="due"}')).toBe(0);
    expect(m.get('webhook_agent_webhooks{state="Active"}')).toBe(1);
    // prom-client's defaults under their standard (unprefixed) names, as Node.js dashboards read them.
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.get('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(m.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect([...m.keys()].filter((name) => /^webhook_agent_(process|nodejs)_/.test(name))).toEqual([]);

    await t.service.manager.saveWebhook({ ...hook, state: WebhookState.Stopped }, ACTOR);
    const after = await scrape();
    expect([after.get('webhook_agent_webhooks{state="Active"}'), after.get('webhook_agent_webhooks{state="Stopped"}')]).toEqual([0, 1]);
  });

  it('reads due and in-flight deliveries from the database on scrape', async () => {
    // With the in-process worker stopped the deliveries wait; a claim by another worker puts some in flight.
    await t.service.delivery.worker!.stop();
    await createWebhook(t.service.manager, r.url, ['metrics.due']);
    for (const key of [1, 2, 4, 5]) await t.service.manager.signalEvent('metrics.due', key, null, ACTOR);
    const m = await scrape();
    expect(m.get('webhook_agent_deliveries_open{state="due"}')).toBe(4);
    expect(m.get('webhook_agent_deliveries_open{state="in_flight"}')).toBe(0);
    const claimed = await claimDueDeliveries(t.service.db.dataSource, 'another-worker', 2, 60_000);
    const during = await scrape();
    expect([during.get('webhook_agent_deliveries_open{state="due"}'), during.get('webhook_agent_deliveries_open{state="in_flight"}')]).toEqual([2, 2]);
    await settleDeliveries(t.service.db.dataSource, 'another-worker', claimed.map((c) => ({ deliveryId: c.deliveryId, step: 'retry', delayMs: 0 })));
    expect((await scrape()).get('webhook_agent_deliveries_open{state="due"}')).toBe(4);
    t.service.delivery.worker!.start();
    await waitFor('the queue to drain', async () => (await scrape()).get('webhook_agent_deliveries_open{state="due"}') === 0);
  });

  it('counts SOAP and REST requests by operation and outcome', async () => {
    const client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    await call(client, 'CreateDefaultWebhook', {});
    await call(client, 'CreateDefaultWebhook', {});
    await call(client, 'DeleteWebhook', { WebhookId: 424242 }).catch(() => undefined); // a soap:Client fault
    const auth = { Authorization: `Bearer ${t.ticket}` };
    await fetch(`${t.service.url}/api/v1/Webhook/1`, { headers: auth });
    await fetch(`${t.service.url}/api/v1/Webhook/424242`, { headers: auth });
    await fetch(`${t.service.url}/api/v1/Webhook/424243`, { headers: auth });
    await fetch(`${t.service.url}/api/v1/No/Such/Route`, { headers: auth });
    // Under the tenant's prefix (NetServer Online's URLs) they count as the same operations.
    await call(await createSoapClient(t.wsdlUrl, `${t.service.url}/webhook-agent/Remote/Services88/Webhook.svc`, t.ticket), 'CreateDefaultWebhook', {});
    await fetch(`${t.service.url}/Webhook-Agent/api/v1/Webhook/424244`, { headers: auth });
    const m = await scrape();
    expect(m.get('webhook_agent_requests_total{door="soap",operation="CreateDefaultWebhook",outcome="success"}')).toBe(3);
    expect(m.get('webhook_agent_requests_total{door="soap",operation="DeleteWebhook",outcome="fault"}')).toBe(1);
    expect(m.get('webhook_agent_requests_total{door="rest",operation="GET /api/v1/Webhook/:id",outcome="success"}')).toBe(1);
    expect(m.get('webhook_agent_requests_total{door="rest",operation="GET /api/v1/Webhook/:id",outcome="client_error"}')).toBe(3);
    expect(m.get('webhook_agent_requests_total{door="rest",operation="unmatched",outcome="client_error"}')).toBe(1);
  });

  it("reports the webhook read cache's hits and misses, and whether it is serving", async () => {
    const hook = await createWebhook(t.service.manager, r.url, ['metrics.cached'], { state: WebhookState.Stopped });
    await waitFor('the read cache to serve', () => t.service.readCache!.active);
    const before = await scrape();
    expect(before.get('webhook_agent_webhook_cache_listening')).toBe(1);
    // The first read after the save misses (and a late notification of the save may empty the cache once more).
    await waitFor('a read from the cache', async () => {
      const hits = t.service.readCache!.hits;
      await t.service.manager.getWebhook(hook.webhookId);
      return t.service.readCache!.hits > hits;
    });
    for (let i = 0; i < 3; i++) await t.service.manager.getWebhook(hook.webhookId);
    const after = await scrape();
    expect(after.get('webhook_agent_webhook_cache_reads_total{result="hit"}')! - before.get('webhook_agent_webhook_cache_reads_total{result="hit"}')!).toBeGreaterThanOrEqual(4);
    expect(after.get('webhook_agent_webhook_cache_reads_total{result="miss"}')).toBe(t.service.readCache!.misses);
    await t.service.manager.deleteWebhook(hook.webhookId);
  });
});
