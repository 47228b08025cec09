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
import { guardedLookup, isPublicAddress } from './addressGuard';
import { buildDeliveryHeaders } from './headers';
import { sendWebhook, type SendResult } from './httpSender';
import type { ErrorMailer, TooManyErrorsNotice } from './notifier';
import { buildPayload, serializePayload } from './payload';
import { classify, counterDelta, describeFailure, nextStep, shouldTrip, type DeliveryPolicy, type Outcome } from './policy';
import {
  addWebhookCounters,
  claimDueDeliveries,
  holdOpenDeliveries,
  insertAttempts,
  nextDueAt,
  settleDeliveries,
  tripWebhooks,
  WAKE_CHANNEL,
  type AttemptRecord,
  type ClaimedDelivery,
  type Settlement,
} from './queue';
import { emitStateChangeEvent } from './signal';

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
  contextIdentifier: string;
  policy: DeliveryPolicy;
  /** PostgreSQL server URL to LISTEN on; null on the embedded database (notifications do not pass its socket). */
  listenUrl: string | null;
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
  private buffer: Finished[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private woken = false;
  private wakeUp: (() => void) | null = null;
  private listener: Client | null = null;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly lookup;
  /** Deliveries this worker has sent an attempt for (counts, for tests and the bench). */
  sent = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
    private readonly mailer: ErrorMailer,
    /** Called after a commit that created deliveries (state-change events), to wake in-process workers. */
    private readonly onEventsCreated: () => void = () => undefined,
  ) {
    this.agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
      https: new https.Agent({ keepAlive: true, maxSockets: options.concurrency }),
    };
    this.lookup = guardedLookup(options.allowPrivateTargets);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.options.listenUrl) void this.listen(this.options.listenUrl);
    this.loop = this.run();
  }

  /** New deliveries may be due: claim now instead of at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Stops claiming, lets sends in flight finish and records them. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loop;
    // Record what is in flight; if the database stays unreachable, give up: the leases expire
    // and another worker sends those deliveries again.
    const deadline = Date.now() + this.options.deliveryTimeoutMs + 5000;
    while ((this.inFlight > 0 || this.buffer.length > 0 || this.flushing) && Date.now() < deadline) {
      await this.flush();
      if (this.inFlight > 0) await this.sleep(10);
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Results not yet recorded still hold their claims: bound them too.
      const room = Math.min(this.options.concurrency - this.inFlight, 2 * this.options.concurrency - this.inFlight - this.buffer.length);
      if (room <= 0) {
        await this.sleep(this.options.pollIntervalMs);
        continue;
      }
      const limit = Math.min(room, this.options.batchSize);
      this.woken = false;
      let claimed: ClaimedDelivery[];
      try {
        claimed = await claimDueDeliveries(this.ds, this.workerId, limit, this.options.leaseMs);
      } catch (error) {
        if (!this.running) break;
        this.logger.error({ err: (error as Error).message }, 'claiming deliveries failed; retrying');
        await this.sleep(ERROR_BACKOFF_MS);
        continue;
      }
      for (const claim of claimed) this.dispatch(claim);
      if (claimed.length === limit) continue;
      // Nothing more is due now: sleep until woken, the next due time, or the poll interval.
      let waitMs = this.options.pollIntervalMs;
      if (claimed.length === 0 && !this.woken) {
        try {
          const next = await nextDueAt(this.ds);
          if (next) waitMs = Math.max(0, Math.min(waitMs, next.getTime() - Date.now() + 5));
        } catch {
          // the poll interval covers it
        }
      }
      if (waitMs > 0) await this.sleep(waitMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken && this.running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    });
  }

  private dispatch(claim: ClaimedDelivery): void {
    this.inFlight += 1;
    this.attempt(claim)
      .catch((error: unknown): Finished => {
        // Building the request failed (a corrupt row): record it as a failed attempt.
        const text = `could not send: ${(error as Error).message}`;
        return { claim, attempt: attemptRecord(claim, new Date(), { status: null, error: text, latencyMs: 0, responseBody: '' }), outcome: 'failure', errorText: text };
      })
      .then((finished) => {
        this.inFlight -= 1;
        this.buffer.push(finished);
        this.scheduleFlush();
        this.wake();
      });
  }

  private async attempt(claim: ClaimedDelivery): Promise<Finished> {
    if (claim.webhookState !== WebhookState.Active || !claim.targetUrl) return { claim, attempt: null, outcome: null, errorText: null };
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
    if (net.isIP(host) && !isPublicAddress(host)) {
      return `The target address ${host} is a loopback, private, link-local or otherwise non-public address; webhooks may only target public addresses.`;
    }
    return null;
  }

  private scheduleFlush(): void {
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
      .catch(async (error: unknown) => {
        // The database is unreachable: keep the results and try again. If this process dies
        // first, the leases expire and the deliveries are sent again (at least once).
        this.logger.error({ err: (error as Error).message, results: batch.length }, 'recording delivery results failed; retrying');
        this.buffer.unshift(...batch);
        await new Promise((resolve) => setTimeout(resolve, ERROR_BACKOFF_MS));
      })
      .finally(() => {
        this.flushing = null;
        if (this.buffer.length > 0) this.scheduleFlush();
      });
    return this.flushing;
  }

  private async record(batch: Finished[]): Promise<void> {
    const { policy } = this.options;
    const notices: TooManyErrorsNotice[] = [];
    let eventsCreated = false;
    await this.ds.transaction(async (tx) => {
      await insertAttempts(tx, this.workerId, batch.flatMap((f) => (f.attempt ? [f.attempt] : [])));

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

      const settlements: Settlement[] = batch.map((f) => {
        if (!f.outcome || !f.attempt) return { deliveryId: f.claim.deliveryId, step: 'requeue', delayMs: 0 };
        const step = nextStep(f.attempt.attemptNumber, f.outcome, policy);
        return { deliveryId: f.claim.deliveryId, step: step.kind, delayMs: step.kind === 'retry' ? step.delayMs : 0 };
      });
      await settleDeliveries(tx, this.workerId, settlements);
    });
    for (const notice of notices) {
      this.logger.warn({ webhookId: notice.webhookId, lastError: notice.lastError }, 'webhook set to TooManyErrors');
      this.mailer.notifyTooManyErrors(notice);
    }
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
