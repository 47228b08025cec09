import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config';
import { createTicket } from '../../src/core/tickets';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { CLI } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

/**
 * RATE_LIMIT_PER_MINUTE holds across processes (core/rateLimit.ts, db/rateLimitBuckets.ts):
 * two services on one database, one in this process and one a separate `serve` process, share
 * each ticket's budget. Per process, as before, the two together let twice the limit through.
 */

const LIMIT = 30;
let database: TestDatabase;
let inProcess: RunningService;
let child: ChildProcess;
let childUrl: string;
let ticket: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const env = { PORT: '0', LOG_LEVEL: 'info', BOOTSTRAP_TICKET: 'false', RUN_WORKER: 'false', RATE_LIMIT_PER_MINUTE: String(LIMIT), ...database.env };
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
  inProcess = await startService(config, createLogger(config));
  ticket = await createTicket(inProcess.db.dataSource, 'Shared budget', 7);
  // On the embedded database the second process joins the first one's server.
  child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...env, DATABASE_URL: inProcess.db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  childUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /"url":"http:\/\/localhost:(\d+)"/.exec(out);
      if (match) resolve(`http://127.0.0.1:${match[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening:\n${out}`)));
  });
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await inProcess?.close();
  await database?.drop();
});

const restGet = (base: string) => fetch(`${base}/api/v1/Webhook`, { headers: { authorization: `Bearer ${ticket}` } });
const soapGetAll = (base: string) =>
  fetch(`${base}/Remote/Services88/Webhook.svc`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    body:
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88">' +
      `<Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body><GetAllWebhooks xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"/></s:Body></s:Envelope>`,
  });

it('two services on one database hold one ticket\'s limit together: at most RATE_LIMIT_PER_MINUTE pass, the rest get 429 / soap:Client with Retry-After from either', async () => {
  const started = Date.now();
  const answers: Array<{ at: 'in-process' | 'child'; door: 'REST' | 'SOAP'; status: number; retryAfter: string | null; text: string }> = [];
  // Both processes at once, both doors, four at a time: twice the budget in all.
  for (let round = 0; round < (2 * LIMIT) / 4; round++) {
    const batch = await Promise.all([
      restGet(inProcess.url).then(async (r) => ({ at: 'in-process' as const, door: 'REST' as const, status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() })),
      restGet(childUrl).then(async (r) => ({ at: 'child' as const, door: 'REST' as const, status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() })),
      soapGetAll(inProcess.url).then(async (r) => ({ at: 'in-process' as const, door: 'SOAP' as const, status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() })),
      soapGetAll(childUrl).then(async (r) => ({ at: 'child' as const, door: 'SOAP' as const, status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() })),
    ]);
    answers.push(...batch);
  }
  const elapsedMinutes = (Date.now() - started) / 60_000;
  const passed = answers.filter((a) => a.status === 200);
  // The budget plus what refilled meanwhile (LIMIT a minute), never the two processes' sum.
  expect(passed.length).toBeGreaterThanOrEqual(LIMIT - 2);
  expect(passed.length).toBeLessThanOrEqual(LIMIT + Math.ceil(elapsedMinutes * LIMIT));
  const refused = answers.filter((a) => a.status !== 200);
  expect(refused.length + passed.length).toBe(2 * LIMIT);
  for (const where of ['in-process', 'child'] as const) {
    expect(refused.filter((a) => a.at === where).length).toBeGreaterThan(0);
  }
  for (const a of refused) {
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    if (a.door === 'REST') {
      expect(a.status).toBe(429);
      expect(JSON.parse(a.text)).toMatchObject({ ErrorType: 'RateLimitedError' });
    } else {
      expect(a.status).toBe(500);
      expect(a.text).toContain('<faultcode>soap:Client</faultcode>');
      expect(a.text).toMatch(/more than 30 requests a minute \(RATE_LIMIT_PER_MINUTE\).*Retry after \d+ s/);
    }
  }
});
