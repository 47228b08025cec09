import fc from 'fast-check';
import { startReceiver, type Receiver } from '../support/receiver';
import { blockOffLoopbackConnects } from '../support/loopbackOnly';
import { startTestService, type TestService } from '../support/testService';
import { ARRAYS_NS, databaseState, expectAlive, restCall, soapPost, TNS, type Answer } from './support';

/**
 * Property-based: generated SOAP envelopes and JSON bodies thrown at both doors. Whatever comes
 * in, the answer is a success or a client error (REST: never 5xx; SOAP: 200 or 500 carrying a
 * soap:Client fault, never soap:Server), the process keeps serving, and a refused request
 * leaves every table as it was. TargetUrls come from a loopback-only pool and every socket to
 * anything but loopback is blocked, so generated input never reaches another machine.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
let t: TestService;
let receiver: Receiver;
let blocked: string[] = [];

beforeAll(async () => {
  blocked = blockOffLoopbackConnects();
  // No worker: deliveries would change tables between the before/after snapshots. No rate limit: the runs would exhaust it.
  t = await startTestService({ RUN_WORKER: 'false', RATE_LIMIT_PER_MINUTE: '0', VERIFY_TIMEOUT_MS: '500', BODY_LIMIT: '256kb' });
  receiver = await startReceiver((req, res) => res.writeHead(req.url.includes('fail') ? 500 : 200).end('ok'));
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
  jest.restoreAllMocks();
});

// ---- generators --------------------------------------------------------------------------

const targetUrl = () =>
  fc.oneof(
    // The receiver starts after the generators are built: its URL is filled in at generation time.
    fc.constantFrom('@receiver', '@receiver/fail').map((url) => url.replace('@receiver', receiver.url)),
    fc.constantFrom('http://127.0.0.1:1/closed', 'http://[::1]:1/', 'file:///etc/passwd', 'javascript:alert(1)', '', 'https://user:pw@127.0.0.1:1/'),
    // Never an absolute URL with a host: "x" first makes it relative or an unknown scheme.
    fc.string({ maxLength: 30 }).map((s) => `x${s}`),
  );
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom("'; DROP TABLE webhook; --", '__proto__', 'constructor', '%_\\', 'a.b', 'contact.created', '-1', '2147483648', 'Active', 'Stopped', 'TooManyErrors', 'Exploded', 'nul\u0000', 'lone\ud800', '\udc00x'),
  fc.integer().map(String),
  fc.constant('x'.repeat(401)),
);
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** Mostly escaped text, sometimes raw (markup characters, control characters, entities). */
const xmlText = fc.oneof({ weight: 4, arbitrary: text.map(xmlEscape) }, { weight: 1, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom('&lol;', '&#0;', '&#xD800;', '&amp', ']]>', '<![CDATA[<x>&]]>') });
const ELEMENTS = ['WebhookId', 'Name', 'Secret', 'State', 'Type', 'ErrorsEmail', 'Description', 'NameFilter', 'EventFilter', 'StatusFilter', 'EventName', 'PrimaryKey', 'Registered', 'TotalCalls', 'x', '__proto__', 'constructor', 'toString'];

const element: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom(...ELEMENTS), xmlText).map(([name, value]) => `<${name}>${value}</${name}>`),
    targetUrl().map((url) => `<TargetUrl>${xmlEscape(url)}</TargetUrl>`),
    fc.array(text, { maxLength: 3 }).map((events) => `<Events xmlns:a="${ARRAYS_NS}">${events.map((e) => `<a:string>${xmlEscape(e)}</a:string>`).join('')}</Events>`),
    fc.array(fc.tuple(text, text), { maxLength: 3 }).map((pairs) => `<Headers>${pairs.map(([k, v]) => `<StringKeyValuePair><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></StringKeyValuePair>`).join('')}</Headers>`),
    fc.array(fc.tuple(text, fc.constantFrom('xs:string', 'xs:int', 'xs:boolean', 'xs:dateTime', 'xs:double', 'xs:hexBinary', 'nope'), text), { maxLength: 3 }).map(
      (entries) =>
        `<Properties>${entries.map(([k, type, v]) => `<StringObjectKeyValuePair><Key>${xmlEscape(k)}</Key><Value xsi:type="${type}">${xmlEscape(v)}</Value></StringObjectKeyValuePair>`).join('')}</Properties>`,
    ),
    fc.tuple(fc.constantFrom('Webhook', 'Data', 'x'), fc.array(tie('node'), { maxLength: 4 })).map(([name, children]) => `<${name}>${children.join('')}</${name}>`),
  ),
})).node;

const OPERATIONS = ['CreateDefaultWebhook', 'SaveWebhook', 'GetWebhook', 'GetAllWebhooks', 'DeleteWebhook', 'TestWebhook', 'SignalEvent', 'GetLastError', 'DropTables'];
const soapBody = fc
  .record({
    operation: fc.constantFrom(...OPERATIONS),
    children: fc.array(element, { maxLength: 5 }),
    appToken: fc.option(text, { nil: undefined }),
    prefix: fc.constantFrom('', '', '', '<!DOCTYPE x [<!ENTITY e "e">]>', '<?xml version="1.0" encoding="utf-8"?>', '<!-- c -->'),
    wrapWebhook: fc.boolean(),
  })
  .map(({ operation, children, appToken, prefix, wrapWebhook }) => {
    const inner = wrapWebhook && ['SaveWebhook', 'TestWebhook'].includes(operation) ? `<Webhook>${children.join('')}</Webhook>` : children.join('');
    const app = appToken === undefined ? '' : `<ApplicationToken xmlns="${TNS}">${xmlEscape(appToken)}</ApplicationToken>`;
    return (
      `${prefix}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema">` +
      `<s:Header>${app}<Credentials xmlns="${TNS}"><Ticket>${t.ticket}</Ticket></Credentials></s:Header>` +
      `<s:Body><${operation} xmlns="${TNS}">${inner}</${operation}></s:Body></s:Envelope>`
    );
  });
/** Sometimes damaged: truncated, or with bytes spliced in (invalid UTF-8 included). */
const soapRequest = fc.tuple(soapBody, fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 6 })) })).map(([body, damage]) => {
  if (!damage) return Buffer.from(body);
  const bytes = Buffer.from(body);
  const at = damage[0] % (bytes.length + 1);
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(damage[1]), damage[1].length % 2 ? Buffer.alloc(0) : bytes.subarray(at)]);
});

const jsonValue: fc.Arbitrary<unknown> = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(2 ** 31), fc.constant(-1), fc.array(text, { maxLength: 3 }), fc.dictionary(text, text, { maxKeys: 3 }));
const MEMBERS = ['WebhookId', 'Name', 'Events', 'TargetUrl', 'Secret', 'State', 'Type', 'Headers', 'Properties', 'ErrorsEmail', 'Description', 'Registered', 'TotalCalls', 'LastError', '__proto__', 'constructor', 'name', 'STATE'];
/** Chaos: any members with any values, `__proto__` included as a real JSON member. */
const chaosWebhookJson = fc
  .record({
    members: fc.dictionary(fc.constantFrom(...MEMBERS), jsonValue, { maxKeys: 8 }),
    events: fc.option(fc.array(fc.constantFrom('a.b', 'contact.created', 'bad event', ''), { maxLength: 3 }), { nil: undefined }),
    url: fc.option(targetUrl(), { nil: undefined }),
    state: fc.option(fc.constantFrom('Active', 'Stopped', 'Exploded', 3, 9), { nil: undefined }),
  })
  .map(({ members, events, url, state }) => {
    const body: Record<string, unknown> = { ...members };
    if (events !== undefined) body.Events = events;
    if (url !== undefined) body.TargetUrl = url;
    if (state !== undefined) body.State = state;
    if (Object.prototype.hasOwnProperty.call(members, '__proto__')) return `{"__proto__": ${JSON.stringify(members.__proto__)}, ${JSON.stringify(body).slice(1)}`;
    return JSON.stringify(body);
  });
/** Well-shaped carriers with hostile values, so requests get past the door's shape checks to the core and the database. */
const shapedWebhookJson = fc
  .record({
    strings: fc.dictionary(fc.constantFrom('Name', 'Secret', 'Description'), text, { maxKeys: 3 }),
    headers: fc.option(fc.dictionary(fc.constantFrom('X-Tenant', '__proto__', 'constructor', 'Host'), text, { maxKeys: 2 }), { nil: undefined, freq: 2 }),
    properties: fc.option(fc.dictionary(text, fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null)), { maxKeys: 2 }), { nil: undefined }),
    url: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('@receiver', 'http://127.0.0.1:1/closed').map((url) => url.replace('@receiver', receiver.url)) }, { weight: 1, arbitrary: targetUrl() }),
    state: fc.constantFrom('Stopped', 'Stopped', 'Active'),
  })
  .map(({ strings, headers, properties, url, state }) => JSON.stringify({ Events: ['fuzz.event'], TargetUrl: url, State: state, ...strings, Headers: headers ?? null, Properties: properties ?? null }));
const webhookJson = fc.oneof(shapedWebhookJson, chaosWebhookJson);
type Route = [method: string, path: string, contentType: string];
const restRequest = fc
  .record({
    route: fc.oneof({ weight: 2, arbitrary: fc.constant<Route>(['POST', '/Webhook', 'application/json']) }, { weight: 3, arbitrary: fc.constantFrom<Route>(
      ['POST', '/Webhook', 'application/json'],
      ['PUT', '/Webhook/1', 'application/json'],
      ['PATCH', '/Webhook/1', 'application/merge-patch+json'],
      ['PATCH', '/Webhook/1', 'application/json-patch+json'],
      ['POST', '/Webhook/Test', 'application/json'],
      ['POST', '/Webhook/contact.created/1', 'application/json'],
      ['POST', '/Agents/Webhook/SaveWebhook', 'application/json'],
      ['POST', '/Agents/Webhook/GetAllWebhooks', 'application/json'],
      ['POST', '/Agents/Webhook/SignalEvent', 'application/json'],
      ['POST', '/Agents/Webhook/DeleteWebhook', 'application/json'],
      ['GET', '/Webhook?nameFilter=', ''],
      ['DELETE', '/Webhook/', ''],
      ['GET', '/Webhook/', ''],
    ) }),
    body: fc.oneof(
      { weight: 5, arbitrary: webhookJson },
      webhookJson.map((w) => `{"Webhook": ${w}}`),
      fc.json(),
      fc.array(fc.record({ op: fc.constantFrom('add', 'replace', 'remove', 'move', 'test', 'x'), path: fc.constantFrom('/Name', '/__proto__/x', '/Headers/X', '/Properties/constructor', '/WebhookId', 'Name'), value: jsonValue }), { maxLength: 3 }).map((ops) => JSON.stringify(ops)),
      fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
      webhookJson.chain((w) => fc.nat({ max: w.length }).map((n) => w.slice(0, n))),
    ),
    suffix: fc.oneof(fc.constant(''), fc.integer().map(String), text.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '')))),
  })
  .map(({ route: [method, path, contentType], body, suffix }) => ({
    method,
    path: path.endsWith('/') || path.endsWith('=') ? `${path}${suffix}` : path,
    contentType,
    body: method === 'GET' || method === 'DELETE' ? undefined : body,
  }));

// ---- properties --------------------------------------------------------------------------

/** Runs `property` with the database compared around every refused request. */
async function check(send: () => Promise<Answer>, refused: (answer: Answer) => boolean): Promise<Answer> {
  const before = await databaseState(t);
  const answer = await send();
  if (refused(answer)) expect(await databaseState(t)).toBe(before);
  return answer;
}

describe('generated input never breaks either door', () => {
  it(`SOAP: ${RUNS} generated envelopes get 200 or a soap:Client fault, and refused ones write nothing`, async () => {
    const seen = { ok: 0, client: 0 };
    await fc.assert(
      fc.asyncProperty(soapRequest, async (body) => {
        const answer = await check(
          () => soapPost(t, body),
          (a) => a.status !== 200,
        );
        if (answer.status === 200) {
          seen.ok++;
          expect(answer.text).toContain('<Succeeded xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88">true</Succeeded>');
        } else {
          seen.client++;
          expect({ status: answer.status, faultcode: answer.faultcode, contentType: answer.headers.get('content-type') }).toEqual({
            status: 500,
            faultcode: 'soap:Client',
            contentType: 'text/xml; charset=utf-8',
          });
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 25_000 },
    );
    // The generator reaches past the guard: some requests succeed, many are refused.
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.client).toBeGreaterThan(0);
    await expectAlive(t);
    expect(blocked).toEqual([]);
  });

  it(`REST: ${RUNS} generated requests never get a 5xx, and refused ones write nothing`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(restRequest, async ({ method, path, contentType, body }) => {
        const answer = await check(
          () => restCall(t, method, path, { body, contentType: contentType || undefined }),
          (a) => a.status >= 400,
        );
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 400) expect(answer.json).toMatchObject({ Error: true });
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 25_000 },
    );
    expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
    expect([...statuses.keys()].some((status) => status >= 400)).toBe(true);
    await expectAlive(t);
    expect(blocked).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
