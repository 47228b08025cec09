import crypto from 'node:crypto';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { openDatabase, type Database } from '../../src/db/dataSource';
import { SecretBox } from '../../src/db/secretBox';
import { reencryptSecrets } from '../../src/db/secretReencryption';
import { startService, type RunningService } from '../../src/service';
import { verifySuperOffice } from '../../src/verify';
import { createWebhook, waitFor } from '../delivery/helpers';
import { runCli } from '../support/cli';
import { startReceiver, type Receiver } from '../support/receiver';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

/**
 * Rotating SECRET_ENCRYPTION_KEY (db/secretReencryption.ts): services restarted with the list
 * "new,old" open Secrets sealed with either key; `secrets reencrypt` rewrites them all with the
 * new key, in batches, while a service keeps delivering; afterwards a service with the new key
 * alone delivers every webhook correctly signed. A receiver checks every delivery's signature
 * against its webhook's Secret throughout, and no attempt may fail.
 */

const OLD = crypto.randomBytes(32).toString('base64');
const NEW = crypto.randomBytes(32).toString('hex');
const WEBHOOKS = 24;
let database: TestDatabase;
/** Holds the database (on the embedded one: its server) while the services come and go. */
let holder: Database;
let receiver: Receiver;
const secretOf = new Map<string, string>();
const bad: string[] = [];
const running: RunningService[] = [];

function env(keys: string): Record<string, string> {
  return {
    PORT: '0', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false',
    DELIVERY_RETRY_SCHEDULE_MS: '100,100', SECRET_ENCRYPTION_KEY: keys, ...database.env, DATABASE_URL: holder.url,
  };
}

async function start(keys: string): Promise<RunningService> {
  const config = loadConfig(env(keys));
  const service = await startService(config, createLogger(config));
  running.push(service);
  return service;
}

async function stop(service: RunningService): Promise<void> {
  running.splice(running.indexOf(service), 1);
  await service.close();
}

const received = () => receiver.requests.filter((r) => !r.headers['x-hook-test']);

async function signal(service: RunningService, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await service.delivery.signalEvent('keys.rotate', i, null, { associateId: 1, name: 'test' });
}

beforeAll(async () => {
  database = await createTestDatabase();
  holder = await openDatabase(loadConfig({ LOG_LEVEL: 'silent', ...database.env }), { command: 'test' });
  // Slow enough that deliveries are still in flight while the secrets are rewritten.
  receiver = await startReceiver((req, res) => {
    const name = JSON.parse(req.body.toString('utf8')).WebhookName;
    if (!req.headers['x-hook-test']) {
      try {
        verifySuperOffice(req.body, secretOf.get(name)!, req.headers as Record<string, string>);
      } catch (error) {
        bad.push(`${name}: ${(error as Error).message}`);
      }
    }
    setTimeout(() => res.writeHead(200).end(), 15);
  });
});
afterAll(async () => {
  for (const service of [...running]) await service.close();
  await receiver.close();
  await holder.close();
  await database.drop();
});

it('reencrypts every stored Secret with the newest key while deliveries are in flight; none fails, every one verifies', async () => {
  const first = await start(OLD);
  for (let i = 0; i < WEBHOOKS; i++) {
    const secret = i % 2 ? `plain secret ${i}` : `whsec_${crypto.randomBytes(24).toString('base64')}`;
    const name = `hook ${i}`;
    secretOf.set(name, secret);
    await createWebhook(first.manager, receiver.url, ['keys.rotate'], { name, secret });
  }
  // One rotated Secret: its previous Secret is sealed too and must be rewritten as well.
  const rotated = await first.manager.rotateSecret(1, { secret: 'after rotation' }, { associateId: 1, name: 'test' });
  const previous = secretOf.get('hook 0')!;
  secretOf.set('hook 0', rotated.secret);
  await signal(first, 5);

  // The rolling restart: a service with "new,old" takes over the deliveries.
  const second = await start(`${NEW},${OLD}`);
  await stop(first);
  await signal(second, 5);
  expect(received().length).toBeLessThan(WEBHOOKS * 10); // still in flight

  const batches: number[] = [];
  const done = await reencryptSecrets(second.db.dataSource, { batchSize: 5, onBatch: (p) => batches.push(p.scanned) });
  expect(done).toEqual({ scanned: WEBHOOKS, rewritten: WEBHOOKS + 1 });
  expect(batches).toEqual([5, 10, 15, 20, 24]);
  await signal(second, 5);

  const rows: Array<{ id: number; secret: string; previous: string | null }> = await second.db.dataSource.query(
    'SELECT webhook_id AS id, secret, previous_secret AS previous FROM webhook ORDER BY webhook_id',
  );
  const newOnly = new SecretBox(Buffer.from(NEW, 'hex'));
  for (const row of rows) {
    expect(row.secret).toMatch(/^enc:v1:/);
    expect(newOnly.open(row.secret, `webhook ${row.id}`)).toBe(secretOf.get(`hook ${row.id - 1}`));
  }
  expect(newOnly.open(rows[0].previous, 'webhook 1 previous')).toBe(previous);

  // The CLI finds nothing left, and the old key can go: a service with the new key alone delivers.
  const again = await runCli(['secrets', 'reencrypt'], env(`${NEW},${OLD}`));
  expect(again.code).toBe(0);
  expect(again.stdout).toContain(`Re-encrypted 0 stored secrets of ${WEBHOOKS} webhooks with the newest key.`);
  const third = await start(NEW);
  await stop(second);
  await signal(third, 5);

  const succeeded = async () => (await third.db.dataSource.query(`SELECT count(*)::int AS n FROM delivery WHERE status = 'succeeded'`))[0].n;
  await waitFor('every delivery to succeed', async () => (await succeeded()) === WEBHOOKS * 20 || null, 60_000);
  expect(received().length).toBeGreaterThanOrEqual(WEBHOOKS * 20);
  expect(bad).toEqual([]);
  const [{ failed }] = await third.db.dataSource.query(`SELECT count(*)::int AS failed FROM delivery_attempt WHERE error IS NOT NULL OR http_status <> 200`);
  expect(failed).toBe(0);
  const counts = await third.db.dataSource.query(`SELECT status, count(*)::int AS n FROM delivery GROUP BY status`);
  expect(counts).toEqual([{ status: 'succeeded', n: WEBHOOKS * 20 }]);
});

it('refuses a malformed key in the list, naming its position', () => {
  expect(() => loadConfig({ SECRET_ENCRYPTION_KEY: `${NEW}, not-a-key` })).toThrow(/key 2 of 2 in the list/);
});

it('secrets reencrypt without a key is a usage error', async () => {
  const run = await runCli(['secrets', 'reencrypt'], { ...env(''), SECRET_ENCRYPTION_KEY: '' });
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/secrets reencrypt needs SECRET_ENCRYPTION_KEY/);
});
