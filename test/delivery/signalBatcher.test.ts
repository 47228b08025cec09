/**
 * SignalEvents arriving together commit together (delivery/signalBatcher.ts): each caller still
 * gets its own event and its own deliveries, an ordered webhook gets a batch's deliveries in
 * the order they were signalled, and one event that cannot be stored fails alone.
 */
import crypto from 'node:crypto';
import { SignalBatcher } from '../../src/delivery/signalBatcher';
import type { NewEvent } from '../../src/delivery/sql/events';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, startCheckingReceiver, type CheckingReceiver } from './helpers';

describe('signals committed together', () => {
  let t: TestService;
  let r: CheckingReceiver;

  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
    r = await startCheckingReceiver(null);
  });
  afterAll(async () => {
    await r.close();
    await t.stop();
  });

  const query = <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => t.service.db.dataSource.query(sql, params);

  it('60 concurrent SignalEvents: fewer transactions than signals, every event with exactly its own deliveries, a batch in signal order for an ordered webhook', async () => {
    const both = await createWebhook(t.service.manager, r.url, ['batch.a', 'batch.b'], { secret: '', ordered: true });
    const onlyB = await createWebhook(t.service.manager, r.url, ['batch.b'], { secret: '' });
    const engine = t.service.delivery;
    const signalled = await Promise.all(Array.from({ length: 60 }, (_, i) => engine.signalEvent(i % 2 ? 'batch.b' : 'batch.a', i + 1, null, ACTOR)));

    // Each answer is its own event: a batch.a event has one delivery, a batch.b event two.
    expect(new Set(signalled.map((s) => s.eventId)).size).toBe(60);
    expect(signalled.map((s) => s.deliveries)).toEqual(Array.from({ length: 60 }, (_, i) => (i % 2 ? 2 : 1)));
    const rows = await query<{ event_id: string; primary_key: number; hooks: number[]; tx: string }>(
      `SELECT e.event_id, e.primary_key, array_agg(d.webhook_id ORDER BY d.webhook_id) AS hooks, e.xmin::text AS tx
       FROM event e JOIN delivery d USING (event_id) WHERE e.name LIKE 'batch.%' GROUP BY e.event_id, e.primary_key, e.xmin`,
    );
    expect(rows).toHaveLength(60);
    const byEvent = new Map(rows.map((row) => [row.event_id, row]));
    signalled.forEach((s, i) => {
      const row = byEvent.get(s.eventId)!;
      expect(row.primary_key).toBe(i + 1);
      expect(row.hooks).toEqual(i % 2 ? [both.webhookId, onlyB.webhookId].sort((a, b) => a - b) : [both.webhookId]);
    });
    // Committed together: the 60 events came in fewer transactions.
    const transactions = new Set(rows.map((row) => row.tx));
    expect(transactions.size).toBeLessThan(60);

    // Within each transaction, the ordered webhook's deliveries follow the signals' order.
    const ordered = await query<{ primary_key: number; tx: string }>(
      `SELECT e.primary_key, e.xmin::text AS tx FROM delivery d JOIN event e USING (event_id) WHERE d.webhook_id = $1 ORDER BY d.delivery_id`,
      [both.webhookId],
    );
    for (const tx of transactions) {
      const keys = ordered.filter((row) => row.tx === tx).map((row) => row.primary_key);
      expect(keys).toEqual([...keys].sort((a, b) => a - b));
    }
  });

  it('an event that cannot be stored fails alone: the others of its batch are stored and answered', async () => {
    await createWebhook(t.service.manager, r.url, ['batch.isolated'], { secret: '' });
    const batcher = new SignalBatcher(t.service.db.dataSource, true);
    const event = (primaryKey: number, eventId: string = crypto.randomUUID()): NewEvent => ({ eventId, name: 'batch.isolated', primaryKey, data: null, associateId: 7, audience: 'everyone' });
    const taken = event(0);
    expect(await batcher.record(taken)).toBe(1);

    // Two go at once on their own; the next four wait and go as one batch, with a duplicate EventId among them.
    const events = [event(1), event(2), event(3), event(4, taken.eventId), event(5), event(6)];
    const results = await Promise.allSettled(events.map((e) => batcher.record(e)));
    expect(results.map((x) => x.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(((results[3] as PromiseRejectedResult).reason as Error).message).toMatch(/duplicate key/);
    const stored = await query<{ primary_key: number }>(`SELECT primary_key FROM event WHERE name = 'batch.isolated' ORDER BY primary_key`);
    expect(stored.map((row) => row.primary_key)).toEqual([0, 1, 2, 3, 5, 6]);
    const [{ deliveries }] = await query(`SELECT count(*)::int AS deliveries FROM delivery d JOIN event e USING (event_id) WHERE e.name = 'batch.isolated'`);
    expect(deliveries).toBe(6);
  });
});
