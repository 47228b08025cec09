import { Writable } from 'node:stream';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import { createTicket } from '../../src/core/tickets';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { SOAP_PATH } from '../../src/soap/endpoint';
import type { TestDatabase } from '../support/testDatabase';
import { databaseBehindProxy, itBehindProxy, type TcpProxy } from '../support/tcpProxy';

/**
 * A database that goes away for a moment: the service's connections to a real PostgreSQL are
 * cut (a TCP proxy in between drops them and refuses new ones), and, separately, its backends
 * are terminated by the server (pg_terminate_backend, SQLSTATE 57P01, what a restart does).
 * Needs a PostgreSQL server (DATABASE_URL); the embedded mode owns its server's port.
 */
const runIt = itBehindProxy('databaseOutage.test.ts');

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';

describe('a database briefly unavailable', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let service: RunningService | undefined;
  const logLines: Array<Record<string, unknown>> = [];
  let ticket = '';
  let webhookId = 0;

  beforeAll(async () => {
    if (!process.env.DATABASE_URL) return;
    let url: string;
    ({ database, proxy, url } = await databaseBehindProxy());
    const config = loadConfig({ ...database.env, DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'info', BOOTSTRAP_TICKET: 'false', RUN_WORKER: 'false', RATE_LIMIT_PER_MINUTE: '0', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true' });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
        done();
      },
    });
    service = await startService(config, createLogger(config, sink));
    ticket = await createTicket(service.db.dataSource, 'outage', 7);
    const created = await fetch(`${service.url}/api/v1/Webhook`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ticket}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Name: 'outage', Events: ['contact.created'], TargetUrl: 'http://127.0.0.1:9/hook', State: 'Stopped' }),
    });
    expect(created.status).toBe(201);
    webhookId = ((await created.json()) as { WebhookId: number }).WebhookId;
  });

  afterAll(async () => {
    await service?.close();
    await proxy?.close();
    await database?.drop();
  });

  const restGet = () => fetch(`${service!.url}/api/v1/Webhook/${webhookId}`, { headers: { authorization: `Bearer ${ticket}` } });
  const soapGet = () =>
    fetch(`${service!.url}${SOAP_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/GetWebhook"` },
      body: `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body><GetWebhook xmlns="${TNS}"><WebhookId>${webhookId}</WebhookId></GetWebhook></s:Body></s:Envelope>`,
    });
  const stackTraces = () => logLines.filter((line) => JSON.stringify(line).includes('    at '));

  runIt('answers 503 with Retry-After on REST and a soap:Server fault with Retry-After on SOAP, logs the outage once without a stack, and recovers by itself', async () => {
    expect((await restGet()).status).toBe(200);
    expect(logLines.filter((l) => l.level === 40)).toEqual([]);

    await proxy!.cut();
    for (let i = 0; i < 5; i++) {
      const rest = await restGet();
      expect(rest.status).toBe(503);
      expect(rest.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await rest.json()).toMatchObject({ ErrorType: 'DatabaseUnavailableError', Message: expect.stringMatching(/database is briefly unavailable.*Retry it after \d+ s/) });

      const soap = await soapGet();
      const fault = await soap.text();
      expect(soap.status).toBe(500);
      expect(soap.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(fault).toContain('<faultcode>soap:Server</faultcode>');
      expect(fault).toMatch(/<faultstring>The database is briefly unavailable[^<]*Retry it after \d+ s/);
      expect(fault).not.toMatch(/\bat .*\.js:\d+/);
    }
    // /readyz gives the socket's own words, not a wrapper's.
    const ready = await fetch(`${service!.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/ECONNREFUSED/);

    // Ten failed requests, one warning, no stack trace anywhere, nothing at error level.
    const warnings = logLines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: expect.stringMatching(/briefly unavailable/), reason: expect.stringMatching(/ECONNREFUSED/) });
    expect(logLines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(stackTraces()).toEqual([]);

    await proxy!.restore();
    expect((await restGet()).status).toBe(200);
    expect((await soapGet()).status).toBe(200);
    expect((await fetch(`${service!.url}/readyz`)).status).toBe(200);
  });

  runIt('answers every request of a burst during which the server terminates the service\'s backends (57P01) with 200 or 503 + Retry-After, never a plain 500', async () => {
    const admin = new Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const name = new URL(database!.env.DATABASE_URL!).pathname.slice(1);
    const statuses: number[] = [];
    let running = true;
    const burst = Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        while (running) {
          const response = i % 2 ? await restGet() : await soapGet();
          const body = await response.text();
          if (response.status === 200) statuses.push(200);
          else if (response.headers.get('retry-after') && (response.status === 503 || body.includes('soap:Server'))) statuses.push(503);
          else statuses.push(response.status * 1000); // anything else fails the test below
        }
      }),
    );
    let terminated = 0;
    try {
      for (let round = 0; round < 20; round++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const rows = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        terminated += rows.rowCount ?? 0;
      }
    } finally {
      running = false;
      await burst;
      await admin.end();
    }
    expect(terminated).toBeGreaterThan(0);
    expect(statuses.length).toBeGreaterThan(32);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(logLines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(stackTraces()).toEqual([]);
    expect((await restGet()).status).toBe(200);
  });
});
