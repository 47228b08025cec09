/**
 * One HTTP POST of a delivery attempt: whole-request timeout, no redirects, a bounded response
 * read, and every failure returned as a result (the worker records it; nothing is thrown).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';

export const DEFAULT_MAX_RESPONSE_BYTES = 4096;

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  /** DNS hook, for the address guard. Not called for IP-literal hosts: guard those separately. */
  lookup?: net.LookupFunction;
  /** Default 4096. */
  maxResponseBytes?: number;
}

export interface SendResult {
  /** Any 2xx, complete within the timeout. */
  ok: boolean;
  status: number | null;
  /** e.g. 'HTTP/1.1 500 Internal Server Error' */
  statusLine: string | null;
  /** Node's lower-cased response headers. */
  responseHeaders: Record<string, string | string[]>;
  /** At most maxResponseBytes of the body, cut at a character boundary. */
  responseBody: string;
  /** True when the receiver sent more than maxResponseBytes (the rest was not read). */
  responseTruncated: boolean;
  /** Network error or timeout, human readable; null when an HTTP response was read completely. */
  error: string | null;
  latencyMs: number;
}

/** Keep-alive agents per protocol, so one worker can reuse connections to http and https targets. */
export interface DeliveryAgents {
  http?: http.Agent;
  https?: https.Agent;
}

export function sendWebhook(req: SendRequest, agent?: http.Agent | DeliveryAgents): Promise<SendResult> {
  const started = performance.now();
  const maxResponseBytes = Math.max(0, req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);

  return new Promise<SendResult>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let request: http.ClientRequest | undefined;
    let response: http.IncomingMessage | undefined;
    let phase = 'connecting';
    let status: number | null = null;
    let statusLine: string | null = null;
    let responseHeaders: Record<string, string | string[]> = {};
    const decoder = new StringDecoder('utf8');
    let responseBody = '';
    let bytesRead = 0;
    let responseTruncated = false;

    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({
        ok: error === null && status !== null && status >= 200 && status < 300,
        status,
        statusLine,
        responseHeaders,
        responseBody,
        responseTruncated,
        error,
        latencyMs: Math.round(performance.now() - started),
      });
    };

    try {
      const url = new URL(req.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        finish(`unsupported URL scheme '${url.protocol}' (only http: and https:)`);
        return;
      }
      const transport = url.protocol === 'https:' ? https : http;

      timer = setTimeout(() => {
        const error = `timed out after ${req.timeoutMs} ms (${phase})`;
        finish(error);
        // Destroying the socket stops a slow receiver from holding a connection open.
        response?.destroy();
        request?.destroy();
      }, req.timeoutMs);

      const options: http.RequestOptions = {
        method: 'POST',
        headers: { ...withoutFramingHeaders(req.headers), 'Content-Length': String(req.body.length) },
        agent: pickAgent(agent, url.protocol),
      };
      if (req.lookup) options.lookup = req.lookup;

      request = transport.request(url, options, (res) => {
        response = res;
        phase = 'reading the response body';
        status = res.statusCode ?? null;
        statusLine = `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd();
        responseHeaders = copyHeaders(res.headers);
        if (settled) {
          res.destroy();
          return;
        }
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = maxResponseBytes - bytesRead;
          if (chunk.length > room) {
            // A receiver may answer with megabytes we have no use for: stop reading here.
            responseBody += decoder.write(chunk.subarray(0, room));
            bytesRead = maxResponseBytes;
            responseTruncated = true;
            res.destroy();
            finish(null);
            return;
          }
          responseBody += decoder.write(chunk);
          bytesRead += chunk.length;
        });
        res.on('end', () => {
          responseBody += decoder.end();
          finish(null);
        });
        res.on('error', (err) => finish(`${describeNetworkError(err)} while reading the response body`));
        res.on('close', () => {
          if (!res.complete) finish('connection closed while reading the response body');
        });
      });
      request.on('socket', (socket) => {
        const waiting = (): void => {
          if (phase === 'connecting') phase = 'waiting for the response';
        };
        // A pooled keep-alive socket is already connected and emits no 'connect'.
        if (socket.connecting) socket.once('connect', waiting);
        else waiting();
      });
      request.on('error', (err) => finish(describeNetworkError(err)));
      request.end(req.body);
    } catch (err) {
      // Invalid URLs, header names or values, or an agent of the wrong protocol throw synchronously.
      finish(describeNetworkError(err));
      request?.destroy();
    }
  });
}

/** The TestWebhook Message: the status line, headers and (truncated) body; or the network error. */
export function describeResult(r: SendResult): string {
  if (r.status === null) return r.error ?? 'no response';
  const lines: string[] = [];
  if (r.error) lines.push(r.error);
  lines.push(r.statusLine ?? `HTTP ${r.status}`);
  for (const [name, value] of Object.entries(r.responseHeaders)) {
    for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${item}`);
  }
  lines.push('');
  lines.push(r.responseTruncated ? `${r.responseBody}... (truncated)` : r.responseBody);
  return lines.join('\n');
}

function pickAgent(agent: http.Agent | DeliveryAgents | undefined, protocol: string): http.Agent | false {
  if (agent && typeof (agent as http.Agent).createConnection === 'function') return agent as http.Agent;
  const agents = agent as DeliveryAgents | undefined;
  const chosen = protocol === 'https:' ? agents?.https : agents?.http;
  // Without an agent, a fresh connection closed after the response: nothing is left pooled.
  return chosen ?? false;
}

// We frame the body ourselves; a stray Content-Length or Transfer-Encoding would corrupt it.
function withoutFramingHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') continue;
    Object.defineProperty(out, name, { value: headers[name], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function copyHeaders(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}

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
};

function describeNetworkError(err: unknown): string {
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
