/**
 * The operator's commands (webhooks, signal, deliveries) of the compiled CLI, run as child
 * processes against a real service's database (on the embedded database, through its socket).
 */
import { WebhookState } from '../../src/core/webhook';
import { ACTOR, createWebhook, waitFor } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { runCli } from '../support/cli';
import { startTestService, type TestService } from '../support/testService';



describe('webhook-agent operator commands', () => {
  let t: TestService;
  let receiver: Receiver;
  /** What the receiver answers the verification POST (X-Hook-Test); deliveries always get 200 unless `deliveryStatus` says otherwise. */
  let verifyStatus = 200;
  let deliveryStatus = 200;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '50,50', POLL_INTERVAL_MS: '100' });
    receiver = await startReceiver((req, res) => res.writeHead(req.headers['x-hook-test'] === 'true' ? verifyStatus : deliveryStatus).end('ok'));
    // The CLI reads the same configuration as the service (allowing the local receiver as a target).
    env = { ...t.database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', VERIFY_TIMEOUT_MS: '2000' };
  });
  afterAll(async () => {
    await receiver?.close();
    await t?.stop();
  });

  it('webhooks list prints one tab-separated row per webhook, filtered by --state/--name/--event', async () => {
    const a = await createWebhook(t.service.manager, receiver.url, ['contact.created'], { name: 'Alpha hook', secret: '' });
    const b = await createWebhook(t.service.manager, receiver.url, ['sale.created', 'sale.changed'], { name: 'Beta hook', secret: '', state: WebhookState.Stopped });
    const all = await runCli(['webhooks', 'list'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`${a.webhookId}\tActive\tAlpha hook\t${receiver.url}\tcontact.created\t0\t0\t0\t0\n`);
    expect(all.stdout).toContain(`${b.webhookId}\tStopped\tBeta hook\t${receiver.url}\tsale.created,sale.changed\t0\t0\t0\t0\n`);
    const stopped = await runCli(['webhooks', 'list', '--state', 'Stopped'], env);
    expect(stopped.stdout.trim().split('\n').map((line) => Number(line.split('\t')[0]))).toEqual([b.webhookId]);
    expect((await runCli(['webhooks', 'list', '--name', 'alpha'], env)).stdout.trim().split('\t')[0]).toBe(String(a.webhookId));
    expect((await runCli(['webhooks', 'list', '--event', 'sale.changed'], env)).stdout.trim().split('\t')[0]).toBe(String(b.webhookId));
    const bad = await runCli(['webhooks', 'list', '--state', 'Sleeping'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--state must be Active, Stopped or TooManyErrors/);
  });

  it('webhooks list and show count the held deliveries of a TooManyErrors webhook (what was signalled to it is kept)', async () => {
    // A TooManyErrors webhook keeps what is signalled to it, held: list and show count it.
    const c = await createWebhook(t.service.manager, receiver.url, ['held.count'], { name: 'Gamma hook', secret: '' });
    await t.service.db.dataSource.query('UPDATE webhook SET state = 3 WHERE webhook_id = $1', [c.webhookId]);
    for (const key of [1, 2]) await t.service.manager.signalEvent('held.count', key, null, ACTOR);
    expect((await runCli(['webhooks', 'list', '--state', 'TooManyErrors'], env)).stdout).toBe(`${c.webhookId}\tTooManyErrors\tGamma hook\t${receiver.url}\theld.count\t0\t0\t0\t2\n`);
    expect((await runCli(['webhooks', 'show', String(c.webhookId)], env)).stdout).toContain('HeldDeliveries:\t2\n');
  });

  it('webhooks show prints every field (never the Secret); unknown id exits 1, a bad id 2', async () => {
    const hook = await createWebhook(t.service.manager, receiver.url, ['show.me'], { name: 'Shown', secret: 'very secret value' });
    const shown = await runCli(['webhooks', 'show', String(hook.webhookId)], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`WebhookId:\t${hook.webhookId}\n`);
    expect(shown.stdout).toContain('State:\tActive\n');
    expect(shown.stdout).toContain('Secret:\tset\n');
    expect(shown.stdout).not.toContain('very secret value');
    const unknown = await runCli(['webhooks', 'show', '987654'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/There is no webhook with id 987654/);
    expect((await runCli(['webhooks', 'show', 'first'], env)).code).toBe(2);
    expect((await runCli(['webhooks', 'frobnicate'], env)).code).toBe(2);
  });

  it('webhooks stop, then start: start re-verifies the target (exit 1 and still Stopped when it fails)', async () => {
    const hook = await createWebhook(t.service.manager, receiver.url, ['stop.start'], { secret: '' });
    const stop = await runCli(['webhooks', 'stop', String(hook.webhookId)], env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/is Stopped/);
    expect((await t.service.manager.getWebhook(hook.webhookId))!.state).toBe(WebhookState.Stopped);

    const verificationsBefore = receiver.requests.filter((r) => r.headers['x-hook-test'] === 'true').length;
    verifyStatus = 500;
    try {
      const refused = await runCli(['webhooks', 'start', String(hook.webhookId)], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/500/);
      expect((await t.service.manager.getWebhook(hook.webhookId))!.state).toBe(WebhookState.Stopped);
    } finally {
      verifyStatus = 200;
    }
    const start = await runCli(['webhooks', 'start', String(hook.webhookId)], env);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/is Active/);
    expect((await t.service.manager.getWebhook(hook.webhookId))!.state).toBe(WebhookState.Active);
    expect(receiver.requests.filter((r) => r.headers['x-hook-test'] === 'true').length).toBe(verificationsBefore + 2);
  });

  it('signal records an event with --data and prints its EventId; the receiver gets it', async () => {
    await createWebhook(t.service.manager, receiver.url, ['cli.signalled'], { secret: '' });
    const signalled = await runCli(['signal', 'cli.signalled', '42', '--data', 'firstname=Ada', '--data', 'note=a=b'], env);
    expect(signalled.code).toBe(0);
    const [eventId, count] = signalled.stdout.trim().split('\t');
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(count).toBe('1 deliveries');
    const got = await waitFor('the signalled delivery', () => receiver.requests.find((r) => r.headers['x-superoffice-eventid'] === eventId));
    const payload = JSON.parse(got.body.toString('utf8'));
    expect(payload).toMatchObject({ Event: 'cli.signalled', PrimaryKey: 42, FieldValues: { firstname: 'Ada', note: 'a=b' }, ChangedByAssociateId: 0 });

    expect((await runCli(['signal', 'cli.signalled', 'forty-two'], env)).code).toBe(2);
    expect((await runCli(['signal', 'cli.signalled', '1', '--data', 'novalue'], env)).code).toBe(2);
    const badName = await runCli(['signal', 'no dots here', '1'], env);
    expect(badName.code).toBe(2);
    expect(badName.stderr.length).toBeGreaterThan(0);
  });

  it('deliveries list shows a webhook\'s deliveries newest first; --failed only the failed ones', async () => {
    const hook = await createWebhook(t.service.manager, receiver.url, ['cli.listed'], { secret: '' });
    await t.service.manager.signalEvent('cli.listed', 1, null, ACTOR);
    await waitFor('the first delivery', async () => (await t.service.manager.getWebhook(hook.webhookId))!.totalCalls === 1);
    deliveryStatus = 503;
    try {
      await t.service.manager.signalEvent('cli.listed', 2, null, ACTOR);
      await waitFor('the failed cycle', async () => (await t.service.manager.getWebhook(hook.webhookId))!.totalCalls === 4);
      await waitFor('the failure recorded', async () => (await runCli(['deliveries', 'list', '--webhook', String(hook.webhookId), '--failed'], env)).stdout.length > 0);
    } finally {
      deliveryStatus = 200;
    }
    const all = await runCli(['deliveries', 'list', '--webhook', String(hook.webhookId)], env);
    expect(all.code).toBe(0);
    const rows = all.stdout.trim().split('\n').map((line) => line.split('\t'));
    expect(rows.map((r) => [r[1], r[2], r[3], r[4]])).toEqual([
      ['failed', '3', 'cli.listed', '2'],
      ['succeeded', '1', 'cli.listed', '1'],
    ]);
    expect(rows[0][7]).toMatch(/503/);
    const failed = await runCli(['deliveries', 'list', '--webhook', String(hook.webhookId), '--failed'], env);
    expect(failed.stdout.trim().split('\n').map((line) => line.split('\t')[0])).toEqual([rows[0][0]]);

    expect((await runCli(['deliveries', 'list'], env)).code).toBe(2);
    expect((await runCli(['deliveries', 'list', '--webhook', '987654'], env)).code).toBe(1);

    // deliveries show: the delivery, then one line per attempt (cycle, number, time, outcome, status, latency, error, answer).
    const shown = await runCli(['deliveries', 'show', rows[0][0]], env);
    expect(shown.code).toBe(0);
    const [head, ...attempts] = shown.stdout.trim().split('\n').map((line) => line.split('\t'));
    expect(head.slice(0, 3)).toEqual([`delivery ${rows[0][0]}`, 'failed', `webhook ${hook.webhookId}`]);
    expect(attempts.map((a) => [a[0], a[1], a[3], a[4], a[7]])).toEqual([
      ['1', '1', 'failed', '503', 'ok'],
      ['1', '2', 'failed', '503', 'ok'],
      ['1', '3', 'failed', '503', 'ok'],
    ]);
    const unknown = await runCli(['deliveries', 'show', '99999999'], env);
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/no delivery 99999999/) });
    expect((await runCli(['deliveries', 'show', 'abc'], env)).code).toBe(2);
  });

  it('every command answers --help with exit 0', async () => {
    for (const command of [['serve'], ['worker'], ['migrate'], ['tickets'], ['webhooks'], ['signal'], ['deliveries'], ['redeliver'], ['purge']]) {
      const help = await runCli([...command, '--help'], env);
      expect([command[0], help.code]).toEqual([command[0], 0]);
      expect(help.stdout).toMatch(/Usage/);
    }
    const top = await runCli(['--help'], {});
    for (const command of ['webhooks list', 'signal', 'deliveries list', 'redeliver', 'purge [--dry-run]']) expect(top.stdout).toContain(command);
  });
});
