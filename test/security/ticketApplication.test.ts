import { hashApplicationToken } from '../../src/core/caller';
import { createTicket } from '../../src/core/tickets';
import { envelope, postEnvelope, TNS } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';

/**
 * A ticket bound to an application acts as that application even when a request carries no
 * application token, and is refused with another application's token; operator tickets (not
 * bound) see everything.
 */
describe('tickets bound to an application', () => {
  let t: TestService;
  let appTicket: string;

  const save = (ticket: string, name: string, appToken?: string) =>
    postEnvelope(
      t.soapUrl,
      envelope(
        `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>0</WebhookId><Name>${name}</Name><Events xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><a:string>contact.created</a:string></Events><TargetUrl>http://127.0.0.1:9/hook</TargetUrl><State>Stopped</State></Webhook></SaveWebhook>`,
        ticket,
      ).replace('</s:Header>', appToken ? `<ApplicationToken xmlns="${TNS}">${appToken}</ApplicationToken></s:Header>` : '</s:Header>'),
    );
  const names = async (ticket: string, appToken?: string) => {
    const response = await fetch(`${t.service.url}/api/v1/Webhook`, { headers: { authorization: `Bearer ${ticket}`, ...(appToken ? { 'SO-AppToken': appToken } : {}) } });
    expect(response.status).toBe(200);
    return ((await response.json()) as Array<{ Name: string }>).map((w) => w.Name).sort();
  };

  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
    appTicket = await createTicket(t.service.db.dataSource, 'App A integration', 11, hashApplicationToken('app-a-token'));
    expect((await save(t.ticket, 'operator-owned')).status).toBe(200);
    expect((await save(t.ticket, 'owned by B', 'app-b-token')).status).toBe(200);
  });
  afterAll(async () => t.stop());

  it('saves as its application and sees only that application\'s webhooks, with no token sent', async () => {
    expect((await save(appTicket, 'owned by A')).status).toBe(200);
    expect(await names(appTicket)).toEqual(['owned by A']);
    expect(await names(appTicket, 'app-a-token')).toEqual(['owned by A']);
    // The operator's ticket still sees every webhook; with B's token, only B's.
    expect(await names(t.ticket)).toEqual(['operator-owned', 'owned by A', 'owned by B']);
    expect(await names(t.ticket, 'app-b-token')).toEqual(['owned by B']);
  });

  it('is refused with another application\'s token on both doors, changing nothing', async () => {
    const before = await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook');
    const soap = await save(appTicket, 'sneaky', 'app-b-token');
    expect(soap.status).toBe(500);
    expect(soap.text).toContain('<faultcode>soap:Client</faultcode>');
    expect(soap.text).toContain('belongs to another application');
    const rest = await fetch(`${t.service.url}/api/v1/Webhook`, { headers: { authorization: `Bearer ${appTicket}`, 'SO-AppToken': 'app-b-token' } });
    expect(rest.status).toBe(401);
    expect(await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook')).toEqual(before);
  });
});
