/**
 * Retention: events, succeeded and cancelled deliveries, attempt-log rows and finished
 * notifications older than RETENTION_DAYS are purged, failed deliveries after
 * FAILED_RETENTION_DAYS; pending and held deliveries and their events, and emails still to send, never. Rows are made by the real service and worker, then aged by
 * moving their timestamps back.
 */
import { loadConfig } from '../../src/config';
import { WebhookState } from '../../src/core/webhook';
import { DeliveryEngine, retentionCutoffs } from '../../src/delivery/engine';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { purgeExpired } from '../../src/delivery/retention';
import { createLogger } from '../../src/logger';
import { ACTOR, createWebhook, waitFor } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/testService';



describe('retention', () => {
  let t: TestService;
  let receiver: Receiver;
  const engines: DeliveryEngine[] = [];

  beforeAll(async () => {
    // No background purge in the service itself: the tests decide when a purge runs.
    t = await startTestService({ RUN_WORKER: 'false', RETENTION_INTERVAL_MS: '0', DELIVERY_RETRY_SCHEDULE_MS: '0,0', POLL_INTERVAL_MS: '50', CONSECUTIVE_ERROR_LIMIT: '1000' });
    receiver = await startReceiver((req, res) => {
      const failing = req.headers['x-hook-test'] !== 'true' && JSON.parse(req.body.toString('utf8')).Event === 'ret.fail';
      res.writeHead(failing ? 503 : 200).end();
    });
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await receiver?.close();
    await t?.stop();
  });

  const query = <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => t.service.db.dataSource.query(sql, params);

  function engine(overrides: Record<string, string> = {}): DeliveryEngine {
    const config = loadConfig({ ...t.env, ...overrides });
    const e = new DeliveryEngine(t.service.db.dataSource, config, createLogger(config));
    engines.push(e);
    return e;
  }

  /** Delivers everything due with a worker of its own, then stops it. */
  async function deliverAll(webhookId: number, expected: Record<string, number>): Promise<void> {
    const e = engine();
    e.startWorker();
    await waitFor(`deliveries ${JSON.stringify(expected)}`, async () => JSON.stringify(await countDeliveries(t.service.db.dataSource, webhookId)) === JSON.stringify(expected));
    await e.close();
  }

  /** Moves an event's timestamps, its deliveries' and their attempts' back by `days`. */
  async function age(eventIds: string[], days: number): Promise<void> {
    const back = `${days} days`;
    await query(`UPDATE event SET signalled_at = signalled_at - $2::interval WHERE event_id = ANY($1::uuid[])`, [eventIds, back]);
    await query(`UPDATE delivery SET created_at = created_at - $2::interval, completed_at = completed_at - $2::interval WHERE event_id = ANY($1::uuid[])`, [eventIds, back]);
    await query(`UPDATE delivery_attempt SET attempted_at = attempted_at - $2::interval WHERE event_id = ANY($1::uuid[])`, [eventIds, back]);
  }

  async function signal(event: string, primaryKey: number): Promise<string> {
    return (await t.service.delivery.signalEvent(event, primaryKey, null, ACTOR)).eventId;
  }

  async function tableCounts(): Promise<{ events: number; deliveries: number; attempts: number }> {
    const [row] = await query(
      `SELECT (SELECT count(*) FROM event)::int AS events, (SELECT count(*) FROM delivery)::int AS deliveries, (SELECT count(*) FROM delivery_attempt)::int AS attempts`,
    );
    return row;
  }

  it('purge --dry-run counts and deletes nothing; purge deletes only old finished rows: pending, held and failed within FAILED_RETENTION_DAYS survive', async () => {
    const hook = await createWebhook(t.service.manager, receiver.url, ['ret.ok', 'ret.fail', 'ret.pending'], { secret: '' });
    const oldOk = [await signal('ret.ok', 1), await signal('ret.ok', 2), await signal('ret.ok', 3)];
    const recentOk = await signal('ret.ok', 4);
    const failedKept = await signal('ret.fail', 5);
    const failedOld = await signal('ret.fail', 6);
    await deliverAll(hook.webhookId, { failed: 2, succeeded: 4 });

    const pending = [await signal('ret.pending', 7), await signal('ret.pending', 8)];
    const heldHook = await createWebhook(t.service.manager, receiver.url, ['ret.held'], { secret: '' });
    const held = await signal('ret.held', 9);
    await t.service.manager.saveWebhook({ ...heldHook, state: WebhookState.Stopped }, ACTOR);
    const goneHook = await createWebhook(t.service.manager, receiver.url, ['ret.cancel'], { secret: '' });
    const cancelled = await signal('ret.cancel', 10);
    await t.service.manager.deleteWebhook(goneHook.webhookId, ACTOR);
    const unsubscribed = await signal('ret.nobody', 11);
    expect(await countDeliveries(t.service.db.dataSource)).toEqual({ succeeded: 4, failed: 2, pending: 2, held: 1, cancelled: 1 });

    // 40 days old: past RETENTION_DAYS (30), within FAILED_RETENTION_DAYS (90); one failure 100 days old.
    await age([...oldOk, failedKept, ...pending, held, cancelled, unsubscribed], 40);
    await age([failedOld], 100);
    const before = await tableCounts();

    const dry = await runCli(['purge', '--dry-run'], t.database.env);
    expect(dry).toMatchObject({ code: 0, stdout: 'attempts\t6\ndeliveries\t5\nevents\t6\nnotifications\t0\n' }); // 3 + 3 attempts; 3 ok, 1 failed, 1 cancelled; and the unsubscribed event
    expect(dry.stderr).toMatch(/dry run, nothing deleted/);
    expect(await tableCounts()).toEqual(before);

    const purged = await runCli(['purge'], t.database.env);
    expect(purged).toMatchObject({ code: 0, stdout: dry.stdout });
    expect(await tableCounts()).toEqual({ events: before.events - 6, deliveries: before.deliveries - 5, attempts: before.attempts - 6 });

    const survivors = await query<{ event_id: string; status: string | null; attempts: number }>(
      `SELECT e.event_id, d.status, (SELECT count(*) FROM delivery_attempt a WHERE a.delivery_id = d.delivery_id)::int AS attempts
       FROM event e LEFT JOIN delivery d USING (event_id) WHERE e.name LIKE 'ret.%' ORDER BY e.signalled_at`, // not the webhooks' recent state-change events
    );
    expect(new Set(survivors.map((s) => s.event_id))).toEqual(new Set([recentOk, failedKept, ...pending, held]));
    expect(survivors.find((s) => s.event_id === failedKept)).toMatchObject({ status: 'failed', attempts: 3 });
    expect(survivors.find((s) => s.event_id === recentOk)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(survivors.filter((s) => pending.includes(s.event_id)).map((s) => s.status)).toEqual(['pending', 'pending']);
    expect(survivors.find((s) => s.event_id === held)!.status).toBe('held');

    expect((await runCli(['purge'], t.database.env)).stdout).toBe('attempts\t0\ndeliveries\t0\nevents\t0\nnotifications\t0\n');
    expect((await runCli(['purge', '--now'], t.database.env)).code).toBe(2);
    const help = await runCli(['purge', '--help'], t.database.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: webhook-agent purge \[--dry-run\]/);
  });

  it('purges notifications older than RETENTION_DAYS: emails sent or given up on and in-app ones, never an email still to send', async () => {
    const made = await query<{ notification_id: string; subject: string }>(
      `INSERT INTO webhook_notification (webhook_id, reason, channel, subject, body, status, created_at)
       SELECT 1, 'TooManyErrors', x.channel, x.subject, 'body', x.status, now() - x.age::interval
       FROM (VALUES ('Email', 'old sent', 'sent', '40 days'), ('Email', 'old failed', 'failed', '40 days'), ('InApp', 'old in-app', 'stored', '40 days'),
                    ('Email', 'old still pending', 'pending', '40 days'), ('Email', 'recent sent', 'sent', '5 days')) AS x(channel, subject, status, age)
       RETURNING notification_id, subject`,
    );
    expect(made).toHaveLength(5);
    const dry = await runCli(['purge', '--dry-run'], t.database.env);
    expect(dry.stdout).toMatch(/^notifications\t3$/m);
    const config = loadConfig(t.env);
    expect(await purgeExpired(t.service.db.dataSource, retentionCutoffs(config), { batchSize: 2 })).toMatchObject({ notifications: 3 });
    const left = await query<{ subject: string }>(`SELECT subject FROM webhook_notification ORDER BY subject`);
    expect(left.map((n) => n.subject)).toEqual(['old still pending', 'recent sent']);
    await query(`DELETE FROM webhook_notification`);
  });

  it('purges in batches until nothing old is left, and runs by itself every RETENTION_INTERVAL_MS', async () => {
    const hook = await createWebhook(t.service.manager, receiver.url, ['ret.batch'], { secret: '' });
    const batch: string[] = [];
    for (let i = 1; i <= 5; i++) batch.push(await signal('ret.batch', i));
    await deliverAll(hook.webhookId, { succeeded: 5 });
    await age(batch, 31);
    const config = loadConfig(t.env);
    expect(await purgeExpired(t.service.db.dataSource, retentionCutoffs(config), { batchSize: 2 })).toEqual({ attempts: 5, deliveries: 5, events: 5, notifications: 0 });

    const looped: string[] = [];
    for (let i = 1; i <= 3; i++) looped.push(await signal('ret.batch', 10 + i));
    await deliverAll(hook.webhookId, { succeeded: 3 });
    await age(looped, 31);
    engine({ RETENTION_INTERVAL_MS: '200' }).startRetention();
    // One purge deletes deliveries, then their events: wait for both (a look between the two steps sees the events still there).
    await waitFor(
      'the background purge of the deliveries and their events',
      async () => (await countDeliveries(t.service.db.dataSource, hook.webhookId)).succeeded === undefined && (await query(`SELECT event_id FROM event WHERE event_id = ANY($1::uuid[])`, [looped])).length === 0,
      10_000,
    );
  });
});
