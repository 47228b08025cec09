import { startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient, envelope, postEnvelope, TNS } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';
import { webapiDoor } from './doors';

/**
 * What NetServer's own clients rely on beyond the scenario: the Agents API bound as NetServer
 * binds it, the 12.4 notification members on both doors, xs:long values beyond 2^53 kept exactly,
 * and tenant paths (/{ContextIdentifier}/...) on both doors.
 */

const TENANT = 'Cust12345';
let t: TestService;
let receiver: Receiver;

beforeAll(async () => {
  t = await startTestService({ CONTEXT_IDENTIFIER: TENANT });
  receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
});
afterAll(async () => {
  await receiver?.close();
  await t?.stop();
});

async function agents(method: string, options: { query?: string; body?: string; prefix?: string; ticket?: string | null } = {}) {
  const ticket = options.ticket === undefined ? t.ticket : options.ticket;
  const headers: Record<string, string> = ticket ? { authorization: `SOTicket ${ticket}` } : {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${t.service.url}${options.prefix ?? ''}/api/v1/Agents/Webhook/${method}${options.query ?? ''}`, { method: 'POST', headers, body: options.body });
  const text = await response.text();
  return { status: response.status, text, json: text ? JSON.parse(text) : undefined };
}

const carrier = (overrides: Record<string, unknown> = {}) => ({
  webhookId: 0,
  name: 'netserver conventions',
  events: ['contact.created'],
  targetUrl: receiver.url,
  state: 1,
  type: 'webhook',
  ...overrides,
});

describe('the Agents API as NetServer binds it', () => {
  it('takes no body, an empty body or null as an empty request, and answers an unsaved carrier with 0001-01-01 dates', async () => {
    for (const body of [undefined, '', 'null']) {
      const answer = await agents('CreateDefaultWebhook', { body });
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ WebhookId: 0, State: 'Active', Registered: '0001-01-01T00:00:00', Updated: '0001-01-01T00:00:00', NotifyVia: 'None', NotifyWhen: 'None', ErrorEmails: [] });
    }
  });

  it('takes the entity itself as the body, camelCase members and enums by number, and keeps the wrapped form', async () => {
    const saved = await agents('SaveWebhook', { body: JSON.stringify(carrier({ notifyVia: 3, notifyWhen: 'firstfailure, Disabling' })) });
    expect(saved.status).toBe(200);
    expect(saved.json).toMatchObject({ Name: 'netserver conventions', State: 'Active', NotifyVia: 'Email, InApp', NotifyWhen: 'FirstFailure, Disabling' });
    const wrapped = await agents('SaveWebhook', { body: JSON.stringify({ Webhook: { ...saved.json, Name: 'wrapped' } }) });
    expect(wrapped.json).toMatchObject({ WebhookId: saved.json.WebhookId, Name: 'wrapped', NotifyVia: 'Email, InApp' });
  });

  it('reads simple arguments from the query string in any case; one given in both the query and the body is a 400 naming it', async () => {
    const saved = (await agents('SaveWebhook', { body: JSON.stringify(carrier({ name: 'by query' })) })).json;
    expect((await agents('GetWebhook', { query: `?webhookId=${saved.WebhookId}` })).json).toMatchObject({ WebhookId: saved.WebhookId, Name: 'by query' });
    expect((await agents('GetWebhook', { query: `?WEBHOOKID=${saved.WebhookId}`, body: 'null' })).json).toMatchObject({ WebhookId: saved.WebhookId });
    expect((await agents('GetAllWebhooks', { query: '?nameFilter=BY%20QUERY&statusFilter=1' })).json.map((w: any) => w.WebhookId)).toEqual([saved.WebhookId]);

    const both = await agents('GetWebhook', { query: `?WebhookId=${saved.WebhookId}`, body: JSON.stringify({ webhookId: saved.WebhookId }) });
    expect(both).toMatchObject({ status: 400, json: { ErrorType: 'BadRequest', Field: 'WebhookId' } });
    expect(both.json.Message).toMatch(/WebhookId is given both in the query string and in the body/);
    expect((await agents('GetWebhook', { query: '?webhookId=seven' })).json).toMatchObject({ Field: 'WebhookId', Message: expect.stringMatching(/whole number/) });

    expect((await agents('DeleteWebhook', { query: `?WebhookId=${saved.WebhookId}` })).status).toBe(204);
    expect((await agents('GetWebhook', { query: `?webhookId=${saved.WebhookId}` })).json).toBeNull();
  });

  it('refuses an ErrorEmails item that is not an address and a NotifyVia that is not a flag, storing nothing', async () => {
    const before = (await agents('GetAllWebhooks')).json.length;
    const badEmail = await agents('SaveWebhook', { body: JSON.stringify(carrier({ errorEmails: ['ops@example.com', 'not an address'] })) });
    expect(badEmail).toMatchObject({ status: 400, json: { ErrorType: 'ValidationError', Field: 'ErrorEmails' } });
    expect(badEmail.json.Message).toMatch(/"not an address", which is not an email address/);
    const badFlag = await agents('SaveWebhook', { body: JSON.stringify(carrier({ notifyVia: 'Pigeon' })) });
    expect(badFlag).toMatchObject({ status: 400, json: { Field: 'NotifyVia' } });
    expect((await agents('GetAllWebhooks')).json.length).toBe(before);
  });
});

describe('the NetServer 12.4 notification members on both doors', () => {
  it('round-trip through a node-soap client generated from our WSDL, and REST sees what SOAP saved', async () => {
    const client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    const [saved] = await call(client, 'SaveWebhook', {
      Webhook: {
        WebhookId: 0, Name: 'soap 12.4', Events: { string: ['contact.created'] }, TargetUrl: receiver.url, State: 'Active', Type: 'webhook',
        ErrorEmails: { string: ['a@example.com', 'b@example.com'] }, ErrorAssociates: { MDOListItem: [{ Id: 7, Name: 'Test Associate' }] },
        NotifyVia: 'Email InApp', NotifyWhen: 'Disabling',
      },
    });
    const id = Number(saved.Response.WebhookId);
    const [got] = await call(client, 'GetWebhook', { WebhookId: id });
    expect(got.Response.ErrorEmails.string).toEqual(['a@example.com', 'b@example.com']);
    expect(got.Response.ErrorAssociates.MDOListItem).toEqual([expect.objectContaining({ Id: 7, Name: 'Test Associate' })]);
    expect(got.Response.NotifyVia).toEqual(expect.stringMatching(/^Email InApp$/));
    expect(got.Response.NotifyWhen).toBe('Disabling');

    const rest = (await agents('GetWebhook', { query: `?webhookId=${id}` })).json;
    expect(rest).toMatchObject({ ErrorEmails: ['a@example.com', 'b@example.com'], ErrorAssociates: [{ Id: 7, Name: 'Test Associate' }], NotifyVia: 'Email, InApp', NotifyWhen: 'Disabling' });
  });

  it('a client that does not know them (an older proxy) leaves them as stored when it saves', async () => {
    const saved = (await agents('SaveWebhook', { body: JSON.stringify(carrier({ name: 'kept', errorEmails: ['keep@example.com'], notifyWhen: 2, notifyVia: 1 })) })).json;
    const old = await postEnvelope(
      t.soapUrl,
      envelope(
        `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>${saved.WebhookId}</WebhookId><Name>kept, renamed</Name>` +
          `<Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events>` +
          `<TargetUrl>${receiver.url}</TargetUrl><State>Active</State><Type>webhook</Type></Webhook></SaveWebhook>`,
        t.ticket,
      ),
    );
    expect(old.status).toBe(200);
    expect((await agents('GetWebhook', { query: `?webhookId=${saved.WebhookId}` })).json).toMatchObject({
      Name: 'kept, renamed', ErrorEmails: ['keep@example.com'], NotifyVia: 'Email', NotifyWhen: 'Disabling',
    });
  });

  it('SuperOffice\'s client reads them into its typed carrier', async () => {
    const door = webapiDoor(t.service.url, t.ticket);
    expect((await door.createDefault()).ok).toBe(true);
    const { WebhookAgent } = require('@superoffice/webapi') as typeof import('@superoffice/webapi');
    const agent = new WebhookAgent(`${t.service.url}/api/`, { headers: { Authorization: `SOTicket ${t.ticket}` } });
    const saved = await agent.saveWebhookAsync({ ...carrier({ name: 'typed', state: 'Active' }), errorEmails: ['typed@example.com'], notifyVia: 2, notifyWhen: 1 } as any);
    expect(saved).toMatchObject({ name: 'typed', errorEmails: ['typed@example.com'], notifyVia: 2, notifyWhen: 1 });
  });
});

describe('xs:long beyond 2^53', () => {
  const BIG = '9007199254740993';

  it('is stored and answered exactly by SOAP and REST, whichever door saved it', async () => {
    const soapSave = await postEnvelope(
      t.soapUrl,
      envelope(
        `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>long via soap</Name>` +
          `<Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events>` +
          `<TargetUrl>${receiver.url}</TargetUrl><State>Active</State><Type>webhook</Type>` +
          `<Properties><StringObjectKeyValuePair><Key>big</Key><Value xsi:type="xs:long">${BIG}</Value></StringObjectKeyValuePair></Properties></Webhook></SaveWebhook>`,
        t.ticket,
      ),
    );
    expect(soapSave.status).toBe(200);
    expect(soapSave.text).toContain(`<Value xsi:type="xs:long">${BIG}</Value>`);
    const id = /<WebhookId>(\d+)<\/WebhookId>/.exec(soapSave.text)![1];
    const rest = await agents('GetWebhook', { query: `?webhookId=${id}` });
    expect(rest.text).toContain(`"big":${BIG}`);

    // REST in (a raw literal: JSON.parse would round it to ...992), SOAP out.
    const restSave = await agents('SaveWebhook', { body: `{"name":"long via rest","events":["contact.created"],"targetUrl":"${receiver.url}","properties":{"big":${BIG},"small":-12}}` });
    expect(restSave.status).toBe(200);
    expect(restSave.text).toContain(`"big":${BIG}`);
    const soapGet = await postEnvelope(t.soapUrl, envelope(`<GetWebhook xmlns="${TNS}"><WebhookId>${restSave.json.WebhookId}</WebhookId></GetWebhook>`, t.ticket));
    expect(soapGet.text).toContain(`<Value xsi:type="xs:long">${BIG}</Value>`);
    expect(soapGet.text).toContain('<Value xsi:type="xs:int">-12</Value>');
  });

  it('survives a merge patch of another member exactly', async () => {
    const saved = await agents('SaveWebhook', { body: `{"name":"long patched","events":["contact.created"],"targetUrl":"${receiver.url}","properties":{"big":${BIG}}}` });
    const patched = await fetch(`${t.service.url}/api/v1/Webhook/${saved.json.WebhookId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${t.ticket}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ Description: 'patched' }),
    });
    const text = await patched.text();
    expect(patched.status).toBe(200);
    expect(text).toContain(`"big":${BIG}`);
    expect(text).toContain('"Description":"patched"');
  });

  it('beyond xs:long is refused, naming Properties', async () => {
    const answer = await agents('SaveWebhook', { body: `{"events":["contact.created"],"targetUrl":"${receiver.url}","properties":{"huge":99999999999999999999}}` });
    expect(answer).toMatchObject({ status: 400, json: { Field: 'Properties' } });
    const soap = await postEnvelope(
      t.soapUrl,
      envelope(
        `<TestWebhook xmlns="${TNS}"><Webhook><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>a.b</a:string></Events><TargetUrl>${receiver.url}</TargetUrl>` +
          `<Properties><StringObjectKeyValuePair><Key>huge</Key><Value xsi:type="xs:long">99999999999999999999</Value></StringObjectKeyValuePair></Properties></Webhook></TestWebhook>`,
        t.ticket,
      ),
    );
    expect(soap.status).toBe(500);
    expect(soap.text).toMatch(/<faultstring>Properties\[huge\] is typed xs:long but &quot;99999999999999999999&quot; is not a whole number within xs:long/);
  });
});

describe('tenant paths', () => {
  const soapPath = '/Remote/Services88/Webhook.svc';

  it('serves the WSDL under /{ContextIdentifier}/ with soap:address on that path, and a client generated from it works', async () => {
    const wsdl = await (await fetch(`${t.service.url}/${TENANT}${soapPath}?wsdl`)).text();
    expect(wsdl).toContain(`<soap:address location="${t.service.url}/${TENANT}${soapPath}"`);
    const root = await (await fetch(`${t.service.url}${soapPath}?wsdl`)).text();
    expect(root).toContain(`<soap:address location="${t.service.url}${soapPath}"`);

    // No endpoint override: the client posts where the tenant WSDL says.
    const client = await createSoapClient(`${t.service.url}/${TENANT}${soapPath}?wsdl`, `${t.service.url}/${TENANT}${soapPath}`, t.ticket);
    const [defaults] = await call(client, 'CreateDefaultWebhook', {});
    expect(defaults.Response).toMatchObject({ WebhookId: 0, State: 'Active' });
  });

  it('serves the REST door under /{ContextIdentifier}/api/, also to SuperOffice\'s client', async () => {
    const list = await fetch(`${t.service.url}/${TENANT}/api/v1/Webhook`, { headers: { authorization: `Bearer ${t.ticket}` } });
    expect(list.status).toBe(200);
    expect(Array.isArray(await list.json())).toBe(true);
    const door = webapiDoor(`${t.service.url}/${TENANT}`, t.ticket);
    expect(await door.createDefault()).toMatchObject({ ok: true, value: { WebhookId: 0 } });
  });

  it('answers another tenant\'s path with a 404 naming the configured one, on both doors', async () => {
    const soap = await fetch(`${t.service.url}/Cust99999${soapPath}?wsdl`);
    expect(soap.status).toBe(404);
    expect(await soap.text()).toMatch(/no tenant "Cust99999" here: this service serves Cust12345/);
    const rest = await fetch(`${t.service.url}/Cust99999/api/v1/Webhook`, { headers: { authorization: `Bearer ${t.ticket}` } });
    expect(rest.status).toBe(404);
    expect(await rest.json()).toMatchObject({ Error: true, ErrorType: 'NotFound', Message: expect.stringMatching(/serves Cust12345/) });
  });
});
