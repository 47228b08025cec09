import { XMLValidator } from 'fast-xml-parser';
import { OPERATION_NAMES, type OperationName } from '../core/operations';
import { SOAP_ACTION_BASE } from './endpoint';
import { NS } from './xml';

/**
 * Checks a request before node-soap sees it, so every malformed or hostile body gets a clean
 * soap:Client fault (node-soap answers some of these with plain-text stack traces) and names
 * the operation the body asks for.
 */

export type { OperationName };

// Names that would reach object prototypes once node-soap turns elements into object keys
// (`__proto__`, `constructor`, `toString` ... make it fail or pollute).
const PROTOTYPE_NAMES = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'];
const FORBIDDEN_ELEMENT = new RegExp(`<(?:[\\w.-]+:)?(${PROTOTYPE_NAMES.join('|')})[\\s/>]`);
const MAX_DEPTH = 32;
const MAX_ELEMENTS = 20_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });
// Characters XML 1.0 forbids, raw or as references (node-soap's parser answers them with a fault
// of its own, and PostgreSQL cannot store NUL).
const ILLEGAL_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const CHAR_REF = /&#(x[0-9a-fA-F]+|[0-9]+);/g;
// Only XML's five predefined entities and character references: with no DOCTYPE nothing else is declared.
const UNDECLARED_ENTITY = /&(?!(?:amp|lt|gt|quot|apos);|#x[0-9a-fA-F]+;|#[0-9]+;)([^;\s<&]{0,40})/;
const CDATA_OR_COMMENT = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g;
// Left once comments and CDATA are gone (an unterminated one starts with <!-- or <![CDATA[: the validator names it).
const MARKUP_DECLARATION = /<!(?!--|\[CDATA\[)[^<>\s]{0,40}/;

function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * What XML 1.0 forbids in characters and references, and any `<!` other than a comment or CDATA
 * (the DOCTYPE check before it has a message of its own); null when the text is fine.
 * (fast-xml-parser's validator passes `<Ticket><!abc</Ticket>`, which node-soap's parser then
 * fails on: that answered soap:Server.)
 */
function markupProblem(xml: string): string | null {
  if (ILLEGAL_CHAR.test(xml)) return 'The request contains a control character XML 1.0 does not allow (U+0000 to U+001F other than tab, CR and LF); remove it.';
  const markup = xml.replace(CDATA_OR_COMMENT, '');
  const declaration = MARKUP_DECLARATION.exec(markup);
  if (declaration) {
    return `The request contains ${JSON.stringify(declaration[0])}, a markup declaration that is neither a comment nor CDATA; SOAP allows none: remove it, and write a literal < as &lt;.`;
  }
  const entity = UNDECLARED_ENTITY.exec(markup);
  if (entity) return `The request uses the entity &${entity[1]}, which is not declared: only &amp; &lt; &gt; &quot; &apos; and character references are allowed; escape a literal & as &amp;.`;
  for (const match of markup.matchAll(CHAR_REF)) {
    const code = match[1].startsWith('x') ? parseInt(match[1].slice(1), 16) : Number(match[1]);
    if (!isXmlChar(code)) return `The request contains the character reference ${match[0]}, which is not a character XML 1.0 allows; remove it.`;
  }
  return null;
}

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
  const problem = markupProblem(xml);
  if (problem) return { ok: false, message: problem };
  const shape = measure(xml);
  if (shape.depth > MAX_DEPTH || shape.elements > MAX_ELEMENTS) {
    return { ok: false, message: `The request nests ${shape.depth} levels deep with ${shape.elements} elements; the limits are ${MAX_DEPTH} levels and ${MAX_ELEMENTS} elements.` };
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return { ok: false, message: `The request is not well-formed XML: ${valid.err.msg.replace(/\.$/, '')} (line ${valid.err.line}, column ${valid.err.col}). Send a well-formed SOAP 1.1 envelope.` };
  }
  if (shape.mixed) {
    return { ok: false, message: `The element ${shape.mixed.element} holds text (${JSON.stringify(shape.mixed.text)}) beside child elements; no element of this service's messages holds both: remove the text.` };
  }
  const root = firstElement(xml, 0);
  if (!root || localName(root.name) !== 'Envelope') {
    return { ok: false, message: 'The request is not a SOAP envelope: its root element must be Envelope in the SOAP 1.1 namespace.' };
  }
  if (namespaceDeclared(root, prefixOf(root.name)) !== NS.soapEnv) {
    return { ok: false, message: `The envelope is not SOAP 1.1 (namespace ${NS.soapEnv}); this service speaks SOAP 1.1 only.` };
  }
  let child = firstElement(xml, root.end);
  if (child && localName(child.name) === 'Header') child = firstElement(xml, closingTagEnd(xml, child));
  const operationNode = child && localName(child.name) === 'Body' && !child.selfClosing ? firstElement(xml, child.end) : null;
  if (!operationNode || operationNode.closing) return { ok: false, message: 'The SOAP Body is empty: it must hold one operation element, e.g. <GetWebhook>.' };
  const operation = localName(operationNode.name);
  if (!(OPERATION_NAMES as readonly string[]).includes(operation)) {
    return { ok: false, message: `Unknown operation ${operation}: this endpoint offers ${OPERATION_NAMES.join(', ')}.` };
  }
  const prefix = prefixOf(operationNode.name);
  const operationNamespace = [operationNode, child!, root].map((tag) => namespaceDeclared(tag, prefix)).find((ns) => ns !== undefined);
  if (operationNamespace !== NS.tns) {
    return { ok: false, message: `The operation element ${operation} must be in the namespace ${NS.tns}, not ${operationNamespace ?? 'no namespace'}.` };
  }
  const forbidden = FORBIDDEN_ELEMENT.exec(xml);
  if (forbidden) return { ok: false, message: `The element name ${forbidden[1]} is not part of this service's messages; remove it.` };
  const action = soapActionHeader?.trim().replace(/^"|"$/g, '');
  if (action && action !== `${SOAP_ACTION_BASE}${operation}` && action !== operation) {
    return { ok: false, message: `The SOAPAction ${action} does not match the body's operation ${operation}; send SOAPAction "${SOAP_ACTION_BASE}${operation}".` };
  }
  return { ok: true, operation: operation as OperationName, xml };
}

interface StartTag {
  name: string;
  attributes: string;
  end: number;
  selfClosing: boolean;
  closing: boolean;
}

// The document is already validated, so a light scan over tags is exact enough to find the
// envelope, its Body and the operation element (a second full parse would double the cost).
const TAG = /<(\/?)([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)([^>]*?)(\/?)>/g;

function firstElement(xml: string, from: number): StartTag | null {
  TAG.lastIndex = from;
  for (let match = TAG.exec(xml); match; match = TAG.exec(xml)) {
    // Skip comments and processing instructions between elements.
    const before = xml.lastIndexOf('<!--', match.index);
    if (before >= from && xml.indexOf('-->', before) > match.index) continue;
    return { name: match[2], attributes: match[3], end: TAG.lastIndex, selfClosing: match[4] === '/', closing: match[1] === '/' };
  }
  return null;
}

/** Where the element that starts with `tag` ends (after its matching close tag). */
function closingTagEnd(xml: string, tag: StartTag): number {
  if (tag.selfClosing) return tag.end;
  const close = xml.indexOf(`</${tag.name}`, tag.end);
  return close < 0 ? xml.length : xml.indexOf('>', close) + 1;
}

function prefixOf(name: string): string {
  const index = name.indexOf(':');
  return index < 0 ? '' : name.slice(0, index);
}

function localName(name: string): string {
  const index = name.indexOf(':');
  return index < 0 ? name : name.slice(index + 1);
}

// One expression per prefix, made once: clients use a handful (s, soap, soapenv, none).
const DECLARATIONS = new Map<string, RegExp>();

function namespaceDeclared(tag: StartTag, prefix: string): string | undefined {
  if (!tag.attributes.includes('xmlns')) return undefined;
  let declaration = DECLARATIONS.get(prefix);
  if (!declaration) {
    const attribute = prefix ? `xmlns:${prefix}` : 'xmlns';
    declaration = new RegExp(`(?:^|\\s)${attribute.replace(/[.-]/g, '\\$&')}\\s*=\\s*(["'])(.*?)\\1`);
    if (DECLARATIONS.size < 64) DECLARATIONS.set(prefix, declaration);
  }
  return declaration.exec(tag.attributes)?.[2];
}

/**
 * Depth and element count from the tag stream (the parser itself recurses per level), and the
 * first element that mixes text with child elements: no element of this service's messages may
 * (the WSDL declares none mixed), and node-soap fails on one with an internal error.
 */
function measure(xml: string): { depth: number; elements: number; mixed: { element: string; text: string } | null } {
  // CDATA is text, and what looks like a tag inside it is not one; comments are neither.
  const scanned = xml.includes('<!') ? xml.replace(CDATA_OR_COMMENT, (section) => (section.startsWith('<!--') ? '' : 'cdata')) : xml;
  let maxDepth = 0;
  let elements = 0;
  let mixed: { element: string; text: string } | null = null;
  const open: string[] = [];
  let previousEnd = -1;
  let previousWasStart = false;
  // Quoted attribute values may hold '>'.
  const tags = /<(\/?)([A-Za-z_][^\s/>]*)(?:[^>"']|"[^"]*"|'[^']*')*?(\/?)>/g;
  for (let match = tags.exec(scanned); match; match = tags.exec(scanned)) {
    const closing = match[1] === '/';
    if (mixed === null && previousEnd >= 0 && open.length > 0 && (!previousWasStart || !closing)) {
      // Text after a child element, or before one: content beside children.
      const text = scanned.slice(previousEnd, match.index);
      if (text.trim() !== '') mixed = { element: open[open.length - 1], text: text.trim().slice(0, 40) };
    }
    if (closing) {
      open.pop();
      previousWasStart = false;
    } else {
      elements++;
      if (match[3]) previousWasStart = false;
      else {
        open.push(match[2]);
        maxDepth = Math.max(maxDepth, open.length);
        previousWasStart = true;
      }
    }
    previousEnd = tags.lastIndex;
  }
  return { depth: maxDepth, elements, mixed };
}
