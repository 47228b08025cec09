import type { RotatedSecret, RotationRequest } from '../core/secretRotation';
import { isJsonObject, resolveMembers, type JsonObject, type JsonValue } from './carrierJson';
import { badRequest } from './errors';

/**
 * RotateSecret's JSON (REST `POST Webhook/{id}/RotateSecret` and the Agents method): the
 * arguments Secret and OverlapSeconds, both optional; the answer names the new Secret (it may
 * have been generated) and when the previous one stops signing.
 */
export const ROTATE_MEMBERS = ['Secret', 'OverlapSeconds'] as const;

export function rotationFromJson(args: Map<string, JsonValue>): RotationRequest {
  const secret = args.get('Secret');
  if (secret !== undefined && secret !== null && typeof secret !== 'string') throw badRequest('Secret must be a JSON string, or left out to get a generated whsec_ Secret.', 'Secret');
  const overlap = args.get('OverlapSeconds');
  if (overlap !== undefined && overlap !== null && typeof overlap !== 'number') throw badRequest('OverlapSeconds must be a whole number of seconds, e.g. 86400.', 'OverlapSeconds');
  return { secret: secret ?? null, overlapSeconds: overlap ?? null };
}

/** The REST route's body: absent, null or a JSON object of ROTATE_MEMBERS. */
export function rotationFromBody(body: unknown): RotationRequest {
  if (body === undefined || body === null) return {};
  if (!isJsonObject(body)) throw badRequest(`The body of RotateSecret must be a JSON object with ${ROTATE_MEMBERS.join(', ')} (both optional).`);
  return rotationFromJson(resolveMembers(body as JsonObject, ROTATE_MEMBERS, 'The body of RotateSecret'));
}

export function rotatedJson(rotated: RotatedSecret): JsonObject {
  return {
    WebhookId: rotated.webhookId,
    Secret: rotated.secret,
    PreviousSecretExpires: rotated.previousSecretExpires?.toISOString() ?? null,
  };
}
