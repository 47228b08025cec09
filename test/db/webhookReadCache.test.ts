import { Client } from 'pg';
import { createDefaultWebhook, WebhookState } from '../../src/core/webhook';
import { WebhookReadCache } from '../../src/db/webhookReadCache';
import { insertWebhook } from '../../src/db/webhookRepository';
import { loadConfig } from '../../src/config';
import { ACTOR, waitFor } from '../delivery/helpers';
import { startTestService, type TestService } from '../support/testService';

/**
 * The doors' webhook read cache (db/webhookReadCache.ts): it answers repeated reads without the
 * database, and a read never shows a webhook older than the last commit's notification, whoever
 * committed it. The max age is set to ten minutes here, so no test can pass by expiry.
 */

const TEN_MINUTES = String(10 * 60_000);

/** The cache on its own, listening on nothing: made active by hand where a test needs it. */
function listeningCache(options: { maxEntries?: number; maxAgeMs?: number; now?: () => number } = {}): WebhookReadCache {
  const cache = new WebhookReadCache({ maxEntries: options.maxEntries ?? 100, maxAgeMs: options.maxAgeMs ?? 60_000, now: options.now });
  (cache as unknown as { listening: boolean }).listening = true;
  return cache;
}

describe('the read cache on its own', () => {
  it('reads through to the database when it is not listening, and never keeps what it read', async () => {
    const cache = new WebhookReadCache({ maxEntries: 10, maxAgeMs: 60_000 });
    let loads = 0;
    const load = async () => ({ name: `load ${++loads}` });
    expect(await cache.readWebhook(1, load)).toEqual({ name: 'load 1' });
    expect(await cache.readWebhook(1, load)).toEqual({ name: 'load 2' });
    expect(cache.active).toBe(false);
  });

  it('keeps a row until forget(), and a caller that changes its copy changes nothing kept', async () => {
    const cache = listeningCache();
    let loads = 0;
    const load = async () => ({ name: `load ${++loads}`, list: ['a'] });
    const first = await cache.readWebhook(1, load);
    first!.list.push('changed by the caller');
    first!.name = 'changed';
    const second = await cache.readWebhook(1, load);
    expect(second).toEqual({ name: 'load 1', list: ['a'] });
    second!.list.push('changed again');
    expect(await cache.readWebhook(1, load)).toEqual({ name: 'load 1', list: ['a'] });
    expect(loads).toBe(1);
    cache.forget();
    expect(await cache.readWebhook(1, load)).toEqual({ name: 'load 2', list: ['a'] });
  });

  it('does not keep a row whose read was on its way when a change was announced', async () => {
    const cache = listeningCache();
    let release: () => void = () => undefined;
    const slowLoad = () => new Promise<{ name: string; list: string[] }>((resolve) => (release = () => resolve({ name: 'read before the change', list: [] })));
    const reading = cache.readWebhook(1, slowLoad);
    cache.forget(); // a commit's notification arrives while the read is on its way
    release();
    expect((await reading)!.name).toBe('read before the change');
    expect(await cache.readWebhook(1, async () => ({ name: 'read after the change', list: [] }))).toEqual({ name: 'read after the change', list: [] });
  });

  it("forgets one webhook and every list on that webhook's change; the other webhooks stay", async () => {
    const cache = listeningCache();
    const loads: string[] = [];
    const load = (what: string) => async () => {
      loads.push(what);
      return { name: what, list: [] };
    };
    await cache.readWebhook(1, load('1'));
    await cache.readWebhook(2, load('2'));
    await cache.readList('all', load('all'));
    cache.forgetWebhook(1);
    await cache.readWebhook(1, load('1'));
    await cache.readWebhook(2, load('2'));
    await cache.readList('all', load('all'));
    expect(loads).toEqual(['1', '2', 'all', '1', 'all']);
  });

  it("keeps what a read on its way found when another webhook changed, not when its own did (a list: when any did)", async () => {
    const cache = listeningCache();
    const loads: string[] = [];
    const slow = (what: string) => {
      let release: () => void = () => undefined;
      const load = () => new Promise<{ name: string; list: string[] }>((resolve) => (release = () => resolve({ name: what, list: [] })));
      return { load: () => (loads.push(what), load()), release: () => release() };
    };
    const fast = (what: string) => async () => (loads.push(what), { name: what, list: [] });
    // Webhook 1 read while webhook 2 changes: kept.
    let read = slow('1 first');
    let reading = cache.readWebhook(1, read.load);
    cache.forgetWebhook(2);
    read.release();
    await reading;
    expect((await cache.readWebhook(1, fast('1 again')))!.name).toBe('1 first');
    // Webhook 1 read while webhook 1 changes: not kept.
    cache.forgetWebhook(1);
    read = slow('1 before its change');
    reading = cache.readWebhook(1, read.load);
    cache.forgetWebhook(1);
    read.release();
    await reading;
    expect((await cache.readWebhook(1, fast('1 after its change')))!.name).toBe('1 after its change');
    // A list read while any webhook changes: not kept.
    read = slow('list before');
    reading = cache.readList('all', read.load);
    cache.forgetWebhook(7);
    read.release();
    await reading;
    expect((await cache.readList('all', fast('list after')))!.name).toBe('list after');
    expect(loads).toEqual(['1 first', '1 before its change', '1 after its change', 'list before', 'list after']);
  });

  it('does not keep "no such webhook"', async () => {
    const cache = listeningCache();
    let loads = 0;
    const load = async () => (++loads === 1 ? null : { name: 'created since', list: [] });
    expect(await cache.readWebhook(5, load)).toBeNull();
    expect(await cache.readWebhook(5, load)).toEqual({ name: 'created since', list: [] });
  });

  it('reads a row again after its max age, and keeps at most maxEntries rows (the oldest go first)', async () => {
    let now = 1_000_000;
    const cache = listeningCache({ maxEntries: 2, maxAgeMs: 1000, now: () => now });
    const loads: number[] = [];
    const load = (id: number) => async () => {
      loads.push(id);
      return { name: `webhook ${id}`, list: [] };
    };
    await cache.readWebhook(1, load(1));
    now += 999;
    await cache.readWebhook(1, load(1));
    expect(loads).toEqual([1]);
    now += 1;
    await cache.readWebhook(1, load(1));
    expect(loads).toEqual([1, 1]);
    await cache.readWebhook(2, load(2));
    await cache.readWebhook(3, load(3)); // three rows for two places: 1, stored first, goes
    await cache.readWebhook(2, load(2));
    await cache.readWebhook(3, load(3));
    expect(loads).toEqual([1, 1, 2, 3]);
    await cache.readWebhook(1, load(1));
    expect(loads).toEqual([1, 1, 2, 3, 1]);
  });
});

describe('the doors read webhooks through the cache', () => {
  let t: TestService;
  /** Another process's connection: its commits reach this service only by notification. */
  let other: Client;
  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false', WEBHOOK_CACHE_MS: TEN_MINUTES });
    other = new Client({ connectionString: t.service.db.url });
    await other.connect();
    await waitFor('the cache to listen', () => t.service.readCache!.active, 10_000);
  });
  afterAll(async () => {
    await other.end();
    await t.stop();
  });

  async function stored(name: string): Promise<number> {
    const webhook = await insertWebhook(t.service.db.dataSource, { ...createDefaultWebhook(), name, targetUrl: 'https://example.com/hook', state: WebhookState.Stopped });
    return webhook.webhookId;
  }

  it('answers a repeated read from the cache', async () => {
    const id = await stored('cached');
    const cache = t.service.readCache!;
    // The insert's own notification may arrive after the first read and empty the cache once.
    await waitFor('a read from the cache', async () => {
      const hits = cache.hits;
      await t.service.manager.getWebhook(id);
      return cache.hits > hits;
    }, 5000, 1);
    const before = { hits: cache.hits, misses: cache.misses };
    for (let i = 0; i < 5; i++) expect((await t.service.manager.getWebhook(id))!.name).toBe('cached');
    expect(cache.hits - before.hits).toBe(5);
    expect(cache.misses - before.misses).toBe(0);
  });

  it('hands out webhooks whose arrays and objects are their own: changing one changes nothing cached', async () => {
    const id = await stored('nested members');
    await t.service.db.dataSource.query(
      `UPDATE webhook SET events = '{a.b}', error_emails = '{x@example.com}', headers = '[{"key":"h","value":"v"}]', properties = '[{"key":"p","type":"string","value":"1"}]', error_associates = '[{"associateId":1,"name":"n"}]' WHERE webhook_id = $1`,
      [id],
    );
    const read = async () => (await waitFor('the change to be read', async () => {
      const webhook = await t.service.manager.getWebhook(id);
      return webhook!.events[0] === 'a.b' ? webhook : null;
    }, 5000, 1))!;
    const pristine = JSON.stringify(await read());
    const first = await read();
    // Every member that is an object (not a time) is changed in place, whatever members exist.
    const nested = Object.entries(first).filter(([, value]) => value !== null && typeof value === 'object' && !(value instanceof Date));
    expect(nested.map(([name]) => name).sort()).toEqual(['errorAssociates', 'errorEmails', 'events', 'headers', 'properties']);
    for (const [, value] of nested) {
      const list = value as Array<Record<string, unknown> | string>;
      if (typeof list[0] === 'object') list[0].changed = true;
      list.push('added by a caller');
    }
    const hits = t.service.readCache!.hits;
    expect(JSON.stringify(await t.service.manager.getWebhook(id))).toBe(pristine);
    expect(t.service.readCache!.hits).toBe(hits + 1);
  });

  it("shows another process's committed change once its notification arrives, long before the max age", async () => {
    const id = await stored('before');
    await t.service.manager.getWebhook(id);
    await t.service.manager.getWebhook(id); // cached now
    const changedAt = Date.now();
    await other.query('UPDATE webhook SET name = $2 WHERE webhook_id = $1', [id, 'changed elsewhere']);
    await waitFor('the change to be read', async () => (await t.service.manager.getWebhook(id))!.name === 'changed elsewhere', 5000, 1);
    expect(Date.now() - changedAt).toBeLessThan(5000);
  });

  it("shows the delivery engine's counters and state, written by SQL in another transaction", async () => {
    const id = await stored('counted');
    await t.service.manager.getWebhook(id);
    await other.query('UPDATE webhook SET total_calls = total_calls + 3, total_errors = 1, last_error = $2, state = $3 WHERE webhook_id = $1', [id, 'HTTP 500', WebhookState.TooManyErrors]);
    const read = await waitFor('the counters to be read', async () => {
      const webhook = (await t.service.manager.getWebhook(id))!;
      return webhook.totalCalls === 3 ? webhook : null;
    }, 5000, 1);
    expect(read).toMatchObject({ totalErrors: 1, lastError: 'HTTP 500', state: WebhookState.TooManyErrors });
    expect(await t.service.manager.getLastError(id)).toBe('HTTP 500');
  });

  it("keeps answering other webhooks from the cache when one changes elsewhere (a record of deliveries changes its counters)", async () => {
    const cache = t.service.readCache!;
    const quiet = await stored('not delivered to');
    const busy = await stored('delivered to');
    // Both read from the cache (an insert's own notification may arrive after a first read).
    for (const id of [quiet, busy]) {
      await waitFor('a read from the cache', async () => {
        const hits = cache.hits;
        await t.service.manager.getWebhook(id);
        return cache.hits > hits;
      }, 5000, 1);
    }
    await other.query('UPDATE webhook SET total_calls = total_calls + 1 WHERE webhook_id = $1', [busy]);
    await waitFor('the change to be read', async () => (await t.service.manager.getWebhook(busy))!.totalCalls === 1, 5000, 1);
    const before = { hits: cache.hits, misses: cache.misses };
    expect((await t.service.manager.getWebhook(quiet))!.name).toBe('not delivered to');
    expect({ hits: cache.hits - before.hits, misses: cache.misses - before.misses }).toEqual({ hits: 1, misses: 0 });
  });

  it('forgets everything on a TRUNCATE elsewhere', async () => {
    const id = await stored('truncated elsewhere');
    await waitFor('a read from the cache', async () => {
      const hits = t.service.readCache!.hits;
      await t.service.manager.getWebhook(id);
      return t.service.readCache!.hits > hits;
    }, 5000, 1);
    await other.query('TRUNCATE webhook CASCADE');
    await waitFor('the truncation to be read', async () => (await t.service.manager.getWebhook(id)) === null, 5000, 1);
  });

  it('shows a deletion elsewhere', async () => {
    const id = await stored('deleted elsewhere');
    await t.service.manager.getWebhook(id);
    await other.query('DELETE FROM webhook WHERE webhook_id = $1', [id]);
    await waitFor('the deletion to be read', async () => (await t.service.manager.getWebhook(id)) === null, 5000, 1);
  });

  it("reads this process's own save at once, with no wait for the notification", async () => {
    // Stopped: stored without a test POST, so no receiver is needed.
    const saved = await t.service.manager.saveWebhook({ ...createDefaultWebhook(), name: 'mine', targetUrl: 'http://127.0.0.1:9/hook', state: WebhookState.Stopped }, ACTOR);
    await t.service.manager.getWebhook(saved.webhookId);
    await t.service.manager.getWebhook(saved.webhookId); // cached
    // Notifications are held back: only the write's own forget() can make the next read fresh.
    const listener = (t.service.readCache as unknown as { listener: { options: { onNotification: () => void } } }).listener;
    const onNotification = listener.options.onNotification;
    listener.options.onNotification = () => undefined;
    try {
      await t.service.manager.saveWebhook({ ...saved, name: 'mine, renamed' }, ACTOR);
      expect((await t.service.manager.getWebhook(saved.webhookId))!.name).toBe('mine, renamed');
      await t.service.manager.rotateSecret(saved.webhookId, { secret: 'whsec_QkFTRTY0IHNlY3JldCBmb3IgdGhlIHRlc3Q=', overlapSeconds: 0 }, ACTOR);
      expect((await t.service.manager.getWebhook(saved.webhookId))!.secret).toBe('whsec_QkFTRTY0IHNlY3JldCBmb3IgdGhlIHRlc3Q=');
      await t.service.manager.deleteWebhook(saved.webhookId);
      expect(await t.service.manager.getWebhook(saved.webhookId)).toBeNull();
    } finally {
      listener.options.onNotification = onNotification;
    }
  });

  it('answers a repeated GetAllWebhooks from the cache, by filter, and shows a webhook stored elsewhere', async () => {
    const cache = t.service.readCache!;
    const events = ['listed.event'];
    const first = await stored('listed one');
    await t.service.db.dataSource.query('UPDATE webhook SET events = $2 WHERE webhook_id = $1', [first, events]);
    const names = async (eventFilter: string) => (await t.service.manager.getAllWebhooks({ nameFilter: null, eventFilter, statusFilter: WebhookState.Unknown })).map((w) => w.name);
    await waitFor('a list from the cache', async () => {
      const hits = cache.hits;
      await names('listed.event');
      return cache.hits > hits;
    }, 5000, 1);
    expect(await names('listed.event')).toEqual(['listed one']);
    expect(await names('another.event')).toEqual([]); // another filter, another entry
    // Stored by a connection of this process that is not the manager's: only the notification says so.
    const second = await stored('listed two');
    await other.query('UPDATE webhook SET events = $2 WHERE webhook_id = $1', [second, events]);
    await waitFor('the new webhook to be listed', async () => (await names('listed.event')).length === 2, 5000, 1);
    expect(await names('listed.event')).toEqual(['listed one', 'listed two']);
  });

  it('answers a list longer than 1,000 webhooks from the database each time, without keeping it', async () => {
    const cache = t.service.readCache!;
    const template = await stored('one of many');
    await t.service.db.dataSource.query('UPDATE webhook SET events = $2 WHERE webhook_id = $1', [template, ['many.event']]);
    const columns = (await other.query(`SELECT string_agg(quote_ident(column_name), ', ') AS list FROM information_schema.columns WHERE table_name = 'webhook' AND column_name <> 'webhook_id'`)).rows[0].list;
    await other.query(`INSERT INTO webhook (${columns}) SELECT ${columns} FROM webhook, generate_series(1, 1000) WHERE webhook_id = $1`, [template]);
    const list = () => t.service.manager.getAllWebhooks({ nameFilter: null, eventFilter: 'many.event', statusFilter: WebhookState.Unknown });
    await waitFor('the insert to be announced', async () => (await list()).length === 1001, 5000, 1);
    const before = { hits: cache.hits, misses: cache.misses };
    expect((await list()).length).toBe(1001);
    expect((await list()).length).toBe(1001);
    expect({ hits: cache.hits - before.hits, misses: cache.misses - before.misses }).toEqual({ hits: 0, misses: 2 });
  });

  it('stops answering from the cache when its LISTEN connection is cut, and answers again once it listens anew', async () => {
    const id = await stored('through a cut');
    const cache = t.service.readCache!;
    await t.service.manager.getWebhook(id);
    const [{ terminated }] = (await other.query(`SELECT count(pg_terminate_backend(pid))::int AS terminated FROM pg_stat_activity WHERE query = 'LISTEN webhook_changed' AND datname = current_database() AND pid <> pg_backend_pid()`)).rows;
    expect(terminated).toBe(1);
    await waitFor('the cache to stop answering', () => !cache.active, 5000, 1);
    // Changed while nobody listens: no notification will ever say so.
    await other.query('UPDATE webhook SET name = $2 WHERE webhook_id = $1', [id, 'changed during the cut']);
    expect((await t.service.manager.getWebhook(id))!.name).toBe('changed during the cut');
    await waitFor('the cache to listen again', () => cache.active, 10_000);
    await t.service.manager.getWebhook(id);
    const hits = cache.hits;
    expect((await t.service.manager.getWebhook(id))!.name).toBe('changed during the cut');
    expect(cache.hits).toBe(hits + 1);
  });
});

describe('WEBHOOK_CACHE_MS=0', () => {
  it('turns the cache off: the service has none', async () => {
    const t = await startTestService({ RUN_WORKER: 'false', WEBHOOK_CACHE_MS: '0' });
    try {
      expect(t.service.readCache).toBeNull();
    } finally {
      await t.stop();
    }
  });

  it('is refused when negative, with what to set instead', () => {
    expect(() => loadConfig({ WEBHOOK_CACHE_MS: '-1' })).toThrow(/WEBHOOK_CACHE_MS/);
  });
});
