/**
 * The JSON body of a webhook delivery (SPEC section 5), and the exact bytes that are sent and signed.
 */

export interface PayloadInput {
  eventId: string;
  timestamp: Date;
  eventName: string;
  primaryKey: number;
  /** The SignalEvent Data dictionary: string, number, boolean, Date or null values. */
  data: Record<string, unknown>;
  contextIdentifier: string;
  changedByAssociateId: number;
  webhookName: string | null;
  /** The webhook's Properties, added as extra top-level members. */
  properties: Record<string, unknown> | null;
}

export interface TestPayloadInput {
  eventId: string;
  timestamp: Date;
  contextIdentifier: string;
  changedByAssociateId: number;
  webhookName: string | null;
  properties: Record<string, unknown> | null;
}

/** The fixed top-level members, in the order they are serialised. */
export const PAYLOAD_FIELD_NAMES: readonly string[] = Object.freeze([
  'EventId',
  'Timestamp',
  'Changes',
  'Event',
  'PrimaryKey',
  'Entity',
  'ContextIdentifier',
  'ChangedByAssociateId',
  'WebhookName',
  'FieldValues',
]);

const RESERVED_LOWER = new Set(PAYLOAD_FIELD_NAMES.map((name) => name.toLowerCase()));

export const TEST_EVENT_NAME = 'test';

export function entityOf(eventName: string): string {
  const lastDot = eventName.lastIndexOf('.');
  return lastDot < 0 ? eventName : eventName.slice(0, lastDot);
}

export function buildPayload(input: PayloadInput): Record<string, unknown> {
  const fieldValues: Record<string, unknown> = {};
  for (const key of Object.keys(input.data)) {
    setMember(fieldValues, key, toJsonValue(input.data[key]));
  }
  const payload: Record<string, unknown> = {};
  setMember(payload, 'EventId', input.eventId);
  setMember(payload, 'Timestamp', formatTimestamp(input.timestamp));
  setMember(payload, 'Changes', Object.keys(fieldValues));
  setMember(payload, 'Event', input.eventName);
  setMember(payload, 'PrimaryKey', input.primaryKey);
  setMember(payload, 'Entity', entityOf(input.eventName));
  setMember(payload, 'ContextIdentifier', input.contextIdentifier);
  setMember(payload, 'ChangedByAssociateId', input.changedByAssociateId);
  setMember(payload, 'WebhookName', input.webhookName);
  setMember(payload, 'FieldValues', fieldValues);
  if (input.properties) {
    for (const key of Object.keys(input.properties)) {
      // Case-insensitive because .NET and other receivers often bind JSON members that way,
      // so an 'eventid' property would shadow or clash with EventId there.
      if (RESERVED_LOWER.has(key.toLowerCase())) continue;
      setMember(payload, key, toJsonValue(input.properties[key]));
    }
  }
  return payload;
}

export function buildTestPayload(input: TestPayloadInput): Record<string, unknown> {
  return buildPayload({
    ...input,
    eventName: TEST_EVENT_NAME,
    primaryKey: 0,
    data: {},
  });
}

/**
 * The fixed members are written first, in PAYLOAD_FIELD_NAMES order, whatever the object's key
 * order: JavaScript enumerates integer-like keys (a Property named "1") before all others.
 */
export function serializePayload(payload: Record<string, unknown>): Buffer {
  const keys = Object.keys(payload);
  const ordered = [
    ...PAYLOAD_FIELD_NAMES.filter((name) => Object.prototype.hasOwnProperty.call(payload, name)),
    ...keys.filter((key) => !PAYLOAD_FIELD_NAMES.includes(key)),
  ];
  const members: string[] = [];
  for (const key of ordered) {
    const value = JSON.stringify(payload[key]);
    if (value === undefined) continue; // as JSON.stringify does for undefined and functions
    members.push(`${JSON.stringify(key)}:${value}`);
  }
  return Buffer.from(`{${members.join(',')}}`, 'utf8');
}

function formatTimestamp(timestamp: Date): string {
  if (Number.isNaN(timestamp.getTime())) throw new RangeError('payload Timestamp is an invalid Date');
  return timestamp.toISOString();
}

function toJsonValue(value: unknown): unknown {
  if (value instanceof Date) {
    // An invalid Date becomes null, as JSON.stringify would write it.
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  }
  return value;
}

// Keys come from clients (SOAP element names, stored Properties): a plain assignment of
// '__proto__' would set the prototype instead of adding a member.
function setMember(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
