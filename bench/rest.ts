/**
 * REST door throughput: GET /api/v1/Webhook/{id} beside SOAP GetWebhook of the same webhook and
 * beside a bare express route answering the same JSON bytes, all in one run at concurrency 16.
 * Run: npm run bench:rest   (embedded database; set DATABASE_URL for a PostgreSQL server)
 */
import express from 'express';
import { loadConfig } from '../src/config';
import { createTestDatabase } from '../test/support/testDatabase';
import { createTicket } from '../src/core/tickets';
import { WebhookRows } from '../src/core/webhookRows';
import { createDefaultWebhook, WebhookState } from '../src/core/webhook';
import { createLogger } from '../src/logger';
import { startService } from '../src/service';
import { SOAP_PATH } from '../src/soap/soapService';
import { runLoad, printTable, type LoadRequest, type LoadResult } from './load';

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const TOTAL = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = 16;

/** A bare express JSON route answering `body`: what any JSON door costs before it does any work. */
async function bareJson(body: string): Promise<LoadResult> {
  const app = express();
  const parsed = JSON.parse(body);
  app.get('/bare/:id', (_req, res) => {
    res.json(parsed);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const request: LoadRequest = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/bare/1`, method: 'GET' };
  await runLoad(request, Math.min(500, TOTAL), CONCURRENCY);
  const result = await runLoad(request, TOTAL, CONCURRENCY);
  await new Promise((resolve) => server.close(resolve));
  return result;
}

async function measure(request: LoadRequest): Promise<LoadResult> {
  await runLoad(request, Math.min(500, TOTAL), CONCURRENCY); // warm-up: caches, pools, JIT
  return runLoad(request, TOTAL, CONCURRENCY);
}

async function main() {
  // A fresh embedded folder, or a fresh database on the DATABASE_URL server: never the caller's data.
  const database = await createTestDatabase();
  const config = loadConfig({ ...process.env, ...database.env, PORT: '0', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '0' });
  const service = await startService(config, createLogger(config));
  try {
    const ticket = await createTicket(service.db.dataSource, 'bench', 1);
    const rows = new WebhookRows(service.db.dataSource, config);
    const saved = await rows.save({
      ...createDefaultWebhook(),
      name: 'bench',
      events: ['contact.created'],
      targetUrl: 'https://example.invalid/hook',
      state: WebhookState.Stopped,
      headers: [{ key: 'X-Tenant', value: 'acme' }],
      properties: [{ key: 'tenant', type: 'string', value: 'acme' }],
    });
    const restRequest: LoadRequest = { url: `${service.url}/api/v1/Webhook/${saved.webhookId}`, method: 'GET', headers: { authorization: `Bearer ${ticket}` } };
    const sample = await fetch(restRequest.url, { headers: restRequest.headers });
    const body = await sample.text();
    if (sample.status !== 200) throw new Error(`GET failed: ${body.slice(0, 300)}`);
    const soapRequest: LoadRequest = {
      url: `${service.url}${SOAP_PATH}`,
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/GetWebhook"` },
      body: `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body><GetWebhook xmlns="${TNS}"><WebhookId>${saved.webhookId}</WebhookId></GetWebhook></s:Body></s:Envelope>`,
    };

    const bare = await bareJson(body);
    const rest = await measure(restRequest);
    const soap = await measure(soapRequest);
    // The same door on a route that needs no database: separates the door's own cost from the query's.
    const defaultRequest: LoadRequest = { url: `${service.url}/api/v1/Webhook/default`, method: 'GET', headers: restRequest.headers };
    const defaultBody = await (await fetch(defaultRequest.url, { headers: defaultRequest.headers })).text();
    const bareDefault = await bareJson(defaultBody);
    const restDefault = await measure(defaultRequest);
    console.log(`\nREST door, ${TOTAL} requests per figure at concurrency ${CONCURRENCY}, database: ${service.db.mode}. Baseline: bare express JSON route answering the same ${body.length} bytes.\n`);
    printTable([
      { name: `REST GET /api/v1/Webhook/{id} [${body.length} B]`, result: rest, baseline: bare },
      { name: 'SOAP GetWebhook (same webhook)', result: soap, baseline: bare },
      { name: 'REST vs SOAP (baseline = SOAP)', result: rest, baseline: soap },
      { name: `REST GET /api/v1/Webhook/default, no database [${defaultBody.length} B]`, result: restDefault, baseline: bareDefault },
    ], `rest (${service.db.mode})`);
  } finally {
    await service.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
