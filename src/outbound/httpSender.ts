/**
 * One HTTP POST of a delivery attempt, over undici: whole-request timeout, no redirects, a
 * bounded response read, and every failure returned as a result (the worker records it; nothing
 * is thrown). Sent through a pooled dispatcher (senderAgent.ts) or, without one, on a fresh
 * connection closed afterwards.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { describeNetworkError, isConnectionClosed } from './networkErrors';
import { nodeStyleHeaders } from './responseHeaders';
import { createSenderAgent } from './senderAgent';

export const DEFAULT_MAX_RESPONSE_BYTES = 4096;

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  /**
   * DNS hook (the address guard) for a send without a dispatcher. A pooled dispatcher has its
   * own, for all its connections (createSenderAgent({ lookup })); giving one here as well is refused.
   * Not called for IP-literal hosts: guard those separately.
   */
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
  /** Lower-cased response headers, repeated ones folded as node's IncomingMessage.headers does. */
  responseHeaders: Record<string, string | string[]>;
  /** At most maxResponseBytes of the body, cut at a character boundary. */
  responseBody: string;
  /** True when the receiver sent more than maxResponseBytes (the rest was not read). */
  responseTruncated: boolean;
  /** Network error or timeout, human readable; null when an HTTP response was read completely. */
  error: string | null;
  latencyMs: number;
}

type Phase = 'connecting' | 'waiting for the response' | 'reading the response body';

/**
 * POSTs `req.body` to `req.url` through `dispatcher` (keep-alive, pooled), or without one on a
 * fresh connection that is closed after the response. A 3xx is a result; redirects are not followed.
 */
export function sendWebhook(req: SendRequest, dispatcher?: Dispatcher): Promise<SendResult> {
  return new Promise<SendResult>((resolve) => {
    const attempt = new Attempt(req, resolve);
    if (dispatcher && req.lookup) {
      // Fail closed: a guard that would silently not run is worse than a failed send.
      attempt.finish('a lookup hook belongs to the dispatcher (createSenderAgent), not to a pooled send');
      return;
    }
    let url: URL;
    let headers: string[];
    try {
      url = new URL(req.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        attempt.finish(`unsupported URL scheme '${url.protocol}' (only http: and https:)`);
        return;
      }
      headers = framedHeaders(req.headers);
    } catch (err) {
      // Invalid URLs and header names or values.
      attempt.finish(describeNetworkError(err));
      return;
    }
    let via = dispatcher;
    if (via === undefined) {
      via = createSenderAgent({ lookup: req.lookup, connections: 1, sendTimeoutMs: req.timeoutMs });
      attempt.closeAfter = via;
    }
    attempt.start(via, {
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST',
      headers,
      // undici writes Content-Length from the Buffer itself.
      body: req.body,
      // The whole-request timer covers both; undici's own would fire with other texts.
      headersTimeout: 0,
      bodyTimeout: 0,
      // A one-off send asks for Connection: close, so nothing is left open.
      reset: dispatcher === undefined,
    });
  });
}

/**
 * The caller's headers as a flat name/value list, validated as node's client validates them
 * (same errors, so the same texts). The transport owns the framing and the connection: a stray
 * Content-Length or Transfer-Encoding would corrupt the body, and undici refuses the other
 * hop-by-hop ones, which would fail every delivery of a webhook that set one.
 */
function framedHeaders(headers: Record<string, string>): string[] {
  const flat: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    validateHeaderName(name);
    validateHeaderValue(name, value);
    if (TRANSPORT_HEADERS.has(name.toLowerCase())) continue;
    flat.push(name, value);
  }
  return flat;
}

const TRANSPORT_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect']);

/** Given to undici when this side gives up on a request; its own error report is then ignored. */
const ABANDONED = new Error('the sender gave up on this request');

/** One send: the undici dispatch handler, the timer and the result being read. */
class Attempt implements Dispatcher.DispatchHandler {
  /** A one-off dispatcher, destroyed once the result is in. */
  closeAfter: Dispatcher | null = null;
  private readonly started = performance.now();
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private phase: Phase = 'connecting';
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private controller: Dispatcher.DispatchController | null = null;
  private status: number | null = null;
  private statusLine: string | null = null;
  private responseHeaders: Record<string, string | string[]> = {};
  private readonly chunks: Buffer[] = [];
  private bytesRead = 0;
  private truncated = false;
  private complete = false;

  constructor(
    req: SendRequest,
    private readonly resolve: (result: SendResult) => void,
  ) {
    this.timeoutMs = req.timeoutMs;
    this.maxResponseBytes = Math.max(0, req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  }

  start(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): void {
    this.timer = setTimeout(timeOut, this.timeoutMs, this);
    try {
      dispatcher.dispatch(options, this);
    } catch (err) {
      // A destroyed dispatcher (the worker stopping) throws rather than reporting.
      this.failed(err);
    }
  }

  timedOut(): void {
    this.finish(`timed out after ${this.timeoutMs} ms (${this.phase})`);
    // Destroys the connection, so a slow receiver does not keep it. Still connecting (no
    // controller yet): onRequestStart aborts the request once a connection is there.
    this.controller?.abort(ABANDONED);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(ABANDONED);
    else this.phase = 'waiting for the response';
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    // 1xx (100 Continue, 103 Early Hints): the final response follows.
    if (statusCode < 200 || this.settled) return;
    this.phase = 'reading the response body';
    this.status = statusCode;
    // undici speaks HTTP/1.1 only (no h2 offered); the reason phrase is the receiver's.
    this.statusLine = statusMessage ? `HTTP/1.1 ${statusCode} ${statusMessage}` : `HTTP/1.1 ${statusCode}`;
    this.responseHeaders = nodeStyleHeaders(headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const room = this.maxResponseBytes - this.bytesRead;
    if (chunk.length > room) {
      // A receiver may answer with megabytes we have no use for: stop reading here.
      if (room > 0) this.chunks.push(chunk.subarray(0, room));
      this.bytesRead = this.maxResponseBytes;
      this.truncated = true;
      this.finish(null);
      controller.abort(ABANDONED);
      return;
    }
    this.chunks.push(chunk);
    this.bytesRead += chunk.length;
  }

  onResponseEnd(): void {
    this.complete = true;
    this.finish(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.failed(err);
  }

  private failed(err: unknown): void {
    if (this.phase !== 'reading the response body') this.finish(describeNetworkError(err));
    else if (isConnectionClosed(err)) this.finish('connection closed while reading the response body');
    else this.finish(`${describeNetworkError(err)} while reading the response body`);
  }

  finish(error: string | null): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    const status = this.status;
    this.resolve({
      ok: error === null && status !== null && status >= 200 && status < 300,
      status,
      statusLine: this.statusLine,
      responseHeaders: this.responseHeaders,
      responseBody: this.body(),
      responseTruncated: this.truncated,
      error,
      latencyMs: Math.round(performance.now() - this.started),
    });
    const oneOff = this.closeAfter;
    // After the current undici callback has returned: its connection is then no longer in use.
    if (oneOff) queueMicrotask(() => void oneOff.destroy().catch(() => undefined));
  }

  private body(): string {
    if (this.bytesRead === 0) return '';
    const bytes = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bytesRead);
    // A body cut short (truncated, timed out, dropped) may end inside a character: leave it out.
    return bytes.toString('utf8', 0, this.complete ? bytes.length : completeUtf8Length(bytes));
  }
}

function timeOut(attempt: Attempt): void {
  attempt.timedOut();
}

/** The length of `bytes` without a trailing incomplete UTF-8 sequence. */
function completeUtf8Length(bytes: Buffer): number {
  const end = bytes.length;
  // The last character's lead byte is at most 3 continuation bytes (10xxxxxx) back.
  for (let i = end - 1; i >= 0 && i >= end - 4; i--) {
    const byte = bytes[i];
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return end - i >= length ? end : i;
  }
  return end;
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
