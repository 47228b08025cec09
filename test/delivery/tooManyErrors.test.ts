import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { WebhookState } from '../../src/core/webhook';
import { countDeliveries } from '../../src/delivery/sql/deliveries';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, createWebhook, SECRET, sleep, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

describe('TooManyErrors: 9 consecutive errors or 410, held deliveries, resume, state events, email', () => {
  let t: TestService;
  let smtp: SMTPServer;
  const mails: Array<{ to: string[]; text: string }> = [];
  const receivers: CheckingReceiver[] = [];

  beforeAll(async () => {
    // A real SMTP server in the test process.
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), text: Buffer.concat(chunks).toString('utf8') });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    // A short retry schedule keeps the test fast; the default cycle is proven in engine.test.ts.
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50', SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, SMTP_FROM: 'agent@example.com' });
  });
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await t.stop();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  async function stateOf(webhookId: number): Promise<WebhookState | undefined> {
    return (await t.service.manager.getWebhook(webhookId))?.state;
  }

  async function receiver(answer?: (n: number) => number): Promise<CheckingReceiver> {
    const r = await startCheckingReceiver(SECRET, answer);
    receivers.push(r);
    return r;
  }

  it('stops a webhook at 9 consecutive errors, emits webhook{ID}.errors, emails ErrorsEmail, holds its deliveries and resumes them when set Active', async () => {
    const manager = t.service.manager;
    let healthy = false;
    const failing = await receiver(() => (healthy ? 200 : 500));
    const hook = await createWebhook(manager, failing.url, ['order.created'], { name: 'Order sync', errorsEmail: 'ops@example.com' });
    const watcher = await receiver();
    const watch = await createWebhook(manager, watcher.url, [`webhook${hook.webhookId}.errors`, `webhook${hook.webhookId}.started`]);

    // 5 events x 3 attempts: however the attempts interleave, the 9th error trips the webhook with attempts left.
    for (let i = 1; i <= 5; i++) await manager.signalEvent('order.created', i, null, ACTOR);
    await waitFor('TooManyErrors', async () => (await stateOf(hook.webhookId)) === WebhookState.TooManyErrors);
    const stopped = (await manager.getWebhook(hook.webhookId))!;
    expect(stopped.consecutiveErrors).toBeGreaterThanOrEqual(9);
    expect(stopped.lastError).toMatch(/500/);

    await waitFor('the errors event', () => watcher.delivered.find((d) => d.payload.Event === `webhook${hook.webhookId}.errors`));
    const errorsEvent = watcher.delivered.find((d) => d.payload.Event === `webhook${hook.webhookId}.errors`)!.payload;
    expect(errorsEvent).toMatchObject({ PrimaryKey: hook.webhookId, Entity: `webhook${hook.webhookId}`, FieldValues: { WebhookId: hook.webhookId, State: 'TooManyErrors', PreviousState: 'Active' } });

    const mail = await waitFor('the email', () => mails.find((m) => m.to.includes('ops@example.com')));
    const text = mail.text.replace(/=\r?\n/g, '');
    expect(text).toContain('Order sync');
    expect(text).toContain(`WebhookId: ${hook.webhookId}`);
    expect(text).toContain(failing.url);
    expect(text).toMatch(/Last error: .*500/);
    const failingEventIds = new Set(failing.delivered.map((d) => d.payload.EventId));
    const mailedEventId = /Failing EventId: ([0-9a-f-]{36})/.exec(text)![1];
    expect(failingEventIds.has(mailedEventId)).toBe(true);

    // No more deliveries while TooManyErrors; the open ones are held, not dropped.
    await sleep(300);
    const sentWhileStopped = failing.delivered.length;
    await manager.signalEvent("order.created", 6, null, ACTOR);
    await sleep(500);
    expect(failing.delivered.length).toBe(sentWhileStopped);
    const counts = await countDeliveries(t.service.db.dataSource, hook.webhookId);
    expect(counts.held).toBeGreaterThan(0);
    expect(counts.pending ?? 0).toBe(0);

    // Active again (re-verified by the save): held deliveries resume, and .started is emitted.
    healthy = true;
    await manager.saveWebhook({ ...stopped, state: WebhookState.Active }, ACTOR);
    await waitFor('held deliveries to finish', async () => {
      const c = await countDeliveries(t.service.db.dataSource, hook.webhookId);
      return !c.held && !c.pending;
    });
    const finalCounts = await countDeliveries(t.service.db.dataSource, hook.webhookId);
    expect(finalCounts.succeeded).toBe(counts.held);
    await waitFor('the started event', () => watcher.delivered.find((d) => d.payload.Event === `webhook${hook.webhookId}.started`));
    expect((await manager.getWebhook(hook.webhookId))!.state).toBe(WebhookState.Active);
    expect(watch.state).toBe(WebhookState.Active);
  });

  it('stops a webhook at once when its target answers 410 Gone', async () => {
    const manager = t.service.manager;
    const gone = await receiver(() => 410);
    const hook = await createWebhook(manager, gone.url, ['invoice.created']);
    await manager.signalEvent('invoice.created', 1, null, ACTOR);
    await waitFor('TooManyErrors', async () => (await stateOf(hook.webhookId)) === WebhookState.TooManyErrors);
    await sleep(300);
    expect(gone.delivered).toHaveLength(1);
    expect((await manager.getWebhook(hook.webhookId))!).toMatchObject({ totalCalls: 1, consecutiveErrors: 1 });
    expect(await manager.getLastError(hook.webhookId)).toMatch(/410/);
  });

  it('emits webhook{ID}.stopped, by the acting associate, when a client stops a webhook', async () => {
    const manager = t.service.manager;
    const target = await receiver();
    const watcher = await receiver();
    const hook = await createWebhook(manager, target.url, ['x.y']);
    await createWebhook(manager, watcher.url, [`webhook${hook.webhookId}.stopped`]);
    await manager.saveWebhook({ ...hook, state: WebhookState.Stopped }, ACTOR);
    const event = await waitFor('the stopped event', () => watcher.delivered.find((d) => d.payload.Event === `webhook${hook.webhookId}.stopped`));
    expect(event.payload).toMatchObject({ ChangedByAssociateId: 7, FieldValues: { State: 'Stopped', PreviousState: 'Active' } });
  });
});
