import { VERSION } from '../version';
import { WEBHOOK_STATE_NAMES } from '../core/webhook';
import { deliveryReadPaths, deliveryReadSchemas } from './deliveryReadOpenApi';

/**
 * The OpenAPI 3.1 description of the REST door, served at GET /api/v1/openapi.json. A test
 * validates it and checks real responses of every route against it, so it stays true.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const nullable = (type: string, extra: object = {}) => ({ type: [type, 'null'], ...extra });
const scalarMap = (description: string) => ({
  description,
  type: ['object', 'null'],
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
});
// Every authenticated route (one that can answer 401) is rate limited too (429).
const errors = (...statuses: number[]) =>
  Object.fromEntries([...statuses, ...(statuses.includes(401) ? [429] : [])].map((status) => [String(status), { $ref: `#/components/responses/Error${status}` }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (the Field names it), malformed JSON, unknown members, or a target that failed verification (the message says what it answered).',
  401: 'No ticket, or an unknown or revoked one (see WWW-Authenticate).',
  404: 'No such webhook or route.',
  409: 'A JSON Patch test operation failed; nothing was changed.',
  412: 'The webhook was updated after If-Unmodified-Since; nothing was changed.',
  413: 'The body is larger than the configured limit (BODY_LIMIT).',
  415: 'The body has a content type this route does not accept.',
  429: "More requests than this ticket's rate limit allows (RATE_LIMIT_PER_MINUTE, shared with the SOAP door); retry after Retry-After seconds.",
  500: 'Our own fault; logged, no details given.',
  501: 'The capability is not available in this build.',
};
const COMMON = [400, 401, 413, 415, 500];

const webhookId = { name: 'id', in: 'path', required: true, description: 'WebhookId', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } };
const ifUnmodifiedSince = {
  name: 'If-Unmodified-Since',
  in: 'header',
  required: false,
  description: 'Change only when the webhook was not updated after this HTTP date (compared with Updated).',
  schema: { type: 'string' },
};

const APP_TOKEN_PARAMETER = { $ref: '#/components/parameters/SoAppToken' };

interface OperationObject {
  parameters?: object[];
  responses: Record<string, object>;
}

/** `paths` with each operation replaced by what `change` makes of it (given its path and method). */
function eachOperation<T extends Record<string, object>>(paths: T, change: (operation: OperationObject, path: string, method: string) => object): T {
  return Object.fromEntries(
    Object.entries(paths).map(([path, item]) => [
      path,
      Object.fromEntries(Object.entries(item).map(([method, operation]) => [method, change(operation as OperationObject, path, method)])),
    ]),
  ) as T;
}

/** Every operation but the document itself takes the optional SO-AppToken header (application isolation). */
function withApplicationToken<T extends Record<string, object>>(paths: T): T {
  return eachOperation(paths, (operation, path) =>
    path === '/openapi.json' ? operation : { ...operation, parameters: [APP_TOKEN_PARAMETER, ...(operation.parameters ?? [])] },
  );
}

/**
 * Express gives every GET answer a weak ETag, and answers a GET whose If-None-Match names the
 * current one with 304 and no body: every GET here may answer it.
 */
const NOT_MODIFIED = { description: 'Not modified: If-None-Match named the ETag the answer would carry (every GET answer has a weak ETag); no body.' };
function withConditionalGets<T extends Record<string, object>>(paths: T): T {
  return eachOperation(paths, (operation, _path, method) => (method === 'get' ? { ...operation, responses: { ...operation.responses, '304': NOT_MODIFIED } } : operation));
}

/**
 * An Agents method as NetServer's REST layer binds it: the body is the arguments object, the
 * entity itself for a one-entity method, or null/absent for none; simple arguments may also come
 * in the query string (`query`, names in any case).
 */
function agent(operation: string, summary: string, args: object | null, ok: object, query: Array<[string, object]> = []) {
  return {
    post: {
      operationId: `Agents_${operation}`,
      tags: ['Agents'],
      summary,
      ...(query.length ? { parameters: query.map(([name, schema]) => ({ name, in: 'query', required: false, description: `${name} (any case), instead of in the body`, schema })) } : {}),
      ...(args ? { requestBody: { required: false, content: json({ oneOf: [args, { type: 'null' }] }) } } : {}),
      responses: { ...ok, ...errors(...COMMON, 404, 501) },
    },
  };
}
const args = (properties: Record<string, object>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const idArgs = args({ WebhookId: { type: 'integer' } });
const webhookArgs = { oneOf: [args({ Webhook: ref('WebhookInput') }, ['Webhook']), ref('WebhookInput')], description: 'The Webhook itself, or wrapped as {"Webhook": ...}' };
const idQuery: Array<[string, object]> = [['webhookId', { type: 'integer' }]];

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'webhook-agent REST API',
    version: VERSION,
    description:
      'SuperOffice NetServer WebhookAgent as REST: the same core and rules as the SOAP endpoint /Remote/Services88/Webhook.svc. ' +
      'Authenticate with `Authorization: Bearer <ticket>` or `Authorization: SOTicket <ticket>`. Member names are matched case-insensitively on input.',
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearer: [] }, { soTicket: [] }],
  tags: [{ name: 'Webhook', description: 'Resource routes' }, { name: 'Agents', description: "NetServer's Agents API (RPC by operation name)" }],
  paths: withConditionalGets(withApplicationToken({
    '/openapi.json': {
      get: { operationId: 'OpenApi', security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: json({ type: 'object' }) } } },
    },
    '/Webhook/default': {
      get: { operationId: 'CreateDefaultWebhook', tags: ['Webhook'], summary: 'An unsaved webhook with the defaults', responses: { '200': { description: 'Not stored', content: json(ref('Webhook')) }, ...errors(401, 500) } },
    },
    '/Webhook': {
      get: {
        operationId: 'GetAllWebhooks',
        tags: ['Webhook'],
        summary: 'List webhooks',
        parameters: [
          { name: 'nameFilter', in: 'query', description: 'Case-insensitive substring of Name', schema: { type: 'string' } },
          { name: 'eventFilter', in: 'query', description: 'Webhooks subscribed to this event', schema: { type: 'string' } },
          { name: 'statusFilter', in: 'query', description: 'State; Unknown means no filter', schema: ref('WebhookState') },
        ],
        responses: { '200': { description: 'The matching webhooks', content: json({ type: 'array', items: ref('Webhook') }) }, ...errors(400, 401, 500) },
      },
      post: {
        operationId: 'SaveWebhook',
        tags: ['Webhook'],
        summary: 'Create (WebhookId 0) or update a webhook; an Active webhook is verified with a signed test POST first',
        requestBody: { required: true, content: json(ref('WebhookInput')) },
        responses: {
          '201': { description: 'Created', headers: { Location: { description: 'The new webhook', schema: { type: 'string' } } }, content: json(ref('Webhook')) },
          '200': { description: 'Updated', content: json(ref('Webhook')) },
          ...errors(...COMMON, 404),
        },
      },
    },
    '/Webhook/Test': {
      post: {
        operationId: 'TestWebhook',
        tags: ['Webhook'],
        summary: 'Send the test payload to the given target; nothing is stored',
        requestBody: { required: true, content: json(ref('WebhookInput')) },
        responses: { '200': { description: 'What the target answered', content: json(ref('WebhookResult')) }, ...errors(...COMMON) },
      },
    },
    '/Webhook/{id}': {
      get: { operationId: 'GetWebhook', tags: ['Webhook'], parameters: [webhookId], responses: { '200': { description: 'The webhook', content: json(ref('Webhook')) }, ...errors(400, 401, 404, 500) } },
      put: {
        operationId: 'PutWebhook',
        tags: ['Webhook'],
        summary: 'Replace the webhook (SaveWebhook)',
        parameters: [webhookId, ifUnmodifiedSince],
        requestBody: { required: true, content: json(ref('WebhookInput')) },
        responses: { '200': { description: 'Saved', content: json(ref('Webhook')) }, ...errors(...COMMON, 404, 412) },
      },
      patch: {
        operationId: 'PatchWebhook',
        tags: ['Webhook'],
        summary: 'Change part of the webhook (SaveWebhook): JSON Patch or JSON Merge Patch; member names and Headers names are case-insensitive',
        parameters: [webhookId, ifUnmodifiedSince],
        requestBody: { required: true, content: { 'application/json-patch+json': { schema: ref('JsonPatch') }, 'application/merge-patch+json': { schema: ref('WebhookInput') } } },
        responses: { '200': { description: 'Saved', content: json(ref('Webhook')) }, ...errors(...COMMON, 404, 409, 412) },
      },
      delete: {
        operationId: 'DeleteWebhook',
        tags: ['Webhook'],
        parameters: [webhookId, ifUnmodifiedSince],
        responses: { '204': { description: 'Deleted; its pending deliveries are stopped' }, ...errors(400, 401, 404, 412, 500) },
      },
    },
    '/Webhook/{id}/LastError': {
      get: { operationId: 'GetLastError', tags: ['Webhook'], parameters: [webhookId], responses: { '200': { description: 'The last delivery error, "" if none', content: json({ type: 'string' }) }, ...errors(400, 401, 404, 500) } },
    },
    '/Webhook/{id}/Redeliver': {
      post: {
        operationId: 'RedeliverWebhook',
        tags: ['Webhook'],
        summary: "Send the webhook's failed deliveries created since Since again: same EventId, a fresh attempt cycle; held while the webhook is not Active",
        parameters: [webhookId],
        requestBody: { required: true, content: json(ref('RedeliveryRequest')) },
        responses: { '200': { description: 'How many were redelivered: due now (Pending) or held', content: json(ref('RedeliveryTotals')) }, ...errors(...COMMON, 404) },
      },
    },
    '/Webhook/Deliveries/{deliveryId}/Redeliver': {
      post: {
        operationId: 'RedeliverDelivery',
        tags: ['Webhook'],
        summary: 'Send one failed delivery again: same EventId, a fresh attempt cycle; held while its webhook is not Active',
        parameters: [{ name: 'deliveryId', in: 'path', required: true, description: 'DeliveryId (webhook-agent deliveries list)', schema: { type: 'string', pattern: '^[0-9]{1,18}$' } }],
        requestBody: { required: false, content: json({ type: 'object', description: 'Ignored; may be omitted' }) },
        responses: {
          '200': { description: 'Redelivered', content: json(ref('RedeliveredDelivery')) },
          '409': { description: 'The delivery is not failed (pending and held ones are still on their way, succeeded ones arrived); nothing was changed.', content: json(ref('Error')) },
          ...errors(...COMMON, 404),
        },
      },
    },
    '/Webhook/{id}/RotateSecret': {
      post: {
        operationId: 'RotateSecret',
        tags: ['Webhook'],
        summary: 'Replace the Secret (given, or a generated whsec_ one); the previous Secret keeps signing beside it for OverlapSeconds (default 86400) so receivers switch without losing a delivery',
        parameters: [webhookId],
        requestBody: { required: false, content: json(ref('RotateSecretRequest')) },
        responses: { '200': { description: 'The new Secret and when the previous one stops signing', content: json(ref('RotatedSecret')) }, ...errors(...COMMON, 404) },
      },
    },
    '/Webhook/{eventName}/{primaryKey}': {
      post: {
        operationId: 'SignalEvent',
        tags: ['Webhook'],
        summary: 'Record an event durably and fan it out to every Active webhook subscribed to it',
        parameters: [
          { name: 'eventName', in: 'path', required: true, schema: { type: 'string' }, example: 'contact.created' },
          { name: 'primaryKey', in: 'path', required: true, schema: { type: 'integer' } },
        ],
        requestBody: { required: false, content: json(scalarMap('The Data dictionary (FieldValues of the payload)')) },
        responses: { '204': { description: 'Recorded with its deliveries' }, ...errors(...COMMON, 501) },
      },
    },
    ...deliveryReadPaths,
    '/Webhook/Notifications': {
      get: {
        operationId: 'ListNotifications',
        tags: ['Webhook'],
        summary: "The caller's in-app notifications (NotifyVia InApp), newest first; listing marks them read",
        responses: { '200': { description: 'Notifications; Read says whether it had been read before this call', content: json({ type: 'array', items: ref('Notification') }) }, ...errors(401, 500) },
      },
    },
    '/Agents/Webhook/CreateDefaultWebhook': agent('CreateDefaultWebhook', 'CreateDefaultWebhook', args({}), { '200': { description: 'Webhook', content: json(ref('Webhook')) } }),
    '/Agents/Webhook/SaveWebhook': agent('SaveWebhook', 'SaveWebhook', webhookArgs, { '200': { description: 'Webhook', content: json(ref('Webhook')) } }),
    '/Agents/Webhook/GetWebhook': agent('GetWebhook', 'GetWebhook (null for an unknown id)', idArgs, { '200': { description: 'Webhook or null', content: json({ oneOf: [ref('Webhook'), { type: 'null' }] }) } }, idQuery),
    '/Agents/Webhook/GetAllWebhooks': agent(
      'GetAllWebhooks',
      'GetAllWebhooks',
      args({ NameFilter: nullable('string'), EventFilter: nullable('string'), StatusFilter: { oneOf: [ref('WebhookState'), { type: 'null' }] } }),
      { '200': { description: 'Webhooks', content: json({ type: 'array', items: ref('Webhook') }) } },
      [['nameFilter', { type: 'string' }], ['eventFilter', { type: 'string' }], ['statusFilter', { type: 'string' }]],
    ),
    '/Agents/Webhook/DeleteWebhook': agent('DeleteWebhook', 'DeleteWebhook', idArgs, { '204': { description: 'Deleted' } }, idQuery),
    '/Agents/Webhook/TestWebhook': agent('TestWebhook', 'TestWebhook', webhookArgs, { '200': { description: 'WebhookResult', content: json(ref('WebhookResult')) } }),
    '/Agents/Webhook/SignalEvent': agent(
      'SignalEvent',
      'SignalEvent',
      args({ EventName: { type: 'string' }, PrimaryKey: { type: 'integer' }, Data: scalarMap('The Data dictionary') }),
      { '204': { description: 'Recorded' } },
      [['eventName', { type: 'string' }], ['primaryKey', { type: 'integer' }]],
    ),
    '/Agents/Webhook/RotateSecret': agent(
      'RotateSecret',
      'RotateSecret (not a NetServer method): a new Secret, the previous one signing beside it for OverlapSeconds',
      args({ WebhookId: { type: 'integer' }, Secret: nullable('string'), OverlapSeconds: { type: ['integer', 'null'], minimum: 0, maximum: 2592000 } }, ['WebhookId']),
      { '200': { description: 'RotatedSecret', content: json(ref('RotatedSecret')) } },
    ),
    '/Agents/Webhook/GetLastError': agent('GetLastError', 'GetLastError ("" for an unknown id)', idArgs, { '200': { description: 'string', content: json({ type: 'string' }) } }, idQuery),
  })),
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'A webhook-agent ticket' },
      soTicket: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'SOTicket <ticket>' },
    },
    parameters: {
      SoAppToken: {
        name: 'SO-AppToken',
        in: 'header',
        required: false,
        description:
          "The calling application's token (the SOAP door's ApplicationToken header). A webhook saved with one belongs to that application, and a request " +
          "with one sees, changes, deletes and lists only that application's webhooks; without one, a request is an operator's and sees all.",
        schema: { type: 'string' },
      },
    },
    responses: Object.fromEntries(
      Object.entries(ERROR_TEXT).map(([status, description]) => [
        `Error${status}`,
        status === '429'
          ? { description, headers: { 'Retry-After': { description: 'Seconds until a request will be accepted again', schema: { type: 'integer', minimum: 1 } } }, content: json(ref('Error')) }
          : { description, content: json(ref('Error')) },
      ]),
    ),
    schemas: {
      RotateSecretRequest: {
        type: 'object',
        properties: {
          Secret: { type: ['string', 'null'], maxLength: 400, description: 'The new Secret; omitted or null: a generated whsec_ Secret' },
          OverlapSeconds: { type: ['integer', 'null'], minimum: 0, maximum: 2592000, description: 'How long the previous Secret keeps signing; default 86400; 0: not at all' },
        },
      },
      RotatedSecret: {
        type: 'object',
        required: ['WebhookId', 'Secret', 'PreviousSecretExpires'],
        properties: {
          WebhookId: { type: 'integer' },
          Secret: { type: 'string' },
          PreviousSecretExpires: { type: ['string', 'null'], format: 'date-time', description: 'null when there was no previous Secret, or the overlap was 0' },
        },
      },
      WebhookState: { type: 'string', enum: [...WEBHOOK_STATE_NAMES] },
      Associate: {
        type: 'object',
        required: ['AssociateId', 'Name'],
        properties: {
          AssociateId: { type: 'integer' }, Name: { type: 'string' }, PersonId: { type: 'integer' }, Rank: { type: 'integer' }, Tooltip: { type: 'string' },
          Type: { type: 'string' }, GroupIdx: { type: 'integer' }, FullName: { type: 'string' }, FormalName: { type: 'string' }, Deleted: { type: 'boolean' },
          EjUserId: { type: 'integer' }, UserName: { type: 'string' },
        },
      },
      Webhook: {
        type: 'object',
        additionalProperties: false,
        required: [
          'WebhookId', 'Name', 'Events', 'TargetUrl', 'Secret', 'State', 'Type', 'Headers', 'Properties', 'Registered', 'RegisteredAssociate',
          'Updated', 'UpdatedAssociate', 'ErrorsEmail', 'Description', 'TotalCalls', 'TotalErrors', 'ConsecutiveErrors', 'LastError',
          'ErrorEmails', 'ErrorAssociates', 'NotifyVia', 'NotifyWhen', 'Ordered',
        ],
        properties: {
          WebhookId: { type: 'integer', minimum: 0 },
          Name: nullable('string'),
          Events: { type: 'array', items: { type: 'string' } },
          TargetUrl: nullable('string'),
          Secret: nullable('string'),
          State: ref('WebhookState'),
          Type: nullable('string'),
          Headers: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
          Properties: scalarMap('Sent as extra top-level members of every payload'),
          Registered: ref('DateTime'),
          RegisteredAssociate: { oneOf: [ref('Associate'), { type: 'null' }] },
          Updated: ref('DateTime'),
          UpdatedAssociate: { oneOf: [ref('Associate'), { type: 'null' }] },
          ErrorsEmail: nullable('string'),
          Description: nullable('string'),
          TotalCalls: { type: 'integer', minimum: 0 },
          TotalErrors: { type: 'integer', minimum: 0 },
          ConsecutiveErrors: { type: 'integer', minimum: 0 },
          LastError: nullable('string'),
          ErrorEmails: { type: 'array', items: { type: 'string' }, description: 'NetServer 12.4: more addresses told by email when the webhook changes state' },
          ErrorAssociates: { type: 'array', items: ref('MDOListItem'), description: 'NetServer 12.4: associates told (in-app)' },
          NotifyVia: ref('WebhookNotifyVia'),
          NotifyWhen: ref('WebhookNotifyWhen'),
          Ordered: { type: 'boolean', description: 'Deliveries one at a time in signal order; a failing head holds the rest until its cycle ends' },
        },
      },
      DateTime: {
        type: 'string',
        description: 'UTC ISO-8601; 0001-01-01T00:00:00 (.NET DateTime.MinValue) when never set, as NetServer answers',
        anyOf: [{ format: 'date-time' }, { const: '0001-01-01T00:00:00' }],
      },
      WebhookNotifyVia: { type: 'string', description: 'Flags, as .NET writes them: None, Email, InApp, or e.g. "Email, InApp". Input also takes the number (0 to 3).', pattern: '^(None|(Email|InApp)(, (Email|InApp))*)$' },
      WebhookNotifyWhen: {
        type: 'string',
        description: 'Flags: None, FirstFailure (the first failed attempt after a success), Disabling (when it becomes TooManyErrors), or both. Input also takes the number (0 to 3).',
        pattern: '^(None|(FirstFailure|Disabling)(, (FirstFailure|Disabling))*)$',
      },
      MDOListItem: {
        type: 'object',
        required: ['Id', 'Name'],
        properties: {
          Id: { type: 'integer' }, Name: { type: 'string' }, ToolTip: { type: 'string' }, Deleted: { type: 'boolean' }, Rank: { type: 'integer' }, Type: { type: 'string' },
          ChildItems: { type: 'array' }, IconHint: { type: 'string' }, ColorBlock: { type: 'integer' }, ExtraInfo: { type: 'string' }, StyleHint: { type: 'string' }, FullName: { type: 'string' },
        },
      },
      WebhookInput: {
        description: 'A Webhook as sent by a client; system-owned members (Registered, Updated, the associates, counters, LastError) may be sent back and are ignored.',
        type: 'object',
        properties: {
          WebhookId: { type: ['integer', 'null'], minimum: 0 },
          Name: nullable('string'),
          Events: { type: ['array', 'null'], items: { type: 'string' } },
          TargetUrl: nullable('string'),
          Secret: nullable('string'),
          State: { oneOf: [ref('WebhookState'), { type: 'integer', minimum: 0, maximum: 3 }, { type: 'null' }] },
          Type: nullable('string'),
          Headers: { type: ['object', 'null'], additionalProperties: { type: ['string', 'null'] } },
          Properties: scalarMap('Integers are stored as int (long beyond int32), other numbers as double'),
          ErrorsEmail: nullable('string'),
          Description: nullable('string'),
          Registered: { oneOf: [ref('DateTime'), { type: 'null' }] },
          RegisteredAssociate: { type: ['object', 'null'] },
          Updated: { oneOf: [ref('DateTime'), { type: 'null' }] },
          UpdatedAssociate: { type: ['object', 'null'] },
          ErrorEmails: { type: ['array', 'null'], items: { type: 'string' } },
          ErrorAssociates: { type: ['array', 'null'], items: { type: 'object', description: 'An MDOListItem or Associate; its Id (or AssociateId) names the associate' } },
          NotifyVia: { oneOf: [ref('WebhookNotifyVia'), { type: 'integer', minimum: 0, maximum: 3 }, { type: 'null' }] },
          NotifyWhen: { oneOf: [ref('WebhookNotifyWhen'), { type: 'integer', minimum: 0, maximum: 3 }, { type: 'null' }] },
          TotalCalls: nullable('integer'),
          TotalErrors: nullable('integer'),
          ConsecutiveErrors: nullable('integer'),
          LastError: nullable('string'),
          Ordered: nullable('boolean'),
        },
      },
      Notification: {
        type: 'object',
        additionalProperties: false,
        required: ['NotificationId', 'WebhookId', 'WebhookName', 'Reason', 'Subject', 'Message', 'Created', 'Read'],
        properties: {
          NotificationId: { type: 'string', pattern: '^[0-9]+$' },
          WebhookId: { type: 'integer' },
          WebhookName: nullable('string'),
          Reason: { type: 'string', enum: ['FirstFailure', 'Disabling'] },
          Subject: { type: 'string' },
          Message: { type: 'string' },
          Created: { type: 'string', format: 'date-time' },
          Read: { type: 'boolean' },
        },
      },
      WebhookResult: { type: 'object', additionalProperties: false, required: ['Success', 'Message'], properties: { Success: { type: 'boolean' }, Message: { type: 'string' } } },
      RedeliveryRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['Since'],
        properties: { Since: { type: 'string', format: 'date-time', description: 'Failed deliveries created at or after this time (with a time zone) are sent again' } },
      },
      RedeliveryTotals: {
        type: 'object',
        additionalProperties: false,
        required: ['Redelivered', 'Pending', 'Held'],
        properties: { Redelivered: { type: 'integer', minimum: 0 }, Pending: { type: 'integer', minimum: 0 }, Held: { type: 'integer', minimum: 0 } },
      },
      RedeliveredDelivery: {
        type: 'object',
        additionalProperties: false,
        required: ['DeliveryId', 'EventId', 'Status'],
        properties: {
          DeliveryId: { type: 'string', pattern: '^[0-9]+$' },
          EventId: { type: 'string', format: 'uuid' },
          Status: { type: 'string', enum: ['pending', 'held'], description: 'pending: due now; held: sent when its webhook is Active again' },
        },
      },
      ...deliveryReadSchemas,
      JsonPatch: {
        type: 'array',
        items: {
          type: 'object',
          required: ['op', 'path'],
          properties: { op: { type: 'string', enum: ['add', 'remove', 'replace', 'test', 'move', 'copy'] }, path: { type: 'string' }, from: { type: 'string' }, value: {} },
        },
      },
      Error: {
        type: 'object',
        additionalProperties: false,
        required: ['Error', 'ErrorType', 'Message'],
        properties: { Error: { const: true }, ErrorType: { type: 'string' }, Message: { type: 'string' }, Field: { type: 'string' } },
      },
    },
  },
} as const;
