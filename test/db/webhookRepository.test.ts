import { createDefaultWebhook } from '../../src/core/webhook';
import { findWebhook, insertWebhook, listWebhooks } from '../../src/db/webhookRepository';
import { startTestService, type TestService } from '../support/testService';

/**
 * The webhook reads take arrays as JSON and times as epoch milliseconds (faster to parse than
 * pg's text forms): what they return must be exactly what pg's own parsers return for the same
 * row, for awkward values too.
 */
describe('webhook reads return what pg itself would parse', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
  });
  afterAll(async () => t.stop());

  async function parsedByPg(webhookId: number): Promise<{ registered: Date; updated: Date; events: string[]; error_emails: string[] }> {
    const [row] = await t.service.db.dataSource.query('SELECT registered, updated, events, error_emails FROM webhook WHERE webhook_id = $1', [webhookId]);
    return row;
  }

  it.each([
    ['a time with milliseconds', '2026-12-02 14:52:34.123+00'],
    ['a time with a fraction below a millisecond', '2026-12-02 14:52:34.1239+00'],
    ['a time before 1970 with a fraction below a millisecond', '1969-12-31 23:59:59.9995+00'],
    ["NetServer's empty date, 0001-01-01", '0001-01-01 00:00:00+00'],
    ['a time in another zone', '2026-06-30 23:30:00.5-07:30'],
  ])('%s', async (_name, stored) => {
    const events = ['contact.created', 'with "quotes", commas {braces} and \\backslash', 'ünïcödé.✓', 'NULL', ''];
    const saved = await insertWebhook(t.service.db.dataSource, { ...createDefaultWebhook(), name: 'times', targetUrl: 'https://example.com/hook', events, errorEmails: ['a@example.com', 'b,"c"@example.com'] });
    await t.service.db.dataSource.query('UPDATE webhook SET registered = $2::timestamptz, updated = $2::timestamptz WHERE webhook_id = $1', [saved.webhookId, stored]);
    const pg = await parsedByPg(saved.webhookId);
    const found = await findWebhook(t.service.db.dataSource, saved.webhookId);
    const listed = (await listWebhooks(t.service.db.dataSource, {})).find((w) => w.webhookId === saved.webhookId);
    for (const read of [found!, listed!]) {
      expect(read.registered!.getTime()).toBe(pg.registered.getTime());
      expect(read.updated!.getTime()).toBe(pg.updated.getTime());
      expect(read.events).toEqual(pg.events);
      expect(read.events).toEqual(events);
      expect(read.errorEmails).toEqual(pg.error_emails);
    }
  });
});
