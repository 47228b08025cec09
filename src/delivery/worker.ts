/**
 * The delivery loop: claim due deliveries in batches, POST them concurrently, record the
 * results in batches, apply the policy. Any number of these may share one database.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { headersToRecord, propertiesToJson } from '../core/dictionaries';
import { WebhookState } from '../core/webhook';
import type { Logger } from '../logger';
import { USER_AGENT } from '../version';
import { guardedLookup, isAllowedAddress } from './addressGuard';
import { buildDeliveryHeaders } from './headers';
import { sendWebhook, type SendResult } from './httpSender';
import type { DeliveryMetrics } from '../metrics';
import type { TooManyErrorsNotice } from './notifier';
import { buildPayload, serializePayload } from './payload';
import { classify, counterDelta, describeFailure, nextStep, shouldTrip, type DeliveryPolicy, type Outcome } from './policy';
import {
  addWebhookCounters,
  claimDueDeliveries,
  holdOpenDeliveries,
  insertAttempts,
  nextDueAt,
  releaseClaims,
  settleDeliveries,
  tripWebhooks,
  WAKE_CHANNEL,
  type AttemptRecord,
  type ClaimedDelivery,
  type Settlement,
} from './queue';
import { emitStateChangeEvent } from './signal';
import { enqueueNotifications } from '../notifications/enqueue';

export interface WorkerOptions {
  /** Sends in flight at once. */
  concurrency: number;
  /** Most deliveries claimed, and results recorded, per round trip. */
  batchSize: number;
  /** How long a claim is ours; must outlast a send (timeout) plus recording. */
  leaseMs: number;
  pollIntervalMs: number;
  deliveryTimeoutMs: number;
  allowPrivateTargets: boolean;
  /** Non-public ranges targets may use anyway (ALLOWED_TARGET_CIDRS). */
  allowedTargetCidrs?: string[];
  /** Most claimed-and-unfinished deliveries per webhook across all workers (WEBHOOK_MAX_IN_FLIGHT); omitted: no cap. */
  maxInFlightPerWebhook?: number;
  contextIdentifier: string;
  policy: DeliveryPolicy;
  /** The database URL to LISTEN on (a server, or the embedded server's socket); null: polling only. */
  listenUrl: string | null;
  /** Where attempts and finished deliveries are counted (GET /metrics), if anywhere. */
  metrics?: DeliveryMetrics | null;
  /** How long stop() lets sends in flight finish before releasing their claims. */
  shutdownTimeoutMs: number;
}

interface Finished {
  claim: ClaimedDelivery;
  /** null: not attempted (the webhook was no longer Active when claimed). */
  attempt: AttemptRecord | null;
  outcome: Outcome | null;
  errorText: string | null;
}

const FLUSH_DELAY_MS = 5;
const ERROR_BACKOFF_MS = 1000;

export class DeliveryWorker {
  readonly workerId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private running = false;
  private loop: Promise<void> | null = null;
  private inFlight = 0;
  /** Claims not yet recorded: in flight, buffered, or in the flush being written. They hold leases. */
  private unrecorded = 0;
  /** Set by stop() at its deadline: the claims were released, so late results are dropped, not recorded. */
  private abandoned = false;
  private buffer: Finished[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Deliveries may have fallen due (a signal, a NOTIFY, a recorded retry): claim before the poll interval. */
  private readonly due = new Wakeup();
  /** A send finished or a flush ended: there may be room to claim again. */
  private readonly roomFreed = new Wakeup();
  private listener: Client | null = null;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly lookup;
  /** Deliveries this worker has sent an attempt for (counts, for tests and the bench). */
  sent = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
    /** Called after a commit that created deliveries (state-change events), to wake in-process workers. */
    private readonly onEventsCreated: () => void = () => undefined,
    /** Called after a commit that queued notifications, to wake the in-process sender. */
    private readonly onNotificationsQueued: () => void = () => undefined,
  ) {
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
      https: new https.Agent({ keepAlive: true, maxSockets: options.concurrency }),
    };
    this.lookup = guardedLookup(options.allowPrivateTargets, options.allowedTargetCidrs);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.options.listenUrl) void this.listen(this.options.listenUrl);
    this.loop = this.run();
  }

  /** New deliveries may be due: claim now instead of at the next poll. */
  wake(): void {
    this.due.notify();
  }

  /**
   * Stops claiming, lets sends in flight finish and records them, for up to shutdownTimeoutMs.
   * Then the claims still unfinished are released (queue.releaseClaims) so another worker sends
   * them at once rather than after their lease; results that come in later are dropped.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.due.notify();
    this.roomFreed.notify();
    await this.loop;
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    while ((this.inFlight > 0 || this.buffer.length > 0 || this.flushing) && Date.now() < deadline) {
      await this.flush();
      if (this.inFlight > 0) await this.roomFreed.wait(Math.max(1, Math.min(10, deadline - Date.now())));
    }
    this.abandoned = true;
    if (this.flushing) await settleWithin(this.flushing, RELEASE_GRACE_MS);
    if (this.unrecorded > 0) {
      try {
        const released = await releaseClaims(this.ds, this.workerId);
        this.logger.warn({ released }, 'shutdown deadline passed: released the unfinished claims; other workers send them now');
      } catch (error) {
        // The database is unreachable: the leases expire and another worker sends them then.
        this.logger.error({ err: (error as Error).message }, 'releasing unfinished claims at shutdown failed; they are sent again after their lease');
      }
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async run(): Promise<void> {
    const { concurrency, batchSize, pollIntervalMs } = this.options;
    // Claim in batches: with sends in flight, wait until a useful batch fits rather than
    // claiming one delivery per finished send.
    const minClaim = Math.max(1, Math.min(batchSize, Math.ceil(concurrency / 4)));
    while (this.running) {
      const room = this.room();
      if (room <= 0 || (room < minClaim && this.inFlight > 0)) {
        // Wait for a send or a flush to finish. This must be a real wait: the sends and the
        // flush that free room only progress when the event loop runs.
        await this.roomFreed.wait(pollIntervalMs);
        continue;
      }
      const limit = Math.min(room, batchSize);
      this.due.clear();
      let claimed: ClaimedDelivery[];
      try {
        claimed = await claimDueDeliveries(this.ds, this.workerId, limit, this.options.leaseMs, this.options.maxInFlightPerWebhook);
      } catch (error) {
        if (!this.running) break;
        this.logger.error({ err: (error as Error).message }, 'claiming deliveries failed; retrying');
        await delay(ERROR_BACKOFF_MS);
        continue;
      }
      for (const claim of claimed) this.dispatch(claim);
      if (claimed.length === limit) continue;
      // Nothing more is due now: sleep until woken, the next due time, or the poll interval.
      let waitMs = pollIntervalMs;
      if (claimed.length === 0 && !this.due.pending) {
        try {
          const next = await nextDueAt(this.ds);
          // Due yet not claimed (its webhook is at WEBHOOK_MAX_IN_FLIGHT, or another claim held it):
          // wait for a wake-up or the poll interval, not a busy loop of claims.
          if (next && next.getTime() > Date.now()) waitMs = Math.min(waitMs, next.getTime() - Date.now() + 5);
        } catch {
          // the poll interval covers it
        }
      }
      if (waitMs > 0) await this.due.wait(waitMs);
    }
  }

  /**
   * How many more deliveries to claim now: no more sends than `concurrency`, and no more than
   * 2 x concurrency claims unrecorded, so a slow database bounds what this worker holds.
   */
  private room(): number {
    const { concurrency } = this.options;
    return Math.min(concurrency - this.inFlight, 2 * concurrency - this.unrecorded);
  }

  private dispatch(claim: ClaimedDelivery): void {
    this.inFlight += 1;
    this.unrecorded += 1;
    this.attempt(claim)
      .catch((error: unknown): Finished => {
        // Building the request failed (a corrupt row): record it as a failed attempt.
        const text = `could not send: ${(error as Error).message}`;
        return { claim, attempt: attemptRecord(claim, new Date(), { status: null, error: text, latencyMs: 0, responseBody: '' }), outcome: 'failure', errorText: text };
      })
      .then((finished) => {
        this.inFlight -= 1;
        if (this.abandoned) return; // released at shutdown: another worker sends it
        this.buffer.push(finished);
        this.scheduleFlush();
        this.roomFreed.notify();
      });
  }

  private async attempt(claim: ClaimedDelivery): Promise<Finished> {
    if (claim.webhookState !== WebhookState.Active || !claim.targetUrl) return { claim, attempt: null, outcome: null, errorText: null };
    if (claim.secretError) {
      // Never sent unsigned: recorded as a failed attempt (attempt log, LastError) by dispatch.
      this.logger.error({ webhookId: claim.webhookId, deliveryId: claim.deliveryId }, claim.secretError);
      throw new Error(claim.secretError);
    }
    const now = new Date();
    const body = serializePayload(
      buildPayload({
        eventId: claim.eventId,
        timestamp: new Date(claim.signalledAt),
        eventName: claim.eventName,
        primaryKey: claim.primaryKey,
        data: propertiesToJson(claim.data) ?? {},
        contextIdentifier: this.options.contextIdentifier,
        changedByAssociateId: claim.associateId,
        webhookName: claim.webhookName,
        properties: propertiesToJson(claim.properties),
      }),
    );
    const headers = buildDeliveryHeaders({
      eventName: claim.eventName,
      eventId: claim.eventId,
      retry: claim.attempts,
      webhookHeaders: headersToRecord(claim.headers),
      secret: claim.secret,
      body,
      userAgent: USER_AGENT,
      isTest: false,
      now,
    });
    const refusal = this.refuseIpLiteral(claim.targetUrl);
    const result: Pick<SendResult, 'status' | 'error' | 'latencyMs' | 'responseBody' | 'statusLine'> = refusal
      ? { status: null, statusLine: null, error: refusal, latencyMs: 0, responseBody: '' }
      : await sendWebhook({ url: claim.targetUrl, headers, body, timeoutMs: this.options.deliveryTimeoutMs, lookup: this.lookup }, this.agents);
    this.sent += 1;
    const outcome = classify(result);
    this.options.metrics?.attempt(outcome === 'success' ? 'success' : 'failure', result.latencyMs);
    return { claim, attempt: attemptRecord(claim, now, result), outcome, errorText: outcome === 'success' ? null : describeFailure(result) };
  }

  // Node's lookup hook is not called for IP-literal hosts, so the guard checks those here.
  private refuseIpLiteral(targetUrl: string): string | null {
    if (this.options.allowPrivateTargets) return null;
    let host: string;
    try {
      host = new URL(targetUrl).hostname.replace(/^\[|\]$/g, '');
    } catch {
      return null; // the sender reports the invalid URL
    }
    if (net.isIP(host) && !isAllowedAddress(host, this.options.allowedTargetCidrs)) {
      return `The target address ${host} is a loopback, private, link-local or otherwise non-public address; webhooks may only target public addresses.`;
    }
    return null;
  }

  private scheduleFlush(): void {
    if (this.abandoned) return;
    if (this.buffer.length >= this.options.batchSize || this.inFlight === 0 || !this.running) {
      void this.flush();
      return;
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      void this.flush();
    }, FLUSH_DELAY_MS);
  }

  /** Records buffered results in one transaction; one flush at a time, in completion order. */
  private async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.buffer.length === 0) return;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const batch = this.buffer.splice(0, this.buffer.length);
    this.flushing = this.record(batch)
      .then(
        () => {
          this.unrecorded -= batch.length;
          // Retries were scheduled and claims released: look again for due work.
          this.due.notify();
        },
        async (error: unknown) => {
          // The database is unreachable: keep the results and try again. If this process dies
          // first, the leases expire and the deliveries are sent again (at least once).
          this.logger.error({ err: (error as Error).message, results: batch.length }, 'recording delivery results failed; retrying');
          this.buffer.unshift(...batch);
          await delay(ERROR_BACKOFF_MS);
        },
      )
      .finally(() => {
        this.flushing = null;
        this.roomFreed.notify();
        if (this.buffer.length > 0) this.scheduleFlush();
      });
    return this.flushing;
  }

  private async record(batch: Finished[]): Promise<void> {
    const { policy } = this.options;
    const notices: TooManyErrorsNotice[] = [];
    let eventsCreated = false;
    let notified = 0;
    let settled: Settlement[] = [];
    await this.ds.transaction(async (tx) => {
      await insertAttempts(tx, this.workerId, batch.flatMap((f) => (f.attempt ? [f.attempt] : [])));
      const settlements: Settlement[] = batch.map((f) => {
        if (!f.outcome || !f.attempt) return { deliveryId: f.claim.deliveryId, step: 'requeue', delayMs: 0 };
        const step = nextStep(f.attempt.attemptNumber, f.outcome, policy);
        return { deliveryId: f.claim.deliveryId, step: step.kind, delayMs: step.kind === 'retry' ? step.delayMs : 0 };
      });

      const byWebhook = new Map<number, Finished[]>();
      for (const f of batch) {
        if (!f.outcome) continue;
        const list = byWebhook.get(f.claim.webhookId) ?? [];
        list.push(f);
        byWebhook.set(f.claim.webhookId, list);
      }
      const ids = [...byWebhook.keys()].sort((a, b) => a - b);
      const deltas = ids.map((webhookId) => ({ webhookId, ...counterDelta(byWebhook.get(webhookId)!.map((f) => ({ outcome: f.outcome!, errorText: f.errorText }))) }));
      const counters = await addWebhookCounters(tx, deltas);
      // Webhook rows first (locked in id order by addWebhookCounters), then delivery rows: the
      // order every other writer uses (DeleteWebhook, a save that holds or releases deliveries).
      // The reverse order deadlocked against DeleteWebhook. A retry settled 'pending' here for a
      // webhook that trips below is held by holdOpenDeliveries in the same transaction.
      await settleDeliveries(tx, this.workerId, settlements);
      settled = settlements;

      const toTrip = counters
        .filter((c) => c.state === WebhookState.Active && shouldTrip(c.consecutiveErrors, deltas.find((d) => d.webhookId === c.webhookId)!.gone, policy))
        .map((c) => c.webhookId);
      const tripped = await tripWebhooks(tx, toTrip);
      await holdOpenDeliveries(tx, tripped.map((t) => t.webhookId));
      for (const t of tripped) {
        const failing = [...byWebhook.get(t.webhookId)!].reverse().find((f) => f.outcome !== 'success');
        const deliveries = await emitStateChangeEvent(tx, t.webhookId, t.name, WebhookState.Active, WebhookState.TooManyErrors, 0, t.lastError);
        eventsCreated ||= deliveries > 0;
        notices.push({ ...t, eventId: failing?.claim.eventId ?? null });
      }
      // Notifications (NotifyWhen FirstFailure / Disabling, or the pre-12.4 TooManyErrors email) go
      // into the outbox in this transaction: committed with the state change, sent by NotificationSender.
      const lastFailing = (webhookId: number) => [...byWebhook.get(webhookId)!].reverse().find((f) => f.outcome !== 'success');
      const firstFailures = counters.filter((c) => {
        const delta = deltas.find((d) => d.webhookId === c.webhookId)!;
        return delta.trailingFailures > 0 && c.consecutiveErrors === delta.trailingFailures;
      });
      notified = await enqueueNotifications(tx, [
        ...firstFailures.map((c) => ({ webhookId: c.webhookId, reason: 'FirstFailure' as const, lastError: lastFailing(c.webhookId)?.errorText ?? null, eventId: lastFailing(c.webhookId)?.claim.eventId ?? null, consecutiveErrorLimit: policy.consecutiveErrorLimit })),
        ...notices.map((n) => ({ webhookId: n.webhookId, reason: 'Disabling' as const, lastError: n.lastError, eventId: n.eventId, consecutiveErrorLimit: policy.consecutiveErrorLimit })),
      ]);

    });
    this.options.metrics?.finished('succeeded', settled.filter((x) => x.step === 'succeeded').length);
    this.options.metrics?.finished('failed', settled.filter((x) => x.step === 'failed').length);
    for (const notice of notices) this.logger.warn({ webhookId: notice.webhookId, lastError: notice.lastError }, 'webhook set to TooManyErrors');
    if (notified > 0) this.onNotificationsQueued();
    if (eventsCreated) this.onEventsCreated();
  }

  private async listen(url: string): Promise<void> {
    while (this.running) {
      const client = new Client({ connectionString: url });
      try {
        await client.connect();
        client.on('notification', () => this.wake());
        await client.query(`LISTEN ${WAKE_CHANNEL}`);
        this.listener = client;
        if (!this.running) await client.end();
        // Wait until the connection breaks (a restart), then listen again; polling covers the gap.
        await new Promise<void>((resolve) => {
          client.once('error', () => resolve());
          client.once('end', () => resolve());
        });
      } catch (error) {
        this.logger.warn({ err: (error as Error).message }, 'LISTEN for deliveries failed; polling until it works again');
      }
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      this.listener = null;
      if (this.running) await new Promise((resolve) => setTimeout(resolve, ERROR_BACKOFF_MS));
    }
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long stop() still waits, after its deadline, for a flush already writing. */
const RELEASE_GRACE_MS = 1000;

/** Waits for `work` (success or failure) but no longer than `ms`. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * A wake-up flag with a waiter. notify() before wait() is remembered once, so a wake-up is
 * never lost; wait() consumes it. Each early return needs a fresh notify(), which only I/O
 * callbacks give, so a loop over wait() cannot spin without yielding to the event loop.
 */
class Wakeup {
  pending = false;
  private waiter: (() => void) | null = null;

  notify(): void {
    this.pending = true;
    this.waiter?.();
  }

  clear(): void {
    this.pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.waiter === finish) this.waiter = null;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.waiter = finish;
    });
  }
}

const NUL = /\u0000/g;

function attemptRecord(claim: ClaimedDelivery, at: Date, result: { status: number | null; error: string | null; latencyMs: number; responseBody: string }): AttemptRecord {
  return {
    deliveryId: claim.deliveryId,
    webhookId: claim.webhookId,
    eventId: claim.eventId,
    attemptNumber: claim.attempts + 1,
    attemptedAt: at,
    httpStatus: result.status,
    latencyMs: result.latencyMs,
    // PostgreSQL text cannot hold NUL; receivers can send anything.
    error: result.error?.replace(NUL, '') ?? null,
    responseBody: result.responseBody ? result.responseBody.replace(NUL, '') : null,
  };
}
