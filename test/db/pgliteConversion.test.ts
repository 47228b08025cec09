/**
 * A DATA_DIR written by the PGlite release (its schema made by that release's migrations, its
 * rows as that release stored them) is refused at start with the one command that converts it;
 * the conversion copies every table, counter and sequence into the embedded PostgreSQL server,
 * after which the pending delivery goes out and a failed one can be redelivered.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { loadConfig } from '../../src/config';
import { hashTicket } from '../../src/core/tickets';
import { openDatabase } from '../../src/db/dataSource';
import { Initial1764374400000 } from '../../src/db/migrations/1764374400000-Initial';
import { Delivery1764460800000 } from '../../src/db/migrations/1764460800000-Delivery';
import { Applications1764547200000 } from '../../src/db/migrations/1764547200000-Applications';
import { SecretEnvelope1764633600000 } from '../../src/db/migrations/1764633600000-SecretEnvelope';
import { ClaimPerWebhookCap1764720000000 } from '../../src/db/migrations/1764720000000-ClaimPerWebhookCap';
import { TicketApplication1764806400000 } from '../../src/db/migrations/1764806400000-TicketApplication';
import { CLI, runCli } from '../support/cli';
import { queryEmbedded } from '../support/testDatabase';
import { startReceiver, type Receiver } from '../support/receiver';

/** The schema of the PGlite release: exactly the migrations it shipped. */
const PGLITE_RELEASE_MIGRATIONS: MigrationInterface[] = [
  new Initial1764374400000(),
  new Delivery1764460800000(),
  new Applications1764547200000(),
  new SecretEnvelope1764633600000(),
  new ClaimPerWebhookCap1764720000000(),
  new TicketApplication1764806400000(),
];

const EMBEDDED = { DATABASE_URL: '', LOG_LEVEL: 'silent', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', BOOTSTRAP_TICKET: 'false' };
const TICKET = 'wat_converted-ticket-from-the-pglite-release-000000';
const EVENT_PENDING = crypto.randomUUID();
const EVENT_FAILED = crypto.randomUUID();

async function writePgliteReleaseFolder(dataDir: string, target: string): Promise<void> {
  const db = await PGlite.create(path.join(dataDir, 'pgdata'));
  const runner = { query: (sql: string, params?: unknown[]) => (params?.length ? db.query(sql, params) : db.exec(sql)) } as unknown as QueryRunner;
  await db.exec('CREATE TABLE migrations (id serial PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)');
  for (const migration of PGLITE_RELEASE_MIGRATIONS) {
    await migration.up(runner);
    await db.query('INSERT INTO migrations ("timestamp", name) VALUES ($1, $2)', [Number(/\d{13}/.exec(migration.name!)![0]), migration.name]);
  }
  await db.exec(`
    INSERT INTO webhook (name, events, target_url, secret, state, type, headers, properties, registered, registered_associate_id, updated, errors_email, total_calls, total_errors, consecutive_errors, last_error)
    VALUES ('orders', '{order.created,order.deleted}', '${target}', 'old-secret', 1, 'webhook', '[{"key":"X-Tenant","value":"t1"}]', '[{"key":"region","type":"string","value":"north"}]',
            '2026-11-01T10:00:00Z', 7, '2026-11-02T10:00:00Z', 'ops@example.com', 41, 3, 1, 'HTTP 500 Internal Server Error');
    INSERT INTO webhook (name, events, target_url, state, type, registered, updated, total_calls, total_errors, consecutive_errors, last_error, application_hash)
    VALUES ('tripped', '{order.created}', 'https://receiver.example.com/x', 3, 'webhook', '2026-11-01T10:00:00Z', '2026-11-03T10:00:00Z', 9, 9, 9, 'connect ECONNREFUSED', '${'a'.repeat(64)}');
    INSERT INTO ticket (token_hash, name, associate_id, created_at) VALUES ('${hashTicket(TICKET)}', 'Converted', 12, '2026-11-01T09:00:00Z');
    INSERT INTO ticket (token_hash, name, associate_id, created_at, revoked_at, application_hash) VALUES ('${'b'.repeat(64)}', 'Revoked app', 3, '2026-11-01T09:00:00Z', '2026-11-05T09:00:00Z', '${'a'.repeat(64)}');
    INSERT INTO event (event_id, name, primary_key, data, associate_id, signalled_at) VALUES
      ('${EVENT_PENDING}', 'order.created', 1001, '[{"key":"total","type":"int","value":12}]', 12, now()),
      ('${EVENT_FAILED}', 'order.deleted', 1002, NULL, 12, now() - interval '1 hour');
    INSERT INTO delivery (event_id, webhook_id, status, attempts, run_at, created_at, completed_at) VALUES
      ('${EVENT_FAILED}', 1, 'failed', 3, now() - interval '1 hour', now() - interval '1 hour', now() - interval '59 minutes'),
      ('${EVENT_PENDING}', 2, 'held', 0, now(), now(), NULL),
      ('${EVENT_PENDING}', 1, 'pending', 0, now(), now(), NULL);
    INSERT INTO delivery_attempt (delivery_id, webhook_id, event_id, attempt_number, attempted_at, http_status, latency_ms, error, response_body, worker) VALUES
      (1, 1, '${EVENT_FAILED}', 1, now() - interval '60 minutes', 500, 12, 'HTTP 500', 'boom', 'w1'),
      (1, 1, '${EVENT_FAILED}', 2, now() - interval '60 minutes', 500, 11, 'HTTP 500', 'boom', 'w1'),
      (1, 1, '${EVENT_FAILED}', 3, now() - interval '59 minutes', NULL, 10002, 'timeout', NULL, 'w1');
  `);
  await db.close();
}

describe('converting a DATA_DIR of the PGlite release', () => {
  let root: string;
  let dataDir: string;
  let receiver: Receiver;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-pglite-'));
    fs.chmodSync(root, 0o711);
    dataDir = path.join(root, 'data');
    fs.mkdirSync(dataDir, { mode: 0o711 });
    receiver = await startReceiver((_request, response) => response.writeHead(200).end());
    await writePgliteReleaseFolder(dataDir, `http://127.0.0.1:${receiver.port}/orders`);
  });
  afterAll(async () => {
    await receiver.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('serve refuses the old folder with the one command that converts it, and changes nothing', async () => {
    const run = await runCli(['serve'], { ...EMBEDDED, DATA_DIR: dataDir, PORT: '0' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('holds the database of an earlier release (PGlite');
    expect(run.stderr).toContain('webhook-agent convert-pglite');
    expect(fs.existsSync(path.join(dataDir, 'postgres'))).toBe(false);
  });

  it('convert-pglite copies every table, counter and sequence, and keeps the PGlite folder as a backup', async () => {
    const run = await runCli(['convert-pglite'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^delivery\t3 rows$/m);
    expect(run.stdout).toMatch(/^delivery_attempt\t3 rows$/m);
    expect(run.stdout).toMatch(/^event\t2 rows$/m);
    expect(run.stdout).toMatch(/^ticket\t2 rows$/m);
    expect(run.stdout).toMatch(/^webhook\t2 rows$/m);
    expect(fs.existsSync(path.join(dataDir, 'pgdata'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'pgdata.pglite-backup', 'PG_VERSION'))).toBe(true);

    const again = await runCli(['convert-pglite'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no PGlite database to convert/);
  });

  it('the converted database holds the same rows, exactly, with sequences continuing where they were', async () => {
    const db = await openDatabase(loadConfig({ ...EMBEDDED, DATA_DIR: dataDir }), { command: 'test', join: true });
    try {
      const sequences = (await db.dataSource.query(
        "SELECT sequencename AS name, last_value::int AS last FROM pg_sequences WHERE schemaname = 'public' AND sequencename IN ('webhook_webhook_id_seq', 'ticket_ticket_id_seq', 'delivery_delivery_id_seq', 'delivery_attempt_attempt_id_seq') ORDER BY 1",
      )) as { name: string; last: number }[];
      expect(sequences).toEqual([
        { name: 'delivery_attempt_attempt_id_seq', last: 3 },
        { name: 'delivery_delivery_id_seq', last: 3 },
        { name: 'ticket_ticket_id_seq', last: 2 },
        { name: 'webhook_webhook_id_seq', last: 2 },
      ]);
      const [orders] = (await db.dataSource.query('SELECT events, headers, total_calls, consecutive_errors, last_error, errors_email FROM webhook WHERE webhook_id = 1')) as Record<string, unknown>[];
      expect(orders).toEqual({ events: ['order.created', 'order.deleted'], headers: [{ key: 'X-Tenant', value: 't1' }], total_calls: 41, consecutive_errors: 1, last_error: 'HTTP 500 Internal Server Error', errors_email: 'ops@example.com' });
    } finally {
      await db.close();
    }

    // A CLI command starts the embedded server for its own run: the data must be there.
    const list = await runCli(['webhooks', 'list'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/orders/);
    expect(list.stdout).toMatch(/tripped/);

    const run = await runCli(['tickets', 'list'], { ...EMBEDDED, DATA_DIR: dataDir });
    expect(run.stdout).toMatch(/\tConverted\tassociate 12\toperator\t/);
    expect(run.stdout).toMatch(/\tRevoked app\tassociate 3\tapplication\t.*\trevoked /);
  });

  it('serve starts on it: the pending delivery goes out signed with the old secret, the held one stays held, the failed one is redelivered', async () => {
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...EMBEDDED, DATA_DIR: dataDir, PORT: '0' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const delivered = async (count: number) => {
        for (const deadline = Date.now() + 30_000; receiver.requests.length < count; await new Promise((resolve) => setTimeout(resolve, 100))) {
          if (Date.now() > deadline) throw new Error(`only ${receiver.requests.length} of ${count} deliveries arrived`);
        }
      };
      await delivered(1);
      const [pending] = receiver.requests;
      expect(pending.headers['x-superoffice-eventid']).toBe(EVENT_PENDING);
      expect(pending.headers['x-tenant']).toBe('t1');
      const body = pending.body.toString();
      expect(pending.headers['x-superoffice-signature']).toBe(crypto.createHmac('sha256', 'old-secret').update(body).digest('base64'));
      expect(JSON.parse(body)).toMatchObject({ region: 'north', FieldValues: { total: 12 }, PrimaryKey: 1001 }); // jsonb columns survived the copy

      const redeliver = await runCli(['redeliver', '1'], { ...EMBEDDED, DATA_DIR: dataDir });
      expect(redeliver.code).toBe(0);
      await delivered(2);
      expect(receiver.requests[1].headers['x-superoffice-eventid']).toBe(EVENT_FAILED);

      // The worker records a result a few milliseconds after the receiver answered it.
      const readOrders = () => queryEmbedded<{ total_calls: number; total_errors: number; registered: Date }>(dataDir, 'SELECT total_calls, total_errors, registered FROM webhook WHERE webhook_id = 1');
      let [orders] = await readOrders();
      for (const deadline = Date.now() + 5_000; orders.total_calls < 43 && Date.now() < deadline; [orders] = await readOrders()) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(orders.total_calls).toBe(43); // 41 converted + the two deliveries just made
      expect(orders.total_errors).toBe(3);
      expect(orders.registered.toISOString()).toBe('2026-11-01T10:00:00.000Z');
      const held = await queryEmbedded<{ status: string }>(dataDir, 'SELECT status FROM delivery WHERE webhook_id = 2');
      expect(held).toEqual([{ status: 'held' }]);
      const attempts = await queryEmbedded<{ count: number }>(dataDir, 'SELECT count(*)::int AS count FROM delivery_attempt WHERE delivery_id = 1');
      expect(attempts[0].count).toBeGreaterThanOrEqual(4);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
