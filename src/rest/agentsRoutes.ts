import express, { type Request, type Response, type Router } from 'express';
import { NotFoundError } from '../core/errors';
import type { WebhookManager } from '../core/WebhookManager';
import { callerOf } from './auth';
import { filterFromJson, int32, isJsonObject, resolveMembers, typedEntriesFromJson, webhookInputFromJson, webhookJson, webhookResultJson, type JsonObject, type JsonValue } from './carrierJson';
import { badRequest, HttpError } from './errors';
import { jsonBody } from './requestBody';
import { ROTATE_MEMBERS, rotatedJson, rotationFromJson } from './rotateSecret';
import { saveWebhookJson } from './save';

/**
 * NetServer's Agents API: POST api/v1/Agents/Webhook/{Method} with the SOAP request element's
 * members as a JSON object. Answers exactly as the SOAP operation does (GetWebhook of an
 * unknown id is null, GetLastError of one is ""), as JSON; void operations answer 204.
 */

export const AGENT_OPERATIONS = [
  'CreateDefaultWebhook', 'SaveWebhook', 'GetWebhook', 'GetAllWebhooks', 'DeleteWebhook', 'TestWebhook', 'SignalEvent', 'GetLastError',
  // Not a NetServer operation: secret rotation with an overlap (SPEC 7), the Agents way.
  'RotateSecret',
] as const;
type Operation = (typeof AGENT_OPERATIONS)[number];

/** Each operation's argument members, as in the SOAP request element. */
const ARGUMENTS: Record<Operation, readonly string[]> = {
  CreateDefaultWebhook: [],
  SaveWebhook: ['Webhook'],
  GetWebhook: ['WebhookId'],
  GetAllWebhooks: ['NameFilter', 'EventFilter', 'StatusFilter'],
  DeleteWebhook: ['WebhookId'],
  TestWebhook: ['Webhook'],
  SignalEvent: ['EventName', 'PrimaryKey', 'Data'],
  GetLastError: ['WebhookId'],
  RotateSecret: ['WebhookId', ...ROTATE_MEMBERS],
};

const VOID = Symbol('void');

export function agentsRouter(manager: WebhookManager, limit: number): Router {
  const router = express.Router();
  const calls: Record<Operation, (args: Map<string, JsonValue>, res: Response) => Promise<JsonValue | typeof VOID>> = {
    CreateDefaultWebhook: async () => webhookJson(manager.createDefaultWebhook()),
    SaveWebhook: async (args, res) => webhookJson(await saveWebhookJson(manager, webhookInputFromJson(args.get('Webhook') ?? null), callerOf(res))),
    GetWebhook: async (args, res) => {
      const webhook = await manager.getWebhook(int32(args.get('WebhookId'), 'WebhookId'), callerOf(res));
      return webhook ? webhookJson(webhook) : null;
    },
    GetAllWebhooks: async (args, res) => (await manager.getAllWebhooks(filterFromJson(Object.fromEntries(args), 'The arguments'), callerOf(res))).map(webhookJson),
    DeleteWebhook: async (args, res) => {
      await manager.deleteWebhook(int32(args.get('WebhookId'), 'WebhookId'), callerOf(res));
      return VOID;
    },
    TestWebhook: async (args, res) => webhookResultJson(await manager.testWebhook(webhookInputFromJson(args.get('Webhook') ?? null), callerOf(res))),
    SignalEvent: async (args, res) => {
      const eventName = args.get('EventName');
      if (typeof eventName !== 'string') throw badRequest('EventName must be a JSON string such as "contact.created".', 'EventName');
      await manager.signalEvent(eventName, int32(args.get('PrimaryKey'), 'PrimaryKey'), typedEntriesFromJson(args.get('Data'), 'Data'), callerOf(res));
      return VOID;
    },
    RotateSecret: async (args, res) => rotatedJson(await manager.rotateSecret(int32(args.get('WebhookId'), 'WebhookId'), rotationFromJson(args), callerOf(res))),
    GetLastError: async (args, res) => {
      try {
        return await manager.getLastError(int32(args.get('WebhookId'), 'WebhookId'), callerOf(res));
      } catch (error) {
        // As the SOAP operation (and NetServer): an unknown id has no last error.
        if (error instanceof NotFoundError) return '';
        throw error;
      }
    },
  };

  router.post('/:method', jsonBody({ limit, types: ['application/json'], optional: true }), async (req: Request, res: Response) => {
    const method = AGENT_OPERATIONS.find((name) => name.toLowerCase() === String(req.params.method).toLowerCase());
    if (!method) throw new HttpError(404, 'NotFound', `There is no Webhook agent method ${JSON.stringify(String(req.params.method).slice(0, 60))}; use one of ${AGENT_OPERATIONS.join(', ')}.`);
    const body: unknown = req.body ?? {};
    if (!isJsonObject(body)) throw badRequest(`The arguments of ${method} must be a JSON object${ARGUMENTS[method].length ? ` with ${ARGUMENTS[method].join(', ')}` : ''}.`);
    // Object.fromEntries of resolved names only: the argument names are ours, never the client's.
    const args = resolveMembers(body as JsonObject, ARGUMENTS[method], `The arguments of ${method}`);
    const result = await calls[method](args, res);
    if (result === VOID) res.status(204).end();
    else res.json(result);
  });
  return router;
}
