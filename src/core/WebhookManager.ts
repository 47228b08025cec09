import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config';
import { dropPreviousSecret, storeRotatedSecret } from '../db/previousSecret';
import { deleteWebhookRow, findWebhook, findWebhookCached, insertWebhook, insertWebhookWith, listWebhooks, listWebhooksCached, updateWebhook, type InsertTail, type WriteOptions } from '../db/webhookRepository';
import type { WebhookReadCache } from '../db/webhookReadCache';
import { WebhookChangeAnnouncer } from '../db/webhookChanges';
import type { Logger } from '../logger';
import { cancelOpenDeliveries } from '../db/deliveryRows';
import { callerContext, canAccess, listScope, type Caller, type CallerContext } from './caller';
import { NotFoundError, NotImplementedError, ValidationError, VerificationFailedError } from './errors';
import { resolveRotation, type RotatedSecret, type RotationRequest } from './secretRotation';
import { refuseTargetAddress, sendTestPayload, type VerifierOptions } from './targetVerifier';
import { checkStorableText, validateWebhookFields, type TargetPolicy } from './validation';
import { createDefaultWebhook, WebhookState, type AssociateRef, type TypedEntry, type Webhook, type WebhookFilter, type WebhookInput, type WebhookResult } from './webhook';

export type ManagerOptions = VerifierOptions & TargetPolicy;

/** The manager's options from the service configuration (the service and the CLI build it alike). */
export function managerOptions(config: Config): ManagerOptions {
  return {
    timeoutMs: config.verifyTimeoutMs,
    allowPrivateTargets: config.allowPrivateTargets,
    allowedTargetCidrs: config.allowedTargetCidrs,
    allowHttpTargets: config.allowHttpTargets,
    contextIdentifier: config.contextIdentifier,
  };
}

/** How the delivery engine hears of state changes, to emit their events (webhook{ID}.started, ...). */
export interface StateChangeListener {
  /** Inside the save's transaction, when an existing webhook's state changes. */
  changed(tx: EntityManager, webhook: Webhook, from: WebhookState, to: WebhookState, actor: AssociateRef): Promise<void>;
  /**
   * A new webhook's first state event, as the tail of its INSERT statement: one round trip and
   * one commit for both (db/webhookRepository.ts insertWebhookWith). Null: it emits none.
   */
  created(webhook: Webhook, actor: AssociateRef): InsertTail<unknown> | null;
}

/** A save's writes: saveWebhook announces the webhook itself once they committed. */
const ANNOUNCED_BY_SAVE: WriteOptions = { announcedAfterCommit: true };

/** Signals an event on behalf of a caller (the delivery engine), scoped to the caller's application. */
export type EventSignaller = (eventName: string, primaryKey: number, data: TypedEntry[] | null, caller: CallerContext) => Promise<void>;

/**
 * What every API uses (NetServer's WebhookManager): validates, verifies the target with a signed
 * test POST before anything is stored, stamps Registered/Updated with the acting associate.
 */
export class WebhookManager {
  private stateChangeListener: StateChangeListener | null = null;
  private eventSignaller: EventSignaller | null = null;
  private readCache: WebhookReadCache | null = null;
  /** A save announces its webhook to other processes' read caches after its commit, not inside it. */
  private readonly changes: WebhookChangeAnnouncer;

  constructor(
    private readonly ds: DataSource,
    private readonly options: ManagerOptions,
    logger?: Logger,
  ) {
    this.changes = new WebhookChangeAnnouncer(ds, logger);
  }

  onStateChange(listener: StateChangeListener): void {
    this.stateChangeListener = listener;
  }

  setEventSignaller(signaller: EventSignaller): void {
    this.eventSignaller = signaller;
  }

  createDefaultWebhook(): Webhook {
    return createDefaultWebhook();
  }

  /**
   * The doors pass the caller (application isolation, see caller.ts); callers inside the process
   * that pass none, or an AssociateRef, act as operators.
   */
  async getWebhook(webhookId: number, caller?: Caller): Promise<Webhook | null> {
    const webhook = this.readCache ? await findWebhookCached(this.readCache, this.ds, webhookId) : await findWebhook(this.ds, webhookId);
    return webhook && canAccess(caller && callerContext(caller), webhook.application) ? webhook : null;
  }

  /**
   * As getWebhook, always from the database: for a read a write is based on (a save's merge, a
   * conditional request's If-Unmodified-Since), which must not see another process's commit late.
   */
  async getCurrentWebhook(webhookId: number, caller?: Caller): Promise<Webhook | null> {
    const webhook = await findWebhook(this.ds, webhookId);
    return webhook && canAccess(caller && callerContext(caller), webhook.application) ? webhook : null;
  }

  /**
   * getWebhook answers from `cache` while it is listening (db/webhookReadCache.ts). The writes
   * below make it forget after they commit, so this process's callers read their own writes.
   */
  useReadCache(cache: WebhookReadCache): void {
    this.readCache = cache;
  }

  /** A write's transaction; whatever it did, the read cache forgets once it has ended. */
  private async writing<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.ds.transaction(work);
    } finally {
      this.readCache?.forget();
    }
  }

  async getAllWebhooks(filter: WebhookFilter, caller?: Caller): Promise<Webhook[]> {
    checkStorableText(filter.nameFilter, 'NameFilter');
    checkStorableText(filter.eventFilter, 'EventFilter');
    const scoped = {
      nameFilter: filter.nameFilter?.trim() || null,
      eventFilter: filter.eventFilter?.trim() || null,
      statusFilter: filter.statusFilter === WebhookState.Unknown ? null : filter.statusFilter,
      application: listScope(caller && callerContext(caller)),
    };
    return this.readCache ? listWebhooksCached(this.readCache, this.ds, scoped) : listWebhooks(this.ds, scoped);
  }

  async getLastError(webhookId: number, caller?: Caller): Promise<string> {
    const webhook = await this.getWebhook(webhookId, caller);
    if (!webhook) throw new NotFoundError(`There is no webhook with WebhookId ${webhookId}; list them with GetAllWebhooks.`);
    return webhook.lastError ?? '';
  }

  /** Creates (WebhookId 0) or updates a webhook; an Active result is verified first. */
  async saveWebhook(input: WebhookInput, caller: Caller): Promise<Webhook> {
    const context = callerContext(caller);
    const actor = context.associate;
    if (!Number.isInteger(input.webhookId) || input.webhookId < 0) {
      throw new ValidationError(`WebhookId ${input.webhookId} is invalid: use 0 to create a webhook or the id of an existing one to update it.`, 'WebhookId');
    }
    const valid = validateWebhookFields(input, this.options);
    // Another application's webhook is updated exactly as an id that does not exist is.
    const existing = valid.webhookId > 0 ? await this.getCurrentWebhook(valid.webhookId, context) : null;
    if (valid.webhookId > 0 && !existing) {
      throw new NotFoundError(`There is no webhook with WebhookId ${valid.webhookId} to update; save with WebhookId 0 to create one.`);
    }
    // State omitted (Unknown): Active for a new webhook, unchanged for an existing one.
    const state = valid.state === WebhookState.Unknown ? (existing?.state ?? WebhookState.Active) : valid.state;
    const now = new Date();
    const candidate: Webhook = {
      ...(existing ?? createDefaultWebhook()),
      ...valid,
      state,
      registered: existing?.registered ?? now,
      registeredAssociate: existing?.registeredAssociate ?? actor,
      updated: now,
      updatedAssociate: actor,
      // The owner is set once, by whoever creates it; `valid` may carry one from a Webhook object, never trusted.
      application: existing ? existing.application : context.application,
    };

    if (state === WebhookState.Active) {
      const outcome = await sendTestPayload(candidate, actor.associateId, this.options);
      if (!outcome.accepted) {
        throw new VerificationFailedError(
          `The webhook was not saved: ${outcome.summary}. The target must answer 200 OK to the signed test POST (header X-Hook-Test: true); ` +
            'fix the receiver, or save the webhook with State Stopped to store it without verification.',
        );
      }
    } else {
      // Stopped skips the test POST, not the address guard: a refused address is never stored.
      const refused = await refuseTargetAddress(candidate.targetUrl!, this.options);
      if (refused !== null) throw new VerificationFailedError(`The webhook was not saved: ${refused}`);
    }

    const saved = existing ? await this.update(existing, candidate, state, actor) : await this.create(candidate, actor);
    await this.changes.announce(saved.webhookId);
    return saved;
  }

  /** Writes an existing webhook's new version over its row, and its state event if the state changed. */
  private update(existing: Webhook, candidate: Webhook, state: WebhookState, actor: AssociateRef): Promise<Webhook> {
    return this.writing(async (tx) => {
      // Re-read under a row lock: the delivery engine may have changed counters or state meanwhile.
      const current = await findWebhook(tx, existing.webhookId, true);
      if (!current) throw new NotFoundError(`Webhook ${existing.webhookId} was deleted while it was being saved.`);
      const saved = await updateWebhook(
        tx,
        {
          ...candidate,
          totalCalls: current.totalCalls,
          totalErrors: current.totalErrors,
          lastError: current.lastError,
          // Back to Active after TooManyErrors starts a fresh count, or one failure would trip it again.
          consecutiveErrors: state === WebhookState.Active && current.state === WebhookState.TooManyErrors ? 0 : current.consecutiveErrors,
        },
        ANNOUNCED_BY_SAVE,
      );
      // A new Secret set directly replaces the old one at once, as before rotation (no overlap).
      if ((current.secret ?? '') !== (saved.secret ?? '')) await dropPreviousSecret(tx, saved.webhookId);
      if (current.state !== saved.state) await this.stateChangeListener?.changed(tx, saved, current.state, saved.state, actor);
      return saved;
    });
  }

  /** Stores a new webhook and its first state event in one statement (its own transaction). */
  private async create(candidate: Webhook, actor: AssociateRef): Promise<Webhook> {
    try {
      const tail = this.stateChangeListener?.created(candidate, actor) ?? null;
      return tail ? (await insertWebhookWith(this.ds, candidate, tail, ANNOUNCED_BY_SAVE)).webhook : await insertWebhook(this.ds, candidate, ANNOUNCED_BY_SAVE);
    } finally {
      this.readCache?.forget();
    }
  }

  /**
   * Replaces the webhook's Secret (given, or a generated whsec_ one); the replaced Secret keeps
   * signing beside it for the overlap (default 24 h), so receivers switch without losing a
   * delivery. Rotating again inside a window replaces the previous Secret with the current one.
   */
  async rotateSecret(webhookId: number, request: RotationRequest, caller: Caller): Promise<RotatedSecret> {
    const { secret, overlapSeconds } = resolveRotation(request);
    const context = callerContext(caller);
    return this.writing(async (tx) => {
      const current = await findWebhook(tx, webhookId, true);
      if (!current || !canAccess(context, current.application)) {
        throw new NotFoundError(`There is no webhook with WebhookId ${webhookId} to rotate the Secret of.`);
      }
      const previous = overlapSeconds > 0 && current.secret ? current.secret : null;
      const until = new Date(Date.now() + overlapSeconds * 1000);
      await storeRotatedSecret(tx, webhookId, secret, previous, until);
      return { webhookId, secret, previousSecretExpires: previous ? until : null };
    });
  }

  async deleteWebhook(webhookId: number, caller?: Caller): Promise<void> {
    const context: CallerContext | undefined = caller && callerContext(caller);
    await this.writing(async (tx) => {
      // The webhook row first, then its deliveries: the order the delivery worker locks them in.
      const owned = !context?.application || canAccess(context, (await findWebhook(tx, webhookId, true))?.application ?? null);
      if (!owned || !(await deleteWebhookRow(tx, webhookId))) {
        throw new NotFoundError(`There is no webhook with WebhookId ${webhookId} to delete.`);
      }
      // Its pending deliveries stop; they and their attempts stay as a log.
      await cancelOpenDeliveries(tx, webhookId);
    });
  }

  /** Sends the test payload to the given webhook's target without storing anything. */
  /** Uses only the carrier given, never a stored webhook, so it reveals nothing of other applications'. */
  async testWebhook(input: WebhookInput, caller: Caller): Promise<WebhookResult> {
    const actor = callerContext(caller).associate;
    const valid = validateWebhookFields({ ...input, state: WebhookState.Active }, this.options);
    const outcome = await sendTestPayload({ ...createDefaultWebhook(), ...valid }, actor.associateId, this.options);
    return { success: outcome.accepted, message: outcome.message };
  }

  async signalEvent(eventName: string, primaryKey: number, data: TypedEntry[] | null, caller: Caller): Promise<void> {
    if (!this.eventSignaller) {
      throw new NotImplementedError('SignalEvent is not available yet: the delivery engine is not built in this version. Nothing was recorded.');
    }
    await this.eventSignaller(eventName, primaryKey, data, callerContext(caller));
  }
}
