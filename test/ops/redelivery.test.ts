/**
 * Redelivery (SPEC 5: a failed delivery "can be redelivered by an operator"): a receiver that
 * fails until its delivery's cycle ends failed, then recovers; redelivery from the REST door and
 * the CLI reaches it with the original EventId, and the attempt log keeps both cycles.
 */
import { WebhookState } from '../../src/core/webhook';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { ACTOR, createWebhook, SECRET, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/testService';



describe('redelivery of failed deliveries', () => {
  let t: TestService;
  let r: CheckingReceiver;
  let healthy = false;

  beforeAll(async () => {
    // A high error limit: these webhooks fail many cycles on purpose and must stay Active.
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50', POLL_INTERVAL_MS: '100', DELIVERY_TIMEOUT_MS: '2000', CONSECUTIVE_ERROR_LIMIT: '1000' });
    r = await startCheckingReceiver(SECRET, () => (healthy ? 200 : 503));
  });
  afterAll(async () => {
    await r?.close();
    await t?.stop();
  });

  async function rest(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const response = await fetch(`${t.service.url}/api/v1${route}`, {
      method,
      headers: { Authorization: `Bearer ${t.ticket}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  async function attemptLog(deliveryId: string): Promise<Array<{ attempt_number: number; http_status: number | null; event_id: string }>> {
    return t.service.db.dataSource.query('SELECT attempt_number, http_status, event_id FROM delivery_attempt WHERE delivery_id = $1 ORDER BY attempt_id', [deliveryId]);
  }

  /** Signals `n` events to a fresh webhook while the receiver fails; returns once every delivery's cycle ended failed. */
  async function failedDeliveries(event: string, n: number): Promise<{ webhookId: number; deliveries: Array<{ delivery_id: string; event_id: string }> }> {
    healthy = false;
    const hook = await createWebhook(t.service.manager, r.url, [event]);
    for (let i = 1; i <= n; i++) await t.service.manager.signalEvent(event, i, null, ACTOR);
    await waitFor(`${n} failed deliveries`, async () => (await countDeliveries(t.service.db.dataSource, hook.webhookId)).failed === n);
    const deliveries = await t.service.db.dataSource.query('SELECT delivery_id::text, event_id FROM delivery WHERE webhook_id = $1 ORDER BY delivery_id', [hook.webhookId]);
    return { webhookId: hook.webhookId, deliveries };
  }

  it('POST /Webhook/Deliveries/{id}/Redeliver sends a failed delivery again with its EventId; the attempt log keeps both cycles', async () => {
    const { webhookId, deliveries } = await failedDeliveries('order.redeliver', 1);
    const [{ delivery_id: deliveryId, event_id: eventId }] = deliveries;
    expect((await attemptLog(deliveryId)).map((a) => a.http_status)).toEqual([503, 503, 503]);
    const failedBefore = r.delivered.filter((d) => d.payload.EventId === eventId).length;
    expect(failedBefore).toBe(3);

    healthy = true;
    const answer = await rest('POST', `/Webhook/Deliveries/${deliveryId}/Redeliver`);
    expect(answer).toEqual({ status: 200, json: { DeliveryId: deliveryId, EventId: eventId, Status: 'pending' } });
    await waitFor('the delivery to succeed', async () => (await countDeliveries(t.service.db.dataSource, webhookId)).succeeded === 1);

    const received = r.delivered.filter((d) => d.payload.EventId === eventId);
    expect(received).toHaveLength(4);
    // A fresh cycle: the retry counter starts again at 0.
    expect(received.map((d) => d.request.headers['x-superoffice-retry'])).toEqual(['0', '1', '2', '0']);
    const log = await attemptLog(deliveryId);
    expect(log.map((a) => [a.attempt_number, a.http_status])).toEqual([[1, 503], [2, 503], [3, 503], [1, 200]]);
    expect(new Set(log.map((a) => a.event_id))).toEqual(new Set([eventId]));
    expect(r.badSignatures).toEqual([]);

    // Succeeded now: not redelivered again (409), and the webhook's counters saw every attempt.
    const again = await rest('POST', `/Webhook/Deliveries/${deliveryId}/Redeliver`);
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ Error: true, ErrorType: 'ConflictError', Message: expect.stringMatching(/is succeeded; only failed deliveries/) });
    const hook = (await t.service.manager.getWebhook(webhookId))!;
    expect([hook.totalCalls, hook.totalErrors, hook.consecutiveErrors]).toEqual([4, 3, 0]);
  });

  it('POST /Webhook/{id}/Redeliver {"Since"} sends only that webhook\'s failed deliveries created since then', async () => {
    const before = await failedDeliveries('order.bulk', 2);
    const since = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const other = await failedDeliveries('order.other', 1); // another webhook's failure stays failed
    healthy = false;
    for (let i = 3; i <= 5; i++) await t.service.manager.signalEvent('order.bulk', i, null, ACTOR);
    await waitFor('5 failed', async () => (await countDeliveries(t.service.db.dataSource, before.webhookId)).failed === 5);

    healthy = true;
    const answer = await rest('POST', `/Webhook/${before.webhookId}/Redeliver`, { since: since.toISOString() });
    expect(answer).toEqual({ status: 200, json: { Redelivered: 3, Pending: 3, Held: 0 } });
    await waitFor('3 redelivered', async () => (await countDeliveries(t.service.db.dataSource, before.webhookId)).succeeded === 3);
    expect(await countDeliveries(t.service.db.dataSource, before.webhookId)).toEqual({ failed: 2, succeeded: 3 });
    expect(await countDeliveries(t.service.db.dataSource, other.webhookId)).toEqual({ failed: 1 });
    const succeededKeys = r.delivered.filter((d) => d.payload.Event === 'order.bulk' && d.request.headers['x-superoffice-retry'] === '0' && d.payload.PrimaryKey >= 3);
    expect(succeededKeys.map((d) => d.payload.PrimaryKey).sort()).toEqual([3, 3, 4, 4, 5, 5]); // the failed first attempt and the redelivery
  });

  it('a stopped webhook\'s redelivered deliveries are held until it is Active again', async () => {
    const { webhookId, deliveries } = await failedDeliveries('order.held', 1);
    const hook = (await t.service.manager.getWebhook(webhookId))!;
    await t.service.manager.saveWebhook({ ...hook, state: WebhookState.Stopped }, ACTOR);
    healthy = true;
    const answer = await rest('POST', `/Webhook/Deliveries/${deliveries[0].delivery_id}/Redeliver`, {});
    expect(answer.json.Status).toBe('held');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await countDeliveries(t.service.db.dataSource, webhookId)).toEqual({ held: 1 });
    await t.service.manager.saveWebhook({ ...hook, state: WebhookState.Active }, ACTOR);
    await waitFor('the held delivery to go out', async () => (await countDeliveries(t.service.db.dataSource, webhookId)).succeeded === 1);
  });

  it('answers the REST error shape: unknown ids 404, another application 404, bad input 400, no ticket 401', async () => {
    const { webhookId, deliveries } = await failedDeliveries('order.errors', 1);
    const id = deliveries[0].delivery_id;
    expect(await rest('POST', '/Webhook/Deliveries/99999999/Redeliver')).toMatchObject({ status: 404, json: { Error: true, ErrorType: 'NotFoundError' } });
    expect(await rest('POST', '/Webhook/99999/Redeliver', { Since: '2020-01-01T00:00:00Z' })).toMatchObject({ status: 404, json: { ErrorType: 'NotFoundError' } });
    // The webhook was saved without an application: an application's caller does not see it.
    expect(await rest('POST', `/Webhook/Deliveries/${id}/Redeliver`, undefined, { 'SO-AppToken': 'another-app' })).toMatchObject({ status: 404, json: { ErrorType: 'NotFoundError' } });
    expect(await rest('POST', `/Webhook/${webhookId}/Redeliver`, { Since: '2020-01-01T00:00:00Z' }, { 'SO-AppToken': 'another-app' })).toMatchObject({ status: 404 });
    expect(await rest('POST', `/Webhook/${webhookId}/Redeliver`, { Since: 'yesterday' })).toMatchObject({ status: 400, json: { Field: 'Since' } });
    expect(await rest('POST', `/Webhook/${webhookId}/Redeliver`, { Since: '2020-01-01T00:00:00Z', All: true })).toMatchObject({ status: 400, json: { Field: 'All' } });
    expect(await rest('POST', `/Webhook/${webhookId}/Redeliver`)).toMatchObject({ status: 400, json: { ErrorType: 'BadRequest' } });
    expect(await rest('POST', '/Webhook/Deliveries/12abc/Redeliver')).toMatchObject({ status: 400, json: { Field: 'DeliveryId' } });
    const anonymous = await fetch(`${t.service.url}/api/v1/Webhook/Deliveries/${id}/Redeliver`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    // Nothing above changed it.
    expect(await countDeliveries(t.service.db.dataSource, webhookId)).toEqual({ failed: 1 });
  });

  it('webhook-agent redeliver (one, and --webhook --since) works from the CLI, quietly when piped, with exit codes', async () => {
    const { webhookId, deliveries } = await failedDeliveries('order.cli', 3);
    healthy = true;
    const one = await runCli(['redeliver', deliveries[0].delivery_id], t.database.env);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`Redelivered delivery ${deliveries[0].delivery_id} (EventId ${deliveries[0].event_id}): due now.`);
    await waitFor('one redelivered', async () => (await countDeliveries(t.service.db.dataSource, webhookId)).succeeded === 1);

    const again = await runCli(['redeliver', deliveries[0].delivery_id], t.database.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is succeeded; only failed deliveries/);

    const bulk = await runCli(['redeliver', '--webhook', String(webhookId), '--since', '2020-01-01T00:00:00Z'], t.database.env);
    expect(bulk.code).toBe(0);
    expect(bulk.stdout).toMatch(/^Redelivered 2 failed deliveries of webhook \d+ created since 2020-01-01T00:00:00.000Z: 2 due now, 0 held/);
    expect(bulk.stderr).toBe(''); // no progress line when stderr is not a terminal
    await waitFor('all redelivered', async () => (await countDeliveries(t.service.db.dataSource, webhookId)).succeeded === 3);
    const eventIds = new Set(deliveries.map((d) => d.event_id));
    expect(new Set(r.delivered.filter((d) => d.payload.Event === 'order.cli' && d.request.headers['x-superoffice-retry'] === '0' && eventIds.has(d.payload.EventId)).map((d) => d.payload.EventId))).toEqual(eventIds);

    expect((await runCli(['redeliver', '999999999'], t.database.env)).code).toBe(1);
    expect((await runCli(['redeliver', '--webhook', String(webhookId), '--since', 'soon'], t.database.env)).code).toBe(2);
    expect((await runCli(['redeliver'], t.database.env)).code).toBe(2);
    const help = await runCli(['redeliver', '--help'], t.database.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--webhook <webhookId> --since <ISO time>/);
  });
});
