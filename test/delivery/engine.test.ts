import { WebhookState } from '../../src/core/webhook';
import { recentAttempts } from '../../src/delivery/sql/attempts';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, SECRET, sleep, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

describe('delivery engine: SignalEvent fan-out, payload, retries, attempt log', () => {
  let t: TestService;
  const receivers: CheckingReceiver[] = [];

  beforeAll(async () => {
    t = await startTestService({ CONTEXT_IDENTIFIER: 'Cust12345' });
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await t.stop();
  });

  async function receiver(answer?: (n: number) => number, secret: string | null = SECRET): Promise<CheckingReceiver> {
    const r = await startCheckingReceiver(secret, answer);
    receivers.push(r);
    return r;
  }

  it('delivers one signalled event to exactly the Active subscribed webhooks, signed, with the same EventId', async () => {
    const manager = t.service.manager;
    const subscribed = [await receiver(), await receiver(), await receiver()];
    const unsubscribed = await receiver();
    const stopped = await receiver();
    const hooks = [];
    for (const [i, r] of subscribed.entries()) {
      hooks.push(
        await createWebhook(manager, r.url, ['contact.created', 'sale.created'], {
          name: `Subscriber ${i}`,
          headers: [{ key: 'X-Tenant', value: `tenant-${i}` }],
          properties: [{ key: 'Region', type: 'string', value: 'North' }, { key: 'Level', type: 'int', value: i }],
        }),
      );
    }
    await createWebhook(manager, unsubscribed.url, ['contact.deleted']);
    await createWebhook(manager, stopped.url, ['contact.created'], { state: WebhookState.Stopped });

    await manager.signalEvent('contact.created', 4711, [
      { key: 'name', type: 'string', value: 'Ada' },
      { key: 'age', type: 'int', value: 36 },
      { key: 'vip', type: 'boolean', value: true },
      { key: 'born', type: 'dateTime', value: '1815-12-10T00:00:00.000Z' },
      { key: 'note', type: null, value: null },
    ], ACTOR);

    await waitFor('three deliveries', () => subscribed.every((r) => r.delivered.length === 1));
    await sleep(300);
    expect(subscribed.map((r) => r.delivered.length)).toEqual([1, 1, 1]);
    expect(unsubscribed.delivered).toHaveLength(0);
    expect(stopped.delivered).toHaveLength(0);
    for (const r of [...subscribed, unsubscribed, stopped]) expect(r.badSignatures).toHaveLength(0);

    const eventIds = new Set(subscribed.map((r) => r.delivered[0].payload.EventId));
    expect(eventIds.size).toBe(1);
    const [eventId] = [...eventIds];
    expect(eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const [i, r] of subscribed.entries()) {
      const { payload, request } = r.delivered[0];
      expect(Object.keys(payload)).toEqual(['EventId', 'Timestamp', 'Changes', 'Event', 'PrimaryKey', 'Entity', 'ContextIdentifier', 'ChangedByAssociateId', 'WebhookName', 'FieldValues', 'Region', 'Level']);
      expect(payload).toEqual({
        EventId: eventId,
        Timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        Changes: ['name', 'age', 'vip', 'born', 'note'],
        Event: 'contact.created',
        PrimaryKey: 4711,
        Entity: 'contact',
        ContextIdentifier: 'Cust12345',
        ChangedByAssociateId: 7,
        WebhookName: `Subscriber ${i}`,
        FieldValues: { name: 'Ada', age: 36, vip: true, born: '1815-12-10T00:00:00.000Z', note: null },
        Region: 'North',
        Level: i,
      });
      expect(request.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(request.headers['user-agent']).toMatch(/^webhook-agent\//);
      expect(request.headers['x-superoffice-event']).toBe('contact.created');
      expect(request.headers['x-superoffice-eventid']).toBe(eventId);
      expect(request.headers['x-superoffice-retry']).toBe('0');
      expect(request.headers['x-tenant']).toBe(`tenant-${i}`);
      expect(request.headers['webhook-id']).toBe(eventId);
      expect(request.headers['x-hook-test']).toBeUndefined();
    }
    const attempts = await recentAttempts(t.service.db.dataSource, hooks[0].webhookId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ eventId, attemptNumber: 1, httpStatus: 200, error: null, responseBody: 'answer' });
    expect((await manager.getWebhook(hooks[0].webhookId))!.totalCalls).toBe(1);
  });

  it('refuses an invalid EventName, PrimaryKey or Data and records nothing', async () => {
    const manager = t.service.manager;
    const before = await countDeliveries(t.service.db.dataSource);
    await expect(manager.signalEvent('contact', 1, null, ACTOR)).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(manager.signalEvent('contact.cre ated', 1, null, ACTOR)).rejects.toThrow(/EventName/);
    await expect(manager.signalEvent('contact.created', 1.5, null, ACTOR)).rejects.toThrow(/PrimaryKey/);
    await expect(
      manager.signalEvent('contact.created', 1, [{ key: 'a', type: 'int', value: 1 }, { key: 'a', type: 'int', value: 2 }], ACTOR),
    ).rejects.toThrow(/Data/);
    expect(await countDeliveries(t.service.db.dataSource)).toEqual(before);
  });

  it('retries with NetServer\'s cycle (1 s, then 4 s) against a receiver that fails twice, same EventId each time', async () => {
    const manager = t.service.manager;
    const flaky = await receiver((n) => (n <= 2 ? 503 : 200));
    const hook = await createWebhook(manager, flaky.url, ['retry.test']);
    await manager.signalEvent('retry.test', 1, null, ACTOR);
    await waitFor('the third attempt', () => flaky.delivered.length === 3, 20_000);
    const times = flaky.delivered.map((d) => d.request);
    // The receiver has the third POST before the worker has recorded its result (the attempt is logged before the send).
    const at = await waitFor('three attempts recorded', async () => {
      const attempts = await recentAttempts(t.service.db.dataSource, hook.webhookId);
      return attempts.length === 3 && attempts.every((a) => a.outcome !== null) ? attempts : null;
    });
    const ordered = [...at].reverse();
    expect(ordered.map((a) => [a.attemptNumber, a.httpStatus])).toEqual([[1, 503], [2, 503], [3, 200]]);
    const gap1 = ordered[1].attemptedAt.getTime() - ordered[0].attemptedAt.getTime();
    const gap2 = ordered[2].attemptedAt.getTime() - ordered[1].attemptedAt.getTime();
    expect(gap1).toBeGreaterThanOrEqual(1000);
    expect(gap1).toBeLessThan(2500);
    expect(gap2).toBeGreaterThanOrEqual(4000);
    expect(gap2).toBeLessThan(5500);
    expect(times.map((r) => r.headers['x-superoffice-retry'])).toEqual(['0', '1', '2']);
    expect(new Set(flaky.delivered.map((d) => d.payload.EventId)).size).toBe(1);
    const saved = await waitFor('counters', async () => {
      const w = await manager.getWebhook(hook.webhookId);
      return w && w.totalCalls === 3 ? w : null;
    });
    expect(saved).toMatchObject({ totalCalls: 3, totalErrors: 2, consecutiveErrors: 0, state: WebhookState.Active });
    expect(saved.lastError).toMatch(/503/);
    expect(await countDeliveries(t.service.db.dataSource, hook.webhookId)).toEqual({ succeeded: 1 });
  });

  it('marks a delivery failed after the last attempt of the cycle and keeps it and its attempts', async () => {
    const manager = t.service.manager;
    const failing = await receiver(() => 500);
    const hook = await createWebhook(manager, failing.url, ['fail.test']);
    await manager.signalEvent('fail.test', 2, null, ACTOR);
    await waitFor('a failed delivery', async () => (await countDeliveries(t.service.db.dataSource, hook.webhookId)).failed === 1, 20_000);
    expect(failing.delivered).toHaveLength(3);
    const w = (await manager.getWebhook(hook.webhookId))!;
    expect(w).toMatchObject({ totalCalls: 3, totalErrors: 3, consecutiveErrors: 3, state: WebhookState.Active });
    expect(await manager.getLastError(hook.webhookId)).toMatch(/500/);
    expect(await recentAttempts(t.service.db.dataSource, hook.webhookId)).toHaveLength(3);
  });

  it('DeleteWebhook cancels its pending deliveries and keeps the attempt log', async () => {
    const manager = t.service.manager;
    const failing = await receiver(() => 500);
    const hook = await createWebhook(manager, failing.url, ['delete.test']);
    await manager.signalEvent('delete.test', 3, null, ACTOR);
    await waitFor('the first attempt', () => failing.delivered.length === 1);
    await waitFor('it to be recorded', async () => (await recentAttempts(t.service.db.dataSource, hook.webhookId)).length === 1);
    await manager.deleteWebhook(hook.webhookId);
    expect(await countDeliveries(t.service.db.dataSource, hook.webhookId)).toEqual({ cancelled: 1 });
    await sleep(1500); // past the 1 s retry: nothing more is sent
    expect(failing.delivered).toHaveLength(1);
    expect(await recentAttempts(t.service.db.dataSource, hook.webhookId)).toHaveLength(1);
  });
});
