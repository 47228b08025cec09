/**
 * The delivery loop: claim due deliveries in batches, POST them concurrently, record the
 * results in batches, apply the policy. Any number of these may share one database.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Agent } from 'undici';
import type { DataSource, QueryRunner } from 'typeorm';
import { headersToRecord, propertiesToJson } from '../core/dictionaries';
import { WebhookState } from '../core/webhook';
import type { Logger } from '../logger';
import { USER_AGENT } from '../version';
import { guardedLookup, refuseIpLiteralTarget } from '../outbound/addressGuard';
import { buildSignedAttempt } from '../outbound/attempt';
import { sendWebhook, type SendResult } from '../outbound/httpSender';
import { createSenderAgent } from '../outbound/senderAgent';
import type { DeliveryMetrics } from '../metrics';
import type { TooManyErrorsNotice } from './notifier';
import { classify, counterDelta, describeFailure, nextStep, probePauseMs, shouldTrip, type DeliveryPolicy, type Outcome } from './policy';
import { settleAttempts, type AttemptResultRecord } from './sql/attempts';
import { claimDueDeliveries, nextDueAt, releaseClaims, type ClaimedDelivery } from './sql/claims';
import { holdOpenDeliveries, settleDeliveries, type Settlement } from './sql/deliveries';
import { WAKE_CHANNEL } from './sql/statements';
import { addWebhookCounters, recordSuccesses, tripWebhooks } from './sql/webhookCounters';
import { beatAndReleaseDeadClaims, retireWorker } from './sql/workers';
import { emitStateChangeEvent } from './signal';
import { enqueueNotifications } from '../notifications/enqueue';
import { traceAttempt } from '../tracing';
import { analyzeGrownTables, autovacuumIsOff } from '../db/tableStatistics';
import { ChannelListener } from '../db/channelListener';

export interface WorkerOptions {
  /** Sends in flight at once. */
  concurrency: number;
  /** Most deliveries claimed, and results recorded, per round trip. */
  batchSize: number;
  /**
   * A claim's lease: only a backstop for a claim whose worker has no heartbeat row. A live
   * worker's claims stay its own however long a send takes; a dead worker's are released by
   * the others once its heartbeat is deadAfterMs old.
   */
  leaseMs: number;
  /** How often this worker renews its heartbeat and releases dead workers' claims (WORKER_HEARTBEAT_MS). */
  heartbeatMs: number;
  /** A worker whose heartbeat is this old is dead (WORKER_DEAD_AFTER_MS). */
  deadAfterMs: number;
  /** State events for a TooManyErrors webhook are kept held (HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS); default true. */
  holdForTooManyErrors?: boolean;
  pollIntervalMs: number;
  deliveryTimeoutMs: number;
  allowPrivateTargets: boolean;
  /** Non-public ranges targets may use anyway (ALLOWED_TARGET_CIDRS). */
  allowedTargetCidrs?: string[];
  /** Most requests in flight per webhook across all workers (WEBHOOK_MAX_IN_FLIGHT); omitted: no cap. */
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
  result: AttemptResultRecord;
  outcome: Outcome;
  errorText: string | null;
}

const FLUSH_DELAY_MS = 5;
/** The least time from one claim to the next while no backlog is waiting (a backlog is claimed at once). */
const CLAIM_INTERVAL_MS = 5;
const ERROR_BACKOFF_MS = 1000;
/** The attempt-log error of a claim handed back because its answer never arrived. */
const CLAIM_ANSWER_LOST = 'not sent: the answer to its claim was lost with the database connection';
/** The attempt-log error of a claim handed back after a restart undid its record. */
const SERVER_RESTARTED = 'result unknown: the database server restarted and lost its record (the receiver may have got it)';

export class DeliveryWorker {
  readonly workerId = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`;
  private running = false;
  private loop: Promise<void> | null = null;
  private inFlight = 0;
  /** Claims not yet recorded: in flight, buffered, or in the flush being written. They hold leases. */
  private unrecorded = 0;
  /** Claims dispatched and not yet recorded, by delivery id. */
  private readonly held = new Set<string>();
  /**
   * Held claims whose send is over (answered, failed or timed out) and whose result is not
   * recorded yet: they hold no request open, so a claim leaves them out of the per-webhook cap
   * (LiveClaimCap1766100000000) rather than waiting for their record.
   */
  private readonly answered = new Set<string>();
  /**
   * Set when a claim failed on the way back (the database may have committed it without this
   * worker seeing the rows) or the server restarted: the next claim first releases every claim
   * not in `held`, marking their logged attempts with this text.
   */
  private releaseUnheld: string | null = null;
  /** pg_postmaster_start_time() at the last heartbeat: a change means the server restarted. */
  private serverStartedAt: string | null = null;
  /** Set by stop() at its deadline: the claims were released, so late results are dropped, not recorded. */
  private abandoned = false;
  private buffer: Finished[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  /** Deliveries may have fallen due (a signal, a NOTIFY, a recorded retry): claim before the poll interval. */
  private readonly due = new Wakeup();
  /** A send finished or a flush ended: there may be room to claim again. */
  private readonly roomFreed = new Wakeup();
  private listener: ChannelListener | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  /** Whether a beat has run: the first one also checks that autovacuum is on. */
  private beaten = false;
  /** The heartbeat's own connection: a beat queued behind a busy pool would make a live worker look dead. */
  private heartbeatRunner: QueryRunner | null = null;
  /** Keep-alive connections per target origin, at most `concurrency` each; made by start(), destroyed by stop(). */
  private agent: Agent | null = null;
  /** Deliveries this worker has sent an attempt for (counts, for tests and the bench). */
  sent = 0;
  /**
   * Whether another worker was alive at the last heartbeat (true until the first says otherwise):
   * a process whose own worker is the only one need not NOTIFY anyone of its signals.
   */
  otherWorkersAlive = true;

  constructor(
    private readonly ds: DataSource,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
    /** Called after a commit that created deliveries (state-change events), to wake in-process workers. */
    private readonly onEventsCreated: () => void = () => undefined,
    /** Called after a commit that queued notifications, to wake the in-process sender. */
    private readonly onNotificationsQueued: () => void = () => undefined,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.agent = createSenderAgent({
      // The address guard on every new connection: a name that re-resolves elsewhere is caught.
      lookup: guardedLookup(this.options.allowPrivateTargets, this.options.allowedTargetCidrs),
      connections: this.options.concurrency,
      sendTimeoutMs: this.options.deliveryTimeoutMs,
    });
    if (this.options.listenUrl) {
      this.listener = new ChannelListener({
        url: this.options.listenUrl,
        channel: WAKE_CHANNEL,
        onNotification: () => this.wake(),
        failureMessage: 'LISTEN for deliveries failed; polling until it works again',
        retryMs: ERROR_BACKOFF_MS,
        logger: this.logger,
      });
      this.listener.start();
    }
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.loop = this.beat().then(() => this.run());
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
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.beating;
    await this.heartbeatRunner?.release().catch(() => undefined);
    this.heartbeatRunner = null;
    await retireWorker(this.ds, this.workerId).catch(() => undefined);
    await this.listener?.stop();
    this.listener = null;
    // Sends still in flight were abandoned above: their connections are cut, none is left open.
    await this.agent?.destroy().catch(() => undefined);
    this.agent = null;
  }

  /**
   * Phase "heartbeat": renews this worker's row and releases the claims of workers whose
   * heartbeat stopped (they come back due now, in seconds rather than after a lease).
   */
  private beat(): Promise<void> {
    this.beating ??= this.heartbeatConnection()
      .then(async (runner) => {
        const { released, otherWorkers, serverStartedAt } = await beatAndReleaseDeadClaims(runner.manager, this.workerId, this.options.deadAfterMs);
        this.otherWorkersAlive = otherWorkers > 0;
        if (this.serverStartedAt !== null && serverStartedAt !== this.serverStartedAt) {
          // The server restarted (or failed over). A record of successes commits without waiting
          // for its flush (sql/statements.ts ASYNC_COMMIT), so a crash may have undone one this
          // worker saw succeed, leaving those deliveries claimed by it, held by no one. Hand back
          // every claim it does not hold, as after a lost claim answer: they are sent again.
          this.logger.warn('the database server restarted; releasing any claim of this worker it no longer holds');
          this.releaseUnheld = SERVER_RESTARTED;
          this.wake();
        }
        this.serverStartedAt = serverStartedAt;
        const first = !this.beaten;
        this.beaten = true;
        if (first && (await autovacuumIsOff(runner.manager).catch(() => false))) {
          this.logger.warn(
            'autovacuum is off on this PostgreSQL server: nothing reclaims the dead rows of delivery, delivery_attempt and event, so they grow and claims slow down; turn autovacuum on, or VACUUM those tables regularly',
          );
        }
        // At every beat, tables that grew get fresh planner statistics (db/tableStatistics.ts; the
        // check is one read of pg_stat_user_tables). A worker starting on a database that grew
        // without one ran its first seconds of claims on plans made for empty tables. Checked every
        // fifth beat, a webhook table filling at 1,300 saves/s kept a sequential scan in each save's
        // subscriber lookup for 4 s: PostgreSQL spent 590-625 µs a save, 439-465 checked every beat.
        // After the beat, on its connection: statistics never hold a heartbeat back.
        await analyzeGrownTables(runner.manager).then(
          (analyzed) => analyzed.length > 0 && this.logger.debug({ analyzed }, 'refreshed planner statistics of tables that grew'),
          (error: unknown) => this.logger.warn({ err: (error as Error).message }, 'refreshing planner statistics failed; autovacuum does it later'),
        );
        return released;
      })
      .then(
        (released) => {
          if (released === 0) return;
          this.logger.warn({ released }, "released a dead worker's claims; they are sent again now");
          this.wake();
        },
        (error: unknown) => {
          this.logger.error({ err: (error as Error).message }, 'renewing the worker heartbeat failed; retrying');
          // The connection may be broken (a database restart): take a fresh one next time.
          void this.heartbeatRunner?.release().catch(() => undefined);
          this.heartbeatRunner = null;
        },
      )
      .finally(() => {
        this.beating = null;
      });
    return this.beating;
  }

  private async heartbeatConnection(): Promise<QueryRunner> {
    if (this.heartbeatRunner && !this.heartbeatRunner.isReleased) return this.heartbeatRunner;
    const runner = this.ds.createQueryRunner();
    await runner.connect();
    this.heartbeatRunner = runner;
    return runner;
  }

  /** Phases "claim" then "attempt": claims due deliveries in batches and sends each. */
  private async run(): Promise<void> {
    const { concurrency, batchSize, pollIntervalMs } = this.options;
    // Claim in batches: with sends in flight, wait until a useful batch fits rather than
    // claiming one delivery per finished send.
    const minClaim = Math.max(1, Math.min(batchSize, Math.ceil(concurrency / 4)));
    let claimStartedAt = -Infinity;
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
      claimStartedAt = performance.now();
      let claimed: ClaimedDelivery[];
      try {
        if (this.releaseUnheld) {
          // Live claims are kept by the heartbeat, not a lease: hand back any this worker does not know.
          await releaseClaims(this.ds, this.workerId, [...this.held], this.releaseUnheld);
          this.releaseUnheld = null;
        }
        claimed = await claimDueDeliveries(this.ds, this.workerId, limit, this.options.leaseMs, this.options.maxInFlightPerWebhook, [...this.answered]);
      } catch (error) {
        if (!this.running) break;
        // A restart's wording wins: it is the weaker claim (sent or not, unknown).
        this.releaseUnheld ??= CLAIM_ANSWER_LOST;
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
      // Woken by a signal right after a claim that found little: let a few more arrive and take
      // them in one claim. Each claim costs the database about a millisecond however few it
      // takes, and at hundreds of signals a second one claim per signal was most of its work.
      const sinceClaim = performance.now() - claimStartedAt;
      if (this.running && sinceClaim < CLAIM_INTERVAL_MS) await delay(CLAIM_INTERVAL_MS - sinceClaim);
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
    this.held.add(claim.deliveryId);
    this.attempt(claim)
      .catch((error: unknown): Finished => {
        // Building the request failed (a corrupt row): record it as a failed attempt.
        const text = `could not send: ${(error as Error).message}`;
        return finished(claim, { status: null, statusLine: null, error: text, latencyMs: 0, responseBody: '' });
      })
      .then((done) => {
        this.inFlight -= 1;
        if (this.abandoned) return; // released at shutdown: another worker sends it
        this.answered.add(claim.deliveryId);
        this.buffer.push(done);
        this.scheduleFlush();
        this.roomFreed.notify();
        // Its webhook may have due deliveries the cap held back: claim them now, not after the
        // record. (Only after a claim filled the webhook was tried: drains ran slower, at about
        // the old pace; this costs a tenth more claims at 500 signals/s, CLAIM_INTERVAL_MS apart.)
        this.due.notify();
      });
  }

  /** Phase "attempt": sign and send one claimed delivery (its attempt is already in the log, result unknown). */
  private async attempt(claim: ClaimedDelivery): Promise<Finished> {
    if (claim.secretError) {
      // Never sent unsigned: recorded as a failed attempt (attempt log, LastError) by dispatch.
      this.logger.error({ webhookId: claim.webhookId, deliveryId: claim.deliveryId }, claim.secretError);
      throw new Error(claim.secretError);
    }
    if (!claim.targetUrl) throw new Error('the webhook has no TargetUrl');
    const agent = this.agent;
    if (!agent) throw new Error('the worker has stopped');
    const { body, headers } = buildSignedAttempt({
      eventId: claim.eventId,
      timestamp: new Date(claim.signalledAt),
      event: { name: claim.eventName, primaryKey: claim.primaryKey, data: propertiesToJson(claim.data) ?? {} },
      contextIdentifier: this.options.contextIdentifier,
      changedByAssociateId: claim.associateId,
      webhookName: claim.webhookName,
      properties: propertiesToJson(claim.properties),
      webhookHeaders: headersToRecord(claim.headers),
      secret: claim.secret,
      retry: claim.attempts,
      previousSecret: claim.previousSecret,
      userAgent: USER_AGENT,
      now: new Date(),
    });
    const refusal = refuseIpLiteralTarget(claim.targetUrl, this.options.allowPrivateTargets, this.options.allowedTargetCidrs);
    const result: SentResult = refusal
      ? { status: null, statusLine: null, error: refusal, latencyMs: 0, responseBody: '' }
      : await traceAttempt(
          { traceParent: claim.traceParent, targetUrl: claim.targetUrl, webhookId: claim.webhookId, attemptNumber: claim.attempts + 1, deliveryId: claim.deliveryId, eventName: claim.eventName },
          headers,
          (sent) => sendWebhook({ url: claim.targetUrl!, headers: sent, body, timeoutMs: this.options.deliveryTimeoutMs }, agent),
        );
    this.sent += 1;
    const done = finished(claim, result);
    this.options.metrics?.attempt(done.outcome === 'success' ? 'success' : 'failure', result.latencyMs);
    return done;
  }

  private scheduleFlush(): void {
    if (this.abandoned) return;
    // Not at once when the last send finished: at a steady few hundred a second that is nearly
    // every result, and each record is a round trip and a commit. FLUSH_DELAY_MS gathers them.
    if (this.buffer.length >= this.options.batchSize || !this.running) {
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
          for (const f of batch) {
            this.held.delete(f.claim.deliveryId);
            this.answered.delete(f.claim.deliveryId);
          }
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

  /**
   * Phases "record" and "trip", in one transaction: attempt results, webhook counters,
   * settlements, and TooManyErrors for webhooks at the limit.
   */
  private async record(batch: Finished[]): Promise<void> {
    if (batch.every((f) => f.outcome === 'success')) {
      // The common case, in one round trip: no counter can trip and nothing notifies.
      const succeeded = await recordSuccesses(
        this.ds,
        this.workerId,
        batch.map((f) => ({ attemptId: f.claim.attemptId, deliveryId: f.claim.deliveryId, webhookId: f.claim.webhookId, httpStatus: f.result.httpStatus, latencyMs: f.result.latencyMs, responseBody: f.result.responseBody })),
      );
      this.options.metrics?.finished('succeeded', succeeded);
      return;
    }
    const { policy } = this.options;
    const notices: TooManyErrorsNotice[] = [];
    let eventsCreated = false;
    let notified = 0;
    let settled: Settlement[] = [];
    await this.ds.transaction(async (tx) => {
      // Only results not written yet: this batch may be a retry of one that committed unseen.
      const fresh = await settleAttempts(tx, batch.map((f) => f.result));
      const kept = fresh.size === batch.length ? batch : batch.filter((f) => fresh.has(f.claim.attemptId));
      if (kept.length === 0) return;
      const settlements: Settlement[] = kept.map((f) => {
        const step = nextStep(f.claim.attempts + 1, f.outcome, policy);
        return { deliveryId: f.claim.deliveryId, step: step.kind, delayMs: step.kind === 'retry' ? step.delayMs : 0 };
      });

      const byWebhook = new Map<number, Finished[]>();
      for (const f of kept) {
        const list = byWebhook.get(f.claim.webhookId) ?? [];
        list.push(f);
        byWebhook.set(f.claim.webhookId, list);
      }
      const cycleFailed = new Set(kept.filter((f, i) => settlements[i].step === 'failed').map((f) => f.claim.webhookId));
      const ids = [...byWebhook.keys()].sort((a, b) => a - b);
      const deltas = ids.map((webhookId) => {
        const delta = counterDelta(byWebhook.get(webhookId)!.map((f) => ({ outcome: f.outcome, errorText: f.errorText, probe: f.claim.probe })));
        return { webhookId, ...delta, probePauseMs: cycleFailed.has(webhookId) ? probePauseMs(policy) : 0 };
      });
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
        const deliveries = await emitStateChangeEvent(tx, t.webhookId, t.name, t.application, WebhookState.Active, WebhookState.TooManyErrors, 0, t.lastError, this.options.holdForTooManyErrors ?? true);
        eventsCreated ||= deliveries > 0;
        notices.push({ ...t, eventId: failing?.claim.eventId ?? null });
      }
      // Notifications (NotifyWhen FirstFailure / Disabling, or the pre-12.4 TooManyErrors email) go
      // into the outbox in this transaction: committed with the state change, sent by NotificationSender.
      const lastFailing = (webhookId: number) => [...byWebhook.get(webhookId)!].reverse().find((f) => f.outcome !== 'success');
      const firstFailures = counters.filter((c) => c.firstFailure);
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

type SentResult = Pick<SendResult, 'status' | 'statusLine' | 'error' | 'latencyMs' | 'responseBody'>;

function finished(claim: ClaimedDelivery, result: SentResult): Finished {
  const outcome = classify(result);
  return {
    claim,
    outcome,
    errorText: outcome === 'success' ? null : describeFailure(result),
    result: {
      attemptId: claim.attemptId,
      outcome,
      httpStatus: result.status,
      latencyMs: result.latencyMs,
      // PostgreSQL text cannot hold NUL; receivers can send anything.
      error: result.error?.replace(NUL, '') ?? null,
      responseBody: result.responseBody ? result.responseBody.replace(NUL, '') : null,
    },
  };
}
