/**
 * Network errors of a webhook POST as the short texts the attempt log, LastError and
 * TestWebhook's Message show: `connection refused (ECONNREFUSED 127.0.0.1:1234)`. Errors come
 * from node's sockets (errno and TLS codes) and from undici (UND_ERR_* codes).
 */

const ERROR_CODE_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
  ERR_INVALID_URL: 'invalid URL',
  ERR_INVALID_CHAR: 'invalid header',
  ERR_INVALID_HTTP_TOKEN: 'invalid header name',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate chain is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate cannot be verified',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate issuer is unknown',
  CERT_HAS_EXPIRED: 'TLS certificate has expired',
  // undici's own errors. UND_ERR_SOCKET ('other side closed') is the receiver closing the
  // connection; while reading a body the sender words it itself.
  UND_ERR_SOCKET: 'connection reset',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the response',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the response body',
  UND_ERR_HEADERS_OVERFLOW: 'response headers too large',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response body shorter than its Content-Length',
  UND_ERR_DESTROYED: 'sending stopped (the worker is shutting down)',
  UND_ERR_CLOSED: 'sending stopped (the worker is shutting down)',
};

/** Codes that mean the receiver closed or reset the connection. */
const CLOSED_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);

/** The receiver closed the connection (rather than, say, a TLS or parser error). */
export function isConnectionClosed(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CLOSED_CODES.has((err as NodeJS.ErrnoException).code ?? '');
}

export function describeNetworkError(err: unknown): string {
  // Duck-typed, not instanceof: errors from node internals can come from another realm (jest's vm).
  if (typeof err !== 'object' || err === null || typeof (err as Error).message !== 'string') return String(err);
  // Happy-eyeballs connects (autoSelectFamily) report one AggregateError with an empty message.
  const inner = (err as Partial<AggregateError>).errors;
  if (Array.isArray(inner) && inner.length > 0) return inner.map(describeNetworkError).join('; ');
  const code = (err as NodeJS.ErrnoException).code;
  const text = code ? ERROR_CODE_TEXT[code] : undefined;
  const detail = (err as Error).message || code || 'unknown error';
  if (!text) return detail;
  // Node's messages look like 'connect ECONNREFUSED 127.0.0.1:1234': keep the code and address.
  const syscallPrefix = /^(connect|getaddrinfo|read|write) /;
  return `${text} (${detail.replace(syscallPrefix, '')})`;
}
