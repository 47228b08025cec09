import type * as soap from 'soap';
import { closedPort, startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient, envelope, postEnvelope, TNS } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';

/** Errors: every caller mistake is a SOAP 1.1 soap:Client fault that says what to fix, and changes nothing. */
describe('SOAP faults and bad input', () => {
  let t: TestService;
  let client: soap.Client;
  let ok: Receiver;
  let failing: Receiver;
  let silent: Receiver;

  const save = (overrides: Record<string, unknown>) =>
    call(client, 'SaveWebhook', {
      Webhook: { WebhookId: 0, Name: 'n', Events: { string: ['contact.created'] }, TargetUrl: ok.url, State: 'Active', Type: 'webhook', ...overrides },
    });

  const rowCount = async () => (await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n as number;
  const snapshot = async () => JSON.stringify(await t.service.db.dataSource.query('SELECT * FROM webhook ORDER BY webhook_id'));

  /** Asserts a rejected node-soap call is a soap:Client fault whose text matches. */
  async function expectClientFault(promise: Promise<unknown>, text: RegExp): Promise<void> {
    const error = (await promise.then(
      () => {
        throw new Error('expected a fault');
      },
      (e) => e,
    )) as { root?: any; response?: { status: number } };
    const fault = error.root?.Envelope?.Body?.Fault;
    expect(fault?.faultcode).toBe('soap:Client');
    expect(fault?.faultstring).toMatch(text);
    expect(error.response?.status).toBe(500);
    expect(String(error.root?.Envelope?.Header?.Succeeded)).toBe('false');
  }

  beforeAll(async () => {
    t = await startTestService({ VERIFY_TIMEOUT_MS: '400', BODY_LIMIT: '64kb' });
    client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    ok = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
    failing = await startReceiver((req, res) => res.writeHead(req.url.includes('404') ? 404 : 500).end('nope'));
    silent = await startReceiver(() => undefined); // never answers
  });
  afterAll(async () => {
    await Promise.all([ok.close(), failing.close(), silent.close()]);
    await t.stop();
  });

  describe('target verification', () => {
    it.each([
      ['answers 500', () => failing.url, /HTTP\/1\.1 500/],
      ['answers 404', () => `${failing.url}/404`, /HTTP\/1\.1 404/],
      ['does not answer within the timeout', () => silent.url, /timed out after 400 ms/],
    ])('refuses a TargetUrl that %s, storing nothing', async (_name, url, text) => {
      const before = await snapshot();
      await expectClientFault(save({ TargetUrl: url() }), text);
      expect(await snapshot()).toBe(before);
    });

    it('refuses a TargetUrl whose port refuses connections, storing nothing', async () => {
      const port = await closedPort();
      const before = await rowCount();
      await expectClientFault(save({ TargetUrl: `http://127.0.0.1:${port}/hook` }), /refused/);
      expect(await rowCount()).toBe(before);
    });

    it('stores a Stopped webhook without verifying it (so a dead target can be stopped)', async () => {
      const [saved] = await save({ TargetUrl: failing.url, State: 'Stopped' });
      expect(saved.Response.State).toBe('Stopped');
      const before = await snapshot();
      await expectClientFault(save({ WebhookId: saved.Response.WebhookId, TargetUrl: failing.url, State: 'Active' }), /500/);
      expect(await snapshot()).toBe(before);
    });
  });

  describe('validation', () => {
    it.each([
      ['no events', { Events: { string: [] } }, /Events is empty/],
      ['a malformed event name', { Events: { string: ['contact created'] } }, /not an event name/],
      ['a relative TargetUrl', { TargetUrl: '/hook' }, /not an absolute URL/],
      ['a file: TargetUrl', { TargetUrl: 'file:///etc/passwd' }, /use an https:\/\/ URL/],
      ['a crmscript Type', { Type: 'crmscript' }, /crmscript/],
      ['an unknown Type', { Type: 'carrier-pigeon' }, /Type .* is unknown/],
      ['a Name over 400 characters', { Name: 'x'.repeat(401) }, /Name is 401 characters long; the limit is 400/],
      ['a Secret over 400 characters', { Secret: 's'.repeat(401) }, /Secret is 401 characters long/],
      ['an invalid ErrorsEmail', { ErrorsEmail: 'not-an-address' }, /ErrorsEmail contains/],
      ['a reserved header', { Headers: { StringKeyValuePair: [{ Key: 'X-SuperOffice-Signature', Value: 'forged' }] } }, /Headers may not set X-SuperOffice-Signature/],
      ['a Content-Type header', { Headers: { StringKeyValuePair: [{ Key: 'Content-Type', Value: 'text/plain' }] } }, /Headers may not set Content-Type/],
      ['an Expect header (hop-by-hop: the sender cannot send it)', { Headers: { StringKeyValuePair: [{ Key: 'Expect', Value: '100-continue' }] } }, /Headers may not set Expect: .*Keep-Alive, Upgrade, Expect/],
      ['a property colliding with a payload field', { Properties: { StringObjectKeyValuePair: [{ Key: 'EventId', Value: { attributes: { 'xsi:type': 'xs:string' }, $value: 'x' } }] } }, /collides with a payload field/],
      ['State TooManyErrors', { State: 'TooManyErrors' }, /set only by the service/],
      ['an unknown WebhookId', { WebhookId: 987654 }, /no webhook with WebhookId 987654/],
    ])('refuses %s with a fault naming the field, storing nothing', async (_name, overrides, text) => {
      const before = await snapshot();
      await expectClientFault(save(overrides), text);
      expect(await snapshot()).toBe(before);
    });

    it('refuses http:// targets unless the operator allows them', async () => {
      const strict = await startTestService({ ALLOW_HTTP_TARGETS: 'false' });
      try {
        const strictClient = await createSoapClient(strict.wsdlUrl, strict.soapUrl, strict.ticket);
        await expectClientFault(
          call(strictClient, 'SaveWebhook', { Webhook: { Events: { string: ['a.b'] }, TargetUrl: ok.url } }),
          /only https:\/\/ targets are accepted .*ALLOW_HTTP_TARGETS/,
        );
      } finally {
        await strict.stop();
      }
    });

    it('refuses loopback targets unless the operator allows private networks', async () => {
      const strict = await startTestService({ ALLOW_PRIVATE_TARGETS: 'false' });
      try {
        const strictClient = await createSoapClient(strict.wsdlUrl, strict.soapUrl, strict.ticket);
        await expectClientFault(
          call(strictClient, 'SaveWebhook', { Webhook: { Events: { string: ['a.b'] }, TargetUrl: ok.url } }),
          /resolves to 127\.0\.0\.1.*ALLOW_PRIVATE_TARGETS=true/,
        );
        expect(ok.requests.filter((r) => r.headers['x-hook-test'] && r.url === '/hook')).toBeDefined();
        expect((await strict.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n).toBe(0);
      } finally {
        await strict.stop();
      }
    });
  });

  describe('authentication', () => {
    it('refuses a call without a ticket with a soap:Client fault and touches nothing', async () => {
      const anonymous = await createSoapClient(t.wsdlUrl, t.soapUrl);
      const before = await snapshot();
      await expectClientFault(call(anonymous, 'SaveWebhook', { Webhook: { Events: { string: ['a.b'] }, TargetUrl: ok.url } }), /No ticket was sent/);
      expect(await snapshot()).toBe(before);
    });

    it('refuses a wrong ticket', async () => {
      const wrong = await createSoapClient(t.wsdlUrl, t.soapUrl, 'wat_not-a-real-ticket');
      await expectClientFault(call(wrong, 'GetAllWebhooks', {}), /unknown or revoked/);
    });

    it('accepts the ticket as HTTP Authorization: Bearer', async () => {
      const response = await postEnvelope(t.soapUrl, envelope(`<CreateDefaultWebhook xmlns="${TNS}"/>`), { authorization: `Bearer ${t.ticket}` });
      expect(response.status).toBe(200);
      expect(response.text).toContain('<Succeeded xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88">true</Succeeded>');
    });
  });

  describe('malformed requests get a clean fault and the server keeps serving', () => {
    const cases: Array<[string, () => string | Buffer, RegExp, Record<string, string>]> = [
      ['an empty body', () => '', /request body is empty/, {}],
      ['truncated XML', () => envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId></GetWebhook>`).slice(0, 120), /not well-formed XML/, {}],
      ['plain text', () => 'hello', /not well-formed XML|not a SOAP envelope/, {}],
      ['a DOCTYPE with entities (billion laughs)', () => `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetWebhook xmlns="${TNS}"><WebhookId>&lol2;</WebhookId></GetWebhook></s:Body></s:Envelope>`, /DOCTYPE/, {}],
      ['a markup declaration in a value (fuzz: fast-xml-parser\'s validator passed it, node-soap failed on it)', () => envelope(`<GetWebhook xmlns="${TNS}"><WebhookId><!wat_1</WebhookId></GetWebhook>`), /&quot;&lt;!wat_1&quot;, a markup declaration|"<!wat_1", a markup declaration/, {}],
      ['an unknown operation', () => envelope(`<DropAllTables xmlns="${TNS}"/>`), /Unknown operation DropAllTables/, {}],
      ['a SOAP 1.2 envelope', () => `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetWebhook xmlns="${TNS}"/></e:Body></e:Envelope>`, /SOAP 1\.1 only/, {}],
      ['a SOAPAction naming another operation', () => envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId></GetWebhook>`), /does not match/, { soapaction: `"${TNS}/Webhook/DeleteWebhook"` }],
      ['a body over BODY_LIMIT', () => envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId></GetWebhook>`) + ' '.repeat(70 * 1024), /larger than the limit of 65536 bytes/, {}],
      ['invalid UTF-8', () => Buffer.concat([Buffer.from(envelope(`<GetAllWebhooks xmlns="${TNS}"><NameFilter>`)), Buffer.from([0xc3, 0x28]), Buffer.from('</NameFilter></GetAllWebhooks></s:Body></s:Envelope>')]), /not valid UTF-8/, {}],
      ['elements nested 200 deep', () => envelope(`<GetWebhook xmlns="${TNS}">${'<a>'.repeat(200)}${'</a>'.repeat(200)}</GetWebhook>`), /levels deep/, {}],
    ];

    it.each(cases)('%s', async (_name, body, text, headers) => {
      const before = await snapshot();
      const response = await postEnvelope(t.soapUrl, body(), { authorization: `Bearer ${t.ticket}`, ...headers });
      expect(response.status).toBe(500);
      expect(response.contentType).toMatch(/text\/xml/);
      expect(response.text).toMatch(/<faultcode>soap:Client<\/faultcode>/);
      expect(response.text).toMatch(text);
      expect(response.text).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
      expect(await snapshot()).toBe(before);
      const [alive] = await call(client, 'CreateDefaultWebhook', {});
      expect(alive.Response.WebhookId).toBe(0);
    });

    it.each([
      ['a WebhookId that is not a number', `<GetWebhook xmlns="${TNS}"><WebhookId>abc</WebhookId></GetWebhook>`, /WebhookId must be a whole number/],
      ['a WebhookId beyond xs:int', `<GetWebhook xmlns="${TNS}"><WebhookId>99999999999</WebhookId></GetWebhook>`, /WebhookId must be a whole number/],
      ['a State that does not exist', `<SaveWebhook xmlns="${TNS}"><Webhook><State>Exploded</State></Webhook></SaveWebhook>`, /State &quot;Exploded&quot; is not a WebhookState/],
      ['a missing Webhook element', `<SaveWebhook xmlns="${TNS}"/>`, /Webhook element is missing/],
      // node-soap failed on these with an internal error (a soap:Server fault): found by test/security/fuzz.test.ts.
      ['text before a child element (mixed content)', `<SaveWebhook xmlns="${TNS}"><Webhook><Properties><StringObjectKeyValuePair>WS<Key>k</Key><Value xsi:type="xs:int">1</Value></StringObjectKeyValuePair></Properties></Webhook></SaveWebhook>`, /element StringObjectKeyValuePair holds text \(&quot;WS&quot;\) beside child elements/],
      ['text after a child element (mixed content)', `<GetWebhook xmlns="${TNS}"><WebhookId>1</WebhookId>and more</GetWebhook>`, /element GetWebhook holds text \(&quot;and more&quot;\) beside child elements/],
      ['a typed property whose value does not match its xsi:type', `<SaveWebhook xmlns="${TNS}"><Webhook><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>a.b</a:string></Events><TargetUrl>http://127.0.0.1:1/</TargetUrl><Properties><StringObjectKeyValuePair><Key>n</Key><Value xsi:type="xs:int">twelve</Value></StringObjectKeyValuePair></Properties></Webhook></SaveWebhook>`, /typed xs:int but &quot;twelve&quot;/],
    ])('refuses %s', async (_name, body, text) => {
      const before = await snapshot();
      const response = await postEnvelope(t.soapUrl, envelope(body, t.ticket));
      expect(response.status).toBe(500);
      expect(response.text).toMatch(/<faultcode>soap:Client<\/faultcode>/);
      expect(response.text).toMatch(text);
      expect(await snapshot()).toBe(before);
    });

    it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype'])('refuses an element named %s (object prototype names) with a client fault', async (name) => {
      const response = await postEnvelope(t.soapUrl, envelope(`<GetWebhook xmlns="${TNS}"><${name}>1</${name}></GetWebhook>`, t.ticket));
      expect(response.status).toBe(500);
      expect(response.text).toMatch(/<faultcode>soap:Client<\/faultcode>/);
      expect(response.text).toContain(`The element name ${name} is not part`);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('refuses an operation element outside the Services88 namespace', async () => {
      const response = await postEnvelope(t.soapUrl, envelope('<GetWebhook xmlns="urn:other"><WebhookId>1</WebhookId></GetWebhook>', t.ticket));
      expect(response.text).toMatch(/must be in the namespace http:\/\/www.superoffice.net\/ws\/crm\/NetServer\/Services88, not urn:other/);
    });

    it('finds the operation after a Header, comments and whitespace', async () => {
      const body = `<?xml version="1.0"?><!-- a client comment --><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
        <s:Header><Credentials xmlns="${TNS}"><Ticket>${t.ticket}</Ticket></Credentials></s:Header>
        <s:Body> <!-- <DeleteWebhook> --> <CreateDefaultWebhook xmlns="${TNS}"/></s:Body></s:Envelope>`;
      const response = await postEnvelope(t.soapUrl, body);
      expect(response.status).toBe(200);
      expect(response.text).toContain('<CreateDefaultWebhookResponse');
    });

    it('takes CDATA that looks like markup, and > inside an attribute value, as the text they are', async () => {
      const body = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" data-note="a > b">
        <s:Header><Credentials xmlns="${TNS}"><Ticket>${t.ticket}</Ticket></Credentials></s:Header>
        <s:Body><GetAllWebhooks xmlns="${TNS}"><NameFilter><![CDATA[<b>no such</b> name]]></NameFilter></GetAllWebhooks></s:Body></s:Envelope>`;
      const response = await postEnvelope(t.soapUrl, body);
      expect(response.status).toBe(200);
      expect(response.text).toContain('<GetAllWebhooksResponse');
    });

    it('answers GET ?wsdl with our WSDL pointing at the public URL', async () => {
      const wsdl = await (await fetch(t.wsdlUrl)).text();
      expect(wsdl).toContain(`<soap:address location="${t.soapUrl}" />`);
      expect(wsdl).toContain('targetNamespace="http://www.superoffice.net/ws/crm/NetServer/Services88"');
    });
  });
});
