import type { DataSource } from 'typeorm';
import type { Logger } from '../logger';
import { preparedQuery } from './preparedQuery';
import { WEBHOOK_CHANGED_CHANNEL } from './webhookReadCache';

/**
 * The transaction-local setting that keeps webhook_changed's row trigger quiet (migration
 * ChangesAnnouncedAfterCommit): the writer announces the change itself, after its commit.
 */
export const ANNOUNCED_AFTER_COMMIT_SETTING = 'webhook_agent.announced_after_commit';

/**
 * A CTE for a write statement on the webhook table that its caller announces after the commit.
 * The statement must read it (PostgreSQL skips a CTE nothing reads, unless it writes); its row
 * trigger fires at the end of the statement, after the CTE turned the setting on.
 */
export const ANNOUNCED_CTE = `announced AS (SELECT set_config('${ANNOUNCED_AFTER_COMMIT_SETTING}', 'on', true) AS setting)`;

// A transaction of its own that waits for no WAL flush: it changes no data, and the notify lock
// is held until its commit is done. PostgreSQL folds nothing here: each id is its own payload.
const ANNOUNCE = `SELECT set_config('synchronous_commit', 'off', true) AS "asyncCommit",
  (SELECT count(pg_notify('${WEBHOOK_CHANGED_CHANNEL}', id)) FROM unnest($1::text[]) AS id)::int AS announced`;

/**
 * Announces committed webhook changes on WEBHOOK_CHANGED_CHANNEL, as the row trigger would have
 * at their commit, for writers that committed without it (the saves of core/WebhookManager.ts):
 * a NOTIFY inside a save's transaction made saves commit one at a time.
 *
 * Ids announced while a NOTIFY statement is on its way go together in the next one, so
 * concurrent saves share a round trip. announce() resolves once its id was sent, so a save
 * answers after other processes' read caches were told, as with the trigger. If the process
 * dies between a commit and its announcement, or the database cannot be reached then, other
 * processes' caches keep the old row until WEBHOOK_CACHE_MS (their backstop); this process's
 * own cache forgets at once (the manager's forget()).
 */
export class WebhookChangeAnnouncer {
  private pending = new Set<number>();
  private waiters: Array<() => void> = [];
  private sending: Promise<void> | null = null;
  private failureLogged = false;

  constructor(
    private readonly ds: DataSource,
    private readonly logger?: Logger,
  ) {}

  /** Resolves once the change of `webhookId` was announced (or could not be: it never rejects). */
  announce(webhookId: number): Promise<void> {
    this.pending.add(webhookId);
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.sending ??= this.send();
    });
  }

  private async send(): Promise<void> {
    try {
      // `sending` is cleared in the same turn as the last check: no announce() falls between.
      while (this.pending.size > 0) {
        const ids = [...this.pending].map(String);
        const waiters = this.waiters;
        this.pending = new Set();
        this.waiters = [];
        try {
          await preparedQuery(this.ds, 'webhook_changes_announce', ANNOUNCE, [ids]);
          this.failureLogged = false;
        } catch (error) {
          // Committed all the same; other processes' caches catch up at WEBHOOK_CACHE_MS. Said once per outage.
          if (!this.failureLogged) this.logger?.warn({ err: (error as Error).message, webhookIds: ids }, 'could not announce webhook changes; other processes may serve the old rows until WEBHOOK_CACHE_MS');
          this.failureLogged = true;
        } finally {
          for (const resolve of waiters) resolve();
        }
      }
    } finally {
      this.sending = null;
    }
  }
}
