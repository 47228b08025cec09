/**
 * The OpenAPI description of the delivery log's read routes (deliveryReadRoutes.ts), kept apart
 * so it moves as one piece. openapi.ts spreads these paths and schemas into the document (the
 * paths there get the SO-AppToken parameter like every route).
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const errors = (...statuses: number[]) => Object.fromEntries([...statuses, 429].map((status) => [String(status), { $ref: `#/components/responses/Error${status}` }]));
const time = (description: string) => ({ type: ['string', 'null'], format: 'date-time', description });
const latency = (description: string) => ({ type: ['integer', 'null'], minimum: 0, description });

const webhookId = { name: 'id', in: 'path', required: true, description: 'WebhookId', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } };
const isoQuery = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'string', format: 'date-time' } });

export const deliveryReadPaths = {
  '/Webhook/{id}/Deliveries': {
    get: {
      operationId: 'ListDeliveries',
      tags: ['Webhook'],
      summary: "The webhook's deliveries, newest first, a page at a time",
      parameters: [
        webhookId,
        { name: 'status', in: 'query', required: false, description: 'Only deliveries with this status', schema: ref('DeliveryStatus') },
        isoQuery('since', 'Only deliveries created at or after this time'),
        isoQuery('until', 'Only deliveries created before this time'),
        { name: 'before', in: 'query', required: false, description: "The previous page's NextCursor", schema: { type: 'string', pattern: '^[0-9]{1,18}$' } },
        { name: 'limit', in: 'query', required: false, description: 'Deliveries per page (default 50)', schema: { type: 'integer', minimum: 1, maximum: 500 } },
      ],
      responses: { '200': { description: 'One page', content: json(ref('DeliveryPage')) }, ...errors(400, 401, 404, 500) },
    },
  },
  '/Webhook/Deliveries/{deliveryId}': {
    get: {
      operationId: 'GetDelivery',
      tags: ['Webhook'],
      summary: 'One delivery with every attempt made, cycle by cycle',
      parameters: [{ name: 'deliveryId', in: 'path', required: true, description: 'DeliveryId', schema: { type: 'string', pattern: '^[0-9]{1,18}$' } }],
      responses: { '200': { description: 'The delivery and its attempt log', content: json(ref('DeliveryDetail')) }, ...errors(400, 401, 404, 500) },
    },
  },
  '/Webhook/{id}/Statistics': {
    get: {
      operationId: 'GetDeliveryStatistics',
      tags: ['Webhook'],
      summary: "The webhook's delivery attempts over a window (default the last 24 hours), in time buckets (default one hour)",
      parameters: [
        webhookId,
        isoQuery('since', 'Window start (default: until minus 24 hours)'),
        isoQuery('until', 'Window end (default: now)'),
        { name: 'bucket', in: 'query', required: false, description: 'Bucket length in seconds (default 3600; at most 1000 buckets a window)', schema: { type: 'integer', minimum: 1 } },
      ],
      responses: { '200': { description: 'Totals and buckets', content: json(ref('DeliveryStatistics')) }, ...errors(400, 401, 404, 500) },
    },
  },
};

const deliveryProperties = {
  DeliveryId: { type: 'string', pattern: '^[0-9]+$' },
  WebhookId: { type: 'integer' },
  EventId: { type: 'string', format: 'uuid', description: 'The same in every attempt and redelivery' },
  EventName: { type: 'string' },
  PrimaryKey: { type: 'integer' },
  Status: ref('DeliveryStatus'),
  Cycle: { type: 'integer', minimum: 1, description: 'Attempt cycle: 1, one more per redelivery' },
  Attempts: { type: 'integer', minimum: 0, description: 'Attempts made in the current cycle' },
  Created: { type: 'string', format: 'date-time' },
  Completed: time('When it succeeded, failed or was cancelled'),
  NextAttempt: time('When a pending delivery is due next'),
  LastError: { type: ['string', 'null'], description: "The newest attempt's error: a network error or HTTP <status>" },
};

const counts = {
  Attempts: { type: 'integer', minimum: 0 },
  Successes: { type: 'integer', minimum: 0, description: 'Attempts answered with a 2xx' },
  Failures: { type: 'integer', minimum: 0, description: 'Attempts answered otherwise, or that failed on the network' },
  LatencyP50Ms: latency('Median latency of settled attempts; null without any'),
  LatencyP95Ms: latency('95th percentile latency of settled attempts; null without any'),
};
const countNames = Object.keys(counts);

export const deliveryReadSchemas = {
  DeliveryStatus: { type: 'string', enum: ['pending', 'held', 'succeeded', 'failed', 'cancelled'] },
  Delivery: { type: 'object', additionalProperties: false, required: Object.keys(deliveryProperties), properties: deliveryProperties },
  DeliveryPage: {
    type: 'object',
    additionalProperties: false,
    required: ['Deliveries', 'NextCursor'],
    properties: { Deliveries: { type: 'array', items: ref('Delivery') }, NextCursor: { type: ['string', 'null'], description: 'Pass as before for the next page; null on the last' } },
  },
  DeliveryAttempt: {
    type: 'object',
    additionalProperties: false,
    required: ['AttemptId', 'Cycle', 'AttemptNumber', 'AttemptedAt', 'Outcome', 'HttpStatus', 'Error', 'LatencyMs', 'ResponseBody', 'HeadersSent'],
    properties: {
      AttemptId: { type: 'string', pattern: '^[0-9]+$' },
      Cycle: { type: 'integer', minimum: 1 },
      AttemptNumber: { type: 'integer', minimum: 1, description: 'Within its cycle' },
      AttemptedAt: { type: 'string', format: 'date-time' },
      Outcome: { type: 'string', enum: ['succeeded', 'failed', 'unknown'], description: 'unknown: started, not settled (yet)' },
      HttpStatus: { type: ['integer', 'null'], description: 'null: a network error, or not settled' },
      Error: { type: ['string', 'null'] },
      LatencyMs: { type: ['integer', 'null'], minimum: 0, description: 'null: not settled' },
      ResponseBody: { type: ['string', 'null'], description: "The answer's first 4 KiB" },
      HeadersSent: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: "The request headers, rebuilt from the event and the webhook's current Headers; signatures and credential-looking values are (redacted)",
      },
    },
  },
  DeliveryDetail: {
    type: 'object',
    additionalProperties: false,
    required: [...Object.keys(deliveryProperties), 'AttemptLog'],
    properties: { ...deliveryProperties, AttemptLog: { type: 'array', items: ref('DeliveryAttempt') } },
  },
  DeliveryStatistics: {
    type: 'object',
    additionalProperties: false,
    required: ['Since', 'Until', 'BucketSeconds', ...countNames, 'Buckets'],
    properties: {
      Since: { type: 'string', format: 'date-time' },
      Until: { type: 'string', format: 'date-time' },
      BucketSeconds: { type: 'integer', minimum: 1 },
      ...counts,
      Buckets: {
        type: 'array',
        items: { type: 'object', additionalProperties: false, required: ['Start', ...countNames], properties: { Start: { type: 'string', format: 'date-time' }, ...counts } },
      },
    },
  },
};
