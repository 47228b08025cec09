import express, { type Request, type Router } from 'express';
import type { DeliveryDetail, DeliveryLog, DeliveryLogRow, DeliveryStatistics } from '../delivery/deliveryLog';
import { callerOf } from './auth';
import { resolveMembers, type JsonObject } from './carrierJson';
import { ISO_TIME, pathWebhookId } from './deliveryRoutes';
import { badRequest } from './errors';

/**
 * Read routes of the delivery log (delivery/deliveryLog.ts holds the rules and the scoping):
 * a webhook's deliveries page by page, one delivery with its attempts, attempt statistics.
 * Mounted after the ticket check and before GET /Webhook/{id}, which would match
 * /Webhook/Deliveries/{deliveryId}. Described in deliveryReadOpenApi.ts.
 */
export function deliveryReadRouter(log: DeliveryLog): Router {
  const router = express.Router();

  router.get('/Webhook/Deliveries/:deliveryId', async (req, res) => {
    res.json(deliveryDetailJson(await log.getDelivery(String(req.params.deliveryId), callerOf(res))));
  });

  router.get('/Webhook/:id/Deliveries', async (req, res) => {
    const query = queryMembers(req, ['Status', 'Since', 'Until', 'Before', 'Limit'] as const);
    const page = await log.listDeliveries(
      pathWebhookId(req),
      { status: query.get('Status') ?? null, since: time(query, 'Since'), until: time(query, 'Until'), before: query.get('Before') ?? null, limit: whole(query, 'Limit') },
      callerOf(res),
    );
    res.json({ Deliveries: page.deliveries.map(deliveryJson), NextCursor: page.nextCursor });
  });

  router.get('/Webhook/:id/Statistics', async (req, res) => {
    const query = queryMembers(req, ['Since', 'Until', 'Bucket'] as const);
    const stats = await log.statistics(pathWebhookId(req), { since: time(query, 'Since'), until: time(query, 'Until'), bucketSeconds: whole(query, 'Bucket') }, callerOf(res));
    res.json(statisticsJson(stats));
  });

  return router;
}

/** Query parameters by case-insensitive name; unknown or repeated ones are refused. */
function queryMembers<K extends string>(req: Request, known: readonly K[]): Map<K, string> {
  const object: JsonObject = Object.create(null);
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (typeof value !== 'string') throw badRequest(`The query parameter ${name} must be given once, as text.`, name);
    object[name] = value;
  }
  return resolveMembers(object, known, 'The query') as Map<K, string>;
}

function time(query: Map<string, string>, name: string): Date | null {
  const value = query.get(name);
  if (value === undefined || value === '') return null;
  if (!ISO_TIME.test(value)) throw badRequest(`${name} must be an ISO-8601 time with a time zone, e.g. 2026-11-30T08:00:00Z.`, name);
  return new Date(value);
}

function whole(query: Map<string, string>, name: string): number | null {
  const value = query.get(name);
  if (value === undefined || value === '') return null;
  if (!/^\d{1,9}$/.test(value)) throw badRequest(`${name} must be a whole number.`, name);
  return Number(value);
}

const iso = (date: Date | string | null) => (date === null ? null : new Date(date).toISOString());

export function deliveryJson(d: DeliveryLogRow) {
  return {
    DeliveryId: d.deliveryId,
    WebhookId: d.webhookId,
    EventId: d.eventId,
    EventName: d.eventName,
    PrimaryKey: d.primaryKey,
    Status: d.status,
    Cycle: d.cycle,
    Attempts: d.attempts,
    Created: iso(d.createdAt),
    Completed: iso(d.completedAt),
    NextAttempt: d.status === 'pending' ? iso(d.runAt) : null,
    LastError: d.lastError,
  };
}

export function deliveryDetailJson(d: DeliveryDetail) {
  return {
    ...deliveryJson(d),
    AttemptLog: d.attemptLog.map((a) => ({
      AttemptId: a.attemptId,
      Cycle: a.cycle,
      AttemptNumber: a.attemptNumber,
      AttemptedAt: iso(a.attemptedAt),
      Outcome: a.outcome,
      HttpStatus: a.httpStatus,
      Error: a.error,
      LatencyMs: a.latencyMs,
      ResponseBody: a.responseBody,
      HeadersSent: a.headersSent,
    })),
  };
}

function countsJson(c: { attempts: number; successes: number; failures: number; latencyP50Ms: number | null; latencyP95Ms: number | null }) {
  return { Attempts: c.attempts, Successes: c.successes, Failures: c.failures, LatencyP50Ms: c.latencyP50Ms, LatencyP95Ms: c.latencyP95Ms };
}

export function statisticsJson(s: DeliveryStatistics) {
  return {
    Since: iso(s.since),
    Until: iso(s.until),
    BucketSeconds: s.bucketSeconds,
    ...countsJson(s),
    Buckets: s.buckets.map((b) => ({ Start: iso(b.start), ...countsJson(b) })),
  };
}
