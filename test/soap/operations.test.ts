import type * as soap from 'soap';
import { startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';

describe('SOAP operations through node-soap\'s client', () => {
  let t: TestService;
  let client: soap.Client;
  let receiver: Receiver;

  beforeAll(async () => {
    t = await startTestService();
    client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(async () => {
    await receiver.close();
    await t.stop();
  });

  it('CreateDefaultWebhook returns an unsaved webhook with NetServer\'s defaults', async () => {
    const [result] = await call(client, 'CreateDefaultWebhook', {});
    expect(result.Response).toMatchObject({ WebhookId: 0, Type: 'webhook', State: 'Active' });
    expect(result.Response.Events.string).toEqual(['contact.created', 'contact.deleted']);
    const [all] = await call(client, 'GetAllWebhooks', {});
    expect(all.Response ?? {}).toEqual({});
  });

  it('SaveWebhook stores a verified webhook and GetWebhook reads it back', async () => {
    const [saved] = await call(client, 'SaveWebhook', {
      Webhook: {
        WebhookId: 0,
        Name: 'Contact Handler',
        Events: { string: ['contact.created'] },
        TargetUrl: receiver.url,
        Secret: 'Something Super Secret',
        State: 'Active',
        Type: 'webhook',
      },
    });
    const id = saved.Response.WebhookId;
    expect(id).toBeGreaterThan(0);
    expect(saved.Response.RegisteredAssociate).toMatchObject({ AssociateId: 7, Name: 'Test Associate' });
    const [got] = await call(client, 'GetWebhook', { WebhookId: id });
    expect(got.Response).toMatchObject({ WebhookId: id, Name: 'Contact Handler', TargetUrl: receiver.url, State: 'Active' });
    expect(got.Response.Events.string).toEqual(['contact.created']);
  });
});
