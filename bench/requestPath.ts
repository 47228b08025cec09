/**
 * The request path, driven by wrk from its own process against `webhook-agent serve` in its
 * own process (default logging, a rate limit high enough never to refuse), each figure beside a
 * bare express route answering the same bytes in its own process, measured in the same run:
 * SOAP GetWebhook, GetAllWebhooks (1,000 stored, 100 match), SaveWebhook (Stopped, no
 * verification), REST GET /api/v1/Webhook/{id} and GET /api/v1/Webhook/default (no database).
 *
 * Run: npm run build && npx tsx bench/requestPath.ts   (set DATABASE_URL for a PostgreSQL server)
 * BENCH_SECONDS (5) per figure and as much for its baseline, in alternating rounds; BENCH_ONLY=GetWebhook runs the figures whose name contains it;
 * BENCH_CPU_PROF=dir writes serve's CPU profile there (node --cpu-prof) when it stops.
 */
import { Pool } from 'undici';
import { createTestDatabase } from '../test/support/testDatabase';
import { SOAP_PATH } from '../src/soap/endpoint';
import { emitSummary } from './load';
import { peakRssMb, startBare, startServe, stop } from './processes';
import { requireWrk, runWrk, type WrkRequest, type WrkResult } from './wrk';

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
const STORED = 1000;

const envelope = (ticket: string, body: string) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
const soapHeaders = (operation: string) => ({ 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/${operation}"` });
const saveStopped = (name: string, events: string[]) =>
  `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>${name}</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">${events.map((e) => `<a:string>${e}</a:string>`).join('')}</Events><TargetUrl>https://example.invalid/hook</TargetUrl><State>Stopped</State></Webhook></SaveWebhook>`;

/**
 * The figure and its baseline in alternating rounds (ROUNDS of each, SECONDS split between
 * them), each warmed up first: this machine's speed drifts by tens of percent within a minute,
 * and a figure measured a minute apart from its baseline carried that drift into the ratio.
 * Rates are the mean over the rounds; latencies are the round with the median rate's.
 */
const ROUNDS = 3;
const ROUND_SECONDS = Math.max(1, Math.round(SECONDS / ROUNDS));

async function measurePair(request: WrkRequest, body: string, contentType: string): Promise<{ result: WrkResult; base: WrkResult }> {
  const bare = await startBare(body, contentType);
  try {
    const bareRequest = { ...request, url: bare.url };
    await runWrk(request, { seconds: 1, connections: CONNECTIONS }); // warm-up: JIT, pools, caches
    await runWrk(bareRequest, { seconds: 1, connections: CONNECTIONS });
    const results: WrkResult[] = [];
    const bases: WrkResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      results.push(await runWrk(request, { seconds: ROUND_SECONDS, connections: CONNECTIONS }));
      bases.push(await runWrk(bareRequest, { seconds: ROUND_SECONDS, connections: CONNECTIONS }));
    }
    return { result: combine(results), base: combine(bases) };
  } finally {
    await stop(bare.child);
  }
}

function combine(rounds: WrkResult[]): WrkResult {
  const median = [...rounds].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rounds.length / 2)];
  return {
    requestsPerSecond: rounds.reduce((sum, r) => sum + r.requestsPerSecond, 0) / rounds.length,
    p50Ms: median.p50Ms,
    p99Ms: median.p99Ms,
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}

async function main() {
  requireWrk();
  const database = await createTestDatabase();
  const profileDir = process.env.BENCH_CPU_PROF;
  const serve = await startServe(
    { ...database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '1000000' },
    profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  );
  const pool = new Pool(serve.url, { connections: 8 });
  try {
    const soapUrl = `${serve.url}${SOAP_PATH}`;
    const call = async (operation: string, body: string) => {
      const answer = await pool.request({ path: SOAP_PATH, method: 'POST', headers: soapHeaders(operation), body: envelope(serve.ticket, body) });
      const text = await answer.body.text();
      if (answer.statusCode !== 200) throw new Error(`${operation} answered ${answer.statusCode}: ${text.slice(0, 300)}`);
      return text;
    };
    // 1,000 webhooks for GetAllWebhooks; a few when only other figures run (a shorter, cleaner profile).
    const only = process.env.BENCH_ONLY;
    const stored = !only || 'SOAP GetAllWebhooks'.includes(only) ? STORED : 16;
    let ids: number[] = [];
    for (let i = 0; i < stored; i += 8) {
      const batch = await Promise.all(Array.from({ length: Math.min(8, stored - i) }, (_, j) => call('SaveWebhook', saveStopped(`bench ${i + j}`, ['contact.created', `bench.e${(i + j) % 10}`]))));
      ids = ids.concat(batch.map((xml) => Number(/<WebhookId>(\d+)<\/WebhookId>/.exec(xml)![1])));
    }
    const someId = ids[Math.floor(stored / 2)];
    const rest = (path: string): WrkRequest => ({ url: `${serve.url}${path}`, method: 'GET', headers: { authorization: `Bearer ${serve.ticket}` } });
    const soap = (operation: string, body: string): WrkRequest => ({ url: soapUrl, method: 'POST', headers: soapHeaders(operation), body: envelope(serve.ticket, body) });
    const cases: Array<{ name: string; request: WrkRequest }> = [
      { name: 'SOAP GetWebhook', request: soap('GetWebhook', `<GetWebhook xmlns="${TNS}"><WebhookId>${someId}</WebhookId></GetWebhook>`) },
      { name: 'SOAP GetAllWebhooks (1,000 stored, 100 match)', request: soap('GetAllWebhooks', `<GetAllWebhooks xmlns="${TNS}"><EventFilter>bench.e3</EventFilter></GetAllWebhooks>`) },
      { name: 'SOAP SaveWebhook (Stopped)', request: soap('SaveWebhook', saveStopped('bench save', ['contact.created'])) },
      { name: 'REST GET /api/v1/Webhook/{id}', request: rest(`/api/v1/Webhook/${someId}`) },
      { name: 'REST GET /api/v1/Webhook/default (no database)', request: rest('/api/v1/Webhook/default') },
    ].filter((c) => !only || c.name.includes(only));

    const rows: Array<{ name: string; result: WrkResult; base: WrkResult; bytes: number }> = [];
    for (const { name, request } of cases) {
      const sample = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
      const body = await sample.text();
      if (sample.status !== 200) throw new Error(`${name} answered ${sample.status}: ${body.slice(0, 300)}`);
      const { result, base } = await measurePair(request, body, sample.headers.get('content-type') ?? 'application/octet-stream');
      rows.push({ name, result, base, bytes: Buffer.byteLength(body) });
    }
    const serveRss = peakRssMb(serve.child.pid);
    const fmt = (n: number, digits = 0) => n.toFixed(digits);
    console.log(`\nRequest path: wrk -c${CONNECTIONS} against serve, ${ROUNDS} rounds of ${ROUND_SECONDS} s alternating with its baseline (database: ${database.mode}); baseline: a bare express route answering the same bytes, in its own process.\n`);
    console.log('| figure | bytes | req/s | p50 / p99 ms | baseline req/s | baseline p50 / p99 ms | ratio | errors |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const { name, result, base, bytes } of rows) {
      console.log(`| ${name} | ${bytes} | ${fmt(result.requestsPerSecond)} | ${fmt(result.p50Ms, 2)} / ${fmt(result.p99Ms, 2)} | ${fmt(base.requestsPerSecond)} | ${fmt(base.p50Ms, 2)} / ${fmt(base.p99Ms, 2)} | ${fmt((100 * result.requestsPerSecond) / base.requestsPerSecond)}% | ${result.errors} |`);
    }
    console.log(`\nPeak RSS of serve: ${fmt(serveRss)} MB`);
    emitSummary(`request path (${database.mode})`, [
      ...rows.map(({ name, result, base }) => ({ figure: name, value: result.requestsPerSecond, unit: 'req/s', baseline: base.requestsPerSecond })),
    ]);
  } finally {
    await pool.close();
    await stop(serve.child);
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
