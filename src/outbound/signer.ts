/**
 * Delivery signatures (SPEC section 5): SuperOffice's own, and Standard Webhooks
 * (https://www.standardwebhooks.com) for secrets of the form `whsec_<base64>`.
 */
import { createHmac } from 'node:crypto';

const STANDARD_WEBHOOKS_PREFIX = 'whsec_';
// Strict, padded base64, as the reference library (@stablelib/base64) decodes it: a secret it
// would refuse must not get webhook-* headers that no receiver could verify.
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** base64(HMAC-SHA256(key = UTF-8 bytes of the secret, message = the exact body bytes)). */
export function signSuperOffice(secret: string, body: Buffer): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('base64');
}

export function isStandardWebhooksSecret(secret: string | null | undefined): secret is string {
  if (typeof secret !== 'string' || !secret.startsWith(STANDARD_WEBHOOKS_PREFIX)) return false;
  const encoded = secret.slice(STANDARD_WEBHOOKS_PREFIX.length);
  return encoded.length > 0 && STANDARD_BASE64.test(encoded);
}

/** `v1,` + base64(HMAC-SHA256(key = decoded secret, message = `${msgId}.${timestamp}.${body}`)). */
export function signStandardWebhooks(secret: string, msgId: string, timestampSeconds: number, body: Buffer): string {
  if (!isStandardWebhooksSecret(secret)) {
    throw new TypeError('not a Standard Webhooks secret (expected whsec_ followed by base64)');
  }
  if (!Number.isSafeInteger(timestampSeconds)) {
    // The header carries this number as text; a fraction would be signed differently than sent.
    throw new TypeError(`webhook timestamp must be whole seconds, got ${timestampSeconds}`);
  }
  const key = Buffer.from(secret.slice(STANDARD_WEBHOOKS_PREFIX.length), 'base64');
  return (
    'v1,' +
    createHmac('sha256', key)
      .update(`${msgId}.${timestampSeconds}.`, 'utf8')
      .update(body)
      .digest('base64')
  );
}
