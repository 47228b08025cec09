import { ValidationError } from '../core/errors';
import { int32FromText, parseWebhookState, type ArgumentKind, type ArgumentValues, type Arguments, type OperationName, OPERATIONS } from '../core/operations';
import { NotifyVia, NotifyWhen, parseFlags, WebhookState, type AssociateRef, type FlagNames, type StringEntry, type TypedEntry, type ValueType, type WebhookInput } from '../core/webhook';

/**
 * node-soap's parsed request objects -> core inputs. Everything a client sends is checked for
 * shape here (a string where a string belongs, an int that is an int) so the core gets typed
 * values and the caller gets a message naming the element.
 */

type Parsed = unknown;

function isRecord(value: Parsed): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Text content of an element node-soap may have parsed as a string, number, Date or {$value}. */
function text(value: Parsed, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (isRecord(value)) {
    if ('$value' in value) return text(value.$value, field);
    const keys = Object.keys(value).filter((key) => key !== 'attributes');
    if (keys.length === 0) return isNil(value) ? null : '';
  }
  throw new ValidationError(`${field} must be text, not nested elements.`, field);
}

function isNil(value: Record<string, unknown>): boolean {
  const attributes = value.attributes;
  return isRecord(attributes) && Object.entries(attributes).some(([name, v]) => /(^|:)nil$/.test(name) && String(v) === 'true');
}

export function int(value: Parsed, field: string, fallback = 0): number {
  const raw = text(value, field);
  if (raw === null || raw.trim() === '') return fallback;
  return int32FromText(raw, field);
}

function list(value: Parsed): Parsed[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** xs:boolean: true/false/1/0; absent or empty: false. */
function bool(value: Parsed, field: string): boolean {
  const raw = text(value, field)?.trim() ?? '';
  if (raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new ValidationError(`${field} must be true or false (xs:boolean), got ${JSON.stringify(raw.slice(0, 40))}.`, field);
}

export function state(value: Parsed, field: string): WebhookState {
  const raw = text(value, field);
  return raw === null ? WebhookState.Unknown : parseWebhookState(raw, field);
}

/** A [Flags] enum element ("Email InApp"); absent: undefined (the stored value stays). */
function flags(value: Parsed, names: FlagNames, field: string): number | undefined {
  if (value === undefined) return undefined;
  const raw = text(value, field);
  if (raw === null || raw.trim() === '') return 0;
  const parsed = parseFlags(raw, names);
  if (parsed === undefined) throw new ValidationError(`${field} ${JSON.stringify(raw.slice(0, 40))} is not a list of ${Object.keys(names).join(', ')}.`, field);
  return parsed;
}

/** ArrayOfMDOListItem -> associates by Id (the names are the service's to fill in; kept as sent). */
function listItems(value: Parsed, field: string): AssociateRef[] | undefined {
  if (value === undefined) return undefined;
  if (value === null || value === '') return [];
  if (!isRecord(value)) throw new ValidationError(`${field} must be an ArrayOfMDOListItem (<MDOListItem> items with an Id).`, field);
  return list(value.MDOListItem).map((item) => {
    if (!isRecord(item)) throw new ValidationError(`${field} items must be MDOListItem elements with an Id.`, field);
    return { associateId: int(item.Id, `${field}.Id`), name: text(item.Name, `${field}.Name`) ?? '' };
  });
}

function stringArray(value: Parsed, field: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) {
    if (value === '') return [];
    throw new ValidationError(`${field} must be an ArrayOfstring (<string> items in the Arrays namespace).`, field);
  }
  return list(value.string).map((item) => text(item, field) ?? '');
}

function stringDictionary(value: Parsed, field: string): StringEntry[] | null {
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) {
    if (value === '') return [];
    throw new ValidationError(`${field} must be a StringDictionary of StringKeyValuePair items.`, field);
  }
  return list(value.StringKeyValuePair).map((pair) => {
    if (!isRecord(pair)) throw new ValidationError(`${field} items must have Key and Value.`, field);
    return { key: text(pair.Key, `${field}.Key`) ?? '', value: text(pair.Value, `${field}.Value`) };
  });
}

const XSD_TYPES: Record<string, ValueType> = {
  string: 'string', int: 'int', long: 'long', short: 'short', boolean: 'boolean', double: 'double',
  decimal: 'decimal', float: 'float', dateTime: 'dateTime',
};

/** A StringObjectDictionary value: its xsi:type decides how the text is read. */
export function typedValue(value: Parsed, field: string): Pick<TypedEntry, 'type' | 'value'> {
  if (value === undefined || value === null) return { type: null, value: null };
  let typeName = 'string';
  if (isRecord(value)) {
    if (isNil(value)) return { type: null, value: null };
    const attributes = isRecord(value.attributes) ? value.attributes : {};
    // Any prefix: .NET writes i:type="a:int", others xsi:type="xs:int".
    const typeAttribute = Object.keys(attributes).find((name) => name === 'type' || name.endsWith(':type'));
    if (typeAttribute) typeName = String(attributes[typeAttribute]).split(':').pop() ?? 'string';
  }
  const type = XSD_TYPES[typeName];
  if (!type) {
    throw new ValidationError(`${field} has xsi:type ${JSON.stringify(typeName)}; use one of ${Object.keys(XSD_TYPES).map((t) => `xs:${t}`).join(', ')}.`, field);
  }
  const raw = text(value, field) ?? '';
  return { type, value: convertTyped(type, raw, field) };
}

function convertTyped(type: ValueType, raw: string, field: string): string | number | boolean {
  const fail = (what: string) => new ValidationError(`${field} is typed xs:${type} but ${JSON.stringify(raw.slice(0, 40))} is not ${what}.`, field);
  switch (type) {
    case 'string':
      return raw;
    case 'int':
    case 'short':
    case 'long': {
      const trimmed = raw.trim();
      if (!/^[+-]?\d+$/.test(trimmed)) throw fail(`a whole number within xs:${type}`);
      const exact = BigInt(trimmed);
      const bits = { short: 15n, int: 31n, long: 63n }[type];
      if (exact < -(1n << bits) || exact >= 1n << bits) throw fail(`a whole number within xs:${type}`);
      // An xs:long beyond 2^53 stays its exact decimal text (a JavaScript number would round it).
      return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact.toString();
    }
    case 'boolean': {
      const normalized = raw.trim();
      if (normalized === 'true' || normalized === '1') return true;
      if (normalized === 'false' || normalized === '0') return false;
      throw fail('true or false');
    }
    case 'double':
    case 'float':
    case 'decimal': {
      const number = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(number)) throw fail('a finite number');
      return number;
    }
    case 'dateTime': {
      // A dateTime without a zone is read as UTC (as NetServer stores UTC).
      const trimmed = raw.trim();
      const date = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(trimmed) ? trimmed : `${trimmed}Z`);
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(trimmed) || Number.isNaN(date.getTime())) throw fail('an xs:dateTime such as 2024-01-31T12:00:00Z');
      return date.toISOString();
    }
  }
}

export function objectDictionary(value: Parsed, field: string): TypedEntry[] | null {
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) {
    if (value === '') return [];
    throw new ValidationError(`${field} must be a StringObjectDictionary of StringObjectKeyValuePair items.`, field);
  }
  return list(value.StringObjectKeyValuePair).map((pair) => {
    if (!isRecord(pair)) throw new ValidationError(`${field} items must have Key and Value.`, field);
    const key = text(pair.Key, `${field}.Key`) ?? '';
    return { key, ...typedValue(pair.Value, `${field}[${key}]`) };
  });
}

/** A Webhook carrier from a SaveWebhook/TestWebhook request. */
export function webhookInput(value: Parsed): WebhookInput {
  if (!isRecord(value)) {
    throw new ValidationError('The Webhook element is missing or empty: send the carrier from CreateDefaultWebhook with your changes.', 'Webhook');
  }
  return {
    webhookId: int(value.WebhookId, 'WebhookId'),
    name: text(value.Name, 'Name'),
    events: stringArray(value.Events, 'Events') ?? [],
    targetUrl: text(value.TargetUrl, 'TargetUrl'),
    secret: text(value.Secret, 'Secret'),
    state: state(value.State, 'State'),
    type: text(value.Type, 'Type'),
    headers: stringDictionary(value.Headers, 'Headers'),
    properties: objectDictionary(value.Properties, 'Properties'),
    errorsEmail: text(value.ErrorsEmail, 'ErrorsEmail'),
    description: text(value.Description, 'Description'),
    errorEmails: value.ErrorEmails === undefined ? undefined : (stringArray(value.ErrorEmails, 'ErrorEmails') ?? []),
    errorAssociates: listItems(value.ErrorAssociates, 'ErrorAssociates'),
    notifyVia: flags(value.NotifyVia, NotifyVia, 'NotifyVia'),
    notifyWhen: flags(value.NotifyWhen, NotifyWhen, 'NotifyWhen'),
    ordered: bool(value.Ordered, 'Ordered'),
  };
}

const READERS: { [K in ArgumentKind]: (value: Parsed, field: string) => ArgumentValues[K] } = {
  int32: (value, field) => int(value, field),
  string: text,
  state,
  webhook: webhookInput,
  typedEntries: objectDictionary,
};

/** node-soap's parsed request element -> the operation's typed arguments (core/operations.ts). */
export function operationArguments(operation: OperationName, args: Parsed): Arguments {
  const value = isRecord(args) ? args : {};
  return new Map(OPERATIONS[operation].arguments.map(({ name, kind }) => [name, READERS[kind](value[name], name)]));
}

export { text };
