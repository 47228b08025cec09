import { ValidationError } from '../core/errors';
import { webhookStateFromName, WebhookState, type StringEntry, type TypedEntry, type ValueType, type WebhookFilter, type WebhookInput } from '../core/webhook';

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

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export function int(value: Parsed, field: string, fallback = 0): number {
  const raw = text(value, field);
  if (raw === null || raw.trim() === '') return fallback;
  const number = Number(raw.trim());
  if (!/^\s*[+-]?\d+\s*$/.test(raw) || !Number.isSafeInteger(number) || number < INT32_MIN || number > INT32_MAX) {
    throw new ValidationError(`${field} must be a whole number (xs:int), got ${JSON.stringify(raw.slice(0, 40))}.`, field);
  }
  return number;
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
  if (raw === null || raw.trim() === '') return WebhookState.Unknown;
  const parsed = webhookStateFromName(raw.trim());
  if (parsed === undefined) throw new ValidationError(`${field} ${JSON.stringify(raw.slice(0, 40))} is not a WebhookState; use Active or Stopped.`, field);
  return parsed;
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
      const bounds = { short: 32767, int: INT32_MAX, long: Number.MAX_SAFE_INTEGER }[type];
      const number = Number(raw.trim());
      if (!/^[+-]?\d+$/.test(raw.trim()) || !Number.isSafeInteger(number) || Math.abs(number) > bounds) throw fail(`a whole number within xs:${type}`);
      return number;
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
    ordered: bool(value.Ordered, 'Ordered'),
  };
}

export function filterInput(args: Parsed): WebhookFilter {
  const value = isRecord(args) ? args : {};
  return {
    nameFilter: text(value.NameFilter, 'NameFilter'),
    eventFilter: text(value.EventFilter, 'EventFilter'),
    statusFilter: state(value.StatusFilter, 'StatusFilter'),
  };
}

export function argument(args: Parsed, name: string): Parsed {
  return isRecord(args) ? args[name] : undefined;
}

export { text };
