import { DataSource, type EntityManager } from 'typeorm';
import type { Webhook, WebhookFilter } from '../core/webhook';
import { WebhookRow } from './entities/WebhookRow';
import { preparedOn, statementName } from './preparedQuery';
import { secretBoxOf, type SecretBox } from './secretBox';
import type { WebhookReadCache } from './webhookReadCache';
import { ANNOUNCED_CTE } from './webhookChanges';

/** The webhook table's queries, named by what they do. The only place webhook SQL lives. */

type Db = DataSource | EntityManager;

/** A row as WEBHOOK_COLUMNS returns it: times in epoch milliseconds. */
type WebhookColumns = Omit<WebhookRow, 'registered' | 'updated'> & { registered: number; updated: number };

/** `box` opens a sealed Secret (db/secretBox.ts); without one the stored value is returned as it is. */
export function rowToWebhook(row: WebhookColumns, box?: SecretBox): Webhook {
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
    registered: new Date(row.registered),
    registeredAssociate: row.registeredAssociateId === null ? null : { associateId: row.registeredAssociateId, name: row.registeredAssociateName ?? '' },
    updated: new Date(row.updated),
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
    ordered: row.ordered ?? false,
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
    ordered: webhook.ordered ?? false,
    applicationHash: webhook.application,
  };
}

/**
 * The columns every webhook read returns, through plain SQL: TypeORM's query builder and entity
 * hydration cost more than the query itself on the hot paths (GetWebhook, GetAllWebhooks, every
 * delivery). Arrays come as JSON and times as epoch milliseconds: pg's text-array and timestamptz
 * parsers were about 6% of GetAllWebhooks' CPU (100 rows a call), JSON.parse and a number cost a
 * fraction of that. floor() keeps the millisecond pg's own parser keeps.
 */
const WEBHOOK_COLUMNS = `webhook_id AS "webhookId", name, array_to_json(events) AS events, target_url AS "targetUrl", secret, state, type,
  headers, properties, floor(extract(epoch FROM registered) * 1000)::float8 AS registered, registered_associate_id AS "registeredAssociateId",
  registered_associate_name AS "registeredAssociateName", floor(extract(epoch FROM updated) * 1000)::float8 AS updated, updated_associate_id AS "updatedAssociateId",
  updated_associate_name AS "updatedAssociateName", errors_email AS "errorsEmail", description,
  array_to_json(error_emails) AS "errorEmails", error_associates AS "errorAssociates", notify_via AS "notifyVia", notify_when AS "notifyWhen",
  total_calls AS "totalCalls", total_errors AS "totalErrors", consecutive_errors AS "consecutiveErrors", last_error AS "lastError",
  application_hash AS "applicationHash", ordered`;
const SELECT_WEBHOOK = `SELECT ${WEBHOOK_COLUMNS} FROM webhook`;

const FIND_WEBHOOK = `${SELECT_WEBHOOK} WHERE webhook_id = $1`;

/** A prepared statement: on the pool, or inside a transaction on its connection. */
function run(db: Db, name: string, text: string, values: unknown[]): Promise<WebhookColumns[]> {
  return preparedOn<WebhookColumns>(db, name, text, values);
}

export async function findWebhook(db: Db, webhookId: number, lock = false): Promise<Webhook | null> {
  const rows = lock ? await run(db, 'webhook_find_locked', `${FIND_WEBHOOK} FOR UPDATE`, [webhookId]) : await run(db, 'webhook_find', FIND_WEBHOOK, [webhookId]);
  return rows.length > 0 ? rowToWebhook(rows[0], secretBoxOf(db)) : null;
}

/** A list longer than this is read from the database each time, not copied into the cache. */
const LARGEST_CACHED_LIST = 1000;

/**
 * A row whose arrays and objects are its own, for the cache to hand out: structuredClone of a
 * GetAllWebhooks list (100 rows) was a quarter of the request's CPU.
 */
function copyRow(row: WebhookColumns): WebhookColumns {
  return {
    ...row,
    events: [...row.events],
    headers: row.headers && row.headers.map((entry) => ({ ...entry })),
    properties: row.properties && row.properties.map((entry) => ({ ...entry })),
    errorEmails: row.errorEmails && [...row.errorEmails],
    errorAssociates: row.errorAssociates && row.errorAssociates.map((who) => ({ ...who })),
  };
}
const copyRows = (rows: WebhookColumns[]) => rows.map(copyRow);

/** findWebhook, answered from `cache` while it holds the row: for reads that are shown, never for read-modify-write. */
export async function findWebhookCached(cache: WebhookReadCache, db: Db, webhookId: number): Promise<Webhook | null> {
  const row = await cache.readWebhook(webhookId, async () => (await run(db, 'webhook_find', FIND_WEBHOOK, [webhookId]))[0] ?? null, copyRow);
  return row ? rowToWebhook(row, secretBoxOf(db)) : null;
}

/**
 * The webhook with its Secret left out (null), for work that never signs: a Secret that cannot
 * be opened (a missing or wrong key) must not stop it, e.g. recording a failure and its notifications.
 */
export async function findWebhookWithoutSecret(db: Db, webhookId: number): Promise<Webhook | null> {
  const rows = await run(db, 'webhook_find', FIND_WEBHOOK, [webhookId]);
  return rows.length > 0 ? rowToWebhook({ ...rows[0], secret: null }) : null;
}

/** `application`: only that application's webhooks; null or absent: all. */
export async function listWebhooks(db: Db, filter: WebhookListFilter): Promise<Webhook[]> {
  const box = secretBoxOf(db);
  return (await listWebhookRows(db, filter)).map((row) => rowToWebhook(row, box));
}

/** listWebhooks, answered from `cache` while it holds that filter's list (a list of at most LARGEST_CACHED_LIST). */
export async function listWebhooksCached(cache: WebhookReadCache, db: Db, filter: WebhookListFilter): Promise<Webhook[]> {
  const key = JSON.stringify([filter.nameFilter ?? null, filter.eventFilter ?? null, filter.statusFilter ?? null, filter.application ?? null]);
  let tooLong: WebhookColumns[] | null = null;
  const rows = await cache.readList(key, async () => {
    const found = await listWebhookRows(db, filter);
    if (found.length <= LARGEST_CACHED_LIST) return found;
    tooLong = found; // answered, not kept
    return null;
  }, copyRows);
  const box = secretBoxOf(db);
  return (rows ?? tooLong ?? []).map((row) => rowToWebhook(row, box));
}

type WebhookListFilter = WebhookFilter & { application?: string | null };

async function listWebhookRows(db: Db, filter: WebhookListFilter): Promise<WebhookColumns[]> {
  const conditions: string[] = [];
  const parameters: unknown[] = [];
  // One prepared statement per combination of filters (the SQL differs only by which are set).
  let shape = '';
  if (filter.nameFilter) {
    // A literal, case-insensitive substring: % and _ typed by the caller match themselves.
    parameters.push(`%${filter.nameFilter.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    conditions.push(`name ILIKE $${parameters.length} ESCAPE '\\'`);
    shape += 'n';
  }
  if (filter.eventFilter) {
    parameters.push(filter.eventFilter);
    conditions.push(`events @> ARRAY[$${parameters.length}::text]`);
    shape += 'e';
  }
  if (filter.statusFilter) {
    parameters.push(filter.statusFilter);
    conditions.push(`state = $${parameters.length}`);
    shape += 's';
  }
  if (filter.application) {
    parameters.push(filter.application);
    conditions.push(`application_hash = $${parameters.length}`);
    shape += 'a';
  }
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return run(db, `webhook_list_${shape}`, `${SELECT_WEBHOOK}${where} ORDER BY webhook_id`, parameters);
}

/**
 * Writes as plain INSERT/UPDATE ... RETURNING (one round trip, no entity hydration). The column
 * names come from the entity's metadata, so a member added to webhookToRow needs nothing here.
 */
function columnsOf(db: Db, row: Partial<WebhookRow>): { names: string[]; values: unknown[] } {
  const metadata = (db instanceof DataSource ? db : db.connection).getMetadata(WebhookRow);
  const names: string[] = [];
  const values: unknown[] = [];
  for (const [property, value] of Object.entries(row)) {
    if (value === undefined) continue; // as TypeORM's save: the column's default, or unchanged
    const column = metadata.findColumnWithPropertyName(property)!;
    names.push(column.databaseName);
    // pg would write a JavaScript array as a PostgreSQL array literal; jsonb wants JSON text.
    values.push(column.type === 'jsonb' && value !== null && value !== undefined ? JSON.stringify(value) : value);
  }
  return { names, values };
}

/**
 * How a write is announced to read caches: `announcedAfterCommit`, the caller announces it
 * itself once its transaction committed (db/webhookChanges.ts WebhookChangeAnnouncer), and the
 * table's trigger stays quiet inside the transaction. Otherwise the trigger announces it at
 * commit. A caller that asks for it and does not announce leaves other processes' caches stale.
 */
export interface WriteOptions {
  announcedAfterCommit?: boolean;
}

function insertStatement(names: string[]): string {
  return `INSERT INTO webhook (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`;
}

export async function insertWebhook(db: Db, webhook: Webhook, options: WriteOptions = {}): Promise<Webhook> {
  const box = secretBoxOf(db);
  const { names, values } = columnsOf(db, webhookToRow(webhook, box));
  const text = options.announcedAfterCommit
    ? `WITH ${ANNOUNCED_CTE}, inserted AS (${insertStatement(names)} RETURNING *) SELECT ${WEBHOOK_COLUMNS} FROM inserted, announced`
    : `${insertStatement(names)} RETURNING ${WEBHOOK_COLUMNS}`;
  const rows = await run(db, statementName('webhook_insert', text), text, values);
  return rowToWebhook(rows[0], box);
}

/**
 * More of a webhook INSERT's own statement: what must commit with the new row (its state event)
 * commits with it in one round trip, with no transaction around it (BEGIN, INSERT, event, COMMIT
 * were four; each round trip wakes the server, and that was most of a save's cost here).
 */
export interface InsertTail<T> {
  /** CTEs (`name AS (...)`, comma-separated) that may read the new row as CTE `inserted`; parameters numbered from $first. */
  ctes(first: number): string;
  values: unknown[];
  /** Select-list items of the statement's result; they must read every CTE that is not an INSERT, or PostgreSQL skips it. */
  select: string;
  /** What the tail's select-list items say, from the result row. */
  read(row: Record<string, unknown>): T;
}

/** insertWebhook with `tail` in the same statement; returns the webhook and what the tail read. */
export async function insertWebhookWith<T>(db: Db, webhook: Webhook, tail: InsertTail<T>, options: WriteOptions = {}): Promise<{ webhook: Webhook; tail: T }> {
  const box = secretBoxOf(db);
  const { names, values } = columnsOf(db, webhookToRow(webhook, box));
  const [announced, fromAnnounced] = options.announcedAfterCommit ? [`${ANNOUNCED_CTE}, `, ', announced'] : ['', ''];
  const text =
    `WITH ${announced}inserted AS (${insertStatement(names)} RETURNING *), ` +
    `${tail.ctes(values.length + 1)} SELECT ${WEBHOOK_COLUMNS}, ${tail.select} FROM inserted${fromAnnounced}`;
  const rows = await run(db, statementName('webhook_insert', text), text, [...values, ...tail.values]);
  return { webhook: rowToWebhook(rows[0], box), tail: tail.read(rows[0] as unknown as Record<string, unknown>) };
}

export async function updateWebhook(db: Db, webhook: Webhook, options: WriteOptions = {}): Promise<Webhook> {
  const box = secretBoxOf(db);
  const { names, values } = columnsOf(db, webhookToRow(webhook, box));
  values.push(webhook.webhookId);
  const [announced, fromAnnounced] = options.announcedAfterCommit ? [`WITH ${ANNOUNCED_CTE} `, ' FROM announced'] : ['', ''];
  const text = `${announced}UPDATE webhook SET ${names.map((name, i) => `${name} = $${i + 1}`).join(', ')}${fromAnnounced} WHERE webhook_id = $${values.length} RETURNING ${WEBHOOK_COLUMNS}`;
  const rows = await run(db, statementName('webhook_update', text), text, values);
  if (rows.length === 0) throw new Error(`Webhook ${webhook.webhookId} is gone.`);
  return rowToWebhook(rows[0], box);
}

export async function deleteWebhookRow(db: Db, webhookId: number): Promise<boolean> {
  const result = await db.getRepository(WebhookRow).delete({ webhookId });
  return (result.affected ?? 0) > 0;
}

export async function countWebhooks(db: Db): Promise<number> {
  return db.getRepository(WebhookRow).count();
}
