/**
 * One signed attempt: the payload serialised once, and the headers signed over those exact
 * bytes. The worker (a delivery) and the core's target verification (the test POST) both
 * build theirs here, so what a receiver verifies is built one way.
 */
import { buildDeliveryHeaders } from './headers';
import { buildPayload, buildTestPayload, serializePayload, TEST_EVENT_NAME } from './payload';

export interface AttemptInput {
  eventId: string;
  /** The event's time (Timestamp in the payload). */
  timestamp: Date;
  /** null: the test payload (Event `test`, `X-Hook-Test: true`), as for target verification. */
  event: { name: string; primaryKey: number; data: Record<string, unknown> } | null;
  contextIdentifier: string;
  changedByAssociateId: number;
  webhookName: string | null;
  properties: Record<string, unknown> | null;
  webhookHeaders: Record<string, string> | null;
  secret: string | null;
  /** During a rotation's window, the Secret it replaced: it signs too (outbound/headers.ts). */
  previousSecret?: string | null;
  /** Retries so far (X-SuperOffice-Retry). */
  retry: number;
  userAgent: string;
  /** When it is signed (webhook-timestamp). */
  now: Date;
}

export interface SignedAttempt {
  body: Buffer;
  headers: Record<string, string>;
}

export function buildSignedAttempt(a: AttemptInput): SignedAttempt {
  const common = { eventId: a.eventId, timestamp: a.timestamp, contextIdentifier: a.contextIdentifier, changedByAssociateId: a.changedByAssociateId, webhookName: a.webhookName, properties: a.properties };
  const body = serializePayload(
    a.event ? buildPayload({ ...common, eventName: a.event.name, primaryKey: a.event.primaryKey, data: a.event.data }) : buildTestPayload(common),
  );
  const headers = buildDeliveryHeaders({
    eventName: a.event ? a.event.name : TEST_EVENT_NAME,
    eventId: a.eventId,
    retry: a.retry,
    webhookHeaders: a.webhookHeaders,
    secret: a.secret,
    previousSecret: a.previousSecret ?? null,
    body,
    userAgent: a.userAgent,
    isTest: a.event === null,
    now: a.now,
  });
  return { body, headers };
}
