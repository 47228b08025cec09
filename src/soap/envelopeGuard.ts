import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { NS } from './xml';

/**
 * Checks a request before node-soap sees it, so every malformed or hostile body gets a clean
 * soap:Client fault (node-soap answers some of these with plain-text stack traces) and names
 * the operation the body asks for.
 */

export const OPERATIONS = [
  'CreateDefaultWebhook',
  'SaveWebhook',
  'DeleteWebhook',
  'GetWebhook',
  'GetAllWebhooks',
  'TestWebhook',
  'SignalEvent',
  'GetLastError',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

export const SOAP_ACTION_BASE = `${NS.tns}/Webhook/`;

const MAX_DEPTH = 32;
const MAX_ELEMENTS = 20_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const parser = new XMLParser({ ignoreAttributes: false, removeNSPrefix: false, processEntities: false, parseTagValue: false, preserveOrder: true });

export type GuardResult = { ok: true; operation: OperationName; xml: string } | { ok: false; message: string };

export function checkEnvelope(body: Buffer, soapActionHeader: string | undefined): GuardResult {
  if (body.length === 0) return { ok: false, message: 'The request body is empty: POST a SOAP 1.1 envelope (Content-Type text/xml).' };
  let xml: string;
  try {
    xml = utf8.decode(body);
  } catch {
    return { ok: false, message: 'The request body is not valid UTF-8: encode the SOAP envelope as UTF-8.' };
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    return { ok: false, message: 'The request contains a DOCTYPE or entity declaration, which SOAP forbids and this service refuses: remove it.' };
  }
  const shape = measure(xml);
  if (shape.depth > MAX_DEPTH || shape.elements > MAX_ELEMENTS) {
    return { ok: false, message: `The request nests ${shape.depth} levels deep with ${shape.elements} elements; the limits are ${MAX_DEPTH} levels and ${MAX_ELEMENTS} elements.` };
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return { ok: false, message: `The request is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col}). Send a well-formed SOAP 1.1 envelope.` };
  }
  const document = parser.parse(xml) as OrderedNode[];
  const envelope = document.find((node) => localName(tagOf(node)) === 'Envelope');
  if (!envelope) return { ok: false, message: 'The request is not a SOAP envelope: its root element must be Envelope in the SOAP 1.1 namespace.' };
  if (namespaceOf(envelope, tagOf(envelope)) !== NS.soapEnv) {
    return { ok: false, message: `The envelope is not SOAP 1.1 (namespace ${NS.soapEnv}); this service speaks SOAP 1.1 only.` };
  }
  const bodyNode = children(envelope).find((node) => localName(tagOf(node)) === 'Body');
  const operationNode = bodyNode ? children(bodyNode).find((node) => !tagOf(node).startsWith('#')) : undefined;
  if (!operationNode) return { ok: false, message: 'The SOAP Body is empty: it must hold one operation element, e.g. <GetWebhook>.' };
  const operation = localName(tagOf(operationNode));
  if (!(OPERATIONS as readonly string[]).includes(operation)) {
    return { ok: false, message: `Unknown operation ${operation}: this endpoint offers ${OPERATIONS.join(', ')}.` };
  }
  const action = soapActionHeader?.trim().replace(/^"|"$/g, '');
  if (action && action !== `${SOAP_ACTION_BASE}${operation}` && action !== operation) {
    return { ok: false, message: `The SOAPAction ${action} does not match the body's operation ${operation}; send SOAPAction "${SOAP_ACTION_BASE}${operation}".` };
  }
  return { ok: true, operation: operation as OperationName, xml };
}

type OrderedNode = Record<string, unknown>;

function tagOf(node: OrderedNode): string {
  return Object.keys(node).find((key) => key !== ':@') ?? '#text';
}

function children(node: OrderedNode): OrderedNode[] {
  const value = node[tagOf(node)];
  return Array.isArray(value) ? (value as OrderedNode[]) : [];
}

function localName(tag: string): string {
  const index = tag.indexOf(':');
  return index < 0 ? tag : tag.slice(index + 1);
}

function namespaceOf(node: OrderedNode, tag: string): string | undefined {
  const attributes = (node[':@'] ?? {}) as Record<string, string>;
  const index = tag.indexOf(':');
  return index < 0 ? attributes['@_xmlns'] : attributes[`@_xmlns:${tag.slice(0, index)}`];
}

/** Depth and element count from the tag stream (the parser itself recurses per level). */
function measure(xml: string): { depth: number; elements: number } {
  let depth = 0;
  let maxDepth = 0;
  let elements = 0;
  const tags = /<(\/?)[A-Za-z_][^>]*?(\/?)>/g;
  for (let match = tags.exec(xml); match; match = tags.exec(xml)) {
    if (match[1]) depth--;
    else {
      elements++;
      if (!match[2]) maxDepth = Math.max(maxDepth, ++depth);
    }
  }
  return { depth: maxDepth, elements };
}
