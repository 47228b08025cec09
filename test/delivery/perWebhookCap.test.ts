/**
 * WEBHOOK_MAX_IN_FLIGHT: the claim (claim_deliveries, called by queue.claimDueDeliveries)
 * never hands out more than N claimed-and-unfinished deliveries per webhook across all workers,
 * so a slow receiver holds at most N of the workers' slots and the others' deliveries flow past
 * it. Measured at the receivers; runs on the embedded database and on a server (DATABASE_URL),
 * where the two workers' claims really race on separate connections.
 */
import { loadConfig } from '../../src/config';
import { DeliveryEngine } from '../../src/delivery/engine';
import { claimDueDeliveries } from '../../src/delivery/sql/claims';
import { beatAndReleaseDeadClaims } from '../../src/delivery/sql/workers';
import { createLogger } from '../../src/logger';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, failIfEventLoopStalls, waitFor } from './helpers';

const CAP = 4;
const SLOW_MS = 250;

interface MeasuringReceiver extends Receiver {
  current: number;
  max: number;
  /** When each delivery's response went out. */
  answeredAt: number[];
}

async function measuringReceiver(delayMs: number): Promise<MeasuringReceiver> {
  const state = { current: 0, max: 0, answeredAt: [] as number[] };
  const receiver = await startReceiver((req, res) => {
    if (req.headers['x-hook-test'] === 'true') {
      res.writeHead(200).end('verified');
      return;
    }
    state.current += 1;
    state.max = Math.max(state.max, state.current);
    const answer = (): void => {
      state.current -= 1;
      state.answeredAt.push(Date.now());
      res.writeHead(200).end('ok');
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  return Object.assign(state, receiver);
}

describe('per-webhook delivery cap (WEBHOOK_MAX_IN_FLIGHT)', () => {
  let t: TestService;
  const engines: DeliveryEngine[] = [];
  let receivers: MeasuringReceiver[] = [];
  let stopWatching: () => void = () => undefined;

  beforeEach(async () => {
    stopWatching = failIfEventLoopStalls(expect.getState().currentTestName ?? 'per-webhook cap');
    t = await startTestService({ RUN_WORKER: 'false', WEBHOOK_MAX_IN_FLIGHT: String(CAP), WORKER_CONCURRENCY: '32', POLL_INTERVAL_MS: '50' });
  });
  afterEach(async () => {
    stopWatching();
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await Promise.all(receivers.map((r) => r.close()));
    receivers = [];
    await t.stop();
  });

  function engine(): DeliveryEngine {
    const config = loadConfig(t.env);
    const e = new DeliveryEngine(t.service.db.dataSource, config, createLogger(config));
    engines.push(e);
    return e;
  }

  it(`a slow receiver never has more than ${CAP} requests at once, and a fast one's 40 deliveries finish long before the slow one's 40`, async () => {
    const slow = await measuringReceiver(SLOW_MS);
    const fast = await measuringReceiver(0);
    receivers = [slow, fast];
    await createWebhook(t.service.manager, slow.url, ['cap.slow'], { secret: '' });
    await createWebhook(t.service.manager, fast.url, ['cap.fast'], { secret: '' });
    // The slow webhook's deliveries are older: without the cap they would fill every slot first.
    for (let i = 1; i <= 40; i++) await t.service.manager.signalEvent('cap.slow', i, null, ACTOR);
    for (let i = 1; i <= 40; i++) await t.service.manager.signalEvent('cap.fast', i, null, ACTOR);

    // Two workers, 32 slots each: plenty of room to exceed the cap if the claim allowed it.
    const started = Date.now();
    engine().startWorker();
    engine().startWorker();
    await waitFor('the fast deliveries', () => fast.answeredAt.length >= 40, 20_000, 5);
    const fastDone = Math.max(...fast.answeredAt);
    await waitFor('the slow deliveries', () => slow.answeredAt.length >= 40, 30_000, 5);
    const slowDone = Math.max(...slow.answeredAt);

    expect(slow.max).toBe(CAP); // reached, never passed
    expect(fast.answeredAt).toHaveLength(40);
    expect(slow.answeredAt).toHaveLength(40);
    // 40 slow answers, CAP at a time, take at least 10 x SLOW_MS; the fast ones do not wait for them.
    expect(slowDone - started).toBeGreaterThanOrEqual((40 / CAP) * SLOW_MS);
    expect(fastDone).toBeLessThan(slowDone - 1000);
    await waitFor('all 80 recorded as succeeded', async () => {
      const [{ n }] = await t.service.db.dataSource.query(`SELECT count(*)::int AS n FROM delivery WHERE status = 'succeeded'`);
      return n === 80;
    });
  });

  it("counts the live claims of every worker, and not a dead worker's: its heartbeat stops, another worker releases them", async () => {
    const slow = await measuringReceiver(0);
    receivers = [slow];
    const hook = await createWebhook(t.service.manager, slow.url, ['cap.lease'], { secret: '' });
    for (let i = 1; i <= 10; i++) await t.service.manager.signalEvent('cap.lease', i, null, ACTOR);
    const ds = t.service.db.dataSource;

    await beatAndReleaseDeadClaims(ds, 'worker-a', 3000);
    const first = await claimDueDeliveries(ds, 'worker-a', 100, 60_000, CAP);
    expect(first).toHaveLength(CAP);
    // Another worker, same cap: the webhook is full while worker-a beats, however long its sends take.
    const alive = await beatAndReleaseDeadClaims(ds, 'worker-b', 3000);
    expect(alive.released).toBe(0);
    expect(alive.otherWorkers).toBeGreaterThanOrEqual(1); // worker-a (and the service's own worker, if it runs one)
    expect(await claimDueDeliveries(ds, 'worker-b', 100, 60_000, CAP)).toHaveLength(0);
    // worker-a stops beating: the next heartbeat of worker-b releases its claims, due now.
    await ds.query(`UPDATE delivery_worker SET heartbeat_at = now() - interval '4 seconds' WHERE worker_id = 'worker-a'`);
    expect(await beatAndReleaseDeadClaims(ds, 'worker-b', 3000)).toEqual({ released: CAP, otherWorkers: alive.otherWorkers - 1, serverStartedAt: alive.serverStartedAt });
    const again = await claimDueDeliveries(ds, 'worker-b', 100, 60_000, CAP);
    expect(again).toHaveLength(CAP);
    // Released claims go ahead of the webhook's backlog, on their second attempt.
    expect(again.map((c) => c.deliveryId).sort()).toEqual(first.map((c) => c.deliveryId).sort());
    expect(again.every((c) => c.webhookId === hook.webhookId && c.attempts === 1)).toBe(true);
    // worker-a's attempts stay in the log, result unknown.
    const unknown = await ds.query(`SELECT delivery_id::text AS id, error FROM delivery_attempt WHERE worker = 'worker-a' AND outcome IS NULL ORDER BY 1`);
    expect(unknown.map((u: { id: string }) => u.id).sort()).toEqual(first.map((c) => c.deliveryId).sort());
    expect(unknown.every((u: { error: string }) => /^result unknown: worker worker-a stopped/.test(u.error))).toBe(true);
    // Without a cap (a direct caller), the rest is there.
    expect(await claimDueDeliveries(ds, 'worker-c', 100, 60_000)).toHaveLength(10 - CAP);
  });
});
