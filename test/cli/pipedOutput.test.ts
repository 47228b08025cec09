import { spawn } from 'node:child_process';
import { loadConfig } from '../../src/config';
import { createDefaultWebhook, WebhookState } from '../../src/core/webhook';
import { WebhookRows } from '../../src/core/webhookRows';
import { openDatabase, type Database } from '../../src/db/dataSource';
import { recordEvent } from '../../src/delivery/signal';
import { CLI, runCli } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

const ROWS = 1000;

/**
 * Runs the CLI with stdout on a pipe that nobody reads for `delayMs`, then reads it slowly.
 * Read through 'readable', not 'data': a child that exits while its stdout has no 'readable'
 * listener gets that stream resumed by node (flushStdio), which would throw away output the CLI
 * wrote into the pipe before the reader started.
 */
function runWithSlowReader(args: string[], env: Record<string, string>, delayMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const chunks: Buffer[] = [];
    let code: number | null | undefined;
    let ended = false;
    const finish = () => {
      if (ended && code !== undefined) resolve({ code, stdout: Buffer.concat(chunks).toString('utf8'), stderr });
    };
    let started = false;
    let reading = false;
    // One chunk, then a 2 ms pause, until the buffer is empty; the next 'readable' starts it again.
    const readSlowly = () => {
      const chunk = child.stdout.read() as Buffer | null;
      if (chunk === null) {
        reading = false;
        return;
      }
      chunks.push(chunk);
      setTimeout(readSlowly, 2);
    };
    const startReading = () => {
      if (!started || reading) return;
      reading = true;
      readSlowly();
    };
    child.stdout.on('readable', startReading);
    child.stdout.once('end', () => {
      ended = true;
      finish();
    });
    setTimeout(() => {
      started = true;
      startReading();
    }, delayMs);
    child.once('exit', (exitCode) => {
      code = exitCode;
      finish();
    });
  });
}

describe('CLI output on a pipe', () => {
  let database: TestDatabase;
  let db: Database;
  let webhookId = 0;
  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig({ ...database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true' });
    db = await openDatabase(config);
    const saved = await new WebhookRows(db.dataSource, config).save({ ...createDefaultWebhook(), name: 'piped', events: ['pipe.test'], targetUrl: 'http://127.0.0.1:9/hook', state: WebhookState.Active });
    webhookId = saved.webhookId;
    for (let key = 1; key <= ROWS; key++) await recordEvent(db.dataSource, 'pipe.test', key, null, 1, 'everyone');
    // Closed here, so that each CLI run starts the embedded server for its own run (or joins the server).
    await db.close();
  }, 120_000);
  afterAll(async () => {
    await database.drop();
  });

  it(`deliveries list piped into a slow reader prints all ${ROWS} rows and exits 0`, async () => {
    const run = await runWithSlowReader(['deliveries', 'list', '--webhook', String(webhookId), '--limit', String(ROWS)], database.env, 1500);
    const lines = run.stdout.split('\n').filter(Boolean);
    expect({ code: run.code, rows: lines.length, stderr: run.stderr }).toEqual({ code: 0, rows: ROWS, stderr: '' });
    expect(new Set(lines.map((line) => line.split('\t')[4]))).toEqual(new Set(Array.from({ length: ROWS }, (_, i) => String(i + 1))));
  }, 60_000);

  it('--json lists deliveries, webhooks and tickets as JSON arrays with named members', async () => {
    const deliveries = await runWithSlowReader(['deliveries', 'list', '--webhook', String(webhookId), '--limit', String(ROWS), '--json'], database.env, 500);
    expect(deliveries.code).toBe(0);
    const parsed = JSON.parse(deliveries.stdout) as Array<Record<string, unknown>>;
    expect(parsed).toHaveLength(ROWS);
    expect(parsed[0]).toMatchObject({ Status: 'pending', Attempts: 0, Event: 'pipe.test', PrimaryKey: ROWS, EventId: expect.stringMatching(/^[0-9a-f-]{36}$/), LastError: null });

    const webhooks = await runCli(['webhooks', 'list', '--json'], database.env);
    expect(webhooks.code).toBe(0);
    expect(JSON.parse(webhooks.stdout)).toEqual([
      { WebhookId: webhookId, State: 'Active', Name: 'piped', TargetUrl: 'http://127.0.0.1:9/hook', Events: ['pipe.test'], TotalCalls: 0, TotalErrors: 0, ConsecutiveErrors: 0, HeldDeliveries: 0 },
    ]);

    expect((await runCli(['tickets', 'create', '--name', 'json'], database.env)).code).toBe(0);
    const tickets = await runCli(['tickets', 'list', '--json'], database.env);
    expect(tickets.code).toBe(0);
    expect(JSON.parse(tickets.stdout)).toEqual([{ TicketId: expect.any(Number), Name: 'json', AssociateId: 1, Application: false, Created: expect.any(String), Revoked: null }]);
  }, 180_000); // three CLI runs, each opening the database (embedded: a server start each)
});
