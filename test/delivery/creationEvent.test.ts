import { WebhookState } from '../../src/core/webhook';
import { countWebhooks } from '../../src/db/webhookRepository';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, SECRET, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

/**
 * A new webhook and its first state event (webhook{ID}.started or .stopped) are one INSERT
 * statement (db/webhookRepository.ts insertWebhookWith): the event is written before the row has
 * an id the caller could know, and neither commits without the other.
 */
describe('the state event of a webhook being created', () => {
  let t: TestService;
  const receivers: CheckingReceiver[] = [];

  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await t.stop();
  });

  async function receiver(): Promise<CheckingReceiver> {
    const r = await startCheckingReceiver(SECRET);
    receivers.push(r);
    return r;
  }

  it('reaches the webhooks subscribed to webhook{ID}.started or .stopped, with the new id, name and state', async () => {
    const manager = t.service.manager;
    const watcher = await receiver();
    const target = await receiver();
    const watch = await createWebhook(manager, watcher.url, ['nothing.yet']);
    // Nothing else creates webhooks in this service: the next two ids follow the watcher's.
    const active = watch.webhookId + 1;
    const stopped = watch.webhookId + 2;
    await manager.saveWebhook({ ...watch, events: [`webhook${active}.started`, `webhook${stopped}.stopped`] }, ACTOR);

    expect((await createWebhook(manager, target.url, ['order.created'], { name: 'Orders' })).webhookId).toBe(active);
    expect((await createWebhook(manager, target.url, ['order.created'], { name: 'Paused orders', state: WebhookState.Stopped })).webhookId).toBe(stopped);

    const started = await waitFor('the started event', () => watcher.delivered.find((d) => d.payload.Event === `webhook${active}.started`));
    expect(started.payload).toMatchObject({ PrimaryKey: active, ChangedByAssociateId: ACTOR.associateId, FieldValues: { WebhookId: active, Name: 'Orders', State: 'Active' } });
    const stoppedEvent = await waitFor('the stopped event', () => watcher.delivered.find((d) => d.payload.Event === `webhook${stopped}.stopped`));
    expect(stoppedEvent.payload).toMatchObject({ PrimaryKey: stopped, FieldValues: { WebhookId: stopped, Name: 'Paused orders', State: 'Stopped' } });
    // Each was stored as an event of its own, with the id in its Data.
    const events = await t.service.db.dataSource.query(`SELECT name, primary_key, data->0->>'value' AS id FROM event WHERE name LIKE 'webhook%' AND primary_key IN ($1, $2) ORDER BY primary_key`, [active, stopped]);
    expect(events).toEqual([
      { name: `webhook${active}.started`, primary_key: active, id: String(active) },
      { name: `webhook${stopped}.stopped`, primary_key: stopped, id: String(stopped) },
    ]);
  });

  it('stores no webhook when its state event cannot be stored', async () => {
    const ds = t.service.db.dataSource;
    const before = await countWebhooks(ds);
    await ds.query(`CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'events are refused in this test'; END $$`);
    await ds.query('CREATE TRIGGER refuse_event BEFORE INSERT ON event FOR EACH ROW EXECUTE FUNCTION refuse_event()');
    try {
      await expect(createWebhook(t.service.manager, 'https://example.com/hook', ['order.created'], { name: 'Never stored', state: WebhookState.Stopped })).rejects.toThrow(/events are refused/);
      expect(await countWebhooks(ds)).toBe(before);
      expect(await ds.query(`SELECT 1 FROM webhook WHERE name = 'Never stored'`)).toEqual([]);
    } finally {
      await ds.query('DROP TRIGGER refuse_event ON event');
      await ds.query('DROP FUNCTION refuse_event()');
    }
    // The same save goes through once events can be stored again.
    const saved = await createWebhook(t.service.manager, 'https://example.com/hook', ['order.created'], { name: 'Stored now', state: WebhookState.Stopped });
    expect((await t.service.manager.getWebhook(saved.webhookId))?.name).toBe('Stored now');
  });
});
