/**
 * The HTTP headers of a delivery attempt (SPEC sections 4 and 5).
 */
import { isStandardWebhooksSecret, signStandardWebhooks, signSuperOffice } from './signer';

export interface DeliveryHeadersInput {
  eventName: string;
  eventId: string;
  /** Retries so far: 0 on the first attempt. */
  retry: number;
  webhookHeaders: Record<string, string> | null;
  secret: string | null;
  /** During a rotation's window, the Secret it replaced (db/previousSecret.ts): it signs too. */
  previousSecret?: string | null;
  /** The exact bytes that will be sent: the signatures cover them. */
  body: Buffer;
  userAgent: string;
  isTest: boolean;
  now: Date;
}

/**
 * Header names a webhook's own Headers may not set (validation refuses them, case-insensitively):
 * ours, the request's framing, and the hop-by-hop headers the sender (undici) refuses to send.
 */
export const RESERVED_HEADER_NAMES: readonly string[] = Object.freeze([
  'Host',
  'Content-Length',
  'Content-Type',
  'Transfer-Encoding',
  'Connection',
  'Keep-Alive',
  'Upgrade',
  'Expect',
  'User-Agent',
  'X-Hook-Test',
]);
const RESERVED_HEADER_PREFIXES: readonly string[] = Object.freeze(['x-superoffice-', 'webhook-']);
const RESERVED_LOWER = new Set(RESERVED_HEADER_NAMES.map((name) => name.toLowerCase()));

export function isReservedHeaderName(name: string): boolean {
  const lower = name.trim().toLowerCase();
  return RESERVED_LOWER.has(lower) || RESERVED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

export function buildDeliveryHeaders(input: DeliveryHeadersInput): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'User-Agent': input.userAgent,
    'X-SuperOffice-Event': input.eventName,
    'X-SuperOffice-EventId': input.eventId,
    'X-SuperOffice-Retry': String(input.retry),
  };
  if (input.webhookHeaders) {
    for (const name of Object.keys(input.webhookHeaders)) {
      // Validation already refuses these; skipping them here keeps a row written past validation
      // (imports, WebhookRow) from overriding a signature or breaking the request framing.
      if (isReservedHeaderName(name)) continue;
      setHeader(headers, name, input.webhookHeaders[name]);
    }
  }
  if (input.isTest) headers['X-Hook-Test'] = 'true';
  // An empty Secret is how clients say "no secret".
  if (input.secret) {
    headers['X-SuperOffice-Signature'] = signSuperOffice(input.secret, input.body);
    // A rotation's overlap: receivers still holding the previous Secret verify this header.
    if (input.previousSecret) headers['X-SuperOffice-Signature-Previous'] = signSuperOffice(input.previousSecret, input.body);
    // Standard Webhooks carries several space-separated signatures: the new Secret's first.
    const standard = [input.secret, input.previousSecret].filter(isStandardWebhooksSecret);
    if (standard.length > 0) {
      const timestamp = Math.floor(input.now.getTime() / 1000);
      headers['webhook-id'] = input.eventId;
      headers['webhook-timestamp'] = String(timestamp);
      headers['webhook-signature'] = standard.map((secret) => signStandardWebhooks(secret, input.eventId, timestamp, input.body)).join(' ');
    }
  }
  return headers;
}

// Header names are client data: '__proto__' must become a header, not a prototype.
function setHeader(headers: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
}
