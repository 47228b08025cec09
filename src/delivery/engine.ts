/**
 * Wires the delivery engine to the core: SignalEvent, the state-change hook, and (optionally)
 * an in-process worker. `serve` runs one; `worker` runs only the loop.
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config';
import type { WebhookManager } from '../core/WebhookManager';
import { WebhookState, type AssociateRef, type TypedEntry, type Webhook } from '../core/webhook';
import type { Logger } from '../logger';
import { ErrorMailer } from './notifier';
import { holdOpenDeliveries, releaseHeldDeliveries } from './queue';
import { emitStateChangeEvent, recordEvent, validateSignal, type SignalledEvent } from './signal';
import { DeliveryWorker } from './worker';

export class DeliveryEngine {
  readonly mailer: ErrorMailer;
  worker: DeliveryWorker | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.mailer = new ErrorMailer({ smtpUrl: config.smtpUrl, smtpFrom: config.smtpFrom, timeoutMs: config.smtpTimeoutMs }, logger);
  }

  /** Hooks SignalEvent and state changes of the manager into this engine. */
  attach(manager: WebhookManager): this {
    manager.setEventSignaller((eventName, primaryKey, data, actor) => this.signalEvent(eventName, primaryKey, data, actor).then(() => undefined));
    manager.onStateChange((tx, webhook, from, to, actor) => this.onStateChange(tx, webhook, from, to, actor));
    return this;
  }

  /** Returns once the event and its deliveries are committed. */
  async signalEvent(eventName: string, primaryKey: number, data: TypedEntry[] | null, actor: AssociateRef): Promise<SignalledEvent> {
    validateSignal(eventName, primaryKey, data);
    const signalled = await recordEvent(this.ds, eventName, primaryKey, data, actor.associateId);
    if (signalled.deliveries > 0) this.wakeSoon();
    return signalled;
  }

  /** In the save's transaction: hold or release the webhook's deliveries and emit its state event. */
  private async onStateChange(tx: EntityManager, webhook: Webhook, from: WebhookState | null, to: WebhookState, actor: AssociateRef): Promise<void> {
    if (from !== null) {
      if (to === WebhookState.Active) await releaseHeldDeliveries(tx, webhook.webhookId);
      else await holdOpenDeliveries(tx, [webhook.webhookId]);
    }
    const deliveries = await emitStateChangeEvent(tx, webhook.webhookId, webhook.name, from, to, actor.associateId, null);
    // Still inside the transaction: the worker cannot see these rows yet, so wake it once more shortly after.
    if (deliveries > 0 || to === WebhookState.Active) this.wakeSoon(50);
  }

  startWorker(): DeliveryWorker {
    this.worker ??= new DeliveryWorker(this.ds, workerOptions(this.config), this.logger, this.mailer, () => this.wakeSoon());
    this.worker.start();
    return this.worker;
  }

  private wakeSoon(delayMs = 0): void {
    if (!this.worker) return;
    if (delayMs === 0) this.worker.wake();
    else setTimeout(() => this.worker?.wake(), delayMs).unref();
  }

  async close(): Promise<void> {
    await this.worker?.stop();
    await this.mailer.close();
  }
}

export function workerOptions(config: Config) {
  return {
    concurrency: config.workerConcurrency,
    batchSize: config.workerBatchSize,
    // A claim must outlast the slowest send plus recording it.
    leaseMs: config.deliveryTimeoutMs + config.leaseMarginMs,
    pollIntervalMs: config.pollIntervalMs,
    deliveryTimeoutMs: config.deliveryTimeoutMs,
    allowPrivateTargets: config.allowPrivateTargets,
    contextIdentifier: config.contextIdentifier,
    policy: { retryScheduleMs: config.retryScheduleMs, consecutiveErrorLimit: config.consecutiveErrorLimit },
    listenUrl: config.databaseUrl,
  };
}
