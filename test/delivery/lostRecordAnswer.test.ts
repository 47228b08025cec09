import { loadConfig } from '../../src/config';
import { DeliveryEngine } from '../../src/delivery/engine';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import type { TestDatabase } from '../support/testDatabase';
import { databaseBehindProxy, itBehindProxy, type TcpProxy } from '../support/tcpProxy';
import { ACTOR, createWebhook, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

/**
 * A worker records a batch of results, the database commits it, and the answer is lost with the
 * connection. The worker cannot tell: it records the batch again. That second time must change
 * nothing, or TotalCalls and TotalErrors count those attempts twice (and a replayed probe
 * failure could trip a webhook to TooManyErrors on half the errors it needs). A TCP proxy in front of a
 * real PostgreSQL server loses exactly that answer. Needs DATABASE_URL.
 */
const runIt = itBehindProxy('lostRecordAnswer.test.ts');

describe('a recorded batch whose answer was lost', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let service: RunningService | undefined;
  let config: ReturnType<typeof loadConfig>;
  const receivers: CheckingReceiver[] = [];

  beforeAll(async () => {
    if (!process.env.DATABASE_URL) return;
    let url: string;
    ({ database, proxy, url } = await databaseBehindProxy());
    // Retries an hour away: each event gets exactly one attempt while the test looks.
    config = loadConfig({ ...database.env, DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false', RUN_WORKER: 'false', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', DELIVERY_RETRY_SCHEDULE_MS: '3600000' });
    service = await startService(config, createLogger(config));
  });

  /** A worker of its own per test, started once the test has armed the proxy. */
  const engines: DeliveryEngine[] = [];
  function startEngine(): DeliveryEngine {
    const engine = new DeliveryEngine(service!.db.dataSource, config, createLogger(config));
    engines.push(engine);
    engine.startWorker();
    return engine;
  }

  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await service?.close();
    await Promise.all(receivers.map((r) => r.close()));
    await proxy?.close();
    await database?.drop();
  });

  async function attemptsSettled(webhookId: number): Promise<number> {
    const [{ n }] = await service!.db.dataSource.query(`SELECT count(*)::int AS n FROM delivery_attempt WHERE webhook_id = $1 AND outcome IS NOT NULL`, [webhookId]);
    return n;
  }

  runIt('successes: recorded again after the lost answer, TotalCalls still counts each once', async () => {
    const receiver = await startCheckingReceiver(null);
    receivers.push(receiver);
    const hook = await createWebhook(service!.manager, receiver.url, ['lost.success'], { secret: '' });
    for (let key = 1; key <= 5; key++) await service!.manager.signalEvent('lost.success', key, null, ACTOR);
    // The one-statement record of successes answers a row with a column of this name.
    proxy!.loseAnswerContaining('deliveries\u0000');
    const engine = startEngine();
    await waitFor('the lost answer and the record after it', () => proxy!.answersLost === 1 && proxy!.answersAfterLoss >= 1, 20_000);
    await engine.close();
    expect(await attemptsSettled(hook.webhookId)).toBe(5);
    expect(receiver.delivered).toHaveLength(5);
    const [{ open }] = await service!.db.dataSource.query(`SELECT count(*)::int AS open FROM delivery WHERE webhook_id = $1 AND status <> 'succeeded'`, [hook.webhookId]);
    expect(open).toBe(0);
    expect((await service!.manager.getWebhook(hook.webhookId))!.totalCalls).toBe(5);
  });

  runIt('failures: recorded again after the lost answer, TotalCalls and TotalErrors still count each once', async () => {
    const receiver = await startCheckingReceiver(null, () => 500);
    receivers.push(receiver);
    const hook = await createWebhook(service!.manager, receiver.url, ['lost.failure'], { secret: '' });
    for (let key = 1; key <= 3; key++) await service!.manager.signalEvent('lost.failure', key, null, ACTOR);
    // Failures are recorded in a transaction: nothing else the worker does commits explicitly.
    proxy!.loseAnswerContaining('COMMIT');
    const engine = startEngine();
    await waitFor('the lost answer and the record after it', () => proxy!.answersLost === 1 && proxy!.answersAfterLoss >= 1, 20_000);
    await waitFor('3 attempts recorded', async () => (await attemptsSettled(hook.webhookId)) === 3, 20_000);
    await engine.close();
    expect(receiver.delivered).toHaveLength(3);
    // Three sends in flight together when the receiver failed count one ConsecutiveError (the
    // first failure after a success; then only probes add), recorded once or twice alike.
    expect((await service!.manager.getWebhook(hook.webhookId))!).toMatchObject({ totalCalls: 3, totalErrors: 3, consecutiveErrors: 1 });
  });
});
