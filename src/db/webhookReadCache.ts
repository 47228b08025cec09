import type { Logger } from '../logger';
import { ChannelListener } from './channelListener';

/** Notified by the webhook table's trigger when a transaction that changed a webhook row commits (WebhookChangedNotify migration). */
export const WEBHOOK_CHANGED_CHANNEL = 'webhook_changed';

export interface WebhookReadCacheOptions {
  /** Entries (a webhook, or a list) kept at most; the oldest go first. */
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
 *   that changed a webhook row, from any process or from SQL, notifies it, and it forgets every
 *   row. When the connection is lost it forgets everything and reads through until LISTEN is
 *   back, since notifications sent meanwhile are lost.
 * - A read that was on its way when something was forgotten does not store what it found: it
 *   may have read the row before the commit (the generation check).
 * - This process's own writes call forget() after they commit, before they answer, so a caller
 *   reads its own write at once; another process's write arrives by notification, typically
 *   well under a millisecond after its commit.
 *
 * Values are copied on the way in and out (`copy`; structuredClone unless the caller knows a
 * cheaper one): a caller may change the webhook it was given without changing the cache.
 */
export class WebhookReadCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every forget(): a read that began before one must not store what it found. */
  private generation = 0;
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

  /**
   * What `load` reads for `key` (a webhook's id, a list's filter): cached, or loaded and kept when
   * nothing changed meanwhile. null is not kept.
   */
  async read<T>(key: string, load: () => Promise<T | null>, copy: (value: T) => T = structuredClone): Promise<T | null> {
    if (!this.active) return load();
    const entry = this.entries.get(key);
    if (entry && this.now() - entry.storedAt < this.options.maxAgeMs) {
      this.hits++;
      return copy(entry.value as T);
    }
    this.misses++;
    const generation = this.generation;
    const value = await load();
    if (value !== null && generation === this.generation && this.active) {
      this.entries.delete(key); // re-inserted last: Map order is the eviction order
      this.entries.set(key, { value: copy(value), storedAt: this.now() });
      if (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    return value;
  }

  /** Forgets every row: a webhook changed (notified, or written by this process and committed). */
  forget(): void {
    this.generation++;
    this.entries.clear();
  }

  /** Starts LISTENing on `url`; rows are served from the moment LISTEN is in effect. */
  listen(url: string, logger: Logger, retryMs = 1000): void {
    this.listener ??= new ChannelListener({
      url,
      channel: WEBHOOK_CHANGED_CHANNEL,
      onNotification: () => this.forget(),
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
