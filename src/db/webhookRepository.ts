import type { DataSource, EntityManager } from 'typeorm';
import type { Webhook, WebhookFilter } from '../core/webhook';
import { WebhookRow } from './entities/WebhookRow';
import { secretBoxOf, type SecretBox } from './secretBox';

/** The webhook table's queries, named by what they do. The only place webhook SQL lives. */

type Db = DataSource | EntityManager;

/** `box` opens a sealed Secret (db/secretBox.ts); without one the stored value is returned as it is. */
export function rowToWebhook(row: WebhookRow, box?: SecretBox): Webhook {
  return {
    webhookId: row.webhookId,
    name: row.name,
    events: row.events,
    targetUrl: row.targetUrl,
    secret: box ? box.open(row.secret, `webhook ${row.webhookId}`) : row.secret,
    state: row.state,
    type: row.type,
    headers: row.headers,
    properties: row.properties,
    registered: row.registered,
    registeredAssociate: row.registeredAssociateId === null ? null : { associateId: row.registeredAssociateId, name: row.registeredAssociateName ?? '' },
    updated: row.updated,
    updatedAssociate: row.updatedAssociateId === null ? null : { associateId: row.updatedAssociateId, name: row.updatedAssociateName ?? '' },
    errorsEmail: row.errorsEmail,
    errorEmails: row.errorEmails ?? [],
    errorAssociates: row.errorAssociates ?? [],
    description: row.description,
    notifyVia: row.notifyVia ?? 0,
    notifyWhen: row.notifyWhen ?? 0,
    totalCalls: row.totalCalls,
    totalErrors: row.totalErrors,
    consecutiveErrors: row.consecutiveErrors,
    lastError: row.lastError,
    application: row.applicationHash ?? null,
  };
}

function webhookToRow(webhook: Webhook, box: SecretBox): Partial<WebhookRow> {
  return {
    name: webhook.name,
    events: webhook.events,
    targetUrl: webhook.targetUrl ?? '',
    secret: box.seal(webhook.secret),
    state: webhook.state,
    type: webhook.type ?? 'webhook',
    headers: webhook.headers,
    properties: webhook.properties,
    registered: webhook.registered ?? new Date(),
    registeredAssociateId: webhook.registeredAssociate?.associateId ?? null,
    registeredAssociateName: webhook.registeredAssociate?.name ?? null,
    updated: webhook.updated ?? new Date(),
    updatedAssociateId: webhook.updatedAssociate?.associateId ?? null,
    updatedAssociateName: webhook.updatedAssociate?.name ?? null,
    errorsEmail: webhook.errorsEmail,
    errorEmails: webhook.errorEmails,
    errorAssociates: webhook.errorAssociates,
    description: webhook.description,
    notifyVia: webhook.notifyVia,
    notifyWhen: webhook.notifyWhen,
    totalCalls: webhook.totalCalls,
    totalErrors: webhook.totalErrors,
    consecutiveErrors: webhook.consecutiveErrors,
    lastError: webhook.lastError,
    applicationHash: webhook.application,
  };
}

// Reads go through plain SQL: TypeORM's query builder and entity hydration cost more than
// the query itself on the hot paths (GetWebhook, GetAllWebhooks, every delivery).
const SELECT_WEBHOOK = `SELECT webhook_id AS "webhookId", name, events, target_url AS "targetUrl", secret, state, type,
  headers, properties, registered, registered_associate_id AS "registeredAssociateId",
  registered_associate_name AS "registeredAssociateName", updated, updated_associate_id AS "updatedAssociateId",
  updated_associate_name AS "updatedAssociateName", errors_email AS "errorsEmail", description,
  error_emails AS "errorEmails", error_associates AS "errorAssociates", notify_via AS "notifyVia", notify_when AS "notifyWhen",
  total_calls AS "totalCalls", total_errors AS "totalErrors", consecutive_errors AS "consecutiveErrors", last_error AS "lastError",
  application_hash AS "applicationHash"
  FROM webhook`;

export async function findWebhook(db: Db, webhookId: number, lock = false): Promise<Webhook | null> {
  const rows: WebhookRow[] = await db.query(`${SELECT_WEBHOOK} WHERE webhook_id = $1${lock ? ' FOR UPDATE' : ''}`, [webhookId]);
  return rows.length > 0 ? rowToWebhook(rows[0], secretBoxOf(db)) : null;
}

/** `application`: only that application's webhooks; null or absent: all. */
export async function listWebhooks(db: Db, filter: WebhookFilter & { application?: string | null }): Promise<Webhook[]> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  if (filter.nameFilter) {
    // A literal, case-insensitive substring: % and _ typed by the caller match themselves.
    parameters.push(`%${filter.nameFilter.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    conditions.push(`name ILIKE $${parameters.length} ESCAPE '\\'`);
  }
  if (filter.eventFilter) {
    parameters.push(filter.eventFilter);
    conditions.push(`events @> ARRAY[$${parameters.length}::text]`);
  }
  if (filter.statusFilter) {
    parameters.push(filter.statusFilter);
    conditions.push(`state = $${parameters.length}`);
  }
  if (filter.application) {
    parameters.push(filter.application);
    conditions.push(`application_hash = $${parameters.length}`);
  }
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows: WebhookRow[] = await db.query(`${SELECT_WEBHOOK}${where} ORDER BY webhook_id`, parameters);
  const box = secretBoxOf(db);
  return rows.map((row) => rowToWebhook(row, box));
}

export async function insertWebhook(db: Db, webhook: Webhook): Promise<Webhook> {
  const repository = db.getRepository(WebhookRow);
  const box = secretBoxOf(db);
  const saved = await repository.save(repository.create(webhookToRow(webhook, box)));
  return rowToWebhook(saved, box);
}

export async function updateWebhook(db: Db, webhook: Webhook): Promise<Webhook> {
  const repository = db.getRepository(WebhookRow);
  const box = secretBoxOf(db);
  await repository.update({ webhookId: webhook.webhookId }, webhookToRow(webhook, box));
  const row = await repository.findOneByOrFail({ webhookId: webhook.webhookId });
  return rowToWebhook(row, box);
}

export async function deleteWebhookRow(db: Db, webhookId: number): Promise<boolean> {
  const result = await db.getRepository(WebhookRow).delete({ webhookId });
  return (result.affected ?? 0) > 0;
}

export async function countWebhooks(db: Db): Promise<number> {
  return db.getRepository(WebhookRow).count();
}
