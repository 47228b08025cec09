/**
 * SOAP door throughput: GetWebhook, GetAllWebhooks over 1,000 webhooks and SaveWebhook of a
 * Stopped webhook (no verification), each at concurrency 16, beside a baseline measured in
 * the same run: a bare express route answering a fixed SOAP response of the same size.
 * Run: npm run bench:soap   (embedded database; set DATABASE_URL for a PostgreSQL server)
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
import { runLoad, printTable, type LoadRequest } from './load';

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const TOTAL = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = 16;

const envelope = (ticket: string, body: string) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body>${body}</s:Body></s:Envelope>`;

async function baselineFor(sample: LoadRequest & { responseBody: string }) {
  const app = express();
  app.post('/baseline', (_req, res) => {
    res.type('text/xml; charset=utf-8').send(sample.responseBody);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/baseline`;
  const result = await runLoad({ ...sample, url }, TOTAL, CONCURRENCY);
  await new Promise((resolve) => server.close(resolve));
  return result;
}

async function main() {
  // A fresh embedded folder, or a fresh database on the DATABASE_URL server: never the caller's data.
  const database = await createTestDatabase();
  const config = loadConfig({ ...process.env, ...database.env, PORT: '0', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '0' });
  const service = await startService(config, createLogger(config));
  try {
    const ticket = await createTicket(service.db.dataSource, 'bench', 1);
    const rows = new WebhookRows(service.db.dataSource, config);
    let firstId = 0;
    for (let i = 0; i < 1000; i++) {
      const saved = await rows.save({ ...createDefaultWebhook(), name: `bench ${i}`, events: ['contact.created', `bench.e${i % 10}`], targetUrl: 'https://example.invalid/hook', state: WebhookState.Stopped });
      firstId ||= saved.webhookId;
    }
    const soapUrl = `${service.url}${SOAP_PATH}`;
    const headers = (op: string) => ({ 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/${op}"` });
    const cases: Array<{ name: string; request: LoadRequest }> = [
      { name: 'GetWebhook', request: { url: soapUrl, method: 'POST', headers: headers('GetWebhook'), body: envelope(ticket, `<GetWebhook xmlns="${TNS}"><WebhookId>${firstId + 500}</WebhookId></GetWebhook>`) } },
      { name: 'GetAllWebhooks (1,000 stored, 100 match)', request: { url: soapUrl, method: 'POST', headers: headers('GetAllWebhooks'), body: envelope(ticket, `<GetAllWebhooks xmlns="${TNS}"><EventFilter>bench.e3</EventFilter></GetAllWebhooks>`) } },
      {
        name: 'SaveWebhook (Stopped, no verification)',
        request: {
          url: soapUrl,
          method: 'POST',
          headers: headers('SaveWebhook'),
          body: envelope(ticket, `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>bench save</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events><TargetUrl>https://example.invalid/hook</TargetUrl><State>Stopped</State></Webhook></SaveWebhook>`),
        },
      },
    ];
    const results = [];
    for (const { name, request } of cases) {
      // One sample response sizes the baseline; a warm-up pass fills caches and pools.
      const sample = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body as string });
      const responseBody = await sample.text();
      if (sample.status !== 200) throw new Error(`${name} failed: ${responseBody.slice(0, 300)}`);
      await runLoad(request, Math.min(500, TOTAL), CONCURRENCY);
      const result = await runLoad(request, TOTAL, CONCURRENCY);
      const baseline = await baselineFor({ ...request, responseBody });
      results.push({ name: `${name} [${responseBody.length} B]`, result, baseline });
    }
    console.log(`\nSOAP door, ${TOTAL} requests per figure at concurrency ${CONCURRENCY}, database: ${service.db.mode}. Baseline: bare express route answering the same bytes.\n`);
    printTable(results, `soap (${service.db.mode})`);
  } finally {
    await service.close();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
