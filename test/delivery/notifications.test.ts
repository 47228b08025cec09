/**
 * NetServer 12.4's NotifyWhen / NotifyVia: emails to a real SMTP server in this process at the
 * first failure after a success and at the change to TooManyErrors, InApp notifications listed by
 * the API, and the outbox's promise: a worker killed between the state change and the send loses
 * no notification.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../../src/config';
import { NotifyVia, NotifyWhen, WebhookState, type Webhook } from '../../src/core/webhook';
import { DeliveryEngine } from '../../src/delivery/engine';
import { createLogger } from '../../src/logger';
import { closedPort } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ACTOR, SECRET, sleep, startCheckingReceiver, waitFor, type CheckingReceiver } from './helpers';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

interface Mail {
  to: string[];
  text: string;
}

let smtp: SMTPServer;
let smtpUrl: string;
const mails: Mail[] = [];
const receivers: CheckingReceiver[] = [];

beforeAll(async () => {
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
  smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

async function receiver(answer: (n: number) => number): Promise<CheckingReceiver> {
  const r = await startCheckingReceiver(SECRET, answer);
  receivers.push(r);
  return r;
}

function save(t: TestService, name: string, target: string, extra: Partial<Webhook>): Promise<Webhook> {
  return t.service.manager.saveWebhook(
    {
      webhookId: 0, name, events: [`${name.replace(/\W/g, '_')}.happened`], targetUrl: target, secret: SECRET, state: WebhookState.Active, type: 'webhook',
      headers: null, properties: null, errorsEmail: null, description: null, ...extra,
    },
    ACTOR,
  );
}

const mailsAbout = (name: string) => mails.filter((m) => m.text.includes(`"${name}"`));

describe('notifications on a running service', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ SMTP_URL: smtpUrl, SMTP_FROM: 'agent@example.com', DELIVERY_RETRY_SCHEDULE_MS: '20,20', CONSECUTIVE_ERROR_LIMIT: '3', POLL_INTERVAL_MS: '50' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('NotifyWhen FirstFailure mails ErrorsEmail and every ErrorEmails address once, at the first failed attempt after a success', async () => {
    let healthy = true;
    const target = await receiver(() => (healthy ? 200 : 500));
    const hook = await save(t, 'first failure', target.url, {
      errorsEmail: 'owner@example.com', errorEmails: ['ops@example.com', 'oncall@example.com'], notifyWhen: NotifyWhen.FirstFailure, notifyVia: NotifyVia.Email,
    });
    await t.service.manager.signalEvent('first_failure.happened', 1, null, ACTOR);
    await waitFor('the successful delivery', () => target.delivered.length === 1);
    await sleep(300);
    expect(mailsAbout('first failure')).toEqual([]);

    healthy = false;
    await t.service.manager.signalEvent('first_failure.happened', 2, null, ACTOR);
    const [mail] = await waitFor('the FirstFailure email', () => (mailsAbout('first failure').length > 0 ? mailsAbout('first failure') : null));
    expect(mail.to.sort()).toEqual(['oncall@example.com', 'ops@example.com', 'owner@example.com']);
    expect(mail.text).toMatch(/failed a delivery/);
    expect(mail.text).toContain(`WebhookId: ${hook.webhookId}`);
    // The retries that follow are not first failures: one email, and no Disabling one (not asked for).
    await waitFor('TooManyErrors', async () => (await t.service.manager.getWebhook(hook.webhookId))?.state === WebhookState.TooManyErrors);
    await sleep(500);
    expect(mailsAbout('first failure')).toHaveLength(1);
  });

  it('NotifyWhen Disabling with NotifyVia Email and InApp mails when it becomes TooManyErrors and records an InApp notification the API lists, then reads', async () => {
    const target = await receiver(() => 500);
    const hook = await save(t, 'disabling', target.url, {
      errorEmails: ['ops@example.com'], errorAssociates: [{ associateId: 7, name: 'Test Associate' }], notifyWhen: NotifyWhen.Disabling, notifyVia: NotifyVia.Email | NotifyVia.InApp,
    });
    await t.service.manager.signalEvent('disabling.happened', 1, null, ACTOR);
    const [mail] = await waitFor('the Disabling email', () => (mailsAbout('disabling').length > 0 ? mailsAbout('disabling') : null));
    expect(mail.to).toEqual(['ops@example.com']);
    expect(mail.text).toMatch(/stopped with state TooManyErrors/);

    const list = async (): Promise<any[]> => (await (await fetch(`${t.service.url}/api/v1/Webhook/Notifications`, { headers: { authorization: `SOTicket ${t.ticket}` } })).json()) as any[];
    const first = await list();
    const mine = first.filter((n: any) => n.WebhookId === hook.webhookId);
    expect(mine).toEqual([expect.objectContaining({ Reason: 'Disabling', WebhookName: 'disabling', Read: false, Subject: expect.stringMatching(/TooManyErrors/) })]);
    // Newest first.
    const created = first.map((n: any) => Date.parse(n.Created));
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    expect((await list()).find((n: any) => n.WebhookId === hook.webhookId)).toMatchObject({ Read: true });
  });

  it('a webhook without the 12.4 members gets only the TooManyErrors email to ErrorsEmail, as before', async () => {
    let healthy = true;
    const target = await receiver(() => (healthy ? 200 : 500));
    await save(t, 'legacy', target.url, { errorsEmail: 'legacy@example.com' });
    await t.service.manager.signalEvent('legacy.happened', 1, null, ACTOR);
    await waitFor('the successful delivery', () => target.delivered.length === 1);
    healthy = false;
    await t.service.manager.signalEvent('legacy.happened', 2, null, ACTOR);
    const [mail] = await waitFor('the TooManyErrors email', () => (mailsAbout('legacy').length > 0 ? mailsAbout('legacy') : null));
    expect(mail.to).toEqual(['legacy@example.com']);
    expect(mail.text).toMatch(/TooManyErrors/);
    await sleep(300);
    expect(mailsAbout('legacy')).toHaveLength(1);
  });
});

describe('the outbox survives a crash', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('a worker SIGKILLed after the state change, before the email went out, loses no notification: the next worker sends it', async () => {
    // The API process runs no worker; a worker process does, with an SMTP server that refuses connections.
    const t = await startTestService({ RUN_WORKER: 'false', DELIVERY_RETRY_SCHEDULE_MS: '20,20', CONSECUTIVE_ERROR_LIMIT: '3' });
    try {
      const target = await receiver(() => 500);
      const hook = await save(t, 'crash', target.url, { errorsEmail: 'crash@example.com', notifyWhen: NotifyWhen.Disabling, notifyVia: NotifyVia.Email });
      const unreachable = `smtp://127.0.0.1:${await closedPort()}`;
      const child = spawn(process.execPath, [CLI, 'worker'], {
        env: { ...process.env, ...t.env, SMTP_URL: unreachable, POLL_INTERVAL_MS: '50', LOG_LEVEL: 'silent' },
        stdio: 'ignore',
      });
      children.push(child);
      await t.service.manager.signalEvent('crash.happened', 1, null, ACTOR);

      const ds = t.service.db.dataSource;
      const row = await waitFor('the notification committed with the state change, its first send failed', async () => {
        const [n] = await ds.query(`SELECT status, attempts, last_error FROM webhook_notification WHERE webhook_id = $1`, [hook.webhookId]);
        return n && n.attempts >= 1 && n.last_error ? n : null;
      });
      expect(row.status).toBe('pending');
      expect((await t.service.manager.getWebhook(hook.webhookId))!.state).toBe(WebhookState.TooManyErrors);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(mailsAbout('crash')).toEqual([]);

      // A new worker, with a working SMTP server, finds it in the outbox and sends it.
      const config = loadConfig({ ...t.env, SMTP_URL: smtpUrl, POLL_INTERVAL_MS: '50', LOG_LEVEL: 'silent' });
      const engine = new DeliveryEngine(ds, config, createLogger(config));
      engine.startWorker();
      try {
        const [mail] = await waitFor('the email after the crash', () => (mailsAbout('crash').length > 0 ? mailsAbout('crash') : null), 15_000);
        expect(mail.to).toEqual(['crash@example.com']);
        await waitFor('the notification marked sent', async () => (await ds.query(`SELECT status FROM webhook_notification WHERE webhook_id = $1`, [hook.webhookId]))[0].status === 'sent');
      } finally {
        await engine.close();
      }
    } finally {
      await t.stop();
    }
  });
});
