/**
 * Where the CPU goes while wrk drives one request: CPU seconds per request of serve, of its
 * PostgreSQL server (every process of the OS user that runs it) and of wrk, read from /proc.
 * Run: npm run build && npx tsx bench/cpuShare.ts   (set DATABASE_URL for a PostgreSQL server)
 * BENCH_SECONDS (5); BENCH_ONLY picks the figures as in bench/requestPath.ts; BENCH_CPU_PROF=dir
 * writes serve's CPU profile (read it with bench/profileSummary.ts --window BENCH_SECONDS).
 * Each figure also drives a bare express route answering the same bytes (bench/bareServer.ts) and
 * prints its CPU per request: serve's µs over the bare route's is the request path's own cost, and
 * far steadier on a noisy machine than a ratio of requests per second.
 */
import os from 'node:os';
import { createTestDatabase } from '../test/support/testDatabase';
import { SOAP_PATH } from '../src/soap/endpoint';
import { cpuSeconds, postgresCpu, postgresCpuBetween } from './processCpu';
import { startBare, startServe, stop } from './processes';
import { runWrk, type WrkRequest } from './wrk';

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CORES = os.cpus().length;

const envelope = (ticket: string, body: string) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body>${body}</s:Body></s:Envelope>`;

const SAVE_STOPPED = `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>cpu</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events><TargetUrl>https://example.invalid/hook</TargetUrl><State>Stopped</State></Webhook></SaveWebhook>`;

/** CPU µs per request of a bare express route answering what serve answers to `request`. */
async function bareMicrosPerRequest(request: WrkRequest): Promise<number> {
  const answer = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
  const bare = await startBare(await answer.text(), answer.headers.get('content-type') ?? 'text/plain');
  try {
    const driven = { ...request, url: bare.url };
    await runWrk(driven, { seconds: 1, connections: 16 });
    const before = cpuSeconds([bare.child.pid!]);
    const result = await runWrk(driven, { seconds: SECONDS, connections: 16 });
    return ((cpuSeconds([bare.child.pid!]) - before) * 1e6) / (result.requestsPerSecond * SECONDS);
  } finally {
    await stop(bare.child);
  }
}

async function main() {
  const database = await createTestDatabase();
  const profileDir = process.env.BENCH_CPU_PROF;
  const serve = await startServe({ ...database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '1000000' }, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
  try {
    // Saved Stopped over SOAP: no verification POST (the target does not exist).
    const save = await fetch(`${serve.url}${SOAP_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/SaveWebhook"` },
      body: envelope(serve.ticket, SAVE_STOPPED),
    });
    const saved = await save.text();
    if (save.status !== 200) throw new Error(`saving the webhook answered ${save.status}: ${saved}`);
    const id = Number(/<WebhookId>(\d+)<\/WebhookId>/.exec(saved)![1]);
    const all: Array<{ name: string; request: WrkRequest }> = [
      { name: 'SOAP GetWebhook', request: { url: `${serve.url}${SOAP_PATH}`, method: 'POST' as const, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/GetWebhook"` }, body: envelope(serve.ticket, `<GetWebhook xmlns="${TNS}"><WebhookId>${id}</WebhookId></GetWebhook>`) } },
      { name: 'SOAP SaveWebhook (Stopped)', request: { url: `${serve.url}${SOAP_PATH}`, method: 'POST' as const, headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/SaveWebhook"` }, body: envelope(serve.ticket, SAVE_STOPPED) } },
      { name: 'REST GET /Webhook/{id}', request: { url: `${serve.url}/api/v1/Webhook/${id}`, method: 'GET' as const, headers: { authorization: `Bearer ${serve.ticket}` } } },
      { name: 'REST GET /Webhook/default', request: { url: `${serve.url}/api/v1/Webhook/default`, method: 'GET' as const, headers: { authorization: `Bearer ${serve.ticket}` } } },
    ];
    const cases = all.filter((c) => !process.env.BENCH_ONLY || c.name.includes(process.env.BENCH_ONLY));
    console.log(`| figure | req/s | errors | serve µs/req | postgres µs/req | wrk and idle µs/req (${CORES} cores) | bare route µs/req | serve ÷ bare CPU |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of cases) {
      await runWrk(c.request, { seconds: 1, connections: 16 });
      const before = { serve: cpuSeconds([serve.child.pid!]), pg: postgresCpu() };
      const result = await runWrk(c.request, { seconds: SECONDS, connections: 16 });
      const after = { serve: cpuSeconds([serve.child.pid!]), pg: postgresCpu() };
      const requests = result.requestsPerSecond * SECONDS;
      const us = (s: number) => ((s * 1e6) / requests).toFixed(0);
      const serveS = after.serve - before.serve;
      const pgS = postgresCpuBetween(before.pg, after.pg);
      const bareUs = await bareMicrosPerRequest(c.request);
      console.log(`| ${c.name} | ${result.requestsPerSecond.toFixed(0)} | ${result.errors} | ${us(serveS)} | ${us(pgS)} | ${us(CORES * SECONDS - serveS - pgS)} | ${bareUs.toFixed(0)} | ${((serveS * 1e6) / requests / bareUs).toFixed(2)}× |`);
    }
  } finally {
    await stop(serve.child);
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
