import type { Logger } from '../logger';
import { ChannelListener } from './channelListener';

/**
 * Notified when a transaction that changed a webhook row commits, with that webhook's id ('' for
 * a TRUNCATE): by the webhook table's trigger (migrations WebhookChangedNotify and
 * WebhookChangedById), or for a save by the saving process right after its commit
 * (db/webhookChanges.ts).
 */
export const WEBHOOK_CHANGED_CHANNEL = 'webhook_changed';

export interface WebhookReadCacheOptions {
  /** Webhooks kept at most, and lists kept at most; the oldest go first. */
  maxEntries: number;
  /** A row is read again after this long, notification or not (a backstop: the trigger is the mechanism). */
  maxAgeMs: number;
  now?: () => number;
}

interface Entry {
  value: unknown;
  storedAt: number;
}

/**
 * Webhook rows as the doors' reads last found them (GetWebhook, GET /api/v1/Webhook/{id}, and
 * GetAllWebhooks' lists, by filter), so a read of unchanged webhooks costs no round trip: that
 * round trip was most of a read's cost (issue 11: PostgreSQL's CPU plus pg's in Node, as much as
 * the whole bare route).
 *
 * Why a read is never staler than a commit's notification:
 * - The cache serves only while its LISTEN on WEBHOOK_CHANGED_CHANNEL is in effect. Every commit
 *   that changed a webhook row, from any process or from SQL, notifies it with that webhook's id
 *   (a save just after its commit, before it answers; a save's process that dies in between
 *   leaves other caches stale until maxAgeMs),
 *   and it forgets that webhook and every list (a TRUNCATE's empty payload: everything). When the
 *   connection is lost it forgets everything and reads through until LISTEN is back, since
 *   notifications sent meanwhile are lost.
 * - A read that was on its way when its webhook changed (for a list: any webhook) does not store
 *   what it found: it may have read the row before the commit (the change sequence).
 * - This process's own writes call forget() after they commit, before they answer, so a caller
 *   reads its own write at once; another process's write arrives by notification, typically
 *   well under a millisecond after its commit.
 *
 * Why by webhook: every record of deliveries changes its webhooks' counters, so a service that
 * delivers all the time is notified many times a second. When each notification emptied the
 * cache, GetWebhook of a webhook no delivery touched hit 73% at 200 signals/s to another one.
 *
 * Values are copied on the way in and out (`copy`; structuredClone unless the caller knows a
 * cheaper one): a caller may change the webhook it was given without changing the cache.
 */
export class WebhookReadCache {
  private readonly webhooks = new Map<number, Entry>();
  private readonly lists = new Map<string, Entry>();
  /** Counts changes (one webhook's or everything): a read stores what it found only if none that concerns it came meanwhile. */
  private sequence = 0;
  /** The sequence of the last forget() of everything. */
  private everythingAt = 0;
  /** The sequence of each webhook's last change, kept only while reads are on their way (they are what ask). */
  private readonly webhookChangedAt = new Map<number, number>();
  private readsOnTheirWay = 0;
  private listening = false;
  private listener: ChannelListener | null = null;
  private readonly now: () => number;
  /** Reads answered from the cache and from the database (for tests and metrics). */
  hits = 0;
  misses = 0;

  constructor(private readonly options: WebhookReadCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether rows are being served (LISTEN in effect). */
  get active(): boolean {
    return this.listening;
  }

  /** What `load` reads for webhook `webhookId`: cached, or loaded and kept when it did not change meanwhile. null is not kept. */
  readWebhook<T>(webhookId: number, load: () => Promise<T | null>, copy: (value: T) => T = structuredClone): Promise<T | null> {
    return this.read(this.webhooks, webhookId, load, copy, (startedAt) => this.everythingAt <= startedAt && (this.webhookChangedAt.get(webhookId) ?? 0) <= startedAt);
  }

  /** What `load` reads for the list of `filter`: cached, or loaded and kept when no webhook changed meanwhile. null is not kept. */
  readList<T>(filter: string, load: () => Promise<T | null>, copy: (value: T) => T = structuredClone): Promise<T | null> {
    return this.read(this.lists, filter, load, copy, (startedAt) => this.sequence === startedAt);
  }

  private async read<K, T>(entries: Map<K, Entry>, key: K, load: () => Promise<T | null>, copy: (value: T) => T, unchangedSince: (startedAt: number) => boolean): Promise<T | null> {
    if (!this.active) return load();
    const entry = entries.get(key);
    if (entry && this.now() - entry.storedAt < this.options.maxAgeMs) {
      this.hits++;
      return copy(entry.value as T);
    }
    this.misses++;
    const startedAt = this.sequence;
    this.readsOnTheirWay++;
    let value: T | null;
    try {
      value = await load();
    } finally {
      this.readsOnTheirWay--;
    }
    if (value !== null && unchangedSince(startedAt) && this.active) {
      entries.delete(key); // re-inserted last: Map order is the eviction order
      entries.set(key, { value: copy(value), storedAt: this.now() });
      if (entries.size > this.options.maxEntries) entries.delete(entries.keys().next().value!);
    }
    if (this.readsOnTheirWay === 0) this.webhookChangedAt.clear();
    return value;
  }

  /** Forgets everything: written by this process and committed, a TRUNCATE, or notifications that may have been missed. */
  forget(): void {
    this.everythingAt = ++this.sequence;
    this.webhooks.clear();
    this.lists.clear();
    this.webhookChangedAt.clear();
  }

  /** Forgets one webhook and every list (any list may hold it, or now should). */
  forgetWebhook(webhookId: number): void {
    this.sequence++;
    if (this.readsOnTheirWay > 0) this.webhookChangedAt.set(webhookId, this.sequence);
    this.webhooks.delete(webhookId);
    this.lists.clear();
  }

  /** A notification's payload: the id of the webhook that changed; anything else (a TRUNCATE's ''): everything. */
  private changed(payload: string): void {
    if (/^\d{1,10}$/.test(payload)) this.forgetWebhook(Number(payload));
    else this.forget();
  }

  /** Starts LISTENing on `url`; rows are served from the moment LISTEN is in effect. */
  listen(url: string, logger: Logger, retryMs = 1000): void {
    this.listener ??= new ChannelListener({
      url,
      channel: WEBHOOK_CHANGED_CHANNEL,
      onNotification: (payload) => this.changed(payload),
      onListening: (listening) => {
        // Either way, what is held may have missed a notification: start empty.
        this.forget();
        this.listening = listening;
      },
      failureMessage: 'LISTEN for webhook changes failed; webhook reads go to the database until it works again',
      retryMs,
      logger,
    });
    this.listener.start();
  }

  async close(): Promise<void> {
    this.listening = false;
    this.forget();
    await this.listener?.stop();
    this.listener = null;
  }
}
