import { loadConfig } from '../../src/config';
import { createTicket } from '../../src/core/tickets';
import { createLogger } from '../../src/logger';
import { startService } from '../../src/service';
import { startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient } from '../support/soapClient';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

describe('restart', () => {
  let database: TestDatabase;
  let receiver: Receiver;
  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startReceiver((_req, res) => res.writeHead(200).end());
  });
  afterAll(async () => {
    await receiver.close();
    await database.drop();
  });

  it(`keeps webhooks and tickets across a stop and start of the service`, async () => {
    const config = loadConfig({ ...database.env, PORT: '0', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false' });
    const first = await startService(config, createLogger(config));
    const ticket = await createTicket(first.db.dataSource, 'restart', 3);
    const client = await createSoapClient(`${first.url}/Remote/Services88/Webhook.svc?wsdl`, `${first.url}/Remote/Services88/Webhook.svc`, ticket);
    const [saved] = await call(client, 'SaveWebhook', { Webhook: { Name: 'survivor', Events: { string: ['a.b'] }, TargetUrl: receiver.url } });
    await first.close();

    const second = await startService(config, createLogger(config));
    try {
      const again = await createSoapClient(`${second.url}/Remote/Services88/Webhook.svc?wsdl`, `${second.url}/Remote/Services88/Webhook.svc`, ticket);
      const [got] = await call(again, 'GetWebhook', { WebhookId: saved.Response.WebhookId });
      expect(got.Response).toMatchObject({ Name: 'survivor', TargetUrl: receiver.url, RegisteredAssociate: { AssociateId: 3 } });
    } finally {
      await second.close();
    }
  });
});
