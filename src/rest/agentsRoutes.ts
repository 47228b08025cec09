import express, { type Request, type Response, type Router } from 'express';
import { OPERATIONS, operationNamed, OPERATION_NAMES, runOperation, type ArgumentKind, type ArgumentValues, type Arguments, type OperationName, type OperationResults } from '../core/operations';
import type { WebhookManager } from '../core/WebhookManager';
import { callerOf } from './auth';
import { int32, isJsonObject, resolveMembers, stateFromJson, typedEntriesFromJson, webhookInputFromJson, webhookJson, webhookResultJson, type JsonObject, type JsonValue } from './carrierJson';
import { badRequest, HttpError } from './errors';
import { jsonBody } from './requestBody';
import { ROTATE_MEMBERS, rotatedJson, rotationFromJson } from './rotateSecret';
import { saveWebhookJson } from './save';

/**
 * NetServer's Agents API: POST api/v1/Agents/Webhook/{Method}, bound as NetServer's REST layer
 * binds it (what SuperOffice's own clients, e.g. @superoffice/webapi, send):
 * - the arguments are the SOAP request element's members, as a JSON object, member names in any case;
 * - a method whose one argument is an entity takes the entity itself as the body (the wrapped
 *   `{"Webhook": {...}}` works too);
 * - simple arguments may come in the query string (`GetWebhook?webhookId=1`); one named in both
 *   the query and the body is a 400 naming it;
 * - no body, an empty one or `null` is an empty request.
 * Answers are the SOAP operation's (core/operations.ts), as JSON; void operations answer 204.
 */

/** Each argument kind read from a JSON member. */
const JSON_READERS: { [K in ArgumentKind]: (value: JsonValue | undefined, field: string) => ArgumentValues[K] } = {
  int32: (value, field) => int32(value, field),
  string: (value, field) => {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') throw badRequest(`${field} must be a JSON string.`, field);
    return value;
  },
  state: stateFromJson,
  webhook: (value) => webhookInputFromJson(value ?? null),
  typedEntries: typedEntriesFromJson,
};

/** Query parameters are text: whole numbers and states are read from it; entities and dictionaries belong in the body. */
function fromQueryText(kind: ArgumentKind, text: string, field: string): JsonValue {
  if (kind === 'int32') {
    if (!/^\s*[+-]?\d+\s*$/.test(text)) throw badRequest(`${field} must be a whole number, got ${JSON.stringify(text.slice(0, 40))}.`, field);
    return Number(text.trim());
  }
  if (kind === 'webhook' || kind === 'typedEntries') throw badRequest(`${field} cannot be given in the query string; send it in the JSON body.`, field);
  return text;
}

/** The answer of each operation as JSON (undefined: void). */
const JSON_WRITERS: { [K in OperationName]: (result: OperationResults[K]) => JsonValue | undefined } = {
  CreateDefaultWebhook: webhookJson,
  SaveWebhook: webhookJson,
  // NetServer's quirk, from the core table: an unknown id is null, not an error.
  GetWebhook: (webhook) => (webhook ? webhookJson(webhook) : null),
  GetAllWebhooks: (webhooks) => webhooks.map(webhookJson),
  DeleteWebhook: () => undefined,
  TestWebhook: webhookResultJson,
  SignalEvent: () => undefined,
  GetLastError: (text) => text,
};

/** `{"Webhook": {...}}` (any case) rather than the entity itself. */
function isWrappedEntity(body: JsonObject, name: string): boolean {
  const keys = Object.keys(body);
  return keys.length === 1 && keys[0].toLowerCase() === name.toLowerCase();
}

function queryMembers(req: Request): JsonObject {
  const result: JsonObject = Object.create(null);
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (typeof value !== 'string') throw badRequest(`The query parameter ${name} must be given once, as text.`, name);
    result[name] = value;
  }
  return result;
}

/** Not a NetServer operation: secret rotation with an overlap (SPEC 7), called the Agents way (same conventions). */
async function rotateSecret(manager: WebhookManager, req: Request, res: Response): Promise<void> {
  const names = ['WebhookId', ...ROTATE_MEMBERS];
  const body: unknown = req.body ?? null;
  if (body !== null && !isJsonObject(body)) throw badRequest(`The arguments of RotateSecret must be a JSON object with ${names.join(', ')}.`);
  const args = resolveMembers(body ?? {}, names, 'The arguments of RotateSecret');
  for (const [name, text] of resolveMembers(queryMembers(req), names, 'The query string of RotateSecret')) {
    if (args.has(name)) throw badRequest(`${name} is given both in the query string and in the body; give it once.`, name);
    args.set(name, fromQueryText(name === 'Secret' ? 'string' : 'int32', text as string, name));
  }
  res.json(rotatedJson(await manager.rotateSecret(int32(args.get('WebhookId'), 'WebhookId'), rotationFromJson(args), callerOf(res))));
}

const AGENT_METHOD_NAMES = [...OPERATION_NAMES, 'RotateSecret'];

export function agentsRouter(manager: WebhookManager, limit: number): Router {
  const router = express.Router();

  router.post('/:method', jsonBody({ limit, types: ['application/json'], optional: true }), async (req: Request, res: Response) => {
    if (String(req.params.method).toLowerCase() === 'rotatesecret') return rotateSecret(manager, req, res);
    const method = operationNamed(String(req.params.method));
    if (!method) throw new HttpError(404, 'NotFound', `There is no Webhook agent method ${JSON.stringify(String(req.params.method).slice(0, 60))}; use one of ${AGENT_METHOD_NAMES.join(', ')}.`);
    const specs = OPERATIONS[method].arguments;
    const names = specs.map((spec) => spec.name);
    const what = `The arguments of ${method}`;

    const body: unknown = req.body ?? null;
    if (body !== null && !isJsonObject(body)) throw badRequest(`${what} must be a JSON object${names.length ? ` with ${names.join(', ')}` : ''}, or the ${names[0] ?? 'request'} itself.`);
    let members: JsonObject = body ?? {};
    const entity = specs.length === 1 && specs[0].kind === 'webhook' ? specs[0].name : null;
    if (entity && Object.keys(members).length > 0 && !isWrappedEntity(members, entity)) members = { [entity]: members };

    const fromBody = resolveMembers(members, names, what);
    const fromQuery = resolveMembers(queryMembers(req), names, `The query string of ${method}`);
    const args: Arguments = new Map();
    for (const { name, kind } of specs) {
      const queried = fromQuery.get(name);
      if (queried !== undefined && fromBody.has(name)) {
        throw badRequest(`${name} is given both in the query string and in the body; give it once.`, name);
      }
      const value = queried !== undefined ? fromQueryText(kind, queried as string, name) : fromBody.get(name);
      args.set(name, JSON_READERS[kind](value, name));
    }

    const caller = callerOf(res);
    // JSON cannot say "double 1": SaveWebhook keeps the stored types of Properties sent back unchanged.
    const result =
      method === 'SaveWebhook' ? await saveWebhookJson(manager, args.get('Webhook') as ArgumentValues['webhook'], caller) : await runOperation(method, manager, args, caller);
    const answer = (JSON_WRITERS[method] as (result: unknown) => JsonValue | undefined)(result);
    if (answer === undefined) res.status(204).end();
    else res.json(answer);
  });
  return router;
}
