import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, sleep } from './helpers';

/**
 * DeleteWebhook and the worker's result recording lock the same webhook and delivery rows; they
 * must take them in one order (webhook, then deliveries) or PostgreSQL aborts one of them with a
 * deadlock. A stream of failing deliveries keeps the worker recording while webhooks are deleted.
 */
describe('lock order between DeleteWebhook and the delivery worker', () => {
  let t: TestService;
  let failing: Receiver;
  beforeAll(async () => {
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '0,0', WORKER_CONCURRENCY: '16', WORKER_BATCH_SIZE: '20', RATE_LIMIT_PER_MINUTE: '0' });
    failing = await startReceiver((_req, res) => res.writeHead(500).end('down'));
  });
  afterAll(async () => {
    await failing.close();
    await t.stop();
  });

  it('deletes webhooks while their deliveries are being recorded, with no deadlock', async () => {
    const manager = t.service.manager;
    const ok = await startReceiver((_req, res) => res.writeHead(200).end());
    try {
      // Verified Active against a receiver that answers, then (behind the manager's back) pointed
      // at one that fails, so every delivery keeps the worker recording failures.
      const hooks = [];
      for (let i = 0; i < 30; i++) hooks.push(await createWebhook(manager, ok.url, ['lock.order']));
      await t.service.db.dataSource.query('UPDATE webhook SET target_url = $1', [failing.url]);
      const errors: unknown[] = [];
      for (const [i, hook] of hooks.entries()) {
        for (let n = 0; n < 10; n++) await manager.signalEvent('lock.order', i * 10 + n, null, ACTOR);
        await sleep(15);
        await manager.deleteWebhook(hook.webhookId).catch((error: unknown) => errors.push(error));
      }
      expect(errors).toEqual([]);
      expect((await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n).toBe(0);
    } finally {
      await ok.close();
    }
  });
});
