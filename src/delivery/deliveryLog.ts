/**
 * The delivery log as an operator reads it (REST read API, `webhook-agent deliveries show`,
 * the console): a webhook's deliveries, one delivery with its attempts, attempt statistics.
 * Scoped like every webhook call: a caller that cannot see the webhook gets NotFound, as for a
 * webhook that does not exist.
 */
import type { DataSource } from 'typeorm';
import type { Caller } from '../core/caller';
import { headersToRecord } from '../core/dictionaries';
import { NotFoundError, ValidationError } from '../core/errors';
import type { WebhookManager } from '../core/WebhookManager';
import type { Webhook } from '../core/webhook';
import {
  attemptsOfDelivery,
  attemptStatistics,
  DELIVERY_STATUS_NAMES,
  findDeliveryLogRow,
  pageWebhookDeliveries,
  type AttemptBucket,
  type AttemptCounts,
  type AttemptLogRow,
  type DeliveryLogRow,
  type DeliveryStatusName,
} from '../db/deliveryLogRepository';
import { USER_AGENT } from '../version';
import { buildDeliveryHeaders } from '../outbound/headers';
import { isStandardWebhooksSecret } from '../outbound/signer';

export { DELIVERY_STATUS_NAMES, type DeliveryLogRow, type DeliveryStatusName, type AttemptBucket };

/** succeeded: a 2xx. failed: another status or a network error. unknown: recorded as started, not settled (yet). */
export type AttemptOutcome = 'succeeded' | 'failed' | 'unknown';

export interface AttemptView extends AttemptLogRow {
  outcome: AttemptOutcome;
  /** The request headers of this attempt with signatures and secret-looking values replaced by "(redacted)". */
  headersSent: Record<string, string>;
}

export interface DeliveryDetail extends DeliveryLogRow {
  attemptLog: AttemptView[];
}

export interface DeliveryPage {
  deliveries: DeliveryLogRow[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface DeliveryListQuery {
  status?: string | null;
  since?: Date | null;
  until?: Date | null;
  before?: string | null;
  limit?: number | null;
}

export interface StatisticsQuery {
  since?: Date | null;
  until?: Date | null;
  bucketSeconds?: number | null;
}

export interface DeliveryStatistics extends AttemptCounts {
  since: Date;
  until: Date;
  bucketSeconds: number;
  buckets: AttemptBucket[];
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
const DAY_MS = 24 * 3600 * 1000;
/** A window holds at most this many buckets, so one request cannot ask for millions. */
export const MAX_BUCKETS = 1000;
const REDACTED = '(redacted)';
/** Header values under names like these are credentials: shown as redacted. */
const SECRET_HEADER = /authorization|cookie|token|secret|password|passwd|api-?key|signature|credential|session|auth/i;

export class DeliveryLog {
  constructor(
    private readonly ds: DataSource,
    private readonly manager: WebhookManager,
  ) {}

  async listDeliveries(webhookId: number, query: DeliveryListQuery, caller?: Caller): Promise<DeliveryPage> {
    await this.visibleWebhook(webhookId, caller);
    const status = query.status ?? null;
    if (status !== null && !DELIVERY_STATUS_NAMES.includes(status as DeliveryStatusName)) {
      throw new ValidationError(`Status ${JSON.stringify(status.slice(0, 40))} is not a delivery status; use one of ${DELIVERY_STATUS_NAMES.join(', ')}.`, 'Status');
    }
    const before = query.before ?? null;
    if (before !== null && !/^\d{1,18}$/.test(before)) throw new ValidationError('The cursor (before) must be the NextCursor of a previous page.', 'Before');
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new ValidationError(`Limit must be a whole number from 1 to ${MAX_PAGE_SIZE}.`, 'Limit');
    checkWindow(query.since ?? null, query.until ?? null);
    const rows = await pageWebhookDeliveries(this.ds, webhookId, { status: status as DeliveryStatusName | null, since: query.since ?? null, until: query.until ?? null, beforeDeliveryId: before, limit: limit + 1 });
    const more = rows.length > limit;
    const deliveries = more ? rows.slice(0, limit) : rows;
    return { deliveries, nextCursor: more ? deliveries[deliveries.length - 1].deliveryId : null };
  }

  async getDelivery(deliveryId: string, caller?: Caller): Promise<DeliveryDetail> {
    if (!/^\d{1,18}$/.test(deliveryId)) throw new ValidationError(`DeliveryId ${JSON.stringify(deliveryId.slice(0, 40))} must be a whole number.`, 'DeliveryId');
    const delivery = await findDeliveryLogRow(this.ds, deliveryId);
    const webhook = delivery ? await this.manager.getWebhook(delivery.webhookId, caller) : null;
    if (!delivery || !webhook) throw new NotFoundError(`There is no delivery ${deliveryId} of a webhook you can see; list a webhook's deliveries with GET /api/v1/Webhook/{id}/Deliveries.`);
    const attempts = await attemptsOfDelivery(this.ds, deliveryId);
    return { ...delivery, attemptLog: attempts.map((attempt) => ({ ...attempt, outcome: outcomeOf(attempt), headersSent: headersSent(delivery, attempt, webhook) })) };
  }

  async statistics(webhookId: number, query: StatisticsQuery, caller?: Caller, now = new Date()): Promise<DeliveryStatistics> {
    await this.visibleWebhook(webhookId, caller);
    const until = query.until ?? now;
    const since = query.since ?? new Date(until.getTime() - DAY_MS);
    checkWindow(since, until);
    if (since.getTime() >= until.getTime()) throw new ValidationError('Since must be before Until.', 'Since');
    const bucketSeconds = query.bucketSeconds ?? 3600;
    if (!Number.isInteger(bucketSeconds) || bucketSeconds < 1) throw new ValidationError('Bucket must be a whole number of seconds, at least 1.', 'Bucket');
    if ((until.getTime() - since.getTime()) / 1000 / bucketSeconds > MAX_BUCKETS) {
      throw new ValidationError(`The window holds more than ${MAX_BUCKETS} buckets of ${bucketSeconds} s; choose a larger Bucket or a shorter window.`, 'Bucket');
    }
    const { totals, buckets } = await attemptStatistics(this.ds, webhookId, since, until, bucketSeconds);
    return { ...totals, since, until, bucketSeconds, buckets };
  }

  private async visibleWebhook(webhookId: number, caller?: Caller): Promise<Webhook> {
    const webhook = await this.manager.getWebhook(webhookId, caller);
    if (!webhook) throw new NotFoundError(`There is no webhook with WebhookId ${webhookId}.`);
    return webhook;
  }
}

function checkWindow(since: Date | null, until: Date | null): void {
  if (since && Number.isNaN(since.getTime())) throw new ValidationError('Since must be an ISO-8601 time, e.g. 2026-11-30T08:00:00Z.', 'Since');
  if (until && Number.isNaN(until.getTime())) throw new ValidationError('Until must be an ISO-8601 time, e.g. 2026-11-30T08:00:00Z.', 'Until');
}

export function outcomeOf(attempt: Pick<AttemptLogRow, 'settled'>): AttemptOutcome {
  if (attempt.settled === null) return 'unknown';
  return attempt.settled === 'success' ? 'succeeded' : 'failed';
}

/**
 * The attempt log does not store request headers: they are rebuilt with the delivery's own
 * header builder from the event, the attempt number and the webhook's current Headers and
 * Secret. Signatures, and values of credential-looking headers, are never shown.
 */
function headersSent(delivery: DeliveryLogRow, attempt: AttemptLogRow, webhook: Webhook): Record<string, string> {
  const headers = buildDeliveryHeaders({
    eventName: delivery.eventName,
    eventId: delivery.eventId,
    retry: attempt.attemptNumber - 1,
    webhookHeaders: headersToRecord(webhook.headers),
    secret: null,
    body: Buffer.alloc(0),
    userAgent: USER_AGENT,
    isTest: false,
    now: new Date(attempt.attemptedAt),
  });
  for (const name of Object.keys(headers)) if (SECRET_HEADER.test(name)) headers[name] = REDACTED;
  if (webhook.secret) {
    headers['X-SuperOffice-Signature'] = REDACTED;
    if (isStandardWebhooksSecret(webhook.secret)) {
      headers['webhook-id'] = delivery.eventId;
      headers['webhook-timestamp'] = String(Math.floor(new Date(attempt.attemptedAt).getTime() / 1000));
      headers['webhook-signature'] = REDACTED;
    }
  }
  return headers;
}
