/**
 * Retention: purges old events, finished deliveries and attempt-log rows in small batches, each
 * its own short statement, so neither a purge nor its locks stand in the way of the workers.
 * Any number of processes may run it at once (the batches skip rows another one holds).
 */
import type { DataSource } from 'typeorm';
import { dropExpiredPreviousSecrets } from '../db/previousSecret';
import type { Logger } from '../logger';
import { countPurgeable, purgeAttempts, purgeDeliveries, purgeEvents, purgeNotifications, type PurgeCounts, type RetentionCutoffs } from './sql/retention';

/** Rows a purge statement deletes at most. */
export const PURGE_BATCH = 500;

/**
 * Deletes everything past its retention, batch by batch (attempts, then deliveries, then the
 * events no delivery refers to); `dryRun` only counts. `stopping` is asked between batches.
 */
export async function purgeExpired(
  ds: DataSource,
  cutoffs: RetentionCutoffs,
  options: { dryRun?: boolean; batchSize?: number; stopping?: () => boolean } = {},
): Promise<PurgeCounts> {
  if (options.dryRun) return countPurgeable(ds, cutoffs);
  const batchSize = options.batchSize ?? PURGE_BATCH;
  // Rotated-out Secrets past their window: never used again (the claim ignores them), so gone.
  await dropExpiredPreviousSecrets(ds);
  const purged: PurgeCounts = { events: 0, deliveries: 0, attempts: 0, notifications: 0 };
  const steps: Array<[keyof PurgeCounts, typeof purgeAttempts]> = [
    ['attempts', purgeAttempts],
    ['deliveries', purgeDeliveries],
    ['events', purgeEvents],
    ['notifications', purgeNotifications],
  ];
  for (const [kind, purge] of steps) {
    for (;;) {
      if (options.stopping?.()) return purged;
      const n = await purge(ds, cutoffs, batchSize);
      purged[kind] += n;
      if (n < batchSize) break;
      // Let other work on the pool go between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return purged;
}

/** Runs purgeExpired every `intervalMs`, the first time shortly after start. */
export class RetentionLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly ds: DataSource,
    private readonly cutoffs: RetentionCutoffs,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer || this.stopped) return;
    // Soon after start (a process restarted more often than the interval still purges), not at once.
    this.schedule(Math.min(this.intervalMs, FIRST_RUN_DELAY_MS));
  }

  /** One purge now (also what the timer runs); resolves with what was deleted. */
  async runOnce(): Promise<PurgeCounts | null> {
    if (this.running) {
      await this.running;
      return null;
    }
    let result: PurgeCounts | null = null;
    this.running = (async () => {
      try {
        const started = Date.now();
        result = await purgeExpired(this.ds, this.cutoffs, { stopping: () => this.stopped });
        if (result.events + result.deliveries + result.attempts + result.notifications > 0) this.logger.info({ ...result, ms: Date.now() - started, ...this.cutoffs }, 'retention: purged old rows');
      } catch (error) {
        if (!this.stopped) this.logger.warn({ err: (error as Error).message }, 'retention purge failed; trying again at the next interval');
      }
    })();
    await this.running;
    this.running = null;
    return result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runOnce().then(() => {
        if (!this.stopped) this.schedule(this.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }
}

const FIRST_RUN_DELAY_MS = 60_000;
