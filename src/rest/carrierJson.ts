import { associateMembers, listItemMembers } from '../core/associateCarrier';
import { ValidationError } from '../core/errors';
import { checkInt32, INT32_MAX, INT32_MIN, isInt32, parseWebhookState } from '../core/operations';
import {
  flagsText,
  NotifyVia,
  NotifyWhen,
  parseFlags,
  WEBHOOK_STATE_NAMES,
  WebhookState,
  type FlagNames,
  type AssociateRef,
  type StringEntry,
  type TypedEntry,
  type Webhook,
  type WebhookFilter,
  type WebhookInput,
  type WebhookResult,
} from '../core/webhook';
import { badRequest } from './errors';
import { ExactInteger, exactIntegerText } from './exactJson';

/**
 * The Webhook carrier as JSON, NetServer's PascalCase members in the SOAP carrier's order.
 * Client JSON -> core inputs with every shape checked here (the core gets typed values, the
 * caller a message naming the member). Keys such as `__proto__` stay data: dictionaries are
 * built with Object.create(null) and client objects are only ever read with Object.entries.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const WEBHOOK_MEMBERS = [
  'WebhookId', 'Name', 'Events', 'TargetUrl', 'Secret', 'State', 'Type', 'Headers', 'Properties',
  'Registered', 'RegisteredAssociate', 'Updated', 'UpdatedAssociate', 'ErrorsEmail',
  'Description', 'TotalCalls', 'TotalErrors', 'ConsecutiveErrors', 'LastError',
  'ErrorEmails', 'ErrorAssociates', 'NotifyVia', 'NotifyWhen', 'Ordered',
] as const;
export type WebhookMember = (typeof WEBHOOK_MEMBERS)[number];

/** Maintained by the service: accepted on input (a GET body can be sent back) and ignored. */
export const SYSTEM_MEMBERS: ReadonlySet<WebhookMember> = new Set([
  'WebhookId', 'Registered', 'RegisteredAssociate', 'Updated', 'UpdatedAssociate', 'TotalCalls', 'TotalErrors', 'ConsecutiveErrors', 'LastError',
]);

/** A core rule's ValidationError as this door's 400 (the REST door names shape mistakes BadRequest). */
function asBadRequest<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof ValidationError) throw badRequest(error.message, error.field ?? undefined);
    throw error;
  }
}

/** .NET's DateTime.MinValue: what NetServer answers for a date never set (typed clients cannot read null into a DateTime). */
const NEVER = '0001-01-01T00:00:00';

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---- core -> JSON ----------------------------------------------------------------------

function associateJson(who: AssociateRef | null): JsonObject | null {
  return who === null ? null : Object.fromEntries(associateMembers(who));
}

export function headersJson(headers: StringEntry[] | null): JsonObject | null {
  if (headers === null) return null;
  const result: JsonObject = Object.create(null);
  for (const { key, value } of headers) result[key] = value;
  return result;
}

/** Typed entries as plain JSON values (a dateTime as its ISO-8601 string, a long beyond 2^53 exactly). */
export function typedEntriesJson(entries: TypedEntry[] | null): JsonObject | null {
  if (entries === null) return null;
  const result: JsonObject = Object.create(null);
  for (const { key, type, value } of entries) {
    result[key] = type === 'long' && typeof value === 'string' ? (new ExactInteger(value) as unknown as JsonValue) : value;
  }
  return result;
}

/** NetServer 12.4 lists associates as MDOListItems. */
function listItemJson(who: AssociateRef): JsonObject {
  return { ...Object.fromEntries(listItemMembers(who)), ChildItems: [] };
}

export function webhookJson(w: Webhook): JsonObject {
  return {
    WebhookId: w.webhookId,
    Name: w.name,
    Events: [...w.events],
    TargetUrl: w.targetUrl,
    Secret: w.secret,
    State: WEBHOOK_STATE_NAMES[w.state] ?? 'Unknown',
    Type: w.type,
    Headers: headersJson(w.headers),
    Properties: typedEntriesJson(w.properties),
    Registered: w.registered ? w.registered.toISOString() : NEVER,
    RegisteredAssociate: associateJson(w.registeredAssociate),
    Updated: w.updated ? w.updated.toISOString() : NEVER,
    UpdatedAssociate: associateJson(w.updatedAssociate),
    ErrorsEmail: w.errorsEmail,
    Description: w.description,
    TotalCalls: w.totalCalls,
    TotalErrors: w.totalErrors,
    ConsecutiveErrors: w.consecutiveErrors,
    LastError: w.lastError,
    ErrorEmails: [...w.errorEmails],
    ErrorAssociates: w.errorAssociates.map(listItemJson),
    NotifyVia: flagsText(w.notifyVia, NotifyVia),
    NotifyWhen: flagsText(w.notifyWhen, NotifyWhen),
    Ordered: w.ordered ?? false,
  };
}

export function webhookResultJson(result: WebhookResult): JsonObject {
  return { Success: result.success, Message: result.message };
}

// ---- JSON -> core ----------------------------------------------------------------------

/**
 * Maps a client object's member names onto `known` case-insensitively (as NetServer's JSON
 * reader does); names nothing we know -> 400 listing them all.
 */
export function resolveMembers<K extends string>(value: JsonObject, known: readonly K[], what: string): Map<K, JsonValue> {
  const byLower = new Map(known.map((name) => [name.toLowerCase(), name]));
  const result = new Map<K, JsonValue>();
  const unknown: string[] = [];
  for (const [key, member] of Object.entries(value)) {
    const name = byLower.get(key.toLowerCase());
    if (!name) unknown.push(key);
    else if (result.has(name)) throw badRequest(`${what} has ${name} twice (member names are case-insensitive); keep one.`, name);
    else result.set(name, member);
  }
  if (unknown.length > 0) {
    throw badRequest(`${what} has unknown member${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the members are ${known.join(', ')}.`, unknown[0]);
  }
  return result;
}

export function canonicalMember(name: string): WebhookMember | undefined {
  return WEBHOOK_MEMBERS.find((member) => member.toLowerCase() === name.toLowerCase());
}

function optionalString(value: JsonValue | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw badRequest(`${field} must be a JSON string or null.`, field);
  return value;
}

function optionalBoolean(value: JsonValue | undefined, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw badRequest(`${field} must be true, false or null.`, field);
  return value;
}

export function int32(value: JsonValue | undefined, field: string, fallback = 0): number {
  if (value === undefined || value === null) return fallback;
  const shown = exactIntegerText(value) ?? JSON.stringify(value) ?? '';
  if (typeof value !== 'number') throw badRequest(`${field} must be a whole number from ${INT32_MIN} to ${INT32_MAX}, got ${shown.slice(0, 40)}.`, field);
  return asBadRequest(() => checkInt32(value, field, shown));
}

/** A WebhookState by name (any case; "Active") or by its number; null/absent -> Unknown. */
export function stateFromJson(value: JsonValue | undefined, field: string): WebhookState {
  if (value === undefined || value === null) return WebhookState.Unknown;
  if (typeof value !== 'number' && typeof value !== 'string') throw badRequest(`${field} must be a WebhookState name (${WEBHOOK_STATE_NAMES.join(', ')}) or number.`, field);
  return asBadRequest(() => parseWebhookState(value, field));
}

/** A [Flags] enum by number or by names ("Email, InApp"); absent: undefined (the stored value stays). */
function flagsFromJson(value: JsonValue | undefined, names: FlagNames, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (value === null) return 0;
  const parsed = typeof value === 'number' || typeof value === 'string' ? parseFlags(value, names) : undefined;
  if (parsed === undefined) {
    throw badRequest(`${field} ${JSON.stringify(value)?.slice(0, 40)} is not a combination of ${Object.entries(names).map(([name, bit]) => `${name} (${bit})`).join(', ')}; e.g. "Email, InApp" or 3.`, field);
  }
  return parsed;
}

function stringListFromJson(value: JsonValue | undefined, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw badRequest(`${field} must be a JSON array of strings, e.g. ["ops@example.com"].`, field);
  return value as string[];
}

/** MDOListItems (or Associates) -> associates by id: Id, or AssociateId. */
function associatesFromJson(value: JsonValue | undefined, field: string): AssociateRef[] | undefined {
  if (value === undefined) return undefined;
  if (value === null) return [];
  if (!Array.isArray(value)) throw badRequest(`${field} must be a JSON array of associates, e.g. [{"Id": 7}].`, field);
  return value.map((item) => {
    if (!isJsonObject(item)) throw badRequest(`${field} items must be objects with an Id, e.g. {"Id": 7}.`, field);
    const byLower = new Map(Object.entries(item).map(([key, member]) => [key.toLowerCase(), member]));
    const id = byLower.get('id') ?? byLower.get('associateid');
    const name = byLower.get('name');
    return { associateId: int32(id, `${field}.Id`), name: typeof name === 'string' ? name : '' };
  });
}

function eventsFromJson(value: JsonValue | undefined): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw badRequest('Events must be a JSON array of event names, e.g. ["contact.created"].', 'Events');
  }
  return value as string[];
}

function headersFromJson(value: JsonValue | undefined): StringEntry[] | null {
  if (value === undefined || value === null) return null;
  if (!isJsonObject(value)) throw badRequest('Headers must be a JSON object of header names to string values, e.g. {"Authorization": "Bearer abc"}.', 'Headers');
  return Object.entries(value).map(([key, entry]) => {
    if (entry !== null && typeof entry !== 'string') throw badRequest(`Headers value of ${JSON.stringify(key)} must be a JSON string.`, 'Headers');
    return { key, value: entry };
  });
}

/**
 * A JSON object of scalar values -> typed entries (Properties, SignalEvent Data): integers are
 * int (long beyond int32), other numbers double, booleans boolean, strings string, null nil.
 */
export function typedEntriesFromJson(value: JsonValue | undefined, field: string): TypedEntry[] | null {
  if (value === undefined || value === null) return null;
  if (!isJsonObject(value)) throw badRequest(`${field} must be a JSON object whose values are strings, numbers, booleans or null.`, field);
  return Object.entries(value).map(([key, entry]): TypedEntry => {
    if (entry === null) return { key, type: null, value: null };
    // A marked literal from a request body, or an ExactInteger of a stored webhook being patched.
    const exact = entry instanceof ExactInteger ? entry.digits : exactIntegerText(entry);
    if (exact !== null) return { key, ...exactLong(exact, field, key) };
    if (typeof entry === 'string') return { key, type: 'string', value: entry };
    if (typeof entry === 'boolean') return { key, type: 'boolean', value: entry };
    if (typeof entry === 'number') {
      if (isInt32(entry)) return { key, type: 'int', value: entry };
      if (Number.isSafeInteger(entry)) return { key, type: 'long', value: entry };
      return { key, type: 'double', value: entry };
    }
    throw badRequest(`${field} value of ${JSON.stringify(key)} is ${Array.isArray(entry) ? 'an array' : 'an object'}; use a string, number, boolean or null.`, field);
  });
}

/** An integer literal beyond 2^53: an xs:long, kept as its exact digits; beyond xs:long it is refused. */
function exactLong(digits: string, field: string, key: string): Pick<TypedEntry, 'type' | 'value'> {
  const value = BigInt(digits);
  if (value < -(1n << 63n) || value >= 1n << 63n) throw badRequest(`${field} value of ${JSON.stringify(key)} is beyond xs:long (64 bits); send it as a string.`, field);
  return { type: 'long', value: digits };
}

/**
 * Keeps the stored type of a value the client sent back unchanged (a double 1.0, a long 5, a
 * dateTime read as its string), so a GET-modify-PUT round trip does not retype untouched Properties.
 */
export function keepStoredTypes(entries: TypedEntry[] | null, stored: TypedEntry[] | null): TypedEntry[] | null {
  if (!entries || !stored) return entries;
  const before = new Map(stored.map((entry) => [entry.key, entry]));
  return entries.map((entry) => {
    const previous = before.get(entry.key);
    return previous && previous.value === entry.value && previous.type !== null ? { ...entry, type: previous.type } : entry;
  });
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$/;

/** System-owned members are ignored, but a value of the wrong kind is still a mistake worth naming. */
function checkSystemMember(name: WebhookMember, value: JsonValue): void {
  if (value === null) return;
  const fail = (what: string) => badRequest(`${name} is maintained by the service and ignored on input, but when sent it must be ${what}.`, name);
  switch (name) {
    case 'Registered':
    case 'Updated':
      if (value === NEVER) return;
      if (typeof value !== 'string' || !ISO_DATE.test(value) || Number.isNaN(Date.parse(value))) throw fail('an ISO-8601 date-time such as 2024-01-31T12:00:00Z');
      return;
    case 'RegisteredAssociate':
    case 'UpdatedAssociate':
      if (!isJsonObject(value)) throw fail('an Associate object');
      return;
    case 'LastError':
      if (typeof value !== 'string') throw fail('a string');
      return;
    default:
      if (typeof value !== 'number' || !Number.isInteger(value)) throw fail('a whole number');
  }
}

/** A Webhook JSON object (POST, PUT, TestWebhook, a patched document) -> the core's input. */
export function webhookInputFromJson(body: unknown, what = 'The Webhook'): WebhookInput {
  if (!isJsonObject(body)) {
    throw badRequest(`${what} must be a JSON object: send the body of GET /api/v1/Webhook/default with your changes.`, 'Webhook');
  }
  const members = resolveMembers(body, WEBHOOK_MEMBERS, what);
  for (const [name, value] of members) if (name !== 'WebhookId' && SYSTEM_MEMBERS.has(name)) checkSystemMember(name, value);
  const webhookId = int32(members.get('WebhookId'), 'WebhookId');
  return {
    webhookId,
    name: optionalString(members.get('Name'), 'Name'),
    events: eventsFromJson(members.get('Events')),
    targetUrl: optionalString(members.get('TargetUrl'), 'TargetUrl'),
    secret: optionalString(members.get('Secret'), 'Secret'),
    state: stateFromJson(members.get('State'), 'State'),
    type: optionalString(members.get('Type'), 'Type'),
    headers: headersFromJson(members.get('Headers')),
    properties: typedEntriesFromJson(members.get('Properties'), 'Properties'),
    errorsEmail: optionalString(members.get('ErrorsEmail'), 'ErrorsEmail'),
    description: optionalString(members.get('Description'), 'Description'),
    errorEmails: stringListFromJson(members.get('ErrorEmails'), 'ErrorEmails'),
    errorAssociates: associatesFromJson(members.get('ErrorAssociates'), 'ErrorAssociates'),
    notifyVia: flagsFromJson(members.get('NotifyVia'), NotifyVia, 'NotifyVia'),
    notifyWhen: flagsFromJson(members.get('NotifyWhen'), NotifyWhen, 'NotifyWhen'),
    ordered: optionalBoolean(members.get('Ordered'), 'Ordered'),
  };
}

export const FILTER_MEMBERS = ['NameFilter', 'EventFilter', 'StatusFilter'] as const;

/** GetAllWebhooks' filters from a query string or an Agents-API argument object. */
export function filterFromJson(value: JsonObject, what: string): WebhookFilter {
  const members = resolveMembers(value, FILTER_MEMBERS, what);
  return {
    nameFilter: optionalString(members.get('NameFilter'), 'NameFilter'),
    eventFilter: optionalString(members.get('EventFilter'), 'EventFilter'),
    statusFilter: stateFromJson(members.get('StatusFilter'), 'StatusFilter'),
  };
}
