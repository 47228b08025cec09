import express, { type Request, type Router } from 'express';
import { isInt32 } from '../core/operations';
import type { DeliveryEngine } from '../delivery/engine';
import { callerOf } from './auth';
import { isJsonObject, resolveMembers } from './carrierJson';
import { badRequest } from './errors';
import { jsonBody } from './requestBody';

/**
 * Redelivery routes of the REST door, a mapping onto the delivery engine's redelivery (which
 * holds the rules: failed deliveries of webhooks the caller can see). Mounted after the ticket
 * check and before `POST /Webhook/{eventName}/{primaryKey}`, which would otherwise match them.
 */
export function deliveryRouter(delivery: DeliveryEngine, limit: number): Router {
  const router = express.Router();

  router.post('/Webhook/Deliveries/:deliveryId/Redeliver', jsonBody({ limit, types: ['application/json'], optional: true }), async (req, res) => {
    const redelivered = await delivery.redeliverDelivery(String(req.params.deliveryId), callerOf(res));
    res.json({ DeliveryId: redelivered.deliveryId, EventId: redelivered.eventId, Status: redelivered.status });
  });

  router.post('/Webhook/:id/Redeliver', jsonBody({ limit, types: ['application/json'] }), async (req, res) => {
    const id = pathWebhookId(req);
    if (!isJsonObject(req.body)) throw badRequest('The body must be a JSON object: {"Since": "2026-11-30T08:00:00Z"}.');
    const since = resolveMembers(req.body, ['Since'] as const, 'The redelivery request').get('Since');
    if (typeof since !== 'string' || !ISO_TIME.test(since)) {
      throw badRequest('Since must be an ISO-8601 time with a time zone, e.g. "2026-11-30T08:00:00Z": failed deliveries created since then are sent again.', 'Since');
    }
    const totals = await delivery.redeliverWebhook(id, new Date(since), callerOf(res));
    res.json({ Redelivered: totals.redelivered, Pending: totals.pending, Held: totals.held });
  });

  return router;
}

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export function pathWebhookId(req: Request): number {
  const raw = String(req.params.id);
  if (!/^\d{1,10}$/.test(raw) || !isInt32(Number(raw))) throw badRequest(`WebhookId ${JSON.stringify(raw.slice(0, 40))} in the path must be a whole number.`, 'WebhookId');
  return Number(raw);
}
