/**
 * The operator's CLI commands over the core and the delivery engine: webhooks, signal,
 * deliveries, redeliver. Output is for people and scripts alike: tab-separated rows on stdout,
 * messages on stderr, exit codes 0 (done), 1 (failed, not found), 2 (usage; see cli.ts).
 */
import { parseArgs } from 'node:util';
import { isInt32 } from './core/operations';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import type { Config } from './config';
import { parseOverlap } from './core/secretRotation';
import { managerOptions, WebhookManager } from './core/WebhookManager';
import { WEBHOOK_STATE_NAMES, WebhookState, webhookStateFromName, type AssociateRef, type TypedEntry, type Webhook, type WebhookInput } from './core/webhook';
import { openDatabase } from './db/dataSource';
import { DeliveryEngine } from './delivery/engine';
import { heldCounts, listDeliveries } from './delivery/sql/deliveries';
import { DeliveryLog, type DeliveryDetail } from './delivery/deliveryLog';
import { NotFoundError } from './core/errors';
import { createLogger } from './logger';

export class UsageError extends Error {}

/** Changes made from the CLI are recorded as made by associate 0. */
const CLI_ACTOR: AssociateRef = { associateId: 0, name: 'webhook-agent CLI' };

export function wantsHelp(args: string[], text: string): boolean {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(text);
    return true;
  }
  return false;
}

interface Operator {
  ds: DataSource;
  manager: WebhookManager;
  engine: DeliveryEngine;
}

/** The core and the delivery engine over the service's database (joining the embedded server when it runs); logs go to stderr. */
async function asOperator<T>(config: Config, use: (op: Operator) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, { command: 'a CLI command', join: true, poolSize: 2 });
  const logger = createLogger(config, pino.destination(2));
  const manager = new WebhookManager(db.dataSource, managerOptions(config), logger);
  const engine = new DeliveryEngine(db.dataSource, config, logger).attach(manager);
  try {
    return await use({ ds: db.dataSource, manager, engine });
  } finally {
    await engine.close();
    await db.close();
  }
}

function positiveId(raw: string | undefined, what: string, usage: string): number {
  if (!raw || !/^\d{1,10}$/.test(raw) || Number(raw) < 1 || !isInt32(Number(raw))) throw new UsageError(`${usage} needs ${what} (a whole number).`);
  return Number(raw);
}

/**
 * `--json` on list commands: one JSON array, an object per row with NetServer-style member names,
 * one row a line (valid JSON, and still greppable).
 */
export function writeJsonList(rows: object[]): void {
  process.stdout.write(rows.length === 0 ? '[]\n' : `[\n${rows.map((row) => JSON.stringify(row)).join(',\n')}\n]\n`);
}

const stateName = (state: WebhookState) => WEBHOOK_STATE_NAMES[state] ?? String(state);
const oneLine = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();

// ---- webhooks ---------------------------------------------------------------------------

const WEBHOOKS_HELP = `Usage:
  webhook-agent webhooks list [--name TEXT] [--event EVENT] [--state Active|Stopped|TooManyErrors] [--json]
      one webhook a line: id, state, name, target, events, calls, errors, consecutive errors,
      held deliveries (waiting for the webhook to be Active again)
      (--json: a JSON array of objects with those members)
  webhook-agent webhooks show <webhookId>      every field (the Secret only as set / not set)
  webhook-agent webhooks stop <webhookId>      set it Stopped: its deliveries are held
  webhook-agent webhooks start <webhookId>     set it Active again; the target is verified first
                                               (a signed test POST must answer 200), as for any save
  webhook-agent webhooks rotate-secret <webhookId> [--secret S] [--overlap 24h]
      a new Secret (S, or a generated whsec_ one, printed alone on the last line of stdout); the
      previous one keeps signing beside it for the overlap (24h by default; 90m, 3600s, 2d; 0: none)
Exit codes: 0 done, 1 not found or the target failed verification, 2 bad usage.
`;

export async function webhooks(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (wantsHelp(args, WEBHOOKS_HELP)) return 0;
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, event: { type: 'string' }, state: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
    let statusFilter: WebhookState | null = null;
    if (values.state !== undefined) {
      const state = webhookStateFromName(values.state);
      if (state === undefined || state === WebhookState.Unknown) throw new UsageError('--state must be Active, Stopped or TooManyErrors.');
      statusFilter = state;
    }
    const [list, held] = await asOperator(config, async ({ ds, manager }) => {
      const found = await manager.getAllWebhooks({ nameFilter: values.name ?? null, eventFilter: values.event ?? null, statusFilter }, CLI_ACTOR);
      return [found, await heldCounts(ds, found.map((w) => w.webhookId))] as const;
    });
    if (values.json) {
      writeJsonList(
        list.map((w) => ({
          WebhookId: w.webhookId,
          State: stateName(w.state),
          Name: w.name,
          TargetUrl: w.targetUrl,
          Events: w.events,
          TotalCalls: w.totalCalls,
          TotalErrors: w.totalErrors,
          ConsecutiveErrors: w.consecutiveErrors,
          HeldDeliveries: held.get(w.webhookId) ?? 0,
        })),
      );
      return 0;
    }
    for (const w of list) {
      process.stdout.write(
        `${w.webhookId}\t${stateName(w.state)}\t${oneLine(w.name)}\t${w.targetUrl ?? ''}\t${w.events.join(',')}\t${w.totalCalls}\t${w.totalErrors}\t${w.consecutiveErrors}\t${held.get(w.webhookId) ?? 0}\n`,
      );
    }
    return 0;
  }
  if (sub === 'show' || sub === 'stop' || sub === 'start') {
    if (rest.length !== 1) throw new UsageError(`webhooks ${sub} takes one webhook id.`);
    const id = positiveId(rest[0], 'the webhook id', `webhooks ${sub}`);
    return asOperator(config, async ({ ds, manager }) => {
      const webhook = await manager.getWebhook(id, CLI_ACTOR);
      if (!webhook) {
        process.stderr.write(`There is no webhook with id ${id}; see webhook-agent webhooks list.\n`);
        return 1;
      }
      if (sub === 'show') {
        process.stdout.write(describeWebhook(webhook, (await heldCounts(ds, [id])).get(id) ?? 0));
        return 0;
      }
      const to = sub === 'start' ? WebhookState.Active : WebhookState.Stopped;
      const saved = await manager.saveWebhook({ ...webhookInput(webhook), state: to }, CLI_ACTOR);
      process.stdout.write(`Webhook ${id} is ${stateName(saved.state)}${to === WebhookState.Active ? ' (its target answered the verification POST)' : ''}.\n`);
      return 0;
    });
  }
  if (sub === 'rotate-secret') {
    const { values, positionals } = parseArgs({ args: rest, options: { secret: { type: 'string' }, overlap: { type: 'string' } }, allowPositionals: true, strict: true });
    if (positionals.length !== 1) throw new UsageError('webhooks rotate-secret takes one webhook id.');
    const id = positiveId(positionals[0], 'the webhook id', 'webhooks rotate-secret');
    let overlapSeconds: number | undefined;
    try {
      overlapSeconds = values.overlap === undefined ? undefined : parseOverlap(values.overlap);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return asOperator(config, async ({ manager }) => {
      const rotated = await manager.rotateSecret(id, { secret: values.secret ?? null, overlapSeconds }, CLI_ACTOR);
      const until = rotated.previousSecretExpires ? `the previous one keeps signing until ${rotated.previousSecretExpires.toISOString()}` : 'there is no previous Secret signing beside it';
      process.stderr.write(`Webhook ${id} has a new Secret; ${until}.\n`);
      process.stdout.write(`${rotated.secret}\n`);
      return 0;
    });
  }
  throw new UsageError(sub ? `Unknown webhooks command ${JSON.stringify(sub)}.` : `webhooks needs a command.\n${WEBHOOKS_HELP}`);
}

function webhookInput(w: Webhook): WebhookInput {
  const { webhookId, name, events, targetUrl, secret, state, type, headers, properties, errorsEmail, description, ordered } = w;
  return { webhookId, name, events, targetUrl, secret, state, type, headers, properties, errorsEmail, description, ordered };
}

function describeWebhook(w: Webhook, held: number): string {
  const rows: Array<[string, string]> = [
    ['WebhookId', String(w.webhookId)],
    ['Name', oneLine(w.name)],
    ['State', stateName(w.state)],
    ['TargetUrl', w.targetUrl ?? ''],
    ['Events', w.events.join(', ')],
    ['Secret', w.secret ? 'set' : 'not set'],
    ['Headers', (w.headers ?? []).map((h) => h.key).join(', ')],
    ['Properties', (w.properties ?? []).map((p) => `${p.key}=${String(p.value)}`).join(', ')],
    ['ErrorsEmail', w.errorsEmail ?? ''],
    ['Description', oneLine(w.description)],
    ['Registered', `${w.registered?.toISOString() ?? ''} by ${w.registeredAssociate?.associateId ?? ''}`],
    ['Updated', `${w.updated?.toISOString() ?? ''} by ${w.updatedAssociate?.associateId ?? ''}`],
    ['TotalCalls', String(w.totalCalls)],
    ['TotalErrors', String(w.totalErrors)],
    ['ConsecutiveErrors', String(w.consecutiveErrors)],
    ['LastError', oneLine(w.lastError)],
    ['Ordered', w.ordered ? 'true' : 'false'],
    ['HeldDeliveries', String(held)],
  ];
  return rows.map(([key, value]) => `${key}:\t${value}\n`).join('');
}

// ---- signal -----------------------------------------------------------------------------

const SIGNAL_HELP = `Usage: webhook-agent signal <event> <primaryKey> [--data key=value ...]

Records the event and one delivery per Active webhook subscribed to it (SignalEvent); prints the
EventId and how many deliveries were created. Data values are strings.
`;

export async function signal(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, SIGNAL_HELP)) return 0;
  const { values, positionals } = parseArgs({ args, options: { data: { type: 'string', multiple: true } }, allowPositionals: true, strict: true });
  if (positionals.length !== 2) throw new UsageError('signal needs an event name and a primary key, e.g. signal contact.created 123.');
  const [eventName, rawKey] = positionals;
  if (!/^[+-]?\d{1,10}$/.test(rawKey) || !isInt32(Number(rawKey))) throw new UsageError(`The primary key ${JSON.stringify(rawKey)} must be a whole number.`);
  const data: TypedEntry[] = (values.data ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`--data ${JSON.stringify(pair)} must be key=value.`);
    return { key: pair.slice(0, at), type: 'string', value: pair.slice(at + 1) };
  });
  const signalled = await asOperator(config, ({ engine }) => engine.signalEvent(eventName, Number(rawKey), data.length > 0 ? data : null, CLI_ACTOR));
  process.stdout.write(`${signalled.eventId}\t${signalled.deliveries} deliveries\n`);
  return 0;
}

// ---- deliveries -------------------------------------------------------------------------

const DELIVERIES_HELP = `Usage:
  webhook-agent deliveries list --webhook <webhookId> [--failed] [--limit N] [--json]
  webhook-agent deliveries show <deliveryId>

list: a webhook's deliveries, newest first (default 100), one a line: delivery id, status, attempts
in the current cycle, event, primary key, EventId, created, the last attempt's error.
--failed lists only failed ones (those webhook-agent redeliver sends again).
show: the delivery, then its attempts one a line: cycle, attempt number, time, outcome
(succeeded, failed, unknown = not settled), HTTP status (- for none), latency in ms, error,
the answer's start.
--json (list) prints a JSON array of objects (DeliveryId, Status, Attempts, Event, PrimaryKey,
EventId, Created, LastError) instead.
`;

export async function deliveries(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (wantsHelp(args, DELIVERIES_HELP)) return 0;
  if (sub === 'show') return showDelivery(config, rest);
  if (sub !== 'list') throw new UsageError(sub ? `Unknown deliveries command ${JSON.stringify(sub)}.` : 'deliveries needs a command: list or show.');
  const { values } = parseArgs({ args: rest, options: { webhook: { type: 'string' }, failed: { type: 'boolean' }, limit: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const webhookId = positiveId(values.webhook, '--webhook <webhookId>', 'deliveries list');
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('--limit must be a whole number from 1 to 100000.');
  return asOperator(config, async ({ ds, manager }) => {
    if (!(await manager.getWebhook(webhookId, CLI_ACTOR))) {
      process.stderr.write(`There is no webhook with id ${webhookId}; see webhook-agent webhooks list.\n`);
      return 1;
    }
    const rows = await listDeliveries(ds, webhookId, { failedOnly: values.failed, limit });
    if (values.json) {
      writeJsonList(
        rows.map((d) => ({ DeliveryId: d.deliveryId, Status: d.status, Attempts: d.attempts, Event: d.eventName, PrimaryKey: d.primaryKey, EventId: d.eventId, Created: new Date(d.createdAt).toISOString(), LastError: d.lastError })),
      );
      return 0;
    }
    for (const d of rows) {
      process.stdout.write(`${d.deliveryId}\t${d.status}\t${d.attempts}\t${d.eventName}\t${d.primaryKey}\t${d.eventId}\t${new Date(d.createdAt).toISOString()}\t${oneLine(d.lastError)}\n`);
    }
    return 0;
  });
}

async function showDelivery(config: Config, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, options: {}, allowPositionals: true, strict: true });
  const deliveryId = positionals[0];
  if (positionals.length !== 1 || !/^\d{1,18}$/.test(deliveryId)) throw new UsageError('deliveries show needs one delivery id (a whole number, see webhook-agent deliveries list).');
  return asOperator(config, async ({ ds, manager }) => {
    let delivery: DeliveryDetail;
    try {
      delivery = await new DeliveryLog(ds, manager).getDelivery(deliveryId, CLI_ACTOR);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      process.stderr.write(`There is no delivery ${deliveryId} of an existing webhook; see webhook-agent deliveries list --webhook ID.\n`);
      return 1;
    }
    const d = delivery;
    process.stdout.write(`delivery ${d.deliveryId}\t${d.status}\twebhook ${d.webhookId}\t${d.eventName}\t${d.primaryKey}\t${d.eventId}\tcycle ${d.cycle}\t${new Date(d.createdAt).toISOString()}\n`);
    if (d.attemptLog.length === 0) process.stdout.write('no attempts yet\n');
    for (const a of d.attemptLog) {
      const status = a.httpStatus === null ? '-' : String(a.httpStatus);
      process.stdout.write(`${a.cycle}\t${a.attemptNumber}\t${new Date(a.attemptedAt).toISOString()}\t${a.outcome}\t${status}\t${a.latencyMs ?? '-'}\t${oneLine(a.error)}\t${oneLine(a.responseBody).slice(0, 200)}\n`);
    }
    return 0;
  });
}

// ---- redeliver --------------------------------------------------------------------------

const REDELIVER_HELP = `Usage:
  webhook-agent redeliver <deliveryId>
  webhook-agent redeliver --webhook <webhookId> --since <ISO time>

Sends failed deliveries again, with a fresh attempt cycle and the same EventId; the attempt log
keeps the earlier attempts. A webhook that is not Active keeps them held until it is Active again.
The second form takes every failed delivery of the webhook created since the time, e.g.
2026-11-30T08:00:00Z. Progress is shown on a terminal.
Exit codes: 0 done, 1 not found or not failed, 2 bad usage.
`;

export async function redeliver(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, REDELIVER_HELP)) return 0;
  const { values, positionals } = parseArgs({ args, options: { webhook: { type: 'string' }, since: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length === 1 && values.webhook === undefined && values.since === undefined) {
    const deliveryId = positionals[0];
    if (!/^\d{1,18}$/.test(deliveryId)) throw new UsageError(`The delivery id ${JSON.stringify(deliveryId)} must be a whole number (see webhook-agent deliveries list).`);
    const done = await asOperator(config, ({ engine }) => engine.redeliverDelivery(deliveryId, CLI_ACTOR));
    process.stdout.write(`Redelivered delivery ${done.deliveryId} (EventId ${done.eventId}): ${done.status === 'pending' ? 'due now' : 'held until its webhook is Active again'}.\n`);
    return 0;
  }
  if (positionals.length > 0 || values.webhook === undefined || values.since === undefined) {
    throw new UsageError('redeliver takes a delivery id, or --webhook <webhookId> --since <ISO time>.');
  }
  const webhookId = positiveId(values.webhook, '--webhook <webhookId>', 'redeliver');
  const since = new Date(values.since);
  if (!/^\d{4}-\d{2}-\d{2}/.test(values.since) || Number.isNaN(since.getTime())) throw new UsageError(`--since ${JSON.stringify(values.since)} is not an ISO-8601 time, e.g. 2026-11-30T08:00:00Z.`);
  const tty = process.stderr.isTTY;
  const totals = await asOperator(config, ({ engine }) =>
    engine.redeliverWebhook(webhookId, since, CLI_ACTOR, tty ? (n) => process.stderr.write(`\rRedelivered ${n} ...`) : undefined),
  );
  if (tty && totals.redelivered > 0) process.stderr.write('\n');
  process.stdout.write(
    `Redelivered ${totals.redelivered} failed deliveries of webhook ${webhookId} created since ${since.toISOString()}: ${totals.pending} due now, ${totals.held} held until it is Active again.\n`,
  );
  return 0;
}

// ---- purge --------------------------------------------------------------------------------

const PURGE_HELP = `Usage: webhook-agent purge [--dry-run]

Deletes what is past its retention now (as the background purge of serve and worker does every
RETENTION_INTERVAL_MS): events, succeeded and cancelled deliveries and attempt-log rows older than
RETENTION_DAYS (default 30); failed deliveries and their attempts older than FAILED_RETENTION_DAYS
(default 90); notifications (emails sent or given up on, in-app ones) older than RETENTION_DAYS.
Pending and held deliveries, their events, and emails still to send are never purged. Deletes in
batches of 500 rows; safe while the service runs.
  --dry-run   only count what would be deleted
Prints one tab-separated row per table: attempts, deliveries, events, notifications.
Exit codes: 0 done, 1 failed, 2 bad usage.
`;

export async function purge(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, PURGE_HELP)) return 0;
  const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const dryRun = values['dry-run'] ?? false;
  const counts = await asOperator(config, ({ engine }) => engine.purge(dryRun));
  process.stdout.write(`attempts\t${counts.attempts}\ndeliveries\t${counts.deliveries}\nevents\t${counts.events}\nnotifications\t${counts.notifications}\n`);
  process.stderr.write(
    `${dryRun ? 'Would purge (dry run, nothing deleted)' : 'Purged'}: rows older than ${config.retentionDays} days, failed deliveries older than ${config.failedRetentionDays} days.\n`,
  );
  return 0;
}
