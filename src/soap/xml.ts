/** Small, strict XML writing helpers for the SOAP bodies we write ourselves. */

export const NS = {
  tns: 'http://www.superoffice.net/ws/crm/NetServer/Services88',
  arrays: 'http://schemas.microsoft.com/2003/10/Serialization/Arrays',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xs: 'http://www.w3.org/2001/XMLSchema',
  soapEnv: 'http://schemas.xmlsoap.org/soap/envelope/',
} as const;

// Characters XML 1.0 cannot carry at all (a receiver's binary body in LastError, say).
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// Anything escapeXml changes: most values (ids, names, URLs) have none and are returned as they are.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPING = /[\u0000-\u0008\u000B\u000C\u000E-\u001F&<>"\r\uD800-\uDFFF\uFFFE\uFFFF]/;
const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\r': '&#13;' };

export function escapeXml(text: string): string {
  if (!NEEDS_ESCAPING.test(text)) return text;
  return text.replace(INVALID_XML_CHARS, '\uFFFD').replace(/[&<>"\r]/g, (c) => ENTITY[c]);
}

/** `<name>text</name>`, or `<name xsi:nil="true"/>` for null (xsi is declared by the caller's root). */
export function textElement(name: string, value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return `<${name} xsi:nil="true"/>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/**
 * Texts of the times written lately, by epoch millisecond: a GetAllWebhooks answer writes two per
 * webhook, and toISOString was 7% of its CPU; the same webhooks' times come back call after call.
 */
const dateTimeTexts = new Map<number, string>();

/** xs:dateTime in UTC; .NET's DateTime.MinValue stands for "never" on non-nillable dates. */
export function dateTimeText(value: Date | null): string {
  if (!value) return '0001-01-01T00:00:00';
  const time = value.getTime();
  let text = dateTimeTexts.get(time);
  if (text === undefined) {
    text = value.toISOString();
    if (dateTimeTexts.size >= 10_000) dateTimeTexts.clear();
    dateTimeTexts.set(time, text);
  }
  return text;
}
