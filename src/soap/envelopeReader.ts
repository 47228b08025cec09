import { XMLParser } from 'fast-xml-parser';
import type { OperationName } from '../core/operations';

/**
 * The request path's one parse of an envelope the guard (envelopeGuard.ts) has already checked:
 * fast-xml-parser turns it into the same objects node-soap would hand the operation, and the
 * operation runs without node-soap parsing it again (node-soap's schema-driven parse and dispatch
 * were a third of serve's CPU on a GetWebhook; issue 11).
 *
 * Only envelopes whose meaning does not depend on the schema are read here: every element in the
 * Header and the operation holds text or child elements, none is empty or carries attributes
 * (xsi:nil, xsi:type) but a dictionary item's Value, no element repeats except an array's items,
 * and the text has no character references or CDATA. node-soap reads the other shapes with the
 * WSDL's types (an empty element is "" for a string and null for anything else, a nil member can
 * empty its parent), so for them this returns null and node-soap reads them exactly as before.
 * test/soap/envelopeReader.test.ts holds both readers to the same arguments.
 */

export interface ReadEnvelope {
  /** The operation element's content, as node-soap passes it to the service method. */
  args: Record<string, unknown>;
  /** The SOAP Header's elements by local name (Credentials, ApplicationToken), as node-soap passes them. */
  headers: Record<string, unknown> | null;
}

/** Where the parser puts an element's attributes: any at all sends the envelope to node-soap. */
const ATTRIBUTES = '@attributes';
/** Where it puts text beside child elements (the guard refuses any but whitespace, which is trimmed away). */
const MIXED_TEXT = '#text';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributesGroupName: ATTRIBUTES,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // node-soap trims text too.
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/** A dictionary's items: their Value may be typed or nil (readTypedValue). */
const DICTIONARY_ITEMS = new Set(['StringKeyValuePair', 'StringObjectKeyValuePair']);
/** Elements that repeat as an array's items (ArrayOfstring, the two dictionaries, ArrayOfMDOListItem). */
const ITEM_NAMES = new Set(['string', ...DICTIONARY_ITEMS, 'MDOListItem']);

/** The envelope's operation arguments and headers, or null: let node-soap read it. */
export function readEnvelope(xml: string, operation: OperationName): ReadEnvelope | null {
  if (xml.includes('&#') || xml.includes('<![CDATA[') || xml.indexOf('<?', xml.indexOf('<?') + 2) >= 0) return null;
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch {
    return null;
  }
  const envelope = child(document, 'Envelope');
  const body = child(envelope, 'Body');
  if (!isRecord(body)) return null;
  const args = body[operation];
  if (!isRecord(args) || Object.keys(body).length !== 1 || !readable(args)) return null;
  const header = child(envelope, 'Header');
  if (header === undefined) return { args, headers: null };
  if (!isRecord(header) || !readable(header)) return null;
  return { args, headers: header };
}

function child(value: unknown, name: string): unknown {
  return isRecord(value) ? value[name] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether `element` can be read without the schema: text or child elements only, all the way
 * down, no attributes, no empty element, no repeats but array items. One exception, the commonest
 * attributes of all: a dictionary item's Value typed with xsi:type (a typed Property or Data
 * value, as .NET and zeep write them) or nil. Those are rewritten in place as node-soap gives
 * them: typed as { $value, attributes }, nil left out.
 */
function readable(element: Record<string, unknown>, itemName = ''): boolean {
  for (const [name, value] of Object.entries(element)) {
    if (name === ATTRIBUTES || name === MIXED_TEXT) return false;
    if (Array.isArray(value)) {
      if (!ITEM_NAMES.has(name)) return false;
      for (const item of value) if (!readableValue(item, name)) return false;
    } else if (name === 'Value' && DICTIONARY_ITEMS.has(itemName) && isRecord(value) && ATTRIBUTES in value) {
      if (!readTypedValue(element, value)) return false;
    } else if (!readableValue(value, name)) return false;
  }
  return true;
}

function readableValue(value: unknown, name: string): boolean {
  if (typeof value === 'string') return value !== '';
  return isRecord(value) && readable(value, name);
}

/** A Value with only xsi:type or xsi:nil="true" (and text): rewritten in place; false for anything else. */
function readTypedValue(item: Record<string, unknown>, value: Record<string, unknown>): boolean {
  const attributes = value[ATTRIBUTES];
  if (!isRecord(attributes)) return false;
  const names = Object.keys(attributes);
  const text = value[MIXED_TEXT];
  const others = Object.keys(value).filter((key) => key !== ATTRIBUTES && key !== MIXED_TEXT);
  if (names.length !== 1 || others.length > 0 || (text !== undefined && typeof text !== 'string')) return false;
  if (names[0] === 'nil' && attributes.nil === 'true' && text === undefined) {
    delete item.Value;
    return true;
  }
  if (names[0] !== 'type' || typeof attributes.type !== 'string') return false;
  item.Value = text === undefined ? { attributes: { type: attributes.type } } : { $value: text, attributes: { type: attributes.type } };
  return true;
}
