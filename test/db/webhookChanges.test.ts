import { Client, type Notification } from 'pg';
import { createDefaultWebhook, WebhookState } from '../../src/core/webhook';
import { ANNOUNCED_CTE } from '../../src/db/webhookChanges';
import { WebhookReadCache, WEBHOOK_CHANGED_CHANNEL } from '../../src/db/webhookReadCache';
import { findWebhook } from '../../src/db/webhookRepository';
import { createLogger } from '../../src/logger';
import { loadConfig } from '../../src/config';
import { ACTOR, createWebhook, SECRET, sleep, startCheckingReceiver, waitFor } from '../delivery/helpers';
import { startTestService, type TestService } from '../support/testService';

/**
 * A save commits without NOTIFY and announces its webhook on webhook_changed right after
 * (db/webhookChanges.ts, migration ChangesAnnouncedAfterCommit); every other write is still
 * announced by the table's trigger. What a LISTENing process hears must not change: one
 * notification per change, with the webhook's id, whoever wrote it.
 */

/** Long enough for a second notification of the same change to arrive, if one were sent. */
const SETTLE_MS = 300;

describe('webhook changes announced after their commit', () => {
  let t: TestService;
  /** A LISTENing connection, as another process's read cache has. */
  let listener: Client;
  /** Another process's connection, for writes by SQL. */
  let other: Client;
  let heard: string[] = [];

  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
    listener = new Client({ connectionString: t.service.db.url });
    await listener.connect();
    listener.on('notification', (n: Notification) => {
      if (n.channel === WEBHOOK_CHANGED_CHANNEL) heard.push(n.payload ?? '');
    });
    await listener.query(`LISTEN ${WEBHOOK_CHANGED_CHANNEL}`);
    other = new Client({ connectionString: t.service.db.url });
    await other.connect();
  });
  afterAll(async () => {
    await other.end();
    await listener.end();
    await t.stop();
  });

  /** What the listener heard while `write` ran and SETTLE_MS after it (what earlier writes announced has arrived first). */
  async function heardDuring(write: () => Promise<unknown>): Promise<string[]> {
    await sleep(SETTLE_MS);
    heard = [];
    await write();
    await sleep(SETTLE_MS);
    return heard;
  }

  const stopped = (name: string) => ({ ...createDefaultWebhook(), name, targetUrl: 'http://127.0.0.1:9/hook', state: WebhookState.Stopped });

  it('announces a created webhook once, with its id, by the time the save answers', async () => {
    let id = 0;
    let heardByAnswer: string[] = [];
    const notifications = await heardDuring(async () => {
      id = (await t.service.manager.saveWebhook(stopped('created'), ACTOR)).webhookId;
      // Sent before the answer; it may still be on its way to this connection.
      heardByAnswer = await waitFor('the announcement', () => (heard.length > 0 ? [...heard] : null), 2000, 1);
    });
    expect(heardByAnswer).toEqual([String(id)]);
    expect(notifications).toEqual([String(id)]);
  });

  it('announces an updated webhook once, also when its state changes (its state event and released deliveries are in the same transaction)', async () => {
    const receiver = await startCheckingReceiver(SECRET);
    try {
      const saved = await createWebhook(t.service.manager, receiver.url, ['changes.test'], { state: WebhookState.Stopped });
      expect(await heardDuring(() => t.service.manager.saveWebhook({ ...saved, name: 'updated' }, ACTOR))).toEqual([String(saved.webhookId)]);
      expect(await heardDuring(() => t.service.manager.saveWebhook({ ...saved, name: 'updated, active', state: WebhookState.Active }, ACTOR))).toEqual([String(saved.webhookId)]);
    } finally {
      await receiver.close();
    }
  });

  it('still announces every other write by the trigger: SQL from another process, a rotation, a deletion', async () => {
    const saved = await t.service.manager.saveWebhook(stopped('written otherwise'), ACTOR);
    const id = String(saved.webhookId);
    expect(await heardDuring(() => other.query('UPDATE webhook SET total_calls = total_calls + 1 WHERE webhook_id = $1', [saved.webhookId]))).toEqual([id]);
    expect(await heardDuring(() => t.service.manager.rotateSecret(saved.webhookId, { secret: 'whsec_QkFTRTY0IHNlY3JldCBmb3IgdGhlIHRlc3Q=', overlapSeconds: 0 }, ACTOR))).toEqual([id]);
    expect(await heardDuring(() => t.service.manager.deleteWebhook(saved.webhookId))).toEqual([id]);
  });

  it('keeps the trigger quiet only for the transaction that asked: the next one on the same connection is announced by it', async () => {
    const saved = await t.service.manager.saveWebhook(stopped('quiet once'), ACTOR);
    const quiet = await heardDuring(() => other.query(`WITH ${ANNOUNCED_CTE} UPDATE webhook SET name = 'quiet' FROM announced WHERE webhook_id = $1`, [saved.webhookId]));
    expect(quiet).toEqual([]);
    const loud = await heardDuring(() => other.query(`UPDATE webhook SET name = 'loud' WHERE webhook_id = $1`, [saved.webhookId]));
    expect(loud).toEqual([String(saved.webhookId)]);
  });

  it("makes another process's read cache forget the saved webhook, long before its max age", async () => {
    const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
    const elsewhere = new WebhookReadCache({ maxEntries: 100, maxAgeMs: 10 * 60_000 });
    elsewhere.listen(t.service.db.url, createLogger(config));
    try {
      await waitFor('the other cache to listen', () => elsewhere.active, 10_000);
      const saved = await t.service.manager.saveWebhook(stopped('seen elsewhere'), ACTOR);
      const read = () => elsewhere.readWebhook(saved.webhookId, () => findWebhook(t.service.db.dataSource, saved.webhookId));
      await waitFor('a read from the other cache', async () => {
        const hits = elsewhere.hits;
        await read();
        return elsewhere.hits > hits;
      }, 5000, 1);
      await t.service.manager.saveWebhook({ ...saved, name: 'renamed, seen elsewhere' }, ACTOR);
      await waitFor('the other cache to show the save', async () => (await read())!.name === 'renamed, seen elsewhere', 5000, 1);
    } finally {
      await elsewhere.close();
    }
  });
});
