import { ValidationError } from '../../src/core/errors';
import { WebhookRows } from '../../src/core/webhookRows';
import { createDefaultWebhook, WebhookState } from '../../src/core/webhook';
import { closedPort } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';

/** WebhookRows is NetServer's WebhookRow: field validation, then a plain write, no network check. */
describe('WebhookRows (unverified repository)', () => {
  let t: TestService;
  let rows: WebhookRows;
  beforeAll(async () => {
    t = await startTestService();
    rows = new WebhookRows(t.service.db.dataSource, { allowHttpTargets: true });
  });
  afterAll(async () => t.stop());

  it('stores an Active webhook whose target does not even listen, without contacting it', async () => {
    const port = await closedPort();
    const saved = await rows.save({ ...createDefaultWebhook(), name: 'imported', targetUrl: `http://127.0.0.1:${port}/hook`, state: WebhookState.Active });
    expect(saved.webhookId).toBeGreaterThan(0);
    expect(saved.state).toBe(WebhookState.Active);
    const again = await rows.get(saved.webhookId);
    expect(again).toMatchObject({ name: 'imported', events: ['contact.created', 'contact.deleted'] });
  });

  it('still applies the field rules, storing nothing on a violation', async () => {
    const before = (await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n;
    await expect(rows.save({ ...createDefaultWebhook(), targetUrl: 'ftp://example.com/' })).rejects.toBeInstanceOf(ValidationError);
    await expect(rows.save({ ...createDefaultWebhook(), targetUrl: 'https://example.com/', events: ['no-dots'] })).rejects.toThrow(/not an event name/);
    expect((await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n).toBe(before);
  });

  it('updates and deletes by id', async () => {
    const saved = await rows.save({ ...createDefaultWebhook(), name: 'v1', targetUrl: 'https://example.com/a' });
    const updated = await rows.save({ ...saved, name: 'v2' });
    expect(updated).toMatchObject({ webhookId: saved.webhookId, name: 'v2' });
    expect(await rows.delete(saved.webhookId)).toBe(true);
    expect(await rows.get(saved.webhookId)).toBeNull();
  });
});
