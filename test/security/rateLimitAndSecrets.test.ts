import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { RateLimitedError } from '../../src/core/errors';
import { RequestRateLimiter } from '../../src/core/rateLimit';
import { createTicket } from '../../src/core/tickets';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { startReceiver, type Receiver } from '../support/receiver';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';
import { startTestService, type TestService } from '../support/testService';
import { databaseState, envelope, restCall, soapEnvelope, soapPost, soapSave, TNS } from './support';

describe('per-ticket rate limit (RATE_LIMIT_PER_MINUTE)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_PER_MINUTE: '4' });
  });
  afterAll(() => t.stop());

  it('shares one budget across both doors; the next request gets 429 + Retry-After on REST and a soap:Client fault with a retry hint on SOAP', async () => {
    const before = await databaseState(t);
    const statuses = [
      (await restCall(t, 'GET', '/Webhook')).status,
      (await soapPost(t, envelope(`<GetAllWebhooks xmlns="${TNS}"/>`, t.ticket))).status,
      (await restCall(t, 'GET', '/Webhook/default')).status,
      (await soapPost(t, envelope(`<CreateDefaultWebhook xmlns="${TNS}"/>`, t.ticket))).status,
    ];
    expect(statuses).toEqual([200, 200, 200, 200]);

    const rest = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['a.b'], TargetUrl: 'http://127.0.0.1:1/', State: 'Stopped' }) });
    expect(rest.status).toBe(429);
    expect(rest.json).toMatchObject({ Error: true, ErrorType: 'RateLimitedError' });
    expect(rest.json.Message).toMatch(/more than 4 requests a minute \(RATE_LIMIT_PER_MINUTE\).*Retry after \d+ s/);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const soap = await soapPost(t, soapEnvelope(soapSave(''), t.ticket));
    expect(soap.status).toBe(500);
    expect(soap.faultcode).toBe('soap:Client');
    expect(soap.faultstring).toMatch(/Retry after \d+ s/);
    expect(soap.text).toContain('<ExceptionType>RateLimitedError</ExceptionType>');
    expect(Number(soap.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await databaseState(t)).toBe(before); // the refused save stored nothing
  });

  it('limits each ticket on its own', async () => {
    const other = await createTicket(t.service.db.dataSource, 'Other', 8);
    expect((await restCall(t, 'GET', '/Webhook', { ticket: other })).status).toBe(200);
    expect((await restCall(t, 'GET', '/Webhook')).status).toBe(429);
  });

  it('answers an unknown ticket 401, not 429 (only authenticated tickets have buckets)', async () => {
    expect((await restCall(t, 'GET', '/Webhook', { ticket: 'wat_unknown' })).status).toBe(401);
  });
});

describe('RequestRateLimiter', () => {
  it('allows a minute\'s worth as a burst, then refills continuously', async () => {
    let now = 0;
    const limiter = new RequestRateLimiter(60, null, () => now);
    for (let i = 0; i < 60; i++) await limiter.take('k');
    await expect(limiter.take('k')).rejects.toThrow(RateLimitedError);
    await expect(limiter.take('k')).rejects.toMatchObject({ retryAfterSeconds: 1 });
    now += 1000; // one token a second
    await expect(limiter.take('k')).resolves.toBeUndefined();
    await expect(limiter.take('k')).rejects.toThrow(RateLimitedError);
    await expect(limiter.take('other')).resolves.toBeUndefined();
  });

  it('takeNow spends the same budget without waiting, and leaves reservations and refusals to take()', async () => {
    let now = 0;
    const reservations: number[] = [];
    let shared = 6; // the database's bucket: 6 tokens, no refill within this test
    const limiter = new RequestRateLimiter(360, async (_key, _capacity, _perSecond, want) => {
      reservations.push(want);
      const granted = Math.min(want, shared);
      shared -= granted;
      return { granted, retryAfterMs: granted === 0 ? 500 : 0 };
    }, () => now);
    expect(limiter.takeNow('k')).toBe(false); // nothing reserved yet: only take() may ask the database
    await limiter.take('k'); // reserves a chunk of 1 and spends it
    expect(limiter.takeNow('k')).toBe(false);
    await limiter.take('k'); // within a second: the chunk doubles to 2, one spent
    expect(limiter.takeNow('k')).toBe(true); // the second token of that chunk
    expect(limiter.takeNow('k')).toBe(false);
    await limiter.take('k'); // chunk 4: three left over, spent without the database
    expect([limiter.takeNow('k'), limiter.takeNow('k'), limiter.takeNow('k'), limiter.takeNow('k')]).toEqual([true, true, false, false]);
    expect(reservations).toEqual([1, 2, 4]);
    await expect(limiter.take('k')).rejects.toThrow(RateLimitedError); // the shared bucket is empty
    expect(limiter.takeNow('k')).toBe(false); // refused: take() throws it, takeNow never does
    now += 1001; // reserved tokens expire unspent: never used past their second
    expect(limiter.takeNow('k')).toBe(false);

    const local = new RequestRateLimiter(2, null, () => now);
    expect(local.takeNow('k')).toBe(false); // no bucket yet
    await local.take('k');
    expect(local.takeNow('k')).toBe(true);
    expect(local.takeNow('k')).toBe(false);
    await expect(local.take('k')).rejects.toThrow(RateLimitedError);
    expect(new RequestRateLimiter(0).takeNow('k')).toBe(true);
  });

  it('is off at 0, and the default is 600 a minute', async () => {
    const off = new RequestRateLimiter(0);
    for (let i = 0; i < 10_000; i++) await off.take('k');
    expect(loadConfig({}).rateLimitPerMinute).toBe(600);
    expect(loadConfig({ RATE_LIMIT_PER_MINUTE: '0' }).rateLimitPerMinute).toBe(0);
    expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: '-1' })).toThrow(/RATE_LIMIT_PER_MINUTE/);
  });
});

describe('secrets stay out of logs and error messages', () => {
  let database: TestDatabase;
  let service: RunningService;
  let receiver: Receiver;
  let ticket: string;
  const lines: string[] = [];
  const SECRET = 'S3cret-never-logged';
  const AUTH_HEADER = 'Bearer header-value-never-logged';
  const APP_TOKEN = 'app-token-never-logged';

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = loadConfig({ PORT: '0', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', VERIFY_TIMEOUT_MS: '2000', BOOTSTRAP_TICKET: 'false', LOG_LEVEL: 'debug', ...database.env });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    service = await startService(config, createLogger(config, sink));
    ticket = await createTicket(service.db.dataSource, 'Logged', 9);
    receiver = await startReceiver((_req, res) => res.writeHead(500).end('no'));
  });
  afterAll(async () => {
    await receiver.close();
    await service.close();
    await database.drop();
  });

  it('a database failure (500) logs the failed query without its bound values, and answers without them', async () => {
    // A constraint only this test has: the insert fails in PostgreSQL with the Secret among its parameters.
    await service.db.dataSource.query(`ALTER TABLE webhook ADD CONSTRAINT test_no_boom CHECK (name IS DISTINCT FROM 'boom')`);
    const body = JSON.stringify({ Name: 'boom', Events: ['a.b'], TargetUrl: 'http://127.0.0.1:1/', State: 'Stopped', Secret: SECRET, Headers: { Authorization: AUTH_HEADER } });
    const response = await fetch(`${service.url}/api/v1/Webhook`, { method: 'POST', headers: { authorization: `Bearer ${ticket}`, 'so-apptoken': APP_TOKEN, 'content-type': 'application/json' }, body });
    const text = await response.text();
    expect(response.status).toBe(500);
    const soap = await fetch(`${service.url}/Remote/Services88/Webhook.svc`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: soapEnvelope(soapSave(`<Name>boom</Name><Secret>${SECRET}</Secret>`), ticket, APP_TOKEN),
    });
    const soapText = await soap.text();
    expect(soapText).toContain('<faultcode>soap:Server</faultcode>');
    const logged = lines.join('');
    expect(logged).toMatch(/REST request failed/);
    expect(logged).toMatch(/SOAP operation failed/);
    expect(logged).toContain('[redacted]');
    for (const secret of [SECRET, AUTH_HEADER, APP_TOKEN, ticket]) {
      expect(logged).not.toContain(secret);
      expect(text).not.toContain(secret);
      expect(soapText).not.toContain(secret);
    }
  });

  it('caller errors never echo the Secret, the ticket or the application token', async () => {
    const answers = [
      // A verification failure (the receiver answers 500) with a Secret set.
      await fetch(`${service.url}/api/v1/Webhook`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ticket}`, 'so-apptoken': APP_TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify({ Events: ['a.b'], TargetUrl: receiver.url, Secret: SECRET }),
      }),
      // A wrong ticket that looks like a real one.
      await fetch(`${service.url}/api/v1/Webhook`, { headers: { authorization: `Bearer ${SECRET}` } }),
      await fetch(`${service.url}/Remote/Services88/Webhook.svc`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: envelope(`<GetAllWebhooks xmlns="${TNS}"/>`, SECRET) }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(await answer.text()).not.toContain(SECRET);
    }
    expect(receiver.requests.length).toBeGreaterThan(0); // the verification really was attempted
    expect(lines.join('')).not.toContain(SECRET);
  });
});
