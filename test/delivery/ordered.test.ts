/**
 * Ordered webhooks (issue 11, SPEC 7): a webhook with Ordered gets its deliveries one at a time
 * in signal order; a failing head holds the rest until it succeeds or its cycle ends (then the
 * next goes; the failed one stays for redelivery). Both doors carry the member.
 */
import { loadConfig } from '../../src/config';
import { WebhookState, type Webhook } from '../../src/core/webhook';
import { DeliveryEngine } from '../../src/delivery/engine';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { createLogger } from '../../src/logger';
import { call, createSoapClient } from '../support/soapClient';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, failIfEventLoopStalls, waitFor } from './helpers';

jest.setTimeout(60_000);

interface OrderReceiver extends Receiver {
  /** PrimaryKey of every delivery POST, in arrival order (retries included). */
  seen: number[];
  /** Most requests open at once. */
  maxOpen: number;
}

async function orderReceiver(answer: (key: number, retry: number) => number, delayMs = 5): Promise<OrderReceiver> {
  const state = { seen: [] as number[], maxOpen: 0, open: 0 };
  const receiver = await startReceiver((req, res) => {
    if (req.headers['x-hook-test'] === 'true') {
      res.writeHead(200).end('verified');
      return;
    }
    const key = JSON.parse(req.body.toString('utf8')).PrimaryKey as number;
    state.seen.push(key);
    state.open += 1;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    setTimeout(() => {
      state.open -= 1;
      res.writeHead(answer(key, Number(req.headers['x-superoffice-retry']))).end();
    }, delayMs);
  });
  return Object.assign(state, receiver);
}

describe('ordered webhooks', () => {
  let t: TestService;
  const receivers: Receiver[] = [];
  const engines: DeliveryEngine[] = [];
  let stopWatching: () => void = () => undefined;

  beforeEach(async () => {
    stopWatching = failIfEventLoopStalls(expect.getState().currentTestName ?? 'ordered');
    t = await startTestService({ RUN_WORKER: 'false', DELIVERY_RETRY_SCHEDULE_MS: '100,100', POLL_INTERVAL_MS: '50' });
  });
  afterEach(async () => {
    stopWatching();
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await t.stop();
  });

  function worker(): DeliveryEngine {
    const config = loadConfig(t.env);
    const e = new DeliveryEngine(t.service.db.dataSource, config, createLogger(config)).attach(t.service.manager);
    engines.push(e);
    e.startWorker();
    return e;
  }

  async function receiver(...args: Parameters<typeof orderReceiver>): Promise<OrderReceiver> {
    const r = await orderReceiver(...args);
    receivers.push(r);
    return r;
  }

  async function signal(event: string, keys: number[]): Promise<void> {
    for (const key of keys) await t.service.manager.signalEvent(event, key, null, ACTOR);
  }

  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('delivers one at a time in signal order; a head that fails twice holds the rest until its third attempt succeeds', async () => {
    const r = await receiver((key, retry) => (key === 3 && retry < 2 ? 503 : 200));
    await createWebhook(t.service.manager, r.url, ['ordered.retry'], { secret: '', ordered: true });
    await signal('ordered.retry', range(1, 12));
    worker();
    await waitFor('12 deliveries', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 12);
    expect(r.seen).toEqual([1, 2, 3, 3, 3, ...range(4, 12)]);
    expect(r.maxOpen).toBe(1);
  });

  it('a head whose cycle fails lets the next go and is kept failed; redelivered, it arrives', async () => {
    let healthy = false;
    const r = await receiver((key) => (key === 2 && !healthy ? 500 : 200));
    const hook = await createWebhook(t.service.manager, r.url, ['ordered.redeliver'], { secret: '', ordered: true });
    await signal('ordered.redeliver', range(1, 6));
    const engine = worker();
    await waitFor('the others after the failed head', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 5);
    expect(r.seen).toEqual([1, 2, 2, 2, 3, 4, 5, 6]);
    expect(await countDeliveries(t.service.db.dataSource)).toEqual({ succeeded: 5, failed: 1 });
    healthy = true;
    await engine.redeliverWebhook(hook.webhookId, new Date(0));
    await waitFor('the redelivered one', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 6);
    expect(r.seen).toEqual([1, 2, 2, 2, 3, 4, 5, 6, 2]);
  });

  it('two workers keep the order and one request at a time, while an unordered webhook beside it runs in parallel', async () => {
    const ordered = await receiver(() => 200, 3);
    const parallel = await receiver(() => 200, 20);
    await createWebhook(t.service.manager, ordered.url, ['ordered.two'], { secret: '', ordered: true });
    await createWebhook(t.service.manager, parallel.url, ['ordered.two'], { secret: '' });
    // Both workers run before the signals, so both compete for every claim.
    worker();
    worker();
    await signal('ordered.two', range(1, 60));
    await waitFor('120 deliveries', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 120, 40_000);
    expect(ordered.seen).toEqual(range(1, 60));
    expect(ordered.maxOpen).toBe(1);
    expect(parallel.maxOpen).toBeGreaterThan(1);
    // Which worker wins each claim is the scheduler's choice (one may take them all): not asserted.
  });

  it('Ordered travels on both doors: false by default, set by SOAP SaveWebhook and REST PUT, read back by both', async () => {
    const r = await receiver(() => 200);
    const soap = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    const [created] = await call(soap, 'CreateDefaultWebhook', {});
    expect(created.Response.Ordered).toBe(false);
    const [saved] = await call(soap, 'SaveWebhook', {
      Webhook: { WebhookId: 0, Name: 'soap ordered', Events: { string: ['doors.ordered'] }, TargetUrl: r.url, State: 'Active', Type: 'webhook', Ordered: true },
    });
    const id = saved.Response.WebhookId as number;
    expect(saved.Response.Ordered).toBe(true);

    const auth = { Authorization: `Bearer ${t.ticket}`, 'Content-Type': 'application/json' };
    const got = (await (await fetch(`${t.service.url}/api/v1/Webhook/${id}`, { headers: auth })).json()) as Webhook & Record<string, unknown>;
    expect(got.Ordered).toBe(true);
    const put = await fetch(`${t.service.url}/api/v1/Webhook/${id}`, { method: 'PUT', headers: auth, body: JSON.stringify({ ...got, Ordered: false }) });
    expect(put.status).toBe(200);
    expect(((await put.json()) as Record<string, unknown>).Ordered).toBe(false);
    const [read] = await call(soap, 'GetWebhook', { WebhookId: id });
    expect(read.Response.Ordered).toBe(false);
    expect((await t.service.manager.getWebhook(id))!.state).toBe(WebhookState.Active);

    const bad = await fetch(`${t.service.url}/api/v1/Webhook/${id}`, { method: 'PUT', headers: auth, body: JSON.stringify({ ...got, Ordered: 'yes' }) });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/Ordered must be true, false or null/);
  });
});
