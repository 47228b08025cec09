import express, { type Express, type Request, type Response } from 'express';
import type { DataSource } from 'typeorm';
import type { RequestRateLimiter } from '../core/rateLimit';
import type { WebhookManager } from '../core/WebhookManager';
import type { Webhook } from '../core/webhook';
import type { Logger } from '../logger';
import { agentsRouter } from './agentsRoutes';
import type { DeliveryEngine } from '../delivery/engine';
import { deliveryRouter } from './deliveryRoutes';
import { deliveryReadRouter } from './deliveryReadRoutes';
import { DeliveryLog } from '../delivery/deliveryLog';
import { notificationRouter } from './notificationRoutes';
import { callerOf, requireTicket } from './auth';
import { filterFromJson, int32, typedEntriesFromJson, webhookInputFromJson, webhookJson, webhookResultJson, type JsonObject } from './carrierJson';
import { badRequest, HttpError, restErrorHandler } from './errors';
import { openApiDocument } from './openapi';
import { applyJsonPatch, applyMergePatch, JSON_PATCH_TYPE, MERGE_PATCH_TYPE } from './patch';
import { stringifyExact } from './exactJson';
import { jsonBody } from './requestBody';
import { rotatedJson, rotationFromBody } from './rotateSecret';
import { saveWebhookJson } from './save';

/**
 * The REST door: api/v1/Webhook resource routes and api/v1/Agents/Webhook/{Method} RPC routes,
 * each a mapping onto one WebhookManager call, JSON in and out. No business rules live here.
 */

export const REST_BASE = '/api/v1';

export interface RestDependencies {
  ds: DataSource;
  manager: WebhookManager;
  bodyLimitBytes: number;
  logger: Logger;
  rateLimiter: RequestRateLimiter;
  /** Redelivery routes (absent: not mounted). */
  delivery?: DeliveryEngine;
}

const webhookPath = (id: number) => `${REST_BASE}/Webhook/${id}`;

function webhookIdParam(req: Request): number {
  const raw = String(req.params.id);
  if (!/^\d{1,10}$/.test(raw)) throw badRequest(`WebhookId ${JSON.stringify(raw.slice(0, 40))} in the path must be a whole number.`, 'WebhookId');
  return int32(Number(raw), 'WebhookId');
}

/** Query parameters as a JSON object of strings; a repeated parameter is a mistake, not a list. */
function queryObject(req: Request): JsonObject {
  const result: JsonObject = Object.create(null);
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (typeof value !== 'string') throw badRequest(`The query parameter ${name} must be given once, as text.`, name);
    result[name] = value;
  }
  return result;
}

function notFound(id: number): HttpError {
  return new HttpError(404, 'NotFoundError', `There is no webhook with WebhookId ${id}; list them with GET ${REST_BASE}/Webhook.`);
}

/** RFC 9110 If-Unmodified-Since against Updated (HTTP dates have whole seconds); an unparseable date is ignored. */
function checkUnmodifiedSince(req: Request, webhook: Webhook): void {
  const header = req.headers['if-unmodified-since'];
  const since = header ? Date.parse(header) : NaN;
  if (Number.isNaN(since) || !webhook.updated) return;
  if (Math.floor(webhook.updated.getTime() / 1000) * 1000 > since) {
    throw new HttpError(412, 'PreconditionFailed', `Webhook ${webhook.webhookId} was changed at ${webhook.updated.toISOString()}, after If-Unmodified-Since ${header}; nothing was changed. Read it again and retry.`);
  }
}

function sendWebhook(res: Response, webhook: Webhook, status = 200): void {
  if (webhook.updated) res.set('Last-Modified', webhook.updated.toUTCString());
  res.status(status).json(webhookJson(webhook));
}

/** res.json for the REST door: one function for every response, not a closure per request. */
function sendExactJson(this: Response, body: unknown): Response {
  if (!this.get('Content-Type')) this.type('application/json');
  return this.send(stringifyExact(body));
}

export function mountRestApi(app: Express, deps: RestDependencies): void {
  const { manager } = deps;
  const limit = deps.bodyLimitBytes;
  const json = jsonBody({ limit, types: ['application/json'] });
  const router = express.Router();

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });

  router.use(requireTicket(deps.ds, deps.rateLimiter));

  // The same carrier every time: written once, with its ETag (express hashed it on every request,
  // 4% of the route's CPU). The ETag is express's own function's, so it is the one res.send gave.
  const defaultWebhook = Buffer.from(stringifyExact(webhookJson(manager.createDefaultWebhook())), 'utf8');
  let defaultWebhookTag: string | undefined;
  router.get('/Webhook/default', (req, res) => {
    defaultWebhookTag ??= (req.app.get('etag fn') as ((body: Buffer) => string) | undefined)?.(defaultWebhook);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    if (defaultWebhookTag) res.setHeader('ETag', defaultWebhookTag);
    res.send(defaultWebhook);
  });

  router.get('/Webhook', async (req, res) => {
    const webhooks = await manager.getAllWebhooks(filterFromJson(queryObject(req), 'The query'), callerOf(res));
    res.json(webhooks.map(webhookJson));
  });

  router.post('/Webhook', json, async (req, res) => {
    const input = webhookInputFromJson(req.body);
    const saved = await saveWebhookJson(manager, input, callerOf(res));
    if (input.webhookId === 0) res.set('Location', webhookPath(saved.webhookId));
    sendWebhook(res, saved, input.webhookId === 0 ? 201 : 200);
  });

  router.post('/Webhook/Test', json, async (req, res) => {
    res.json(webhookResultJson(await manager.testWebhook(webhookInputFromJson(req.body), callerOf(res))));
  });

  router.use(notificationRouter(deps.ds));

  router.get('/Webhook/:id', async (req, res) => {
    const id = webhookIdParam(req);
    const webhook = await manager.getWebhook(id, callerOf(res));
    if (!webhook) throw notFound(id);
    sendWebhook(res, webhook);
  });

  router.put('/Webhook/:id', json, async (req, res) => {
    const id = webhookIdParam(req);
    const input = webhookInputFromJson(req.body);
    if (input.webhookId !== 0 && input.webhookId !== id) {
      throw badRequest(`The body's WebhookId ${input.webhookId} differs from ${id} in the path; send the same id or leave it out.`, 'WebhookId');
    }
    const existing = await manager.getCurrentWebhook(id, callerOf(res));
    if (!existing) throw notFound(id);
    checkUnmodifiedSince(req, existing);
    sendWebhook(res, await saveWebhookJson(manager, { ...input, webhookId: id }, callerOf(res), existing));
  });

  router.patch('/Webhook/:id', jsonBody({ limit, types: [JSON_PATCH_TYPE, MERGE_PATCH_TYPE], acceptHeader: 'Accept-Patch' }), async (req, res) => {
    const id = webhookIdParam(req);
    const existing = await manager.getCurrentWebhook(id, callerOf(res));
    if (!existing) throw notFound(id);
    checkUnmodifiedSince(req, existing);
    const document = webhookJson(existing);
    const patched = req.is(JSON_PATCH_TYPE) ? applyJsonPatch(document, req.body) : applyMergePatch(document, req.body);
    const input = webhookInputFromJson(patched, 'The patched webhook');
    if (input.webhookId !== id) throw badRequest(`A patch cannot change WebhookId (${id}).`, 'WebhookId');
    sendWebhook(res, await saveWebhookJson(manager, input, callerOf(res), existing));
  });

  router.delete('/Webhook/:id', async (req, res) => {
    const id = webhookIdParam(req);
    if (req.headers['if-unmodified-since']) {
      const existing = await manager.getCurrentWebhook(id, callerOf(res));
      if (!existing) throw notFound(id);
      checkUnmodifiedSince(req, existing);
    }
    await manager.deleteWebhook(id, callerOf(res));
    res.status(204).end();
  });

  router.get('/Webhook/:id/LastError', async (req, res) => {
    res.json(await manager.getLastError(webhookIdParam(req), callerOf(res)));
  });

  // After the hot webhook routes, which its paths (two segments and more) cannot shadow.
  router.use(deliveryReadRouter(new DeliveryLog(deps.ds, manager)));

  if (deps.delivery) router.use(deliveryRouter(deps.delivery, limit));

  // Before the signal route, whose pattern it would match.
  router.post('/Webhook/:id/RotateSecret', jsonBody({ limit, types: ['application/json'], optional: true }), async (req, res) => {
    res.json(rotatedJson(await manager.rotateSecret(webhookIdParam(req), rotationFromBody(req.body), callerOf(res))));
  });

  router.post('/Webhook/:eventName/:primaryKey', jsonBody({ limit, types: ['application/json'], optional: true }), async (req, res) => {
    const raw = String(req.params.primaryKey);
    if (!/^[+-]?\d{1,10}$/.test(raw)) throw badRequest(`PrimaryKey ${JSON.stringify(raw.slice(0, 40))} in the path must be a whole number.`, 'PrimaryKey');
    const data = req.body === undefined ? null : typedEntriesFromJson(req.body, 'Data');
    await manager.signalEvent(String(req.params.eventName), int32(Number(raw), 'PrimaryKey'), data, callerOf(res));
    res.status(204).end();
  });

  router.use('/Agents/Webhook', agentsRouter(manager, limit));

  router.use((req, _res, next) => {
    next(new HttpError(404, 'NotFound', `There is no route ${req.method} ${req.originalUrl.split('?')[0]}; the routes are described at ${REST_BASE}/openapi.json.`));
  });
  router.use(restErrorHandler(deps.logger));

  // Whole numbers beyond 2^53 (xs:long Properties) leave exactly (exactJson.ts). The app is the
  // REST door alone (frontDoor.ts), so its responses' prototype carries the writer.
  app.response.json = sendExactJson;
  app.use(REST_BASE, router);
}
