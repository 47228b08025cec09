/**
 * Under faults (issue 10): a dead worker stalls nothing for more than a few seconds, a brief
 * receiver outage disables nothing, and nothing accepted is lost while a webhook is TooManyErrors.
 * Worker processes run the built CLI (dist/cli.js: `npm run build` first) on the test database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { WebhookState, type Webhook } from '../../src/core/webhook';
import { DeliveryEngine } from '../../src/delivery/engine';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { createLogger } from '../../src/logger';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, failIfEventLoopStalls, sleep, startCheckingReceiver, waitFor, type CheckingReceiver, stopStarted } from './helpers';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

/** Signals `n` events concurrently, 20 at a time, as many clients would. */
async function burst(t: TestService, event: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => t.service.manager.signalEvent(event, i + j + 1, null, ACTOR)));
  }
}

const pairKey = (payload: Record<string, any>) => `${payload.EventId} ${payload.WebhookName}`;

function receivedCounts(r: CheckingReceiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const d of r.delivered) counts.set(pairKey(d.payload), (counts.get(pairKey(d.payload)) ?? 0) + 1);
  return counts;
}

jest.setTimeout(120_000);

describe('under faults', () => {
  let t: TestService;
  const receivers: CheckingReceiver[] = [];
  const engines: DeliveryEngine[] = [];
  const children: ChildProcess[] = [];
  let stopWatching: () => void = () => undefined;

  beforeEach(() => {
    stopWatching = failIfEventLoopStalls(expect.getState().currentTestName ?? 'a faults test');
  });
  afterEach(async () => {
    stopWatching();
    await stopStarted(children, engines, receivers);
    await t?.stop();
  });

  async function receiver(...args: Parameters<typeof startCheckingReceiver>): Promise<CheckingReceiver> {
    const r = await startCheckingReceiver(...args);
    receivers.push(r);
    return r;
  }

  function engine(): DeliveryEngine {
    const config = loadConfig(t.env);
    const e = new DeliveryEngine(t.service.db.dataSource, config, createLogger(config));
    engines.push(e);
    e.attach(t.service.manager);
    return e;
  }

  async function query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return t.service.db.dataSource.query(sql, params);
  }

  async function hooks(r: CheckingReceiver, event: string, n: number): Promise<Webhook[]> {
    const list: Webhook[] = [];
    for (let i = 0; i < n; i++) list.push(await createWebhook(t.service.manager, r.url, [event], { secret: '', name: `${event} hook ${i}` }));
    return list;
  }

  function startWorkerProcess(): { child: ChildProcess; started: Promise<void> } {
    const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, ...t.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const log: string[] = [];
    const started = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        log.push(chunk.toString('utf8'));
        if (log.join('').includes('delivery worker started')) resolve();
      });
      child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString('utf8')));
      child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before starting:\n${log.join('')}`)));
    });
    started.catch(() => undefined);
    return { child, started };
  }

  it('a worker SIGKILLed mid-burst, default settings: another worker resumes every webhook within 5 s; nothing missing; duplicates only of its in-flight sends, each in the attempt log', async () => {
    expect(fs.existsSync(CLI)).toBe(true); // npm test builds dist/ first; otherwise run `npm run build`
    // Default DELIVERY_TIMEOUT_MS, LEASE_MARGIN_MS, WEBHOOK_MAX_IN_FLIGHT, WORKER_CONCURRENCY, heartbeat.
    t = await startTestService({ RUN_WORKER: 'false' });
    const r = await receiver(null, () => 200, { delayMs: 20 });
    const list = await hooks(r, 'kill.burst', 5);
    await burst(t, 'kill.burst', 400); // 2,000 deliveries
    const first = startWorkerProcess();
    await first.started;
    const second = startWorkerProcess();
    await second.started;
    await waitFor('the workers to be mid-burst', () => r.delivered.length >= 400, 30_000, 5);
    // Kill the worker holding the most claims right now.
    const [{ pid }] = await query<{ pid: string }>(
      `SELECT split_part(locked_by, ':', 2) AS pid FROM delivery WHERE locked_by IS NOT NULL GROUP BY locked_by ORDER BY count(*) DESC LIMIT 1`,
    );
    const victim = [first, second].find((w) => String(w.child.pid) === pid)!;
    expect(victim).toBeDefined();
    victim.child.kill('SIGKILL');
    await new Promise((resolve) => victim.child.once('exit', resolve));
    const killedAt = Date.now();
    const heldByDead = await query<{ delivery_id: string; event_id: string; webhook_id: number }>(
      `SELECT delivery_id::text, event_id, webhook_id FROM delivery WHERE status = 'pending' AND split_part(locked_by, ':', 2) = $1`,
      [pid],
    );
    expect(heldByDead.length).toBeGreaterThan(0);
    const receivedBefore = r.delivered.length;

    // Every webhook receives again within 5 s, its dead claims included.
    const names = new Map(list.map((w) => [w.webhookId, w.name]));
    await waitFor('every webhook to receive after the kill', () => new Set(r.delivered.slice(receivedBefore).map((d) => d.payload.WebhookName)).size === 5, 5_000, 5);
    await waitFor("the dead worker's claims to be sent again", async () => {
      const [{ open }] = await query(`SELECT count(*)::int AS open FROM delivery WHERE delivery_id = ANY($1::bigint[]) AND status <> 'succeeded'`, [heldByDead.map((d) => d.delivery_id)]);
      return open === 0;
    }, 5_000 - (Date.now() - killedAt), 5);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(5_000);

    await waitFor('all 2,000 deliveries', () => receivedCounts(r).size === 2000, 60_000);
    await waitFor('every delivery recorded', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 2000, 20_000);
    // Duplicates: only deliveries the dead worker held.
    const heldKeys = new Set(heldByDead.map((d) => `${d.event_id} ${names.get(d.webhook_id)}`));
    const duplicated = [...receivedCounts(r)].filter(([, n]) => n > 1).map(([key]) => key);
    expect(duplicated.filter((key) => !heldKeys.has(key))).toEqual([]);
    // Each send is in the attempt log: the dead worker's with its result unknown, then the retaken one.
    const [{ attempts }] = await query(`SELECT count(*)::int AS attempts FROM delivery_attempt`);
    expect(attempts).toBeGreaterThanOrEqual(r.delivered.length);
    const unknown = await query<{ delivery_id: string; error: string }>(`SELECT delivery_id::text, error FROM delivery_attempt WHERE outcome IS NULL`);
    expect(unknown.map((u) => u.delivery_id).sort()).toEqual(heldByDead.map((d) => d.delivery_id).sort());
    expect(unknown.every((u) => /^result unknown: worker .* stopped before recording it/.test(u.error))).toBe(true);
    const retaken = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM delivery_attempt WHERE delivery_id = ANY($1::bigint[]) AND outcome = 'success' AND attempt_number = 2`,
      [heldByDead.map((d) => d.delivery_id)],
    );
    expect(retaken[0].n).toBe(heldByDead.length);
  });

  it('a receiver outage of 4 retry cycles under a burst (20 s at the default cycle; 5 s at a cycle of 250 ms, 1 s) leaves every webhook Active, and every delivery arrives after at most one redeliver', async () => {
    // NetServer's cycle is attempt, 1 s, attempt, 4 s, attempt: 20 s is 4 of them. The test runs
    // every wait a quarter as long, the outage too, so the proportion stays.
    t = await startTestService({ RUN_WORKER: 'false', DELIVERY_RETRY_SCHEDULE_MS: '250,1000', POLL_INTERVAL_MS: '100', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
    let down = false;
    const r = await receiver(null, () => (down ? 503 : 200), { delayMs: 5 });
    const list = await hooks(r, 'outage.burst', 5);
    const worker = engine().startWorker();
    const signalling = burst(t, 'outage.burst', 300); // 1,500 deliveries
    await waitFor('the burst to be flowing', () => r.delivered.length >= 200, 30_000, 5);
    down = true;
    const states: WebhookState[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const w of list) states.push((await t.service.manager.getWebhook(w.webhookId))!.state);
        await sleep(100);
      }
    })();
    try {
      await sleep(5_000);
      down = false;
      await signalling;
      await waitFor('the queue to settle', async () => {
        const c = await countDeliveries(t.service.db.dataSource);
        return !c.pending && !c.held;
      }, 60_000);
    } finally {
      watching = false;
      await watch;
    }
    expect(states.length).toBeGreaterThan(100);
    expect(states.filter((s) => s !== WebhookState.Active)).toEqual([]);
    for (const w of list) expect((await t.service.manager.getWebhook(w.webhookId))!.state).toBe(WebhookState.Active);
    const failed = (await countDeliveries(t.service.db.dataSource)).failed ?? 0;
    // One redeliver of each webhook's failed deliveries brings every delivery home.
    for (const w of list) await engines[0].redeliverWebhook(w.webhookId, new Date(0));
    await waitFor('every delivery succeeded', async () => (await countDeliveries(t.service.db.dataSource)).succeeded === 1500, 30_000);
    const succeededPairs = [...receivedCounts(r).keys()].length;
    expect(succeededPairs).toBe(1500);
    expect(worker.sent).toBeGreaterThan(1500);
    // The outage cost a few probes per webhook, not a hammering: consecutive errors stayed below the limit.
    const [{ maxErrors }] = await query(`SELECT max(consecutive_errors)::int AS "maxErrors" FROM webhook`);
    expect(maxErrors).toBe(0);
    expect(failed).toBeLessThan(5 * 20);
  });

  it('a webhook tripped to TooManyErrors keeps the events signalled meanwhile, held, and delivers every one when started again', async () => {
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50' });
    let gone = true;
    const r = await receiver(null, () => (gone ? 410 : 200));
    const [hook] = await hooks(r, 'trip.keep', 1);
    await t.service.manager.signalEvent('trip.keep', 1, null, ACTOR);
    await waitFor('TooManyErrors', async () => (await t.service.manager.getWebhook(hook.webhookId))!.state === WebhookState.TooManyErrors);
    for (let key = 2; key <= 21; key++) await t.service.manager.signalEvent('trip.keep', key, null, ACTOR);
    await sleep(300);
    expect(r.delivered).toHaveLength(1); // nothing sent while TooManyErrors
    expect(await countDeliveries(t.service.db.dataSource, hook.webhookId)).toEqual({ held: 21 });

    gone = false;
    const stopped = (await t.service.manager.getWebhook(hook.webhookId))!;
    await t.service.manager.saveWebhook({ ...stopped, state: WebhookState.Active }, ACTOR);
    // The first POST was the 410; every event, the tripping one included, arrives after the start.
    await waitFor('all 21 events', () => new Set(r.delivered.slice(1).map((d) => d.payload.PrimaryKey)).size === 21);
    await waitFor('all recorded', async () => (await countDeliveries(t.service.db.dataSource, hook.webhookId)).succeeded === 21);
  });

  it('HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS=false restores NetServer: a TooManyErrors webhook gets no deliveries for what is signalled meanwhile', async () => {
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50', HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS: 'false' });
    let gone = true;
    const r = await receiver(null, () => (gone ? 410 : 200));
    const [hook] = await hooks(r, 'trip.drop', 1);
    await t.service.manager.signalEvent('trip.drop', 1, null, ACTOR);
    await waitFor('TooManyErrors', async () => (await t.service.manager.getWebhook(hook.webhookId))!.state === WebhookState.TooManyErrors);
    for (let key = 2; key <= 6; key++) await t.service.manager.signalEvent('trip.drop', key, null, ACTOR);
    // Only the delivery that was open at the trip is kept (held), as NetServer keeps nothing new.
    expect(await countDeliveries(t.service.db.dataSource, hook.webhookId)).toEqual({ held: 1 });
    gone = false;
    await t.service.manager.saveWebhook({ ...(await t.service.manager.getWebhook(hook.webhookId))!, state: WebhookState.Active }, ACTOR);
    await waitFor('the held one', async () => (await countDeliveries(t.service.db.dataSource, hook.webhookId)).succeeded === 1);
    await sleep(300);
    expect(r.delivered.map((d) => d.payload.PrimaryKey)).toEqual([1, 1]);
  });

  it('a Stopped webhook gets no deliveries for what is signalled while it is stopped (its owner stopped it); those open when it stopped are held and go out when started', async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
    const r = await receiver(null);
    const [hook] = await hooks(r, 'stop.keep', 1);
    await t.service.manager.signalEvent('stop.keep', 1, null, ACTOR);
    const stopped = await t.service.manager.saveWebhook({ ...hook, state: WebhookState.Stopped }, ACTOR);
    await t.service.manager.signalEvent('stop.keep', 2, null, ACTOR);
    expect(await countDeliveries(t.service.db.dataSource, hook.webhookId)).toEqual({ held: 1 });
    await t.service.manager.saveWebhook({ ...stopped, state: WebhookState.Active }, ACTOR);
    engine().startWorker();
    await waitFor('the held delivery', () => r.delivered.length === 1);
    await sleep(300);
    expect(r.delivered.map((d) => d.payload.PrimaryKey)).toEqual([1]);
  });
});
