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

/** NetServer 12.4 WebhookNotifyVia flags: how recipients are told of a state change. */
export const NotifyVia = { None: 0, Email: 1, InApp: 2 } as const;
/** NetServer 12.4 WebhookNotifyWhen flags: which state changes are told. */
export const NotifyWhen = { None: 0, FirstFailure: 1, Disabling: 2 } as const;
export type FlagNames = Readonly<Record<string, number>>;

/** .NET's [Flags] names: "None", "Email", "Email, InApp" (JSON, ToString) or "Email InApp" (SOAP's xs:list). */
export function flagsText(value: number, names: FlagNames, separator = ', '): string {
  // Every webhook written on either door spells two of these: each text is made once.
  const known = value >= 0 && value <= flagsMax(names) ? flagsTexts(names, separator) : null;
  let text = known?.get(value);
  if (text === undefined) {
    const set = Object.entries(names).filter(([, bit]) => bit !== 0 && (value & bit) === bit).map(([name]) => name);
    text = set.length > 0 ? set.join(separator) : (Object.entries(names).find(([, bit]) => bit === 0)?.[0] ?? '0');
    known?.set(value, text);
  }
  return text;
}

const FLAGS_TEXTS = new WeakMap<FlagNames, Map<string, Map<number, string>>>();
function flagsTexts(names: FlagNames, separator: string): Map<number, string> {
  let bySeparator = FLAGS_TEXTS.get(names);
  if (!bySeparator) FLAGS_TEXTS.set(names, (bySeparator = new Map()));
  let texts = bySeparator.get(separator);
  if (!texts) bySeparator.set(separator, (texts = new Map()));
  return texts;
}

/** The highest flags value (all bits set). */
export function flagsMax(names: FlagNames): number {
  return Object.values(names).reduce((all, bit) => all | bit, 0);
}

/**
 * A flags value by number, or by names as .NET writes and reads them ("Email, InApp", also
 * space- or |-separated, any case); undefined when it is neither.
 */
export function parseFlags(value: string | number, names: FlagNames): number | undefined {
  const max = flagsMax(names);
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= max ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return parseFlags(Number(text), names);
  let result = 0;
  for (const part of text.split(/[\s,|]+/).filter((p) => p !== '')) {
    const bit = Object.entries(names).find(([name]) => name.toLowerCase() === part.toLowerCase())?.[1];
    if (bit === undefined) return undefined;
    result |= bit;
  }
  return result;
}

/** The xsi:type of a StringObjectDictionary value, kept so values round-trip with their type. */
export type ValueType = 'string' | 'int' | 'long' | 'short' | 'boolean' | 'double' | 'decimal' | 'float' | 'dateTime';

/**
 * One typed dictionary entry. dateTime values are ISO-8601 UTC strings; a long beyond 2^53
 * (which a JavaScript number cannot hold exactly) is its decimal text.
 */
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
  /** NetServer 12.4: more addresses told when the webhook changes state (NotifyVia Email). */
  errorEmails: string[];
  /** NetServer 12.4: associates told (in-app; by email where their address is known). */
  errorAssociates: AssociateRef[];
  description: string | null;
  /** NetServer 12.4 flags (NotifyVia); 0 with NotifyWhen 0: as before 12.4 (ErrorsEmail on TooManyErrors). */
  notifyVia: number;
  /** NetServer 12.4 flags (NotifyWhen). */
  notifyWhen: number;
  totalCalls: number;
  totalErrors: number;
  consecutiveErrors: number;
  lastError: string | null;
  /** Deliveries one at a time in signal order; a failing head holds the rest until its cycle ends. Absent: false. */
  ordered?: boolean;
  /** SHA-256 of the ApplicationToken it was saved with (its owner, see caller.ts); null: none. Never sent to clients. */
  application: string | null;
}

/**
 * What a client may send when saving: system-owned fields are ignored. The NetServer 12.4
 * members are optional: a client that does not know them (an older proxy) leaves them as stored.
 */
export type WebhookInput = Pick<
  Webhook,
  'webhookId' | 'name' | 'events' | 'targetUrl' | 'secret' | 'state' | 'type' | 'headers' | 'properties' | 'errorsEmail' | 'description' | 'ordered'
> &
  Partial<Pick<Webhook, NotificationMember>>;

export type NotificationMember = 'errorEmails' | 'errorAssociates' | 'notifyVia' | 'notifyWhen';

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
    errorEmails: [],
    errorAssociates: [],
    description: null,
    notifyVia: NotifyVia.None,
    notifyWhen: NotifyWhen.None,
    totalCalls: 0,
    totalErrors: 0,
    consecutiveErrors: 0,
    lastError: null,
    ordered: false,
    application: null,
  };
}
