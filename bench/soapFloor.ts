/**
 * How much of SOAP GetWebhook's distance from a bare route node-soap itself takes: the same
 * request driven by wrk against (1) a bare express route answering serve's bytes, (2) express +
 * node-soap with the project's WSDL answering the same body with no guard, ticket or database
 * (bench/soapFloorServer.ts), and (3) serve. All three in their own processes, in one run.
 *
 * Run: npm run build && npx tsx bench/soapFloor.ts   (set DATABASE_URL for a PostgreSQL server)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../test/support/testDatabase';
import { SOAP_PATH } from '../src/soap/endpoint';
import { startBare, startServe, stop } from './processes';
import { requireWrk, runWrk, type WrkRequest, type WrkResult } from './wrk';

const TNS = 'http://www.superoffice.net/ws/crm/NetServer/Services88';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const envelope = (ticket: string, body: string) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="${TNS}"><Ticket>${ticket}</Ticket></Credentials></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
const headers = (operation: string) => ({ 'content-type': 'text/xml; charset=utf-8', soapaction: `"${TNS}/Webhook/${operation}"` });

async function measure(request: WrkRequest): Promise<WrkResult> {
  await runWrk(request, { seconds: 1, connections: 16 });
  return runWrk(request, { seconds: SECONDS, connections: 16 });
}

async function startFloor(responseXml: string): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wa-floor-')), 'response.json');
  fs.writeFileSync(file, JSON.stringify({ responseXml }));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'soapFloorServer.ts')], { env: { ...process.env, FLOOR_RESPONSE_FILE: file }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString('utf8').trim())));
    child.once('exit', (code) => reject(new Error(`the node-soap floor exited with ${code}`)));
  });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return { child, url: `http://127.0.0.1:${port}${SOAP_PATH}` };
}

async function main() {
  requireWrk();
  const database = await createTestDatabase();
  const serve = await startServe({ ...database.env, ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', RATE_LIMIT_PER_MINUTE: '1000000' });
  try {
    const call = async (operation: string, body: string) => {
      const answer = await fetch(`${serve.url}${SOAP_PATH}`, { method: 'POST', headers: headers(operation), body: envelope(serve.ticket, body) });
      return { status: answer.status, text: await answer.text(), contentType: answer.headers.get('content-type') ?? 'text/xml' };
    };
    const saved = await call('SaveWebhook', `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>floor</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events><TargetUrl>https://example.invalid/hook</TargetUrl><State>Stopped</State></Webhook></SaveWebhook>`);
    const id = Number(/<WebhookId>(\d+)<\/WebhookId>/.exec(saved.text)![1]);
    const body = `<GetWebhook xmlns="${TNS}"><WebhookId>${id}</WebhookId></GetWebhook>`;
    const answer = await call('GetWebhook', body);
    if (answer.status !== 200) throw new Error(`GetWebhook answered ${answer.status}: ${answer.text.slice(0, 300)}`);
    const responseXml = /<soap:Body>(?:<GetWebhookResponse[^>]*>)([\s\S]*)<\/GetWebhookResponse><\/soap:Body>/.exec(answer.text)?.[1];
    if (!responseXml) throw new Error(`could not find the GetWebhookResponse body in:\n${answer.text.slice(0, 500)}`);
    const request = { method: 'POST' as const, headers: headers('GetWebhook'), body: envelope(serve.ticket, body) };

    const bare = await startBare(answer.text, answer.contentType);
    const bareResult = await measure({ ...request, url: bare.url }).finally(() => stop(bare.child));
    const floor = await startFloor(responseXml);
    const floorAnswer = await (await fetch(floor.url, { method: 'POST', headers: request.headers, body: request.body })).text();
    const floorResult = await measure({ ...request, url: floor.url }).finally(() => stop(floor.child));
    const serveResult = await measure({ ...request, url: `${serve.url}${SOAP_PATH}` });

    const row = (name: string, bytes: number, r: WrkResult) => `| ${name} | ${bytes} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} | ${((100 * r.requestsPerSecond) / bareResult.requestsPerSecond).toFixed(0)}% | ${r.errors} |`;
    console.log(`\nSOAP GetWebhook, wrk -c16 ${SECONDS}s each (database: ${database.mode}); ratios against the bare route from the same run.\n`);
    console.log('| server | bytes | req/s | p50 / p99 ms | ÷ bare | errors |');
    console.log('|---|---:|---:|---:|---:|---:|');
    console.log(row('bare express route, same bytes', Buffer.byteLength(answer.text), bareResult));
    console.log(row('express + node-soap alone (no guard, ticket or database)', Buffer.byteLength(floorAnswer), floorResult));
    console.log(row('serve', Buffer.byteLength(answer.text), serveResult));
  } finally {
    await stop(serve.child);
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
