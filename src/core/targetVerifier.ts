import crypto from 'node:crypto';
import { checkTargetHost, guardedLookup, TargetAddressError } from '../delivery/addressGuard';
import { buildDeliveryHeaders } from '../delivery/headers';
import { describeResult, sendWebhook, type SendResult } from '../delivery/httpSender';
import { buildTestPayload, serializePayload, TEST_EVENT_NAME } from '../delivery/payload';
import { traceVerification } from '../tracing';
import { USER_AGENT } from '../version';
import { propertiesToJson, headersToRecord } from './dictionaries';
import type { Webhook } from './webhook';

export interface VerifierOptions {
  timeoutMs: number;
  allowPrivateTargets: boolean;
  /** Non-public ranges targets may use anyway (ALLOWED_TARGET_CIDRS). */
  allowedTargetCidrs?: string[];
  contextIdentifier: string;
}

export interface TestOutcome {
  /** The target answered 200 within the timeout. */
  accepted: boolean;
  result: SendResult | null;
  /** For TestWebhook's Message: status line, headers, body; or the network/address error. */
  message: string;
  /** One line for a verification fault. */
  summary: string;
}

/** The address guard alone (every save checks it, whatever the State): why the target is refused, or null. */
export async function refuseTargetAddress(targetUrl: string, options: VerifierOptions): Promise<string | null> {
  try {
    await checkTargetHost(new URL(targetUrl).hostname, options.allowPrivateTargets, options.allowedTargetCidrs);
    return null;
  } catch (error) {
    if (!(error instanceof TargetAddressError)) throw error;
    return error.message;
  }
}

/** Sends the signed test payload (Event `test`, `X-Hook-Test: true`) to a webhook's target. */
export async function sendTestPayload(webhook: Webhook, changedByAssociateId: number, options: VerifierOptions): Promise<TestOutcome> {
  const url = new URL(webhook.targetUrl!);
  const refused = await refuseTargetAddress(url.href, options);
  if (refused !== null) return { accepted: false, result: null, message: refused, summary: refused };
  const eventId = crypto.randomUUID();
  const now = new Date();
  const body = serializePayload(
    buildTestPayload({
      eventId,
      timestamp: now,
      contextIdentifier: options.contextIdentifier,
      changedByAssociateId,
      webhookName: webhook.name,
      properties: propertiesToJson(webhook.properties),
    }),
  );
  const headers = buildDeliveryHeaders({
    eventName: TEST_EVENT_NAME,
    eventId,
    retry: 0,
    webhookHeaders: headersToRecord(webhook.headers),
    secret: webhook.secret,
    body,
    userAgent: USER_AGENT,
    isTest: true,
    now,
  });
  const result = await traceVerification(url.href, webhook.webhookId, headers, (sent) =>
    sendWebhook({ url: url.href, headers: sent, body, timeoutMs: options.timeoutMs, lookup: guardedLookup(options.allowPrivateTargets, options.allowedTargetCidrs) }),
  );
  const accepted = result.status === 200;
  const summary = result.error
    ? `the test POST to ${url.href} failed: ${result.error}`
    : `${url.href} answered the test POST with ${result.statusLine ?? `HTTP ${result.status}`}`;
  return { accepted, result, message: describeResult(result), summary };
}
