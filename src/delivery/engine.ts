/**
 * Wires the delivery engine to the core: SignalEvent, the state-change hook, and (optionally)
 * an in-process worker. `serve` runs one; `worker` runs only the loop.
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config';
import { callerContext, type Caller } from '../core/caller';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import type { WebhookManager } from '../core/WebhookManager';
import { WebhookState, type AssociateRef, type TypedEntry, type Webhook } from '../core/webhook';
import type { Logger } from '../logger';
import type { DeliveryMetrics } from '../metrics';
import { findDelivery, holdOpenDeliveries, redeliverDeliveries, redeliverFailedSince, releaseHeldDeliveries, type Redelivered } from './sql/deliveries';
import { emitStateChangeEvent, newEvent, signalAudience, stateEventOfNewWebhook, validateSignal, type SignalledEvent } from './signal';
import type { InsertTail } from '../db/webhookRepository';
import { SignalBatcher } from './signalBatcher';
import { purgeExpired, RetentionLoop } from './retention';
import { DeliveryWorker } from './worker';
import { ListenerWakeup } from './wakeListeners';
import { NotificationSender } from '../notifications/sender';
import { traceSignal } from '../tracing';
import type { PurgeCounts } from './sql/retention';

export class DeliveryEngine {
  worker: DeliveryWorker | null = null;
  /** Sends the notification outbox's emails; runs wherever a worker runs. */
  notifications: NotificationSender | null = null;
  retention: RetentionLoop | null = null;
  private manager: WebhookManager | null = null;
  /** Set before startWorker to count attempts for GET /metrics. */
  metrics: DeliveryMetrics | null = null;
  /** Other processes' workers hear of signals through this, after each signal's commit. */
  private readonly listeners: ListenerWakeup;
  /** SignalEvents arriving together commit together. */
  private readonly signals: SignalBatcher;

  constructor(
    private readonly ds: DataSource,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.listeners = new ListenerWakeup(ds, logger);
    this.signals = new SignalBatcher(ds, config.holdDeliveriesWhileTooManyErrors);
  }

  /** Hooks SignalEvent and state changes of the manager into this engine. */
  attach(manager: WebhookManager): this {
    this.manager = manager;
    manager.setEventSignaller((eventName, primaryKey, data, caller) => this.signalEvent(eventName, primaryKey, data, caller).then(() => undefined));
    manager.onStateChange({
      changed: (tx, webhook, from, to, actor) => this.onStateChange(tx, webhook, from, to, actor),
      created: (webhook, actor) => this.stateEventOfNewWebhook(webhook, actor),
    });
    return this;
  }

  /** Returns once the event and its deliveries are committed; scoped to the caller's application (signal.ts). */
  async signalEvent(eventName: string, primaryKey: number, data: TypedEntry[] | null, caller: Caller): Promise<SignalledEvent> {
    validateSignal(eventName, primaryKey, data);
    const { associate, application } = callerContext(caller);
    const signalled = await traceSignal(eventName, async (traceParent) => {
      const event = newEvent(eventName, primaryKey, data, associate.associateId, signalAudience(application), traceParent);
      return { eventId: event.eventId, deliveries: await this.signals.record(event) };
    });
    if (signalled.deliveries > 0) {
      this.wakeSoon();
      // Workers of other processes, if any are alive (or this process has no worker to know it).
      if (!this.worker || this.worker.otherWorkersAlive) this.listeners.request();
    }
    return signalled;
  }

  /** In the save's transaction: hold or release the webhook's deliveries and emit its state event. */
  private async onStateChange(tx: EntityManager, webhook: Webhook, from: WebhookState, to: WebhookState, actor: AssociateRef): Promise<void> {
    if (to === WebhookState.Active) await releaseHeldDeliveries(tx, webhook.webhookId);
    else await holdOpenDeliveries(tx, [webhook.webhookId]);
    const deliveries = await emitStateChangeEvent(tx, webhook.webhookId, webhook.name, webhook.application, from, to, actor.associateId, null, this.config.holdDeliveriesWhileTooManyErrors);
    // Still inside the transaction: the worker cannot see these rows yet, so wake it once more shortly after.
    if (deliveries > 0 || to === WebhookState.Active) this.wakeSoon(50);
  }

  /** A new webhook's state event, in its INSERT statement; wakes the worker once that committed with deliveries. */
  private stateEventOfNewWebhook(webhook: Webhook, actor: AssociateRef): InsertTail<number> | null {
    const tail = stateEventOfNewWebhook(webhook, actor.associateId, this.config.holdDeliveriesWhileTooManyErrors);
    if (!tail) return null;
    return {
      ...tail,
      read: (row) => {
        const deliveries = tail.read(row);
        if (deliveries > 0) this.wakeSoon();
        return deliveries;
      },
    };
  }

  /**
   * Sends a failed delivery again with a fresh attempt cycle (sql/deliveries.ts redeliverDeliveries). The
   * caller must see its webhook (application isolation): otherwise, as for a deleted webhook, it
   * does not exist.
   */
  async redeliverDelivery(deliveryId: string, caller?: Caller): Promise<Redelivered> {
    if (!/^\d{1,18}$/.test(deliveryId)) throw new ValidationError(`DeliveryId ${JSON.stringify(deliveryId.slice(0, 40))} must be a whole number.`, 'DeliveryId');
    const delivery = await findDelivery(this.ds, deliveryId);
    if (!delivery || !(await this.visibleWebhook(delivery.webhookId, caller))) {
      throw new NotFoundError(`There is no delivery ${deliveryId} of an existing webhook; list a webhook's deliveries with webhook-agent deliveries list --webhook ID.`);
    }
    if (delivery.status !== 'failed') {
      throw new ConflictError(`Delivery ${deliveryId} is ${delivery.status}; only failed deliveries can be redelivered (pending and held ones are still on their way).`);
    }
    const [redelivered] = await redeliverDeliveries(this.ds, [deliveryId]);
    if (!redelivered) throw new ConflictError(`Delivery ${deliveryId} changed while it was being redelivered; look at it again.`);
    this.wakeSoon();
    return redelivered;
  }

  /** Redelivers every failed delivery of a webhook created at or after `since`, in batches; `onProgress` gets the running total. */
  async redeliverWebhook(webhookId: number, since: Date, caller?: Caller, onProgress?: (done: number) => void): Promise<RedeliveryTotals> {
    if (Number.isNaN(since.getTime())) throw new ValidationError('Since must be an ISO-8601 time, e.g. 2026-11-30T08:00:00Z.', 'Since');
    if (!(await this.visibleWebhook(webhookId, caller))) throw new NotFoundError(`There is no webhook with WebhookId ${webhookId}.`);
    const totals: RedeliveryTotals = { redelivered: 0, pending: 0, held: 0 };
    let after = '0';
    for (;;) {
      const batch = await redeliverFailedSince(this.ds, webhookId, since, after, REDELIVERY_BATCH);
      for (const r of batch) totals[r.status] += 1;
      totals.redelivered += batch.length;
      if (batch.length > 0) {
        after = batch[batch.length - 1].deliveryId;
        this.wakeSoon();
        onProgress?.(totals.redelivered);
      }
      if (batch.length < REDELIVERY_BATCH) return totals;
    }
  }

  private async visibleWebhook(webhookId: number, caller?: Caller): Promise<boolean> {
    if (!this.manager) throw new Error('DeliveryEngine.attach(manager) must be called before redelivering');
    return (await this.manager.getWebhook(webhookId, caller)) !== null;
  }

  /** Purges old rows every RETENTION_INTERVAL_MS in the background (not at all when 0). */
  startRetention(): RetentionLoop {
    this.retention ??= new RetentionLoop(this.ds, retentionCutoffs(this.config), this.config.retentionIntervalMs, this.logger);
    this.retention.start();
    return this.retention;
  }

  /** One purge now (`webhook-agent purge`); `dryRun` counts what it would delete. */
  purge(dryRun = false): Promise<PurgeCounts> {
    return purgeExpired(this.ds, retentionCutoffs(this.config), { dryRun });
  }

  startWorker(): DeliveryWorker {
    const { smtpUrl, smtpFrom, smtpTimeoutMs, pollIntervalMs } = this.config;
    this.notifications ??= new NotificationSender(this.ds, { smtpUrl, smtpFrom, smtpTimeoutMs, pollIntervalMs }, this.logger);
    this.notifications.start();
    this.worker ??= new DeliveryWorker(this.ds, { ...workerOptions(this.config), metrics: this.metrics }, this.logger, () => this.wakeSoon(), () => this.notifications?.wake());
    this.worker.start();
    return this.worker;
  }

  private wakeSoon(delayMs = 0): void {
    if (!this.worker) return;
    if (delayMs === 0) this.worker.wake();
    else setTimeout(() => this.worker?.wake(), delayMs).unref();
  }

  async close(): Promise<void> {
    await Promise.all([this.worker?.stop(), this.retention?.stop(), this.notifications?.stop(), this.listeners.settled()]);
  }
}

export interface RedeliveryTotals {
  redelivered: number;
  /** Due now. */
  pending: number;
  /** Held until the webhook is Active again. */
  held: number;
}

const REDELIVERY_BATCH = 500;

export function retentionCutoffs(config: Config) {
  return { retentionDays: config.retentionDays, failedRetentionDays: config.failedRetentionDays };
}

export function workerOptions(config: Config) {
  return {
    concurrency: config.workerConcurrency,
    batchSize: config.workerBatchSize,
    // Only a backstop: live workers keep their claims by heartbeat (worker.ts beat()).
    leaseMs: config.deliveryTimeoutMs + config.leaseMarginMs,
    heartbeatMs: config.workerHeartbeatMs,
    deadAfterMs: config.workerDeadAfterMs,
    holdForTooManyErrors: config.holdDeliveriesWhileTooManyErrors,
    pollIntervalMs: config.pollIntervalMs,
    deliveryTimeoutMs: config.deliveryTimeoutMs,
    allowPrivateTargets: config.allowPrivateTargets,
    allowedTargetCidrs: config.allowedTargetCidrs,
    maxInFlightPerWebhook: config.webhookMaxInFlight,
    contextIdentifier: config.contextIdentifier,
    policy: { retryScheduleMs: config.retryScheduleMs, consecutiveErrorLimit: config.consecutiveErrorLimit },
    listenUrl: config.databaseUrl,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  };
}
