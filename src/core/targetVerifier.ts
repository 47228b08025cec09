import crypto from 'node:crypto';
import { checkTargetHost, guardedLookup, TargetAddressError } from '../outbound/addressGuard';
import { buildSignedAttempt } from '../outbound/attempt';
import { describeResult, sendWebhook, type SendResult } from '../outbound/httpSender';
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
  const now = new Date();
  const { body, headers } = buildSignedAttempt({
    eventId: crypto.randomUUID(),
    timestamp: now,
    event: null,
    contextIdentifier: options.contextIdentifier,
    changedByAssociateId,
    webhookName: webhook.name,
    properties: propertiesToJson(webhook.properties),
    webhookHeaders: headersToRecord(webhook.headers),
    secret: webhook.secret,
    retry: 0,
    userAgent: USER_AGENT,
    now,
  });
  const result = await traceVerification(url.href, webhook.webhookId, headers, (sent) =>
    sendWebhook({ url: url.href, headers: sent, body, timeoutMs: options.timeoutMs, lookup: guardedLookup(options.allowPrivateTargets, options.allowedTargetCidrs) }),
  );
  const accepted = result.status === 200;
  const summary = result.error
    ? `the test POST to ${url.href} failed: ${result.error}`
    : `${url.href} answered the test POST with ${result.statusLine ?? `HTTP ${result.status}`}${bodyExcerpt(result.responseBody)}`;
  return { accepted, result, message: describeResult(result), summary };
}

/** The start of the target's answer, on one line, so a refused save says what the receiver said. */
const BODY_EXCERPT_CHARS = 300;
function bodyExcerpt(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  if (!text) return '';
  return ` and the body ${JSON.stringify(text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text)}`;
}
