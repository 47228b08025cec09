/**
 * Response headers as node's IncomingMessage.headers gives them, from undici's parsed headers
 * (lower-cased names; a repeated header is an array). Node's rules for a repeated header:
 * set-cookie is always an array, cookie is joined with '; ', the single-valued headers below keep
 * their first value, and any other is joined with ', '. TestWebhook's Message prints them.
 */

/** node's _http_incoming matchKnownFields: duplicates of these are discarded. */
const FIRST_VALUE_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** Folds the repeated headers in place (the object is the response's own) and returns it. */
export function nodeStyleHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) delete headers[name];
    else if (name === 'set-cookie') headers[name] = Array.isArray(value) ? value : [value];
    else if (!Array.isArray(value)) continue;
    else if (FIRST_VALUE_WINS.has(name)) headers[name] = value[0];
    else headers[name] = value.join(name === 'cookie' ? '; ' : ', ');
  }
  return headers as Record<string, string | string[]>;
}
