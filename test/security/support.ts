/** Shared by the security suites: raw calls to both doors, and "nothing changed" evidence. */
import { envelope, TNS } from '../support/soapClient';
import type { TestService } from '../support/testService';

export { envelope, TNS };

export const ARRAYS_NS = 'http://schemas.microsoft.com/2003/10/Serialization/Arrays';

export interface Answer {
  status: number;
  text: string;
  headers: Headers;
  json: any;
  /** SOAP: the faultcode, or null when the answer is not a fault. */
  faultcode: string | null;
  faultstring: string | null;
}

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const fault = /<faultcode>([^<]*)<\/faultcode><faultstring>([^<]*)<\/faultstring>/.exec(text);
  return { status: response.status, text, headers: response.headers, json, faultcode: fault?.[1] ?? null, faultstring: fault ? unescape(fault[2]) : null };
}

/** A raw SOAP POST; headers add to text/xml. */
export async function soapPost(t: TestService, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(t.soapUrl, { method: 'POST', headers: { 'content-type': 'text/xml; charset=utf-8', ...headers }, body });
  return answer(response);
}

/** An envelope with Credentials and, when given, an ApplicationToken header. */
export function soapEnvelope(bodyXml: string, ticket: string, appToken?: string | null): string {
  const app = appToken == null ? '' : `<ApplicationToken xmlns="${TNS}">${appToken}</ApplicationToken>`;
  return envelope(bodyXml, ticket).replace('<s:Header>', `<s:Header>${app}`);
}

export async function restCall(
  t: TestService,
  method: string,
  path: string,
  options: { ticket?: string | null; appToken?: string | null; body?: string | Buffer; contentType?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const ticket = options.ticket === undefined ? t.ticket : options.ticket;
  if (ticket) headers.authorization = `Bearer ${ticket}`;
  if (options.appToken) headers['so-apptoken'] = options.appToken;
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  return answer(await fetch(`${t.service.url}/api/v1${path}`, { method, headers, body: options.body }));
}

/** Every table a request could write, counted, plus the webhook rows in full. */
export async function databaseState(t: TestService): Promise<string> {
  const ds = t.service.db.dataSource;
  const [counts] = await ds.query(
    `SELECT (SELECT count(*) FROM webhook)::int AS webhooks, (SELECT count(*) FROM event)::int AS events,
            (SELECT count(*) FROM delivery)::int AS deliveries, (SELECT count(*) FROM delivery_attempt)::int AS attempts,
            (SELECT count(*) FROM ticket)::int AS tickets`,
  );
  const rows = await ds.query('SELECT * FROM webhook ORDER BY webhook_id');
  return JSON.stringify({ counts, rows });
}

/** The server still answers a normal call on each door. */
export async function expectAlive(t: TestService): Promise<void> {
  const soap = await soapPost(t, envelope(`<CreateDefaultWebhook xmlns="${TNS}"/>`, t.ticket));
  if (soap.status !== 200 || !soap.text.includes('<CreateDefaultWebhookResponse')) throw new Error(`SOAP door stopped answering: ${soap.status} ${soap.text.slice(0, 200)}`);
  const rest = await restCall(t, 'GET', '/Webhook/default');
  if (rest.status !== 200 || rest.json?.WebhookId !== 0) throw new Error(`REST door stopped answering: ${rest.status} ${rest.text.slice(0, 200)}`);
}

/** A SaveWebhook body; `inner` adds or replaces carrier elements after Events/TargetUrl/State. */
export function soapSave(inner: string, { targetUrl = 'http://127.0.0.1:1/hook', state = 'Stopped', webhookId = 0 } = {}): string {
  return (
    `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>${webhookId}</WebhookId>` +
    `<Events xmlns:a="${ARRAYS_NS}"><a:string>sec.test</a:string></Events>` +
    `<TargetUrl>${targetUrl}</TargetUrl><State>${state}</State>${inner}</Webhook></SaveWebhook>`
  );
}
