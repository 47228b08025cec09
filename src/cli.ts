#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { INT32_MAX, isInt32 } from './core/operations';
import { deliveries, purge, redeliver, signal, UsageError, webhooks, wantsHelp } from './commands';
import { ConfigError, loadConfig, type Config } from './config';
import { CoreError, ValidationError } from './core/errors';
import { hashApplicationToken } from './core/caller';
import { createTicket } from './core/tickets';
import type { DataSource } from 'typeorm';
import { openDatabase } from './db/dataSource';
import { DataDirInUseError } from './db/dataDirLock';
import { EmbeddedServerError } from './db/embeddedServer';
import { convertPglite } from './db/pgliteConversion';
import { DeliveryEngine } from './delivery/engine';
import { listTickets, revokeTicket } from './db/ticketRepository';
import { createLogger } from './logger';
import { startService } from './service';
import { SOAP_PATH } from './soap/soapService';

const HELP = `webhook-agent: SuperOffice NetServer's WebhookAgent, SOAP + durable webhook delivery.

Usage: webhook-agent <command> [options]

Commands:
  serve                                   start the API (SOAP at ${SOAP_PATH})
  worker                                  run only the delivery loop (any number, on any machine)
  migrate                                 bring the database schema up to date, then exit
  convert-pglite                          convert a DATA_DIR of the PGlite release to the embedded PostgreSQL server (once)
  tickets create --name NAME [--associate-id N] [--application TOKEN]
                                          create an API ticket; prints it alone on the last line
  tickets list                            list tickets (never their secret part)
  tickets revoke <ticketId>               revoke a ticket
  webhooks list|show|stop|start [...]     list, inspect, stop or start (re-verifies) webhooks
  signal <event> <primaryKey> [--data k=v ...]
                                          signal an event (SignalEvent)
  deliveries list --webhook N [--failed]  a webhook's deliveries, newest first
  redeliver <deliveryId>                  send a failed delivery again (same EventId)
  redeliver --webhook N --since <ISO time>
                                          send a webhook's failed deliveries since then again
  purge [--dry-run]                       delete events, deliveries and attempts past their retention now

Every command takes --help.

Configuration comes from environment variables (see README): PORT, PUBLIC_URL, DATABASE_URL,
DATA_DIR, BODY_LIMIT, VERIFY_TIMEOUT_MS, ALLOW_HTTP_TARGETS, ALLOW_PRIVATE_TARGETS, LOG_LEVEL ...
Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      return serve(config, rest);
    case 'worker':
      return worker(config, rest);
    case 'migrate':
      return migrate(config, rest);
    case 'convert-pglite':
      return convertPgliteDataDir(config, rest);
    case 'tickets':
      return tickets(config, rest);
    case 'webhooks':
      return webhooks(config, rest);
    case 'signal':
      return signal(config, rest);
    case 'deliveries':
      return deliveries(config, rest);
    case 'redeliver':
      return redeliver(config, rest);
    case 'purge':
      return purge(config, rest);
    default:
      throw new UsageError(`Unknown command ${JSON.stringify(command)}.`);
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const first = () => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', first);
    process.once('SIGTERM', first);
  });
}

/**
 * A backstop for a graceful stop that hangs (a database that stops answering): exit 1 a while
 * after SHUTDOWN_TIMEOUT_MS; unreleased claims are then sent again after their lease.
 */
function exitIfStuck(config: Config): void {
  setTimeout(() => {
    process.stderr.write('webhook-agent: shutdown did not finish in time; exiting.\n');
    process.exit(1);
  }, config.shutdownTimeoutMs + 10_000).unref();
}

/** Short CLI commands join the service's database (the embedded server, started for their own run when none runs). */
async function withDatabase<T>(config: Config, use: (ds: DataSource) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, { command: 'a CLI command', join: true, poolSize: 2 });
  try {
    return await use(db.dataSource);
  } finally {
    await db.close();
  }
}

async function serve(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, `Usage: webhook-agent serve\n\nStarts the SOAP API on PORT (default 8080).\n`)) return 0;
  const logger = createLogger(config);
  const service = await startService(config, logger);
  const baseUrl = config.publicUrl ?? `http://localhost:${service.port}`;
  logger.info({ url: baseUrl, soap: `${baseUrl}${SOAP_PATH}`, database: service.db.mode }, 'webhook-agent is listening');
  if (service.bootstrapTicket) {
    // Printed once, on the console only (not in the structured log): the quick start needs it.
    process.stdout.write(`\nFirst start: created an API ticket for associate 1 (bootstrap). Keep it; it is not shown again:\n\n  ${service.bootstrapTicket}\n\n`);
  }
  await untilSignal();
  logger.info({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutting down: no new requests or claims; finishing those in flight');
  exitIfStuck(config);
  await service.close();
  logger.info('stopped');
  return 0;
}

async function worker(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, 'Usage: webhook-agent worker\n\nRuns the delivery loop only (no API). Any number of workers share one database: on a PostgreSQL server\n(DATABASE_URL), from any machine; on the embedded database, beside `serve` on the same DATA_DIR.\n')) return 0;
  const logger = createLogger(config);
  const db = await openDatabase(config, { command: 'worker', join: true, poolSize: 4 });
  const engine = new DeliveryEngine(db.dataSource, { ...config, databaseUrl: db.url }, logger);
  const running = engine.startWorker();
  engine.startRetention();
  logger.info({ worker: running.workerId, database: db.mode }, 'delivery worker started');
  await untilSignal();
  logger.info({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'delivery worker stopping: no new claims; finishing those in flight');
  exitIfStuck(config);
  await engine.close();
  await db.close();
  logger.info('delivery worker stopped');
  return 0;
}

async function migrate(config: Config, args: string[]): Promise<number> {
  if (wantsHelp(args, 'Usage: webhook-agent migrate\n\nApplies pending migrations and exits.\n')) return 0;
  const pending = await withDatabase(config, (ds) => ds.showMigrations());
  process.stdout.write(pending ? 'Migrations still pending.\n' : 'The database schema is up to date.\n');
  return pending ? 1 : 0;
}

async function convertPgliteDataDir(config: Config, args: string[]): Promise<number> {
  const help =
    'Usage: webhook-agent convert-pglite\n\nConverts the PGlite database that earlier releases kept in DATA_DIR/pgdata into the embedded PostgreSQL\n' +
    'server (DATA_DIR/postgres): every table, row and sequence. Run it once, with the service stopped. The PGlite\n' +
    'folder is kept as DATA_DIR/pgdata.pglite-backup; remove it when the service runs well.\n';
  if (wantsHelp(args, help)) return 0;
  if (config.databaseUrl) throw new UsageError('convert-pglite converts the embedded database in DATA_DIR; unset DATABASE_URL.');
  const report = await convertPglite(config);
  for (const { table, rows } of report.tables) process.stdout.write(`${table}\t${rows} rows\n`);
  process.stdout.write(`Converted ${report.tables.length} tables and ${report.sequences} sequences into ${config.dataDir}/postgres. The PGlite database is kept in ${report.backup}.\n`);
  return 0;
}

async function tickets(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const help = 'Usage:\n  webhook-agent tickets create --name NAME [--associate-id N] [--application TOKEN]\n    (--application binds the ticket to one application: it then sees only that application\'s webhooks)\n  webhook-agent tickets list\n  webhook-agent tickets revoke <ticketId>\n';
  if (!sub || wantsHelp(args, help)) {
    if (!sub) process.stderr.write(help);
    return sub ? 0 : 2;
  }
  if (sub === 'create') {
    const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, 'associate-id': { type: 'string' }, application: { type: 'string' } }, strict: true });
    if (!values.name?.trim()) throw new UsageError('tickets create needs --name NAME (who the ticket is for).');
    const associateId = values['associate-id'] === undefined ? 1 : Number(values['associate-id']);
    if (!isInt32(associateId) || associateId < 0) throw new UsageError(`--associate-id must be a whole number from 0 to ${INT32_MAX}.`);
    if (values.application !== undefined && !values.application.trim()) throw new UsageError('--application needs the application token (the ApplicationToken / SO-AppToken your integration sends).');
    const ticket = await withDatabase(config, (ds) => createTicket(ds, values.name!.trim(), associateId, hashApplicationToken(values.application)));
    process.stderr.write(`Created a ticket for ${values.name.trim()} (associate ${associateId}). It is shown once; keep it secret.\n`);
    process.stdout.write(`${ticket}\n`);
    return 0;
  }
  if (sub === 'list') {
    for (const row of await withDatabase(config, listTickets)) {
      process.stdout.write(`${row.ticketId}\t${row.name}\tassociate ${row.associateId}\t${row.applicationHash ? 'application' : 'operator'}\tcreated ${row.createdAt.toISOString()}\t${row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : 'active'}\n`);
    }
    return 0;
  }
  if (sub === 'revoke') {
    const ticketId = Number(rest[0]);
    if (!Number.isInteger(ticketId) || ticketId <= 0) throw new UsageError('tickets revoke needs the ticket id (see tickets list).');
    if (!(await withDatabase(config, (ds) => revokeTicket(ds, ticketId)))) {
      process.stderr.write(`No active ticket with id ${ticketId}.\n`);
      return 1;
    }
    process.stdout.write(`Revoked ticket ${ticketId}.\n`);
    return 0;
  }
  throw new UsageError(`Unknown tickets command ${JSON.stringify(sub)}.`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\nRun webhook-agent --help for usage.\n`);
      process.exit(2);
    }
    if (error instanceof ValidationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof CoreError) {
      // Not found, not failed, a target that failed verification: the message says what to do.
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    if (error instanceof EmbeddedServerError) {
      // Set-up the operator must fix (permissions, a folder of an earlier release, no binaries).
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof DataDirInUseError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`webhook-agent failed: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(1);
  },
);
