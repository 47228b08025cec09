/**
 * OpenTelemetry traces follow an event from SignalEvent to the receiver, across processes: the
 * signal's trace context is stored with the event, the attempt (made later by a worker process)
 * joins that trace, and the receiver gets the attempt's W3C `traceparent`.
 *
 * This process exports to the SDK's in-memory exporter; the worker process exports over OTLP/HTTP
 * (its ordinary exporter, configured by OTEL_EXPORTER_OTLP_ENDPOINT) to a receiver in this test.
 * On both databases (on the embedded one the worker process joins the server of this test's service).
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startTracing, stopTracing } from '../../src/tracing';
import { createWebhook, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { call, createSoapClient } from '../support/soapClient';
import { startTestService, type TestService } from '../support/testService';
import { startWorkerProcess, type WorkerProcess } from '../support/workerProcess';

const SECRET = 'trace-test-secret-never-in-a-span';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** A span as the OTLP/JSON exporter sends it. */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

function otlpSpans(collector: Receiver): OtlpSpan[] {
  return collector.requests.flatMap((request) => {
    const body = JSON.parse(request.body.toString('utf8')) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> };
    return body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
  });
}

function otlpAttributes(span: OtlpSpan): Record<string, string | number> {
  return Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]));
}

describe('traces from SignalEvent to the receiver', () => {
  const exporter = new InMemorySpanExporter();
  let t: TestService;
  let r: CheckingReceiver;
  let collector: Receiver;
  let worker: WorkerProcess;

  beforeAll(async () => {
    await startTracing({ exporter, batch: false });
    collector = await startReceiver((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'));
    r = await startCheckingReceiver(SECRET);
    t = await startTestService({ RUN_WORKER: 'false' });
    worker = await startWorkerProcess({
      ...t.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.port}`,
      OTEL_SERVICE_NAME: 'webhook-agent-worker',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
  });
  afterAll(async () => {
    await worker.stop();
    await t?.stop();
    await r?.close();
    await collector?.close();
    await stopTracing();
  });

  it('one trace from a SOAP SignalEvent to the attempt a worker process made, whose traceparent the receiver got', async () => {
    const hook = await createWebhook(t.service.manager, r.url, ['trace.followed'], { secret: SECRET });
    // The verification POST is a span too, and its receiver got that span's traceparent.
    const verification = exporter.getFinishedSpans().find((s) => s.name === 'webhook verification')!;
    expect(verification.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': r.port, 'http.response.status_code': 200 });
    const testPost = r.requests.find((q) => q.headers['x-hook-test'] === 'true')!;
    expect(testPost.headers.traceparent).toBe(`00-${verification.spanContext().traceId}-${verification.spanContext().spanId}-01`);

    const client = await createSoapClient(t.wsdlUrl, t.soapUrl, t.ticket);
    await call(client, 'SignalEvent', { EventName: 'trace.followed', PrimaryKey: 42 });
    const signal = exporter.getFinishedSpans().find((s) => s.name === 'SignalEvent')!;
    expect(signal.attributes).toMatchObject({ 'webhook_agent.event': 'trace.followed', 'webhook_agent.deliveries': 1 });
    const traceId = signal.spanContext().traceId;

    await waitFor('the delivery', () => r.delivered.length === 1);
    const received = TRACEPARENT.exec(String(r.delivered[0].request.headers.traceparent));
    expect(received).not.toBeNull();
    expect(received![1]).toBe(traceId); // the receiver's request belongs to the signal's trace

    // The attempt span: a child of SignalEvent, exported by the process that sent it.
    const span = await waitFor('the worker process to export its attempt span', () => otlpSpans(collector).find((s) => s.name === 'webhook attempt'));
    const attempt = { spanId: span.spanId, parentSpanId: span.parentSpanId, attributes: otlpAttributes(span), text: JSON.stringify(span) };
    expect(span.traceId).toBe(traceId);
    expect(collector.requests[0].body.toString()).toContain('webhook-agent-worker'); // OTEL_SERVICE_NAME, read by the SDK
    expect(exporter.getFinishedSpans().some((s) => s.name === 'webhook attempt')).toBe(false); // not sent by this process
    expect(attempt.parentSpanId).toBe(signal.spanContext().spanId);
    expect(received![2]).toBe(attempt.spanId);
    expect(attempt.attributes).toMatchObject({
      'server.address': '127.0.0.1',
      'server.port': r.port,
      'http.response.status_code': 200,
      'webhook_agent.webhook_id': hook.webhookId,
      'webhook_agent.attempt': 1,
    });
    // Never a Secret, a body or the target's path.
    expect(attempt.text).not.toContain(SECRET);
    expect(attempt.text).not.toContain('/hook');
    expect(attempt.text).not.toContain('EventId');
  });
});
