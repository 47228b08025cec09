import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { databaseState, envelope, expectAlive, restCall, soapEnvelope, soapPost, soapSave, TNS, type Answer } from './support';

/**
 * The bad-input corpus: hostile and malformed requests on both doors. Each gets a clean client
 * error naming the problem, the server keeps answering, and the database is unchanged (row
 * counts of every table and the webhook rows' content).
 */

let t: TestService;
let receiver: Receiver;

type Expect = { status: number; code: string; message: RegExp };
type Case = [name: string, send: () => Promise<Answer>, expected: Expect];

const soapClient = (message: RegExp): Expect => ({ status: 500, code: 'soap:Client', message });
const rest = (status: number, code: string, message: RegExp): Expect => ({ status, code, message });
const soap = (bodyXml: string, headers: Record<string, string> = {}) => () => soapPost(t, soapEnvelope(bodyXml, t.ticket), headers);
const soapRaw = (body: () => string | Buffer) => () => soapPost(t, body(), { authorization: `Bearer ${t.ticket}` });
const json = (method: string, path: string, body?: unknown, contentType?: string) => () =>
  restCall(t, method, path, { body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), contentType });
const hook = (extra: Record<string, unknown> = {}) => ({ Events: ['sec.test'], TargetUrl: 'http://127.0.0.1:1/hook', State: 'Stopped', ...extra });

const BILLION_LAUGHS =
  '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
  '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' +
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetAllWebhooks xmlns="${TNS}"><NameFilter>&lol3;</NameFilter></GetAllWebhooks></s:Body></s:Envelope>`;
const EXTERNAL_ENTITY =
  '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetAllWebhooks xmlns="${TNS}"><NameFilter>&xxe;</NameFilter></GetAllWebhooks></s:Body></s:Envelope>`;
const EXTERNAL_DTD = `<?xml version="1.0"?><!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:1/evil.dtd">${envelope(`<CreateDefaultWebhook xmlns="${TNS}"/>`).replace(/^<\?xml[^>]*\?>/, '')}`;
const TEN_MB = 10 * 1024 * 1024;

const soapCases: Case[] = [
  ['SOAP: an empty body', soapRaw(() => ''), soapClient(/request body is empty/)],
  ['SOAP: malformed XML (mismatched closing tag)', soap(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>a</GetAllWebhooks>`), soapClient(/not well-formed XML/)],
  ['SOAP: a truncated envelope', soapRaw(() => soapEnvelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId></GetWebhook>`, t.ticket).slice(0, 300)), soapClient(/not well-formed XML/)],
  ['SOAP: billion laughs', soapRaw(() => BILLION_LAUGHS), soapClient(/DOCTYPE or entity declaration/)],
  ['SOAP: an external entity (file:///etc/passwd)', soapRaw(() => EXTERNAL_ENTITY), soapClient(/DOCTYPE or entity declaration/)],
  ['SOAP: an external DTD', soapRaw(() => EXTERNAL_DTD), soapClient(/DOCTYPE or entity declaration/)],
  ['SOAP: an undeclared entity reference', soap(soapSave('<Name>a&xxe;b</Name>')), soapClient(/entity &xxe, which is not declared/)],
  ['SOAP: a character reference to NUL', soap(soapSave('<Name>a&#0;b</Name>')), soapClient(/character reference &#0;/)],
  ['SOAP: a character reference to a lone surrogate', soap(soapSave('<Name>a&#xD800;b</Name>')), soapClient(/character reference &#xD800;/)],
  ['SOAP: a raw control character', soap(soapSave('<Name>a\u0001b</Name>')), soapClient(/control character XML 1\.0 does not allow/)],
  ['SOAP: elements nested 200 deep', soap(`<GetWebhook xmlns="${TNS}">${'<a>'.repeat(200)}${'</a>'.repeat(200)}</GetWebhook>`), soapClient(/nests \d+ levels deep/)],
  ['SOAP: 25,000 sibling elements', soap(`<GetWebhook xmlns="${TNS}">${'<a/>'.repeat(25_000)}</GetWebhook>`), soapClient(/25\d{3} elements; the limits are/)],
  ['SOAP: a 10 MB body', soapRaw(() => soapEnvelope(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>${'x'.repeat(TEN_MB)}</NameFilter></GetAllWebhooks>`, t.ticket)), soapClient(/larger than the limit of 1048576 bytes/)],
  ['SOAP: invalid UTF-8', soapRaw(() => Buffer.concat([Buffer.from(soapEnvelope(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>`, t.ticket).replace(/<\/s:Body><\/s:Envelope>$/, '')), Buffer.from([0xff, 0xfe]), Buffer.from('</NameFilter></GetAllWebhooks></s:Body></s:Envelope>')])), soapClient(/not valid UTF-8/)],
  ['SOAP: a WebhookId that is text', soap(`<GetWebhook xmlns="${TNS}"><WebhookId>1 OR 1=1</WebhookId></GetWebhook>`), soapClient(/WebhookId must be a whole number/)],
  ['SOAP: a huge WebhookId', soap(`<DeleteWebhook xmlns="${TNS}"><WebhookId>99999999999</WebhookId></DeleteWebhook>`), soapClient(/WebhookId must be a whole number/)],
  ['SOAP: a negative WebhookId to save', soap(soapSave('', { webhookId: -5 })), soapClient(/WebhookId -5 is invalid/)],
  ['SOAP: deleting the largest xs:int id, which does not exist', soap(`<DeleteWebhook xmlns="${TNS}"><WebhookId>2147483647</WebhookId></DeleteWebhook>`), soapClient(/no webhook with WebhookId 2147483647/)],
  ['SOAP: a State that does not exist', soap(soapSave('').replace('<State>Stopped</State>', '<State>Exploded</State>')), soapClient(/State "Exploded" is not a WebhookState/)],
  ['SOAP: a StatusFilter that does not exist', soap(`<GetAllWebhooks xmlns="${TNS}"><StatusFilter>4</StatusFilter></GetAllWebhooks>`), soapClient(/StatusFilter "4" is not a WebhookState/)],
  ['SOAP: an xsi:type that does not exist', soap(soapSave('<Properties><StringObjectKeyValuePair><Key>k</Key><Value xsi:type="xs:hexBinary">00</Value></StringObjectKeyValuePair></Properties>')), soapClient(/xsi:type "hexBinary"/)],
  ['SOAP: a Name of 401 characters', soap(soapSave(`<Name>${'n'.repeat(401)}</Name>`)), soapClient(/Name is 401 characters long; the limit is 400/)],
  ['SOAP: a Description of 4001 characters', soap(soapSave(`<Description>${'d'.repeat(4001)}</Description>`)), soapClient(/Description is 4001 characters long/)],
  ['SOAP: a TargetUrl of 4001 characters', soap(soapSave('', { targetUrl: `http://127.0.0.1:1/${'p'.repeat(3982)}` })), soapClient(/TargetUrl is 4001 characters long/)],
  ['SOAP: a header name of 201 characters', soap(soapSave(`<Headers><StringKeyValuePair><Key>${'h'.repeat(201)}</Key><Value>v</Value></StringKeyValuePair></Headers>`)), soapClient(/not a valid HTTP header name \(at most 200 characters\)/)],
  ['SOAP: an element named __proto__', soap(soapSave('<__proto__><polluted>yes</polluted></__proto__>')), soapClient(/element name __proto__ is not part/)],
  ['SOAP: an element named constructor', soap(`<GetWebhook xmlns="${TNS}"><constructor>1</constructor></GetWebhook>`), soapClient(/element name constructor is not part/)],
  ['SOAP: a file: TargetUrl', soap(soapSave('', { targetUrl: 'file:///etc/passwd' })), soapClient(/TargetUrl uses file:\/\//)],
  ['SOAP: a javascript: TargetUrl', soap(soapSave('', { targetUrl: 'javascript:alert(1)' })), soapClient(/TargetUrl uses javascript:\/\//)],
  ['SOAP: an ApplicationToken with nested elements', () => soapPost(t, soapEnvelope(`<GetAllWebhooks xmlns="${TNS}"/>`, t.ticket, '<x>1</x>')), soapClient(/ApplicationToken must be text/)],
  ['SOAP: an unknown operation', soap(`<ExecuteSql xmlns="${TNS}"><Sql>DROP TABLE webhook</Sql></ExecuteSql>`), soapClient(/Unknown operation ExecuteSql/)],
];

const restCases: Case[] = [
  ['REST: malformed JSON', json('POST', '/Webhook', '{"Events": ["a.b"], "TargetUrl": }'), rest(400, 'MalformedJson', /not valid JSON/)],
  ['REST: truncated JSON', json('POST', '/Webhook', JSON.stringify(hook()).slice(0, 30)), rest(400, 'MalformedJson', /not valid JSON/)],
  ['REST: a 10 MB body', json('POST', '/Webhook', JSON.stringify(hook({ Name: 'x'.repeat(TEN_MB) }))), rest(413, 'PayloadTooLarge', /larger than the limit of 1048576 bytes/)],
  ['REST: invalid UTF-8 in JSON', json('POST', '/Webhook', Buffer.concat([Buffer.from('{"Name": "'), Buffer.from([0xc3, 0x28]), Buffer.from(`", "Events": ["a.b"], "TargetUrl": "http://127.0.0.1:1/", "State": "Stopped"}`)])), rest(400, 'InvalidUtf8', /not valid UTF-8/)],
  ['REST: JSON declared as latin1', json('POST', '/Webhook', JSON.stringify(hook()), 'application/json; charset=latin1'), rest(415, 'UnsupportedMediaType', /UTF-8/)],
  ['REST: XML sent to a JSON route', json('POST', '/Webhook', '<Webhook/>', 'text/xml'), rest(415, 'UnsupportedMediaType', /must be sent as application\/json/)],
  ['REST: Events as a string, not an array', json('POST', '/Webhook', hook({ Events: 'a.b' })), rest(400, 'BadRequest', /Events must be a JSON array/)],
  ['REST: a WebhookId that is a string', json('POST', '/Agents/Webhook/GetWebhook', { WebhookId: '1' }), rest(400, 'BadRequest', /WebhookId must be a whole number/)],
  ['REST: a State that does not exist', json('POST', '/Webhook', hook({ State: 'Exploded' })), rest(400, 'BadRequest', /State "Exploded" is not a WebhookState/)],
  ['REST: a State number that does not exist', json('POST', '/Webhook', hook({ State: 7 })), rest(400, 'BadRequest', /State 7 is not a WebhookState/)],
  ['REST: a negative id in the path', json('GET', '/Webhook/-1'), rest(400, 'BadRequest', /WebhookId "-1" in the path must be a whole number/)],
  ['REST: an id beyond int32 in the path', json('DELETE', '/Webhook/99999999999'), rest(400, 'BadRequest', /must be a whole number/)],
  ['REST: an Agents WebhookId of 2^31', json('POST', '/Agents/Webhook/DeleteWebhook', { WebhookId: 2 ** 31 }), rest(400, 'BadRequest', /WebhookId must be a whole number from -2147483648 to 2147483647/)],
  ['REST: deleting the largest int32 id, which does not exist', json('DELETE', '/Webhook/2147483647'), rest(404, 'NotFoundError', /no webhook with WebhookId 2147483647/)],
  ['REST: a Name of 401 characters', json('POST', '/Webhook', hook({ Name: 'n'.repeat(401) })), rest(400, 'ValidationError', /Name is 401 characters long/)],
  ['REST: a Secret of 401 characters', json('POST', '/Webhook', hook({ Secret: 's'.repeat(401) })), rest(400, 'ValidationError', /Secret is 401 characters long/)],
  ['REST: an ErrorsEmail of 240 characters', json('POST', '/Webhook', hook({ ErrorsEmail: `${'e'.repeat(230)}@example.com` })), rest(400, 'ValidationError', /ErrorsEmail is 242 characters long; the limit is 239/)],
  ['REST: a Properties value of 4001 characters', json('POST', '/Webhook', hook({ Properties: { k: 'v'.repeat(4001) } })), rest(400, 'ValidationError', /Properties\[k\] is 4001 characters long/)],
  ['REST: a Properties key of 401 characters', json('POST', '/Webhook', hook({ Properties: { ['k'.repeat(401)]: 1 } })), rest(400, 'ValidationError', /longer than 400 characters/)],
  ['REST: a NUL character in Name', json('POST', '/Webhook', hook({ Name: 'a\u0000b' })), rest(400, 'ValidationError', /Name contains a NUL character/)],
  ['REST: a lone surrogate in Description', json('POST', '/Webhook', JSON.stringify(hook()).replace('{', '{"Description": "x\\ud800y", ')), rest(400, 'ValidationError', /Description contains a NUL character or an unpaired UTF-16 surrogate/)],
  ['REST: a NUL character in NameFilter', json('POST', '/Agents/Webhook/GetAllWebhooks', { NameFilter: '\u0000' }), rest(400, 'ValidationError', /NameFilter contains a NUL/)],
  ['REST: a __proto__ member', json('POST', '/Webhook', JSON.stringify(hook()).replace('{', '{"__proto__": {"polluted": true}, ')), rest(400, 'BadRequest', /unknown member "__proto__"/)],
  ['REST: a constructor member', json('POST', '/Agents/Webhook/GetWebhook', { constructor: { prototype: { polluted: true } } }), rest(400, 'BadRequest', /unknown member "constructor"/)],
  ['REST: a Properties value that is an object', json('POST', '/Webhook', hook({ Properties: { nested: { a: 1 } } })), rest(400, 'BadRequest', /Properties value of "nested" is an object/)],
  ['REST: Properties nested 10,000 arrays deep', json('POST', '/Webhook', JSON.stringify(hook()).replace('{', `{"Properties": {"k": ${'['.repeat(10_000)}${']'.repeat(10_000)}}, `)), rest(400, 'BadRequest', /is an array/)],
  ['REST: a file: TargetUrl', json('POST', '/Webhook', hook({ TargetUrl: 'file:///etc/passwd' })), rest(400, 'ValidationError', /TargetUrl uses file:\/\//)],
  ['REST: a javascript: TargetUrl', json('POST', '/Webhook/Test', hook({ TargetUrl: 'javascript:alert(1)' })), rest(400, 'ValidationError', /TargetUrl uses javascript:\/\//)],
  ['REST: a SignalEvent name with NUL', json('POST', '/Agents/Webhook/SignalEvent', { EventName: 'a.b\u0000', PrimaryKey: 1 }), rest(400, 'ValidationError', /EventName contains/)],
  ['REST: SignalEvent Data holding a lone surrogate', json('POST', '/Webhook/sec.test/1', '{"name": "x\\ud800y"}'), rest(400, 'ValidationError', /Data\[name\] contains a NUL character or an unpaired UTF-16 surrogate/)],
  ['REST: SignalEvent Data with a lone surrogate in a key', json('POST', '/Agents/Webhook/SignalEvent', '{"EventName": "sec.test", "PrimaryKey": 1, "Data": {"k\\udc00": 1}}'), rest(400, 'ValidationError', /Data contains a NUL character or an unpaired UTF-16 surrogate/)],
  ['REST: SignalEvent Data holding a NUL character', json('POST', '/Agents/Webhook/SignalEvent', { EventName: 'sec.test', PrimaryKey: 1, Data: { name: 'a\u0000b' } }), rest(400, 'ValidationError', /Data\[name\] contains a NUL character/)],
  ['REST: Agents arguments as an array', json('POST', '/Agents/Webhook/GetWebhook', [1]), rest(400, 'BadRequest', /must be a JSON object/)],
  ['REST: an Agents method that does not exist', json('POST', '/Agents/Webhook/ExecuteSql', {}), rest(404, 'NotFound', /no Webhook agent method "ExecuteSql"/)],
];

beforeAll(async () => {
  t = await startTestService();
  receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  // Something to leave unchanged: a webhook with every field set.
  const seeded = await restCall(t, 'POST', '/Webhook', {
    body: JSON.stringify({ ...hook({ Name: 'seed', Secret: 'seed-secret', Headers: { 'X-A': '1' }, Properties: { p: 1 }, Description: 'kept' }), TargetUrl: receiver.url, State: 'Active' }),
  });
  expect(seeded.status).toBe(201);
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
});

describe('bad input is refused with a client error, changes nothing, and the server keeps serving', () => {
  it('has at least 40 named cases across both doors', () => {
    expect(soapCases.length + restCases.length).toBeGreaterThanOrEqual(40);
    expect(soapCases.length).toBeGreaterThanOrEqual(20);
    expect(restCases.length).toBeGreaterThanOrEqual(20);
  });

  it.each([...soapCases, ...restCases])('%s', async (name, send, expected) => {
    const before = await databaseState(t);
    const answer = await send();
    expect(answer.status).toBe(expected.status);
    if (name.startsWith('SOAP')) {
      expect(answer.faultcode).toBe(expected.code);
      expect(answer.faultstring).toMatch(expected.message);
      expect(answer.text).toContain('<Succeeded xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88">false</Succeeded>');
    } else {
      expect(answer.json).toMatchObject({ Error: true, ErrorType: expected.code });
      expect(answer.json.Message).toMatch(expected.message);
    }
    expect(answer.text).not.toMatch(/at \S+\.(ts|js):\d+/); // no stack trace
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await databaseState(t)).toBe(before);
    await expectAlive(t);
  });
});

describe('hostile-looking but valid input is stored verbatim and harmlessly', () => {
  const SQL = `Robert'); DROP TABLE webhook; -- " OR 1=1 /* \\ %_`;

  it('SOAP: SQL-looking text in every text field is stored as text, after a real verification POST', async () => {
    const saved = await soapPost(t, soapEnvelope(soapSave(`<Name>${SQL.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Name><Description>${SQL}</Description>`, { targetUrl: receiver.url, state: 'Active' }), t.ticket));
    expect(saved.status).toBe(200);
    const id = Number(/<WebhookId>(\d+)<\/WebhookId>/.exec(saved.text)![1]);
    const [row] = await t.service.db.dataSource.query('SELECT name, description FROM webhook WHERE webhook_id = $1', [id]);
    expect(row).toEqual({ name: SQL, description: SQL });
    const found = await soapPost(t, soapEnvelope(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>DROP TABLE webhook; -- " OR 1=1 /* \\ %_</NameFilter></GetAllWebhooks>`, t.ticket));
    expect(found.text.match(/<WebhookId>/g)).toHaveLength(1); // % and _ matched themselves, not everything
  });

  it('REST: SQL-looking text and __proto__ keys are stored as data', async () => {
    const body = `{"Name": ${JSON.stringify(SQL)}, "Events": ["sec.test"], "TargetUrl": "http://127.0.0.1:1/", "State": "Stopped",
      "Headers": {"__proto__": "h", "constructor": "c"}, "Properties": {"__proto__": {"polluted": true}, "toString": "s"}}`;
    const created = await restCall(t, 'POST', '/Webhook', { body });
    // An object value is refused; the prototype-named keys themselves are only data.
    expect(created.status).toBe(400);
    const plain = await restCall(t, 'POST', '/Webhook', { body: body.replace('{"polluted": true}', '"p"') });
    expect(plain.status).toBe(201);
    expect(plain.json.Name).toBe(SQL);
    expect(Object.entries(plain.json.Headers)).toEqual([['__proto__', 'h'], ['constructor', 'c']]);
    expect(Object.entries(plain.json.Properties)).toEqual([['__proto__', 'p'], ['toString', 's']]);
    const [row] = await t.service.db.dataSource.query('SELECT name, headers, properties FROM webhook WHERE webhook_id = $1', [plain.json.WebhookId]);
    expect(row.name).toBe(SQL);
    expect(row.headers).toEqual([{ key: '__proto__', value: 'h' }, { key: 'constructor', value: 'c' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const count = await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook');
    expect(count[0].n).toBeGreaterThanOrEqual(3); // the table is still there
  });

  it('GetWebhook of a negative id is a nil Response on SOAP and null on the Agents route', async () => {
    const soapAnswer = await soapPost(t, soapEnvelope(`<GetWebhook xmlns="${TNS}"><WebhookId>-1</WebhookId></GetWebhook>`, t.ticket));
    expect(soapAnswer.status).toBe(200);
    expect(soapAnswer.text).toMatch(/<Response xsi:nil="true"/);
    const agents = await restCall(t, 'POST', '/Agents/Webhook/GetWebhook', { body: '{"WebhookId": -1}' });
    expect(agents.status).toBe(200);
    expect(agents.json).toBeNull();
  });
});
