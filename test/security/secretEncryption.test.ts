/**
 * Webhook Secrets encrypted at rest (SECRET_ENCRYPTION_KEY, src/db/secretBox.ts): the column
 * holds an AES-256-GCM envelope, the owner reads the plaintext back, deliveries are signed with
 * the real Secret, plaintext rows from before the key keep working, and a row that cannot be
 * opened (no key, another key) fails loudly: never an unsigned delivery. One database, services
 * started on it one after another with different keys.
 */
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../src/config';
import { createTicket } from '../../src/core/tickets';
import { SecretBox, SecretDecryptionError } from '../../src/db/secretBox';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { ACTOR, createWebhook, SECRET, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

const KEY = crypto.randomBytes(32);
const OTHER_KEY = crypto.randomBytes(32);

describe('SECRET_ENCRYPTION_KEY validation', () => {
  it('accepts 32 bytes as 64 hex characters or as base64 (standard or URL-safe), and is off when unset', () => {
    expect(loadConfig({ SECRET_ENCRYPTION_KEY: KEY.toString('hex') }).secretEncryptionKey).toEqual(KEY);
    expect(loadConfig({ SECRET_ENCRYPTION_KEY: KEY.toString('base64') }).secretEncryptionKey).toEqual(KEY);
    expect(loadConfig({ SECRET_ENCRYPTION_KEY: ` ${KEY.toString('base64url')} ` }).secretEncryptionKey).toEqual(KEY);
    expect(loadConfig({}).secretEncryptionKey).toBeNull();
    expect(loadConfig({ SECRET_ENCRYPTION_KEY: '  ' }).secretEncryptionKey).toBeNull();
  });

  it.each([
    ['16 bytes of base64', crypto.randomBytes(16).toString('base64')],
    ['33 bytes of base64', crypto.randomBytes(33).toString('base64')],
    ['63 hex characters', KEY.toString('hex').slice(1)],
    ['a passphrase', 'correct horse battery staple'],
  ])('refuses %s with a message saying what a key looks like', (_name, value) => {
    expect(() => loadConfig({ SECRET_ENCRYPTION_KEY: value })).toThrow(ConfigError);
    expect(() => loadConfig({ SECRET_ENCRYPTION_KEY: value })).toThrow(/SECRET_ENCRYPTION_KEY must be 32 random bytes written as 64 hex characters or as base64/);
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(KEY);

  it('seals into a fresh enc:v1 envelope each time and opens it again; empty and null stay as they are', () => {
    const a = box.seal(SECRET)!;
    const b = box.seal(SECRET)!;
    expect(a).toMatch(/^enc:v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b); // random IV
    expect(a).not.toContain(SECRET);
    expect(box.open(a, 'x')).toBe(SECRET);
    expect(box.seal('')).toBe('');
    expect(box.seal(null)).toBeNull();
    const long = 'ü'.repeat(400);
    expect(box.open(box.seal(long), 'x')).toBe(long);
  });

  it('reads a value without the enc: prefix as plaintext, with or without a key', () => {
    expect(box.open('plain-old-secret', 'x')).toBe('plain-old-secret');
    expect(new SecretBox(null).open('plain-old-secret', 'x')).toBe('plain-old-secret');
  });

  it('refuses to open without the key, with another key, tampered, or of an unknown version', () => {
    const sealed = box.seal(SECRET)!;
    expect(() => new SecretBox(null).open(sealed, 'webhook 5')).toThrow(/Secret of webhook 5 is stored encrypted, but SECRET_ENCRYPTION_KEY is not set/);
    expect(() => new SecretBox(OTHER_KEY).open(sealed, 'webhook 5')).toThrow(/could not be decrypted with the configured SECRET_ENCRYPTION_KEY/);
    const parts = sealed.split(':');
    const flipped = Buffer.from(parts[4], 'base64');
    flipped[0] ^= 1;
    expect(() => box.open([...parts.slice(0, 4), flipped.toString('base64')].join(':'), 'w')).toThrow(SecretDecryptionError);
    expect(() => box.open('enc:v9:a:b:c', 'w')).toThrow(/envelope version .* does not know \(enc:v9\)/);
  });
});

describe('Secrets at rest through the service', () => {
  let database: TestDatabase;
  let receiver: CheckingReceiver;
  let service: RunningService | null = null;
  let ticket: string;
  const lines: string[] = [];

  async function start(key: Buffer | null): Promise<RunningService> {
    await service?.close();
    const config = loadConfig({
      PORT: '0',
      ALLOW_HTTP_TARGETS: 'true',
      ALLOW_PRIVATE_TARGETS: 'true',
      VERIFY_TIMEOUT_MS: '2000',
      BOOTSTRAP_TICKET: 'false',
      LOG_LEVEL: 'info',
      DELIVERY_RETRY_SCHEDULE_MS: '0,0',
      POLL_INTERVAL_MS: '100',
      ...(key ? { SECRET_ENCRYPTION_KEY: key.toString('base64') } : {}),
      ...database.env,
    });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    service = await startService(config, createLogger(config, sink));
    return service;
  }

  const storedSecret = async (webhookId: number): Promise<string | null> =>
    (await service!.db.dataSource.query('SELECT secret FROM webhook WHERE webhook_id = $1', [webhookId]))[0].secret;

  const getRest = (webhookId: number) => fetch(`${service!.url}/api/v1/Webhook/${webhookId}`, { headers: { authorization: `Bearer ${ticket}` } });

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startCheckingReceiver(SECRET);
  });
  afterAll(async () => {
    await service?.close();
    await receiver.close();
    await database.drop();
  });

  let sealedId: number;
  let plainId: number;

  it('with a key: the column holds ciphertext, GetWebhook returns the plaintext, deliveries are signed with the real Secret', async () => {
    const s = await start(KEY);
    ticket = await createTicket(s.db.dataSource, 'Owner', 7);
    const hook = await createWebhook(s.manager, receiver.url, ['secret.sealed'], { name: 'sealed' });
    sealedId = hook.webhookId;
    expect(hook.secret).toBe(SECRET);
    const stored = await storedSecret(sealedId);
    expect(stored).toMatch(/^enc:v1:/);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(SECRET.slice(6)); // nor the key part of the whsec_ Secret

    const rest = await getRest(sealedId);
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as any).Secret).toBe(SECRET);
    expect((await s.manager.getAllWebhooks({ nameFilter: 'sealed', eventFilter: null, statusFilter: 0 }))[0].secret).toBe(SECRET);

    await s.manager.signalEvent('secret.sealed', 1, null, ACTOR);
    await waitFor('the signed delivery', () => receiver.delivered.length === 1);
    expect(receiver.badSignatures).toEqual([]); // the receiver verified both signatures with the plaintext Secret
    expect(receiver.delivered[0].request.headers['x-superoffice-signature']).toBeDefined();
  });

  it('a plaintext row stored before the key keeps working, and is sealed when it is saved again', async () => {
    const s = service!;
    const hook = await createWebhook(s.manager, receiver.url, ['secret.plain'], { name: 'plain' });
    plainId = hook.webhookId;
    // As a row written before SECRET_ENCRYPTION_KEY was configured.
    await s.db.dataSource.query('UPDATE webhook SET secret = $1 WHERE webhook_id = $2', [SECRET, plainId]);
    expect((await s.manager.getWebhook(plainId))!.secret).toBe(SECRET);
    await s.manager.signalEvent('secret.plain', 2, null, ACTOR);
    await waitFor('the delivery signed with the plaintext row', () => receiver.delivered.some((d) => d.payload.Event === 'secret.plain'));
    expect(receiver.badSignatures).toEqual([]);

    const current = (await s.manager.getWebhook(plainId))!;
    await s.manager.saveWebhook({ ...current, description: 'saved again' }, ACTOR);
    expect(await storedSecret(plainId)).toMatch(/^enc:v1:/);
    expect((await s.manager.getWebhook(plainId))!.secret).toBe(SECRET);
  });

  it('without the key: GetWebhook fails loudly (500, logged), and a delivery fails with the reason instead of going out unsigned', async () => {
    const s = await start(null);
    lines.length = 0;
    const before = receiver.requests.length;
    const rest = await getRest(sealedId);
    expect(rest.status).toBe(500);
    expect(await rest.text()).not.toContain('enc:v1');
    const soap = await fetch(`${s.url}/Remote/Services88/Webhook.svc`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body:
        `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"><Ticket>${ticket}</Ticket></Credentials></s:Header>` +
        `<s:Body><GetWebhook xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"><WebhookId>${sealedId}</WebhookId></GetWebhook></s:Body></s:Envelope>`,
    });
    expect(await soap.text()).toContain('<faultcode>soap:Server</faultcode>');
    expect(lines.join('')).toContain(`The Secret of webhook ${sealedId} is stored encrypted, but SECRET_ENCRYPTION_KEY is not set`);

    lines.length = 0;
    await s.delivery.signalEvent('secret.sealed', 3, null, ACTOR);
    const attempts = await waitFor('the failed attempt', async () => {
      const rows = await s.db.dataSource.query('SELECT error FROM delivery_attempt WHERE webhook_id = $1 AND error IS NOT NULL', [sealedId]);
      return rows.length > 0 ? rows : null;
    });
    expect(attempts[0].error).toMatch(/SECRET_ENCRYPTION_KEY is not set/);
    expect(lines.join('')).toMatch(/SECRET_ENCRYPTION_KEY is not set/);
    expect(receiver.requests.length).toBe(before); // nothing was sent, signed or not
    const [{ last_error }] = await s.db.dataSource.query('SELECT last_error FROM webhook WHERE webhook_id = $1', [sealedId]);
    expect(last_error).toMatch(/SECRET_ENCRYPTION_KEY is not set/);
  });

  it('with another key: the same, saying the key does not fit', async () => {
    const s = await start(OTHER_KEY);
    lines.length = 0;
    const before = receiver.requests.length;
    expect((await getRest(plainId)).status).toBe(500);
    expect(lines.join('')).toContain(`The Secret of webhook ${plainId} could not be decrypted with the configured SECRET_ENCRYPTION_KEY`);
    await s.delivery.signalEvent('secret.plain', 4, null, ACTOR);
    await waitFor('the failed attempt', async () => {
      const rows = await s.db.dataSource.query('SELECT error FROM delivery_attempt WHERE webhook_id = $1 AND error LIKE $2', [plainId, '%could not be decrypted%']);
      return rows.length > 0;
    });
    expect(receiver.requests.length).toBe(before);
  });

  it('with the right key again, everything is back', async () => {
    const s = await start(KEY);
    expect(((await (await getRest(sealedId)).json()) as any).Secret).toBe(SECRET);
    const delivered = receiver.delivered.length;
    await s.manager.signalEvent('secret.sealed', 5, null, ACTOR);
    await waitFor('the signed delivery', () => receiver.delivered.length > delivered);
    expect(receiver.badSignatures).toEqual([]);
  });
});
