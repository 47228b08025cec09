/**
 * Recording events: SignalEvent's validation, and the webhook{ID}.started/stopped/errors
 * events of state changes. Both fan out the same way (sql/events.ts).
 *
 * Signals are scoped (SPEC 7): an operator's signal (no application) reaches every subscriber,
 * as NetServer's own events do; an application's signal reaches only its own application's
 * webhooks, so a receiver never gets an event, signed with its own secret, that another
 * application forged. A webhook's state event reaches only webhooks of the same owner
 * (operator-owned webhooks: operator-owned subscribers), so names and errors stay inside.
 */
import crypto from 'node:crypto';
import { INT32_MAX, INT32_MIN, isInt32 } from '../core/operations';
import type { DataSource, EntityManager } from 'typeorm';
import { ValidationError } from '../core/errors';
import { checkStorableText, validateEventName } from '../core/validation';
import { WEBHOOK_STATE_NAMES, type TypedEntry, type Webhook, type WebhookState } from '../core/webhook';
import type { InsertTail } from '../db/webhookRepository';
import { stateChangeEventName, stateChangeEventSuffix } from './policy';
import { insertEventWithDeliveries, newWebhookEventTail, type EventAudience, type NewEvent } from './sql/events';

const MAX_DATA_ENTRIES = 1000;
const MAX_KEY_LENGTH = 400;

export interface SignalledEvent {
  eventId: string;
  deliveries: number;
}

/** Validates SignalEvent's arguments; a violation names the field and stores nothing. */
export function validateSignal(eventName: string, primaryKey: number, data: TypedEntry[] | null): void {
  validateEventName(eventName ?? '', 'EventName');
  if (eventName.length > 400) throw new ValidationError(`EventName is ${eventName.length} characters long; the limit is 400.`, 'EventName');
  if (!isInt32(primaryKey)) {
    throw new ValidationError(`PrimaryKey ${primaryKey} is not a whole number from ${INT32_MIN} to ${INT32_MAX}.`, 'PrimaryKey');
  }
  if (!data) return;
  if (data.length > MAX_DATA_ENTRIES) throw new ValidationError(`Data has ${data.length} entries; the limit is ${MAX_DATA_ENTRIES}.`, 'Data');
  const seen = new Set<string>();
  for (const entry of data) {
    if (typeof entry.key !== 'string' || entry.key === '') throw new ValidationError('Data has an entry with an empty Key; every entry needs a key.', 'Data');
    if (entry.key.length > MAX_KEY_LENGTH) throw new ValidationError(`Data key ${JSON.stringify(entry.key.slice(0, 40))}... is longer than ${MAX_KEY_LENGTH} characters.`, 'Data');
    if (seen.has(entry.key)) throw new ValidationError(`Data has the key ${JSON.stringify(entry.key)} twice; keys must be unique.`, 'Data');
    seen.add(entry.key);
    // The one storable-text rule of every value (NUL, lone surrogates): core/validation.ts.
    checkStorableText(entry.key, 'Data');
    if (typeof entry.value === 'string') checkStorableText(entry.value, `Data[${entry.key}]`);
    if (typeof entry.value === 'number' && !Number.isFinite(entry.value)) {
      throw new ValidationError(`Data entry ${JSON.stringify(entry.key)} is not a finite number.`, 'Data');
    }
  }
}

/** The audience of a SignalEvent by a caller of `application` (null: an operator). */
export function signalAudience(application: string | null): EventAudience {
  return application === null ? 'everyone' : { application };
}

export interface RecordOptions {
  /** Keep deliveries for TooManyErrors webhooks, held (HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS); default true. */
  holdForTooManyErrors?: boolean;
}

/**
 * Stores the event and its deliveries in one statement, NOTIFYing listening workers at its
 * commit; returns its EventId. For events inside a transaction (state changes) and for tools;
 * SignalEvent goes through the engine's SignalBatcher (signalBatcher.ts).
 */
export async function recordEvent(
  db: DataSource | EntityManager,
  eventName: string,
  primaryKey: number,
  data: TypedEntry[] | null,
  associateId: number,
  audience: EventAudience,
  options: RecordOptions = {},
): Promise<SignalledEvent> {
  const event = newEvent(eventName, primaryKey, data, associateId, audience);
  const deliveries = await insertEventWithDeliveries(db, event, options.holdForTooManyErrors ?? true);
  return { eventId: event.eventId, deliveries };
}

/** An event to store, with an EventId of its own; an empty Data is stored as none. */
export function newEvent(name: string, primaryKey: number, data: TypedEntry[] | null, associateId: number, audience: EventAudience, traceParent: string | null = null): NewEvent {
  return { eventId: crypto.randomUUID(), name, primaryKey, data: data && data.length > 0 ? data : null, associateId, audience, traceParent };
}

/** webhook{ID}.started / .stopped / .errors, inside the transaction that changed the state. Returns the deliveries created. */
export async function emitStateChangeEvent(
  tx: EntityManager,
  webhookId: number,
  webhookName: string | null,
  /** The webhook's owner (application hash, null: operator): only its subscribers hear of it. */
  owner: string | null,
  from: WebhookState | null,
  to: WebhookState,
  associateId: number,
  lastError: string | null,
  holdForTooManyErrors = true,
): Promise<number> {
  const name = stateChangeEventName(webhookId, to);
  if (!name) return 0;
  const data = stateChangeData(webhookId, webhookName, from, to, lastError);
  const { deliveries } = await recordEvent(tx, name, webhookId, data, associateId, { application: owner }, { holdForTooManyErrors });
  return deliveries;
}

/**
 * The state event of a webhook being created (its first state), as the tail of its INSERT
 * statement (db/webhookRepository.ts insertWebhookWith); null if that state emits none. The tail
 * reads the pending deliveries it made.
 */
export function stateEventOfNewWebhook(webhook: Webhook, associateId: number, holdForTooManyErrors: boolean): InsertTail<number> | null {
  const nameSuffix = stateChangeEventSuffix(webhook.state);
  if (nameSuffix === null) return null;
  // WebhookId 0 stands for the id the INSERT gives: newWebhookEventTail sets the first entry's value.
  const data = stateChangeData(0, webhook.name, null, webhook.state, null);
  return newWebhookEventTail({ eventId: crypto.randomUUID(), nameSuffix, data, associateId, application: webhook.application ?? null }, holdForTooManyErrors);
}

/** A state event's Data; WebhookId is its first entry (newWebhookEventTail relies on it). */
function stateChangeData(webhookId: number, webhookName: string | null, from: WebhookState | null, to: WebhookState, lastError: string | null): TypedEntry[] {
  const data: TypedEntry[] = [
    { key: 'WebhookId', type: 'int', value: webhookId },
    { key: 'Name', type: webhookName === null ? null : 'string', value: webhookName },
    { key: 'State', type: 'string', value: WEBHOOK_STATE_NAMES[to] },
    { key: 'PreviousState', type: from === null ? null : 'string', value: from === null ? null : WEBHOOK_STATE_NAMES[from] },
  ];
  if (lastError !== null) data.push({ key: 'LastError', type: 'string', value: lastError.replace(/\u0000/g, '') });
  return data;
}
