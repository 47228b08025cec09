/**
 * A signal wakes the workers of other processes at once, with a NOTIFY sent after its commit
 * (delivery/wakeListeners.ts), not inside it; and a process whose own worker is the only one
 * alive sends none. Both databases: on the embedded one the worker process and the CLI join the
 * test service's server.
 */
import { Client } from 'pg';
import { WAKE_CHANNEL } from '../../src/delivery/sql/statements';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/testService';
import { startWorkerProcess, type WorkerProcess } from '../support/workerProcess';
import { ACTOR, createWebhook, sleep, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

/** Far longer than any wait below: a delivery that arrives was woken, not polled. */
const NO_POLLING = '60000';

describe('signals wake a worker process at once (it polls only every 60 s)', () => {
  let t: TestService;
  let r: CheckingReceiver;
  let worker: WorkerProcess;

  beforeAll(async () => {
    // No worker in the API process: every delivery below is the worker process's.
    t = await startTestService({ RUN_WORKER: 'false' });
    r = await startCheckingReceiver(null);
    await createWebhook(t.service.manager, r.url, ['wake.api', 'wake.cli'], { secret: '' });
    worker = await startWorkerProcess({ ...t.env, POLL_INTERVAL_MS: NO_POLLING });
    await sleep(300); // its first claim (at start) has found nothing; now it waits
  });
  afterAll(async () => {
    await worker?.stop();
    await r?.close();
    await t?.stop();
  });

  it('one signal, and a burst of 60 signalled together: none waits for the poll', async () => {
    const started = Date.now();
    await t.service.manager.signalEvent('wake.api', 1, null, ACTOR);
    await waitFor('the first delivery', () => r.delivered.length === 1, 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    // NOTIFYs are coalesced to one in flight: signals committed meanwhile get one after it.
    await Promise.all(Array.from({ length: 60 }, (_, i) => t.service.manager.signalEvent('wake.api', 100 + i, null, ACTOR)));
    await waitFor('all 61 deliveries', () => r.delivered.length === 61, 5000);
  });

  it('a signal from the CLI, which exits right after its commit, wakes it too', async () => {
    const before = r.delivered.length;
    const run = await runCli(['signal', 'wake.cli', '7'], t.env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await waitFor('the CLI signal delivered', () => r.delivered.length === before + 1, 5000);
    expect(r.delivered.at(-1)!.payload).toMatchObject({ Event: 'wake.cli', PrimaryKey: 7 });
  });
});

describe('a process whose own worker is the only one alive notifies nobody', () => {
  let t: TestService;
  let r: CheckingReceiver;
  let listener: Client;
  let notifications = 0;

  beforeAll(async () => {
    t = await startTestService({ WORKER_HEARTBEAT_MS: '100' });
    r = await startCheckingReceiver(null);
    await createWebhook(t.service.manager, r.url, ['wake.alone'], { secret: '' });
    listener = new Client({ connectionString: t.service.db.url });
    await listener.connect();
    listener.on('notification', () => (notifications += 1));
    await listener.query(`LISTEN ${WAKE_CHANNEL}`);
  });
  afterAll(async () => {
    await listener?.end();
    await r?.close();
    await t?.stop();
  });

  it('sends no NOTIFY while alone, and does once another worker beats', async () => {
    await sleep(300); // a few heartbeats: it knows it is alone
    notifications = 0;
    for (let key = 1; key <= 5; key++) await t.service.manager.signalEvent('wake.alone', key, null, ACTOR);
    await waitFor('5 deliveries by the in-process worker', () => r.delivered.length === 5, 5000);
    await sleep(200);
    expect(notifications).toBe(0);

    // Another process's worker is alive (its heartbeat row, fresh for the rest of this test).
    await t.service.db.dataSource.query(`INSERT INTO delivery_worker (worker_id, heartbeat_at) VALUES ('another-process', now() + interval '1 hour')`);
    await sleep(300);
    await t.service.manager.signalEvent('wake.alone', 6, null, ACTOR);
    await waitFor('a NOTIFY for the other worker', () => notifications > 0, 5000);
    await waitFor('the sixth delivery', () => r.delivered.length === 6, 5000);
    await t.service.db.dataSource.query(`DELETE FROM delivery_worker WHERE worker_id = 'another-process'`);
  });
});
