/**
 * OpenTelemetry traces, thin on purpose: one span at SignalEvent, one around each delivery
 * attempt and the verification POST, and a W3C `traceparent` header to the receiver. The signal's
 * trace context is stored with the event (event.trace_parent), so an attempt sent later by any
 * worker process joins the signal's trace.
 *
 * Off unless started (`webhook-agent serve|worker` start it when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; the exporter and the resource read the other standard
 * OTEL_* variables themselves). Off, every hook is one null check: neither the API nor the SDK is
 * loaded by this file, no span is built, no header added.
 *
 * Spans carry the target host, the HTTP status, the attempt number and ids; never a URL path or
 * query, a header, a Secret or a body.
 */
import type * as OpenTelemetry from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { VERSION } from './version';

interface Started {
  tracer: Tracer;
  /** The API itself, loaded by startTracing: a process that never traces never loads it. */
  api: typeof OpenTelemetry;
  propagator: TextMapPropagator;
  shutdown(): Promise<void>;
}

let started: Started | null = null;
const TRACEPARENT = 'traceparent';

/** Spans go to `exporter`: the OTLP/HTTP exporter in production, an in-memory one in tests. */
export async function startTracing(options: { exporter?: SpanExporter; batch?: boolean } = {}): Promise<void> {
  if (started) return;
  // Loaded only when tracing is on, so a process without it pays nothing at start either.
  const api = await import('@opentelemetry/api');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const sdk = await import('@opentelemetry/sdk-trace-base');
  const { detectResources, envDetector, resourceFromAttributes } = await import('@opentelemetry/resources');
  const exporter = options.exporter ?? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  const resource = resourceFromAttributes({ 'service.name': 'webhook-agent', 'service.version': VERSION }).merge(detectResources({ detectors: [envDetector] }));
  const processor = options.batch === false ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter);
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
  started = { tracer: provider.getTracer('webhook-agent', VERSION), api, propagator: new W3CTraceContextPropagator(), shutdown: () => provider.shutdown() };
}

/** Exports the spans still buffered and turns tracing off. */
export async function stopTracing(): Promise<void> {
  const was = started;
  started = null;
  await was?.shutdown();
}

export function tracingEnabled(): boolean {
  return started !== null;
}

/**
 * SignalEvent as a span; `record` gets the `traceparent` to store with the event (null when
 * tracing is off) and returns how many deliveries it created.
 */
export function traceSignal<T extends { eventId: string; deliveries: number }>(eventName: string, record: (traceParent: string | null) => Promise<T>): Promise<T> {
  // Not async: off, the hook adds no promise of its own.
  return started ? tracedSignal(started, eventName, record) : record(null);
}

async function tracedSignal<T extends { eventId: string; deliveries: number }>(started: Started, eventName: string, record: (traceParent: string | null) => Promise<T>): Promise<T> {
  const span = started.tracer.startSpan('SignalEvent', { kind: started.api.SpanKind.SERVER, attributes: { 'webhook_agent.event': eventName } });
  try {
    const signalled = await record(traceParentOf(started, span));
    span.setAttributes({ 'webhook_agent.event_id': signalled.eventId, 'webhook_agent.deliveries': signalled.deliveries });
    return signalled;
  } catch (error) {
    failSpan(started, span, (error as Error).message);
    throw error;
  } finally {
    span.end();
  }
}

export interface AttemptTrace {
  /** Stored with the event at SignalEvent; null or undefined: the attempt starts its own trace. */
  traceParent?: string | null;
  targetUrl: string;
  webhookId: number;
  /** 1 for the first attempt. */
  attemptNumber: number;
  deliveryId: string;
  eventName: string;
}

interface SendOutcome {
  status: number | null;
  error: string | null;
}

/**
 * One delivery attempt as a client span in the signal's trace; `send` gets the headers to send:
 * `headers` itself when tracing is off, a copy with this span's `traceparent` when on.
 */
export function traceAttempt<R extends SendOutcome>(attempt: AttemptTrace, headers: Record<string, string>, send: (headers: Record<string, string>) => Promise<R>): Promise<R> {
  return started ? tracedAttempt(started, attempt, headers, send) : send(headers);
}

function tracedAttempt<R extends SendOutcome>(started: Started, attempt: AttemptTrace, headers: Record<string, string>, send: (headers: Record<string, string>) => Promise<R>): Promise<R> {
  const root = started.api.ROOT_CONTEXT;
  const parent = attempt.traceParent ? started.propagator.extract(root, { [TRACEPARENT]: attempt.traceParent }, mapGetter) : root;
  const attributes = {
    ...targetAttributes(attempt.targetUrl),
    'webhook_agent.webhook_id': attempt.webhookId,
    'webhook_agent.delivery_id': attempt.deliveryId,
    'webhook_agent.event': attempt.eventName,
    'webhook_agent.attempt': attempt.attemptNumber,
  };
  return sendInSpan(started, 'webhook attempt', parent, attributes, headers, send, (result) => result.status !== null && result.status >= 200 && result.status < 300);
}

/** The verification (test) POST of SaveWebhook / TestWebhook as a client span of its own trace. */
export function traceVerification<R extends SendOutcome>(targetUrl: string, webhookId: number, headers: Record<string, string>, send: (headers: Record<string, string>) => Promise<R>): Promise<R> {
  if (!started) return send(headers);
  const attributes = { ...targetAttributes(targetUrl), 'webhook_agent.webhook_id': webhookId };
  return sendInSpan(started, 'webhook verification', started.api.ROOT_CONTEXT, attributes, headers, send, (result) => result.status === 200);
}

async function sendInSpan<R extends SendOutcome>(
  started: Started,
  name: string,
  parent: Context,
  attributes: Attributes,
  headers: Record<string, string>,
  send: (headers: Record<string, string>) => Promise<R>,
  succeeded: (result: R) => boolean,
): Promise<R> {
  const span = started.tracer.startSpan(name, { kind: started.api.SpanKind.CLIENT, attributes: { 'http.request.method': 'POST', ...attributes } }, parent);
  try {
    const result = await send({ ...headers, [TRACEPARENT]: traceParentOf(started, span) });
    if (result.status !== null) span.setAttribute('http.response.status_code', result.status);
    if (!succeeded(result)) failSpan(started, span, result.error ?? `HTTP ${result.status}`, result.status === null ? 'network' : String(result.status));
    return result;
  } catch (error) {
    failSpan(started, span, (error as Error).message);
    throw error;
  } finally {
    span.end();
  }
}

function traceParentOf(started: Started, span: Span): string {
  const carrier: Record<string, string> = {};
  started.propagator.inject(started.api.trace.setSpan(started.api.ROOT_CONTEXT, span), carrier, mapSetter);
  return carrier[TRACEPARENT];
}

/** The host and port only: a path or query may hold a token. */
function targetAttributes(targetUrl: string): Attributes {
  try {
    const url = new URL(targetUrl);
    return { 'server.address': url.hostname, 'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80) };
  } catch {
    return {};
  }
}

function failSpan(started: Started, span: Span, message: string, errorType = 'error'): void {
  span.setAttribute('error.type', errorType);
  span.setStatus({ code: started.api.SpanStatusCode.ERROR, message: message.slice(0, 300) });
}

const mapGetter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};
const mapSetter = {
  set: (carrier: Record<string, string>, key: string, value: string) => {
    carrier[key] = value;
  },
};
