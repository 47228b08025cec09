import { PAYLOAD_FIELD_NAMES } from '../outbound/payload';
import { isReservedHeaderName, RESERVED_HEADER_NAMES } from '../outbound/headers';
import { ValidationError } from './errors';
import { flagsMax, NotifyVia, NotifyWhen, WebhookState, type AssociateRef, type FlagNames, type StringEntry, type TypedEntry, type WebhookInput } from './webhook';
import { isInt32 } from './operations';

/** What the operator allows for targets (from config). */
export interface TargetPolicy {
  allowHttpTargets: boolean;
}

const EVENT_NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Printable header value: no CR, LF or other control characters (header injection).
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;
const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;
const PAYLOAD_NAMES_LOWER = new Set(PAYLOAD_FIELD_NAMES.map((name) => name.toLowerCase()));

export const LIMITS = {
  name: 400,
  secret: 400,
  targetUrl: 4000,
  eventsJoined: 4000,
  errorsEmail: 239,
  description: 4000,
  headerValue: 4000,
  headers: 50,
  properties: 100,
  propertyValue: 4000,
  headerName: 200,
  propertyKey: 400,
  errorEmails: 50,
  errorAssociates: 100,
} as const;

// PostgreSQL text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not Unicode text:
// refused here as the caller's mistake instead of failing in the database.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Refuses text the database cannot store. */
export function checkStorableText(value: string | null | undefined, field: string): void {
  if (typeof value === 'string' && UNSTORABLE.test(value)) {
    throw new ValidationError(`${field} contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored; remove it.`, field);
  }
}

function maxLength(value: string | null, limit: number, field: string): void {
  checkStorableText(value, field);
  if (value !== null && value.length > limit) {
    throw new ValidationError(`${field} is ${value.length} characters long; the limit is ${limit}. Shorten it.`, field);
  }
}

export function validateEventName(event: string, field = 'Events'): void {
  if (!EVENT_NAME.test(event)) {
    throw new ValidationError(
      `${field} contains ${JSON.stringify(event.slice(0, 100))}, which is not an event name: use dot-separated segments of letters, digits or _, e.g. contact.created.`,
      field,
    );
  }
}

/** Events: at least one, each a dotted name; duplicates collapse (order kept). */
export function normalizeEvents(events: string[] | null | undefined): string[] {
  if (!events || events.length === 0) {
    throw new ValidationError('Events is empty: subscribe the webhook to at least one event, e.g. contact.created.', 'Events');
  }
  const unique = [...new Set(events.map((event) => (event ?? '').trim()))];
  unique.forEach((event) => validateEventName(event));
  if (unique.join(',').length > LIMITS.eventsJoined) {
    throw new ValidationError(`Events are ${unique.join(',').length} characters long together; the limit is ${LIMITS.eventsJoined}. Subscribe to fewer events.`, 'Events');
  }
  return unique;
}

export function validateTargetUrl(targetUrl: string | null, policy: TargetPolicy): URL {
  if (targetUrl === null || targetUrl.trim() === '') {
    throw new ValidationError('TargetUrl is empty: give the absolute https:// URL of your receiver.', 'TargetUrl');
  }
  maxLength(targetUrl, LIMITS.targetUrl, 'TargetUrl');
  let url: URL;
  try {
    url = new URL(targetUrl.trim());
  } catch {
    throw new ValidationError(`TargetUrl ${JSON.stringify(targetUrl)} is not an absolute URL; use e.g. https://example.com/webhooks.`, 'TargetUrl');
  }
  if (url.protocol === 'http:' && !policy.allowHttpTargets) {
    throw new ValidationError('TargetUrl uses http://; only https:// targets are accepted (an operator can allow http with ALLOW_HTTP_TARGETS=true).', 'TargetUrl');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ValidationError(`TargetUrl uses ${url.protocol}//; use an https:// URL.`, 'TargetUrl');
  }
  if (url.username || url.password) {
    throw new ValidationError('TargetUrl contains a user name or password; put credentials in Headers (e.g. Authorization) instead.', 'TargetUrl');
  }
  return url;
}

function validateErrorsEmail(errorsEmail: string | null): void {
  if (errorsEmail === null || errorsEmail.trim() === '') return;
  maxLength(errorsEmail, LIMITS.errorsEmail, 'ErrorsEmail');
  for (const address of errorsEmail.split(/[,;]/).map((part) => part.trim())) {
    if (!EMAIL.test(address)) {
      throw new ValidationError(`ErrorsEmail contains ${JSON.stringify(address)}, which is not an email address; separate several with commas.`, 'ErrorsEmail');
    }
  }
}

/** NetServer 12.4 ErrorEmails: each one address; blanks dropped, duplicates collapse. */
function normalizeErrorEmails(addresses: string[]): string[] {
  const unique = [...new Set(addresses.map((address) => (address ?? '').trim()).filter((address) => address !== ''))];
  if (unique.length > LIMITS.errorEmails) throw new ValidationError(`ErrorEmails has ${unique.length} addresses; the limit is ${LIMITS.errorEmails}.`, 'ErrorEmails');
  for (const address of unique) {
    maxLength(address, LIMITS.errorsEmail, 'ErrorEmails');
    if (!EMAIL.test(address)) {
      throw new ValidationError(`ErrorEmails contains ${JSON.stringify(address.slice(0, 100))}, which is not an email address; give one address per item.`, 'ErrorEmails');
    }
  }
  return unique;
}

function normalizeErrorAssociates(associates: AssociateRef[]): AssociateRef[] {
  if (associates.length > LIMITS.errorAssociates) throw new ValidationError(`ErrorAssociates has ${associates.length} items; the limit is ${LIMITS.errorAssociates}.`, 'ErrorAssociates');
  const byId = new Map<number, AssociateRef>();
  for (const associate of associates) {
    if (!isInt32(associate.associateId) || associate.associateId <= 0) {
      throw new ValidationError(`ErrorAssociates contains the id ${associate.associateId}; give each associate's id (a whole number above 0).`, 'ErrorAssociates');
    }
    maxLength(associate.name, 200, 'ErrorAssociates');
    if (!byId.has(associate.associateId)) byId.set(associate.associateId, associate);
  }
  return [...byId.values()];
}

function checkFlags(value: number, names: FlagNames, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > flagsMax(names)) {
    throw new ValidationError(`${field} ${value} is not a combination of ${Object.entries(names).map(([name, bit]) => `${name} (${bit})`).join(', ')}.`, field);
  }
}

function validateHeaders(headers: StringEntry[] | null): void {
  if (!headers) return;
  if (headers.length > LIMITS.headers) throw new ValidationError(`Headers has ${headers.length} entries; the limit is ${LIMITS.headers}.`, 'Headers');
  const seen = new Set<string>();
  for (const { key, value } of headers) {
    if (!HEADER_NAME.test(key ?? '') || key.length > LIMITS.headerName) {
      throw new ValidationError(`Headers contains the name ${JSON.stringify((key ?? '').slice(0, 60))}, which is not a valid HTTP header name (at most ${LIMITS.headerName} characters).`, 'Headers');
    }
    if (isReservedHeaderName(key)) {
      throw new ValidationError(
        `Headers may not set ${key}: ${RESERVED_HEADER_NAMES.join(', ')}, X-SuperOffice-* and webhook-* are set by the service or by the connection. Remove it.`,
        'Headers',
      );
    }
    if (seen.has(key.toLowerCase())) throw new ValidationError(`Headers sets ${key} twice; keep one.`, 'Headers');
    seen.add(key.toLowerCase());
    if (value === null || !HEADER_VALUE.test(value)) {
      throw new ValidationError(`Headers value of ${key} is empty or contains line breaks or control characters.`, 'Headers');
    }
    maxLength(value, LIMITS.headerValue, `Headers[${key}]`);
  }
}

function validateProperties(properties: TypedEntry[] | null): void {
  if (!properties) return;
  if (properties.length > LIMITS.properties) throw new ValidationError(`Properties has ${properties.length} entries; the limit is ${LIMITS.properties}.`, 'Properties');
  const seen = new Set<string>();
  for (const { key, value } of properties) {
    if (!key) throw new ValidationError('Properties contains an entry with an empty key.', 'Properties');
    if (key.length > LIMITS.propertyKey) throw new ValidationError(`Properties key ${JSON.stringify(key.slice(0, 40))}... is longer than ${LIMITS.propertyKey} characters.`, 'Properties');
    checkStorableText(key, 'Properties');
    if (PAYLOAD_NAMES_LOWER.has(key.toLowerCase())) {
      throw new ValidationError(
        `Properties key ${key} collides with a payload field (${PAYLOAD_FIELD_NAMES.join(', ')}); rename it.`,
        'Properties',
      );
    }
    if (seen.has(key)) throw new ValidationError(`Properties sets ${key} twice; keep one.`, 'Properties');
    seen.add(key);
    if (typeof value === 'string') maxLength(value, LIMITS.propertyValue, `Properties[${key}]`);
  }
}

/** Secret: storable text of at most 400 characters (saves and rotations alike). */
export function validateSecret(secret: string | null): void {
  maxLength(secret, LIMITS.secret, 'Secret');
}

/**
 * The field rules of SPEC section 2, shared by WebhookRow and WebhookManager. Returns the
 * normalized input; throws ValidationError naming the field. No I/O.
 */
export function validateWebhookFields(input: WebhookInput, policy: TargetPolicy): WebhookInput {
  maxLength(input.name, LIMITS.name, 'Name');
  validateSecret(input.secret);
  maxLength(input.description, LIMITS.description, 'Description');
  checkStorableText(input.type, 'Type');
  const events = normalizeEvents(input.events);
  validateTargetUrl(input.targetUrl, policy);
  const type = (input.type ?? 'webhook').trim().toLowerCase() || 'webhook';
  if (type === 'crmscript') {
    throw new ValidationError(
      "Type 'crmscript' runs CRMScript inside SuperOffice, which this service cannot do; it delivers HTTP webhooks only: use Type 'webhook'.",
      'Type',
    );
  }
  if (type !== 'webhook') throw new ValidationError(`Type ${JSON.stringify(input.type)} is unknown; use 'webhook'.`, 'Type');
  if (input.state === WebhookState.TooManyErrors) {
    throw new ValidationError('State TooManyErrors is set only by the service; set Active to resume deliveries or Stopped to pause them.', 'State');
  }
  if (![WebhookState.Unknown, WebhookState.Active, WebhookState.Stopped].includes(input.state)) {
    throw new ValidationError(`State ${String(input.state)} is unknown; use Active or Stopped.`, 'State');
  }
  validateErrorsEmail(input.errorsEmail);
  validateHeaders(input.headers);
  validateProperties(input.properties);
  if (input.notifyVia !== undefined) checkFlags(input.notifyVia, NotifyVia, 'NotifyVia');
  if (input.notifyWhen !== undefined) checkFlags(input.notifyWhen, NotifyWhen, 'NotifyWhen');
  // Members not sent stay undefined (not stored as empty), so saving keeps what is stored.
  const { errorEmails, errorAssociates, notifyVia, notifyWhen, ...known } = input;
  return {
    ...known,
    ...(errorEmails !== undefined ? { errorEmails: normalizeErrorEmails(errorEmails) } : {}),
    ...(errorAssociates !== undefined ? { errorAssociates: normalizeErrorAssociates(errorAssociates) } : {}),
    ...(notifyVia !== undefined ? { notifyVia } : {}),
    ...(notifyWhen !== undefined ? { notifyWhen } : {}),
    events,
    targetUrl: input.targetUrl!.trim(),
    type,
    secret: input.secret === '' ? null : input.secret,
    errorsEmail: input.errorsEmail?.trim() ? input.errorsEmail.trim() : null,
  };
}
