/** The Webhook carrier as the core sees it: no XML, no JSON, no database. */

export enum WebhookState {
  Unknown = 0,
  Active = 1,
  Stopped = 2,
  TooManyErrors = 3,
}

export const WEBHOOK_STATE_NAMES = ['Unknown', 'Active', 'Stopped', 'TooManyErrors'] as const;
export type WebhookStateName = (typeof WEBHOOK_STATE_NAMES)[number];

export function webhookStateFromName(name: string): WebhookState | undefined {
  const index = WEBHOOK_STATE_NAMES.indexOf(name as WebhookStateName);
  return index < 0 ? undefined : (index as WebhookState);
}

/** The xsi:type of a StringObjectDictionary value, kept so values round-trip with their type. */
export type ValueType = 'string' | 'int' | 'long' | 'short' | 'boolean' | 'double' | 'decimal' | 'float' | 'dateTime';

/** One typed dictionary entry. dateTime values are ISO-8601 UTC strings. */
export interface TypedEntry {
  key: string;
  type: ValueType | null; // null: an xsi:nil value
  value: string | number | boolean | null;
}

/** String dictionary entries in the order the client gave them (keys like `__proto__` stay data). */
export interface StringEntry {
  key: string;
  value: string | null;
}

export interface AssociateRef {
  associateId: number;
  name: string;
}

export interface Webhook {
  webhookId: number;
  name: string | null;
  events: string[];
  targetUrl: string | null;
  secret: string | null;
  state: WebhookState;
  type: string | null;
  headers: StringEntry[] | null;
  properties: TypedEntry[] | null;
  registered: Date | null;
  registeredAssociate: AssociateRef | null;
  updated: Date | null;
  updatedAssociate: AssociateRef | null;
  errorsEmail: string | null;
  description: string | null;
  totalCalls: number;
  totalErrors: number;
  consecutiveErrors: number;
  lastError: string | null;
  /** Deliveries one at a time in signal order; a failing head holds the rest until its cycle ends. Absent: false. */
  ordered?: boolean;
  /** SHA-256 of the ApplicationToken it was saved with (its owner, see caller.ts); null: none. Never sent to clients. */
  application: string | null;
}

/** What a client may send when saving: system-owned fields are ignored. */
export type WebhookInput = Pick<
  Webhook,
  'webhookId' | 'name' | 'events' | 'targetUrl' | 'secret' | 'state' | 'type' | 'headers' | 'properties' | 'errorsEmail' | 'description' | 'ordered'
>;

export interface WebhookResult {
  success: boolean;
  message: string;
}

export interface WebhookFilter {
  nameFilter?: string | null;
  eventFilter?: string | null;
  statusFilter?: WebhookState | null;
}

/** CreateDefaultWebhook: nothing stored, the shape NetServer hands out. */
export function createDefaultWebhook(): Webhook {
  return {
    webhookId: 0,
    name: null,
    events: ['contact.created', 'contact.deleted'],
    targetUrl: null,
    secret: null,
    state: WebhookState.Active,
    type: 'webhook',
    headers: null,
    properties: null,
    registered: null,
    registeredAssociate: null,
    updated: null,
    updatedAssociate: null,
    errorsEmail: null,
    description: null,
    totalCalls: 0,
    totalErrors: 0,
    consecutiveErrors: 0,
    lastError: null,
    ordered: false,
    application: null,
  };
}
