#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { tuneHeapGrowth } from './heapGrowth';
import { INT32_MAX, isInt32 } from './core/operations';
import { deliveries, purge, redeliver, signal, UsageError, webhooks, wantsHelp, writeJsonList } from './commands';
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
import { reencryptSecrets } from './db/secretReencryption';
import { createLogger } from './logger';
import { Metrics } from './metrics';
import { startTracing, stopTracing } from './tracing';
import { SOAP_PATH } from './soap/endpoint';

const HELP = `webhook-agent: SuperOffice NetServer's WebhookAgent, SOAP + durable webhook delivery.

Usage: webhook-agent <command> [options]

Commands:
  serve                                   start the API (SOAP at ${SOAP_PATH})
  worker                                  run only the delivery loop (any number, on any machine)
  migrate                                 bring the database schema up to date, then exit
  convert-pglite                          convert a DATA_DIR of the PGlite release to the embedded PostgreSQL server (once)
  tickets create --name NAME [--associate-id N] [--application TOKEN]
                                          create an API ticket; prints it alone on the last line
  tickets list [--json]                   list tickets (never their secret part)
  tickets revoke <ticketId>               revoke a ticket
  webhooks list|show|stop|start|rotate-secret [...]
                                          list (--json), inspect, stop, start (re-verifies) webhooks; rotate a Secret
  signal <event> <primaryKey> [--data k=v ...]
                                          signal an event (SignalEvent)
  deliveries list --webhook N [--failed] [--json]
                                          a webhook's deliveries, newest first
  deliveries show ID                      one delivery's attempts (cycle, number, status, latency, error)
  redeliver <deliveryId>                  send a failed delivery again (same EventId)
  redeliver --webhook N --since <ISO time>
                                          send a webhook's failed deliveries since then again
  purge [--dry-run]                       delete events, deliveries, attempts and notifications past their retention now
  secrets reencrypt                       rewrite every stored Secret with the newest SECRET_ENCRYPTION_KEY

Every command takes --help.

Configuration comes from environment variables (see README): PORT, PUBLIC_URL, DATABASE_URL,
DATA_DIR, BODY_LIMIT, VERIFY_TIMEOUT_MS, ALLOW_HTTP_TARGETS, ALLOW_PRIVATE_TARGETS, LOG_LEVEL,
METRICS_PORT (worker), OTEL_EXPORTER_OTLP_ENDPOINT (traces) ...
Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
`;

async function main(argv: string[]): Promise<number> {
  tuneHeapGrowth();
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  // Every command that signals or verifies traces it (serve, worker, signal, webhooks start ...).
  if (config.otlpTracing) await startTracing();
  try {
    return await run(command, rest, config);
  } finally {
    await stopTracing(); // exports the spans still buffered
  }
}

async function run(command: string, rest: string[], config: Config): Promise<number> {
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
    case 'secrets':
      return secrets(config, rest);
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
  // Loaded here, not at the top: the API (express, node-soap, the REST and console routes) is
  // serve's alone, and a worker or a CLI command that loaded it ran with about 25 MB more RSS.
  const { startService } = await import('./service');
  const service = await startService(config, logger);
  const baseUrl = config.publicUrl ?? `http://localhost:${service.port}`;
  logger.info({ url: baseUrl, console: `${baseUrl}/`, soap: `${baseUrl}${SOAP_PATH}`, database: service.db.mode }, `webhook-agent is listening; operator console at ${baseUrl}/`);
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
  if (wantsHelp(args, 'Usage: webhook-agent worker\n\nRuns the delivery loop only (no API); with METRICS_PORT set it serves /healthz, /readyz and /metrics there.\nAny number of workers share one database: on a PostgreSQL server (DATABASE_URL), from any machine;\non the embedded database, beside `serve` on the same DATA_DIR.\n')) return 0;
  const logger = createLogger(config);
  const db = await openDatabase(config, { command: 'worker', join: true, poolSize: 4 });
  const engine = new DeliveryEngine(db.dataSource, { ...config, databaseUrl: db.url }, logger);
  const metrics = config.metricsPort === null ? null : new Metrics(db.dataSource);
  engine.metrics = metrics;
  const ops = metrics ? await (await import('./opsServer')).startOpsServer(config.metricsPort!, db.dataSource, metrics) : null;
  const running = engine.startWorker();
  engine.startRetention();
  logger.info({ worker: running.workerId, database: db.mode, metricsPort: ops?.port ?? null }, 'delivery worker started');
  await untilSignal();
  logger.info({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'delivery worker stopping: no new claims; finishing those in flight');
  exitIfStuck(config);
  await engine.close();
  await ops?.close();
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
  const help = 'Usage:\n  webhook-agent tickets create --name NAME [--associate-id N] [--application TOKEN]\n    (--application binds the ticket to one application: it then sees only that application\'s webhooks)\n  webhook-agent tickets list [--json]\n  webhook-agent tickets revoke <ticketId>\n';
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
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, strict: true });
    const rows = await withDatabase(config, listTickets);
    if (values.json) {
      writeJsonList(
        rows.map((row) => ({ TicketId: row.ticketId, Name: row.name, AssociateId: row.associateId, Application: row.applicationHash !== null, Created: row.createdAt.toISOString(), Revoked: row.revokedAt?.toISOString() ?? null })),
      );
      return 0;
    }
    for (const row of rows) {
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

async function secrets(config: Config, args: string[]): Promise<number> {
  const help =
    'Usage: webhook-agent secrets reencrypt\n\n' +
    'Rewrites every stored webhook Secret with the first key of SECRET_ENCRYPTION_KEY (a comma-separated\n' +
    'list, newest first; every key in it decrypts). Runs in batches while the service runs. When it reports\n' +
    'nothing left to rewrite, the older keys can be removed from the list.\n';
  if (wantsHelp(args, help)) return 0;
  if (args.length !== 1 || args[0] !== 'reencrypt') throw new UsageError(args[0] ? `Unknown secrets command ${JSON.stringify(args[0])}.` : `secrets needs a command.\n${help}`);
  if (!config.secretEncryptionKey) throw new UsageError('secrets reencrypt needs SECRET_ENCRYPTION_KEY: the new key first, then the old ones, comma-separated.');
  const done = await withDatabase(config, (ds) => reencryptSecrets(ds, { onBatch: (p) => process.stderr.write(`${p.scanned} webhooks looked at, ${p.rewritten} values rewritten\n`) }));
  process.stdout.write(`Re-encrypted ${done.rewritten} stored secrets of ${done.scanned} webhooks with the newest key.\n`);
  return 0;
}

/**
 * Exits once stdout and stderr have drained: on a pipe they are asynchronous, and
 * process.exit would cut off what a slow reader has not taken yet. A write's callback runs
 * after every earlier write has been flushed.
 */
function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let open = 2;
  const drained = () => {
    if (--open === 0) process.exit(code);
  };
  process.stdout.write('', drained);
  process.stderr.write('', drained);
}

// A reader that stops early (`| head`) is not a failure of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(exitAfterOutput, (error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`${(error as Error).message}\nRun webhook-agent --help for usage.\n`);
    return exitAfterOutput(2);
  }
  // Bad input, or set-up the operator must fix (permissions, a folder of an earlier release, no binaries).
  if (error instanceof ValidationError || error instanceof EmbeddedServerError) {
    process.stderr.write(`${error.message}\n`);
    return exitAfterOutput(2);
  }
  // Not found, not failed, a target that failed verification: the message says what to do.
  if (error instanceof CoreError || error instanceof DataDirInUseError) {
    process.stderr.write(`${error.message}\n`);
    return exitAfterOutput(1);
  }
  process.stderr.write(`webhook-agent failed: ${(error as Error)?.message ?? String(error)}\n`);
  return exitAfterOutput(1);
});
