import type * as soap from 'soap';
import { signSuperOffice } from '../../src/outbound/signer';
import { startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';

/** Every operation through node-soap's client generated from our ?wsdl, against a running server. */
describe('SOAP operations through node-soap\'s client', () => {
  let t: TestService;
  let client: soap.Client;
  let receiver: Receiver;

  const webhook = (overrides: Record<string, unknown> = {}) => ({
    WebhookId: 0,
    Name: 'Contact Handler',
    Events: { string: ['contact.created', 'contact.changed'] },
    TargetUrl: receiver.url,
    Secret: 'Something Super Secret',
    State: 'Active',
    Type: 'webhook',
    ...overrides,
  });

  beforeAll(async () => {
    t = await startTestService();
    client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(async () => {
    await receiver.close();
    await t.stop();
  });

  it('CreateDefaultWebhook returns an unsaved webhook with NetServer\'s defaults and stores nothing', async () => {
    const [result, , header] = await call(client, 'CreateDefaultWebhook', {});
    expect(result.Response).toMatchObject({ WebhookId: 0, Type: 'webhook', State: 'Active' });
    expect(result.Response.Events.string).toEqual(['contact.created', 'contact.deleted']);
    expect(String(header.Succeeded)).toBe('true');
    const count = await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook');
    expect(count[0].n).toBe(0);
  });

  it('SaveWebhook verifies the target with a signed test POST, stores the webhook and records the associate', async () => {
    receiver.requests.length = 0;
    const [saved] = await call(client, 'SaveWebhook', { Webhook: webhook() });
    const id = saved.Response.WebhookId;
    expect(id).toBeGreaterThan(0);
    expect(saved.Response.RegisteredAssociate).toMatchObject({ AssociateId: 7, Name: 'Test Associate' });
    expect(saved.Response.UpdatedAssociate).toMatchObject({ AssociateId: 7 });
    expect(Math.abs(new Date(saved.Response.Registered).getTime() - Date.now())).toBeLessThan(60_000);

    expect(receiver.requests).toHaveLength(1);
    const test = receiver.requests[0];
    expect(test.headers['x-hook-test']).toBe('true');
    expect(test.headers['x-superoffice-signature']).toBe(signSuperOffice('Something Super Secret', test.body));
    const payload = JSON.parse(test.body.toString('utf8'));
    expect(payload).toMatchObject({ Event: 'test', Entity: 'test', PrimaryKey: 0, Changes: [], ChangedByAssociateId: 7, WebhookName: 'Contact Handler' });
    expect(payload.EventId).toMatch(/^[0-9a-f-]{36}$/);

    const [got] = await call(client, 'GetWebhook', { WebhookId: id });
    expect(got.Response).toMatchObject({ WebhookId: id, Name: 'Contact Handler', TargetUrl: receiver.url, State: 'Active', Secret: 'Something Super Secret', TotalCalls: 0 });
    expect(got.Response.Events.string).toEqual(['contact.created', 'contact.changed']);
  });

  it('SaveWebhook with an id updates the webhook, keeping Registered and changing Updated', async () => {
    const [created] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: 'before' }) });
    const id = created.Response.WebhookId;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [updated] = await call(client, 'SaveWebhook', { Webhook: webhook({ WebhookId: id, Name: 'after', Events: { string: ['sale.created'] } }) });
    expect(updated.Response).toMatchObject({ WebhookId: id, Name: 'after' });
    expect(updated.Response.Events.string).toEqual(['sale.created']);
    expect(new Date(updated.Response.Registered).getTime()).toBe(new Date(created.Response.Registered).getTime());
    expect(new Date(updated.Response.Updated).getTime()).toBeGreaterThan(new Date(created.Response.Updated).getTime());
  });

  it('round-trips Headers and typed Properties (string, int, boolean, double, dateTime)', async () => {
    const [saved] = await call(client, 'SaveWebhook', {
      Webhook: webhook({
        Headers: { StringKeyValuePair: [{ Key: 'Authorization', Value: 'Bearer abc' }, { Key: 'X-Tenant', Value: 'acme' }] },
        Properties: {
          StringObjectKeyValuePair: [
            { Key: 'tenant', Value: { attributes: { 'xsi:type': 'xs:string' }, $value: 'acme' } },
            { Key: 'count', Value: { attributes: { 'xsi:type': 'xs:int' }, $value: 42 } },
            { Key: 'flag', Value: { attributes: { 'xsi:type': 'xs:boolean' }, $value: true } },
            { Key: 'ratio', Value: { attributes: { 'xsi:type': 'xs:double' }, $value: 0.5 } },
            { Key: 'since', Value: { attributes: { 'xsi:type': 'xs:dateTime' }, $value: '2024-01-02T03:04:05Z' } },
          ],
        },
      }),
    });
    const [, raw] = await call(client, 'GetWebhook', { WebhookId: saved.Response.WebhookId });
    expect(raw).toContain('<StringKeyValuePair><Key>Authorization</Key><Value>Bearer abc</Value></StringKeyValuePair>');
    expect(raw).toContain('<Key>count</Key><Value xsi:type="xs:int">42</Value>');
    expect(raw).toContain('<Key>flag</Key><Value xsi:type="xs:boolean">true</Value>');
    expect(raw).toContain('<Key>ratio</Key><Value xsi:type="xs:double">0.5</Value>');
    expect(raw).toContain('<Key>since</Key><Value xsi:type="xs:dateTime">2024-01-02T03:04:05.000Z</Value>');
    expect(raw).toContain('<Key>tenant</Key><Value xsi:type="xs:string">acme</Value>');
    // The test payload carried the Properties as top-level members.
    const lastTest = JSON.parse(receiver.requests[receiver.requests.length - 1].body.toString('utf8'));
    expect(lastTest).toMatchObject({ tenant: 'acme', count: 42, flag: true, ratio: 0.5, since: '2024-01-02T03:04:05.000Z' });
    expect(receiver.requests[receiver.requests.length - 1].headers.authorization).toBe('Bearer abc');
  });

  it('GetWebhook of an unknown id answers a nil Response, not a fault', async () => {
    const [result, raw] = await call(client, 'GetWebhook', { WebhookId: 999999 });
    expect(result?.Response ?? null).toBeNull();
    expect(raw).toMatch(/<Response xsi:nil="true" xmlns:xsi="http:\/\/www.w3.org\/2001\/XMLSchema-instance"\/>/);
  });

  it('GetAllWebhooks filters by case-insensitive name substring, event and state; empty filters list all', async () => {
    const [a] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: 'Alpha ORDERS', Events: { string: ['order.created'] } }) });
    const [b] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: 'beta orders', Events: { string: ['order.deleted'] }, State: 'Stopped' }) });
    const ids = (result: any) => (result.Response?.Webhook ?? []).map((w: any) => w.WebhookId);

    const [byName] = await call(client, 'GetAllWebhooks', { NameFilter: 'a ORDERS' });
    expect(ids(byName)).toEqual([a.Response.WebhookId, b.Response.WebhookId]);
    const [byEvent] = await call(client, 'GetAllWebhooks', { EventFilter: 'order.deleted' });
    expect(ids(byEvent)).toEqual([b.Response.WebhookId]);
    const [byState] = await call(client, 'GetAllWebhooks', { NameFilter: 'orders', StatusFilter: 'Stopped' });
    expect(ids(byState)).toEqual([b.Response.WebhookId]);
    const [unknownState] = await call(client, 'GetAllWebhooks', { NameFilter: 'orders', StatusFilter: 'Unknown' });
    expect(ids(unknownState)).toHaveLength(2);
    const [none] = await call(client, 'GetAllWebhooks', { NameFilter: 'no such name' });
    expect(ids(none)).toEqual([]);
    // % and _ in a filter are literal characters, not wildcards.
    const [percent] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: '100% orders_x' }) });
    const [literal] = await call(client, 'GetAllWebhooks', { NameFilter: '0% ORDERS_' });
    expect(ids(literal)).toEqual([percent.Response.WebhookId]);
    const [wildcard] = await call(client, 'GetAllWebhooks', { NameFilter: 'a%o' });
    expect(ids(wildcard)).toEqual([]);
    const [all] = await call(client, 'GetAllWebhooks', {});
    expect(ids(all).length).toBeGreaterThanOrEqual(2);
  });

  it('a one-element GetAllWebhooks result stays an array of Webhook', async () => {
    const [one] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: 'Singleton-xyz' }) });
    const [, raw] = await call(client, 'GetAllWebhooks', { NameFilter: 'singleton-XYZ' });
    expect(raw.match(/<Webhook>/g)).toHaveLength(1);
    expect(raw).toContain(`<Response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"><Webhook><WebhookId>${one.Response.WebhookId}</WebhookId>`);
  });

  it('answers are UTF-8 with an exact Content-Length, whatever the client sent as Content-Type: names in three scripts and an emoji come back whole', async () => {
    const name = 'Ærøskøbing ✓ Ελληνικά 日本 🚀 & <x>';
    const [saved] = await call(client, 'SaveWebhook', { Webhook: webhook({ Name: name, State: 'Stopped' }) });
    for (const contentType of ['text/xml; charset=utf-8', 'text/xml']) {
      const answer = await fetch(t.soapUrl, {
        method: 'POST',
        headers: { 'content-type': contentType, soapaction: '"http://www.superoffice.net/ws/crm/NetServer/Services88/Webhook/GetAllWebhooks"' },
        body: `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><Credentials xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"><Ticket>${t.ticket}</Ticket></Credentials></s:Header><s:Body><GetAllWebhooks xmlns="http://www.superoffice.net/ws/crm/NetServer/Services88"><NameFilter>Ærøskøbing</NameFilter></GetAllWebhooks></s:Body></s:Envelope>`,
      });
      const bytes = Buffer.from(await answer.arrayBuffer());
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('text/xml; charset=utf-8');
      expect(Number(answer.headers.get('content-length'))).toBe(bytes.length);
      const text = bytes.toString('utf8');
      expect(text).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?><soap:Envelope [^>]*><soap:Header><Succeeded xmlns="[^"]+">true<\/Succeeded><\/soap:Header><soap:Body><GetAllWebhooksResponse /);
      expect(text).toContain(`<WebhookId>${saved.Response.WebhookId}</WebhookId><Name>Ærøskøbing ✓ Ελληνικά 日本 🚀 &amp; &lt;x&gt;</Name>`);
      expect(text.endsWith('</Response></GetAllWebhooksResponse></soap:Body></soap:Envelope>')).toBe(true);
    }
    const [listed] = await call(client, 'GetAllWebhooks', { NameFilter: 'Ærøskøbing' });
    expect(listed.Response.Webhook.map((w: any) => w.Name)).toEqual([name]);
  });

  it('TestWebhook posts the test payload to the given target, stores nothing and reports the answer', async () => {
    const teapot = await startReceiver((_req, res) => res.writeHead(418, { 'X-Why': 'tea' }).end('short and stout'));
    try {
      const before = await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook');
      const [ok] = await call(client, 'TestWebhook', { Webhook: webhook({ Name: 'probe' }) });
      expect(ok.Response.Success).toBe(true);
      expect(ok.Response.Message).toContain('200');
      const [bad] = await call(client, 'TestWebhook', { Webhook: webhook({ TargetUrl: teapot.url }) });
      expect(bad.Response.Success).toBe(false);
      expect(bad.Response.Message).toContain('418');
      expect(bad.Response.Message).toContain('short and stout');
      expect(teapot.requests[0].headers['x-hook-test']).toBe('true');
      const after = await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook');
      expect(after[0].n).toBe(before[0].n);
    } finally {
      await teapot.close();
    }
  });

  it('GetLastError answers an empty string for a webhook with no errors and for an unknown id', async () => {
    const [saved] = await call(client, 'SaveWebhook', { Webhook: webhook() });
    const [known] = await call(client, 'GetLastError', { WebhookId: saved.Response.WebhookId });
    expect(known.Response ?? '').toBe('');
    const [unknown] = await call(client, 'GetLastError', { WebhookId: 424242 });
    expect(unknown.Response ?? '').toBe('');
  });

  it('DeleteWebhook removes the webhook; deleting it again is a soap:Client fault', async () => {
    const [saved] = await call(client, 'SaveWebhook', { Webhook: webhook() });
    const id = saved.Response.WebhookId;
    const [, raw, header] = await call(client, 'DeleteWebhook', { WebhookId: id });
    expect(raw).toContain('DeleteWebhookResponse');
    expect(String(header.Succeeded)).toBe('true');
    const [got] = await call(client, 'GetWebhook', { WebhookId: id });
    expect(got?.Response ?? null).toBeNull();
    await expect(call(client, 'DeleteWebhook', { WebhookId: id })).rejects.toMatchObject({
      root: { Envelope: { Body: { Fault: { faultcode: 'soap:Client', faultstring: expect.stringContaining(`WebhookId ${id}`) } } } },
    });
  });
});
