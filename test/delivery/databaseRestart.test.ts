import { execSync } from 'node:child_process';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

/**
 * A real PostgreSQL server restart in the middle of a delivery burst. It restarts the whole
 * cluster, so it runs only when POSTGRES_RESTART_COMMAND is set — `.ci/run` sets it and runs
 * this file alone, after the other suites. (workers.test.ts covers a simulated outage of one
 * database on every server run.)
 */
const RESTART = process.env.POSTGRES_RESTART_COMMAND;
const runIt = process.env.DATABASE_URL && RESTART ? it : it.skip;

if (!RESTART || !process.env.DATABASE_URL) {
  // eslint-disable-next-line no-console
  console.log('databaseRestart.test.ts: SKIPPED (needs DATABASE_URL and POSTGRES_RESTART_COMMAND; .ci/run provides both).');
}

describe('PostgreSQL server restart during a burst', () => {
  let t: TestService | undefined;
  let receiver: CheckingReceiver | undefined;
  afterAll(async () => {
    await receiver?.close();
    await t?.stop();
  });

  runIt('loses no accepted event: delivery resumes by itself and SignalEvent works again', async () => {
    t = await startTestService({ WORKER_CONCURRENCY: '8', RATE_LIMIT_PER_MINUTE: '0', DELIVERY_RETRY_SCHEDULE_MS: '200,500' });
    receiver = await startCheckingReceiver(null, () => 200, { delayMs: 5 });
    for (let i = 0; i < 2; i++) await createWebhook(t.service.manager, receiver.url, ['restart.burst'], { secret: '', name: `restart hook ${i}` });
    for (let i = 1; i <= 600; i++) await t.service.manager.signalEvent('restart.burst', i, null, ACTOR);
    await waitFor('the burst to be under way', () => receiver!.delivered.length >= 100, 30_000, 5);
    const before = receiver.delivered.length;

    execSync(RESTART!, { stdio: 'inherit', timeout: 60_000 });

    expect(before).toBeLessThan(1200);
    // The service reconnects on its own; a new event is accepted once the server is back.
    await waitFor('SignalEvent to be accepted again', () => t!.service.manager.signalEvent('restart.burst', 601, null, ACTOR).then(() => true, () => false), 60_000, 500);
    const eventIds = async () => (await t!.service.db.dataSource.query(`SELECT event_id FROM event WHERE name = 'restart.burst'`)) as Array<{ event_id: string }>;
    await waitFor('every accepted event delivered to both webhooks', async () => {
      const ids = await eventIds();
      const got = new Set(receiver!.delivered.map((d) => `${d.payload.EventId} ${d.payload.WebhookName}`));
      return ids.length >= 601 && ids.every((row) => got.has(`${row.event_id} restart hook 0`) && got.has(`${row.event_id} restart hook 1`));
    }, 90_000, 250);
  });
});
