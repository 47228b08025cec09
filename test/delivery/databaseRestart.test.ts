import { exec } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

/**
 * A real PostgreSQL server restart in the middle of a delivery burst. It restarts the whole
 * cluster, so it runs only when POSTGRES_RESTART_COMMAND is set — `.ci/run` sets it and runs
 * this file alone, after the other suites. (workers.test.ts covers a simulated outage of one
 * database on every server run.)
 */
const RESTART = process.env.POSTGRES_RESTART_COMMAND;
const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
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

  runIt('loses no accepted event: delivery resumes by itself, SignalEvent works again, /readyz says 503 meanwhile; failed requests answer 503 with Retry-After and nothing logs a stack trace', async () => {
    const logLines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    t = await startTestService({ WORKER_CONCURRENCY: '8', RATE_LIMIT_PER_MINUTE: '0', DELIVERY_RETRY_SCHEDULE_MS: '200,500', LOG_LEVEL: 'info' }, { logDestination: sink });
    receiver = await startCheckingReceiver(null, () => 200, { delayMs: 5 });
    for (let i = 0; i < 2; i++) await createWebhook(t.service.manager, receiver.url, ['restart.burst'], { secret: '', name: `restart hook ${i}` });
    const [{ webhook_id: hookId }] = (await t.service.db.dataSource.query('SELECT min(webhook_id) AS webhook_id FROM webhook')) as Array<{ webhook_id: number }>;
    for (let i = 1; i <= 600; i++) await t.service.manager.signalEvent('restart.burst', i, null, ACTOR);
    await waitFor('the burst to be under way', () => receiver!.delivered.length >= 100, 30_000, 5);
    const before = receiver.delivered.length;

    // /readyz and both doors are polled through the restart: 503 (with Retry-After) while the server is away.
    const readiness: number[] = [];
    const answers: Array<{ door: string; status: number; retryAfter: string | null; body: string }> = [];
    let polling = true;
    const ask = async (door: string, request: Promise<Response>) => {
      const response = await request.catch(() => null);
      answers.push({ door, status: response?.status ?? 0, retryAfter: response?.headers.get('retry-after') ?? null, body: response ? await response.text() : '' });
    };
    const poller = (async () => {
      while (polling) {
        readiness.push(await fetch(`${t!.service.url}/readyz`).then((r) => r.status, () => 0));
        await ask('rest', fetch(`${t!.service.url}/api/v1/Webhook/${hookId}`, { headers: { authorization: `Bearer ${t!.ticket}` } }));
        await ask(
          'soap',
          fetch(t!.soapUrl, {
            method: 'POST',
            headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/GetWebhook"` },
            body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${t!.ticket}</Ticket></Credentials></s:Header><s:Body><GetWebhook xmlns="${TNS}"><WebhookId>${hookId}</WebhookId></GetWebhook></s:Body></s:Envelope>`,
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    try {
      // Asynchronously: the service in this process must keep running through the restart.
      await promisify(exec)(RESTART!, { timeout: 60_000 });
      await waitFor('/readyz to be 200 again', async () => (await fetch(`${t!.service.url}/readyz`)).status === 200, 60_000, 200);
    } finally {
      polling = false;
      await poller;
    }
    expect(readiness).toContain(503);
    expect(readiness).not.toContain(0); // the service itself kept answering
    // Every request that failed said "briefly unavailable, retry": REST 503, SOAP a soap:Server fault, both with Retry-After.
    const failed = answers.filter((a) => a.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    for (const answer of failed) {
      expect({ door: answer.door, status: answer.status, retryAfter: answer.retryAfter }).toEqual({ door: answer.door, status: answer.door === 'rest' ? 503 : 500, retryAfter: expect.stringMatching(/^\d+$/) });
      expect(answer.body).toMatch(/database is briefly unavailable/);
    }

    expect(before).toBeLessThan(1200);
    // The service reconnects on its own; a new event is accepted once the server is back.
    await waitFor('SignalEvent to be accepted again', () => t!.service.manager.signalEvent('restart.burst', 601, null, ACTOR).then(() => true, () => false), 60_000, 500);
    const eventIds = async () => (await t!.service.db.dataSource.query(`SELECT event_id FROM event WHERE name = 'restart.burst'`)) as Array<{ event_id: string }>;
    await waitFor('every accepted event delivered to both webhooks', async () => {
      const ids = await eventIds();
      const got = new Set(receiver!.delivered.map((d) => `${d.payload.EventId} ${d.payload.WebhookName}`));
      return ids.length >= 601 && ids.every((row) => got.has(`${row.event_id} restart hook 0`) && got.has(`${row.event_id} restart hook 1`));
    }, 90_000, 250);
    expect(logLines.filter((line) => line.includes('    at '))).toEqual([]);
    expect(logLines.filter((line) => /briefly unavailable/.test(line)).length).toBeGreaterThan(0);
  });

  /**
   * A record of successes commits without waiting for its WAL flush, so a crash can undo one the
   * worker saw succeed: the delivery stays claimed by a worker that is alive, beats, and no longer
   * holds it. Made here by hand (a claim row the worker never made), then a real restart: the
   * worker sees the server's new start time and hands the claim back, and it is sent.
   */
  runIt('after a restart, a live worker hands back the claims it no longer holds (a record the crash undid), and they are sent', async () => {
    await t?.stop();
    await receiver?.close();
    t = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
    receiver = await startCheckingReceiver(null, () => 200);
    const hook = await createWebhook(t.service.manager, receiver.url, ['restart.undone'], { secret: '' });
    const workerId = t.service.delivery.worker!.workerId;
    const ds = t.service.db.dataSource;
    await ds.query(
      `WITH e AS (INSERT INTO event (event_id, name, primary_key, associate_id) VALUES (gen_random_uuid(), 'restart.undone', 4242, 1) RETURNING event_id),
            d AS (INSERT INTO delivery (event_id, webhook_id, attempts, locked_by, locked_until, run_at)
                  SELECT event_id, $1, 1, $2, now() + interval '1 hour', now() + interval '1 hour' FROM e RETURNING delivery_id, event_id)
       INSERT INTO delivery_attempt (delivery_id, webhook_id, event_id, attempt_number, attempted_at, worker) SELECT delivery_id, $1, event_id, 1, now(), $2 FROM d`,
      [hook.webhookId, workerId],
    );
    // Held by a live worker, it is not sent however long one waits (the worker's heartbeat keeps it).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(receiver.delivered.filter((d) => d.payload.PrimaryKey === 4242)).toHaveLength(0);

    await promisify(exec)(RESTART!, { timeout: 60_000 });
    await waitFor('the undone claim to be sent', () => receiver!.delivered.some((d) => d.payload.PrimaryKey === 4242), 60_000, 100);
    const [attempt] = (await ds.query(`SELECT error FROM delivery_attempt a JOIN event e ON e.event_id = a.event_id WHERE e.primary_key = 4242 ORDER BY attempt_number LIMIT 1`)) as Array<{ error: string | null }>;
    expect(attempt.error).toMatch(/database server restarted/);
  }, 120_000);
});
