import 'reflect-metadata';
import { DataSource } from 'typeorm';
import type { Config } from '../config';
import { findRunningEmbedded, startEmbeddedPostgres } from './embeddedPostgres';
import { DeliveryAttemptRow } from './entities/DeliveryAttemptRow';
import { DeliveryRow } from './entities/DeliveryRow';
import { EventRow } from './entities/EventRow';
import { TicketRow } from './entities/TicketRow';
import { WebhookRow } from './entities/WebhookRow';
import { Initial1764374400000 } from './migrations/1764374400000-Initial';
import { Delivery1764460800000 } from './migrations/1764460800000-Delivery';
import { Applications1764547200000 } from './migrations/1764547200000-Applications';
import { SecretEnvelope1764633600000 } from './migrations/1764633600000-SecretEnvelope';
import { ClaimPerWebhookCap1764720000000 } from './migrations/1764720000000-ClaimPerWebhookCap';
import { TicketApplication1764806400000 } from './migrations/1764806400000-TicketApplication';
import { NotificationMembers1765200000000 } from './migrations/1765200000000-NotificationMembers';
import { SecretBox, useSecretBox } from './secretBox';

export const ENTITIES = [WebhookRow, TicketRow, EventRow, DeliveryRow, DeliveryAttemptRow];
export const MIGRATIONS = [Initial1764374400000, Delivery1764460800000, Applications1764547200000, SecretEnvelope1764633600000, ClaimPerWebhookCap1764720000000, TicketApplication1764806400000, NotificationMembers1765200000000];

/**
 * PGlite is one backend session: pglite-socket multiplexes connections onto it message by
 * message, so two connections' extended-protocol queries clobber each other's unnamed
 * statement ("unnamed prepared statement does not exist", seen with pglite-socket 0.2.17) and
 * a transaction on one connection would swallow the other's queries. One connection per
 * process is the honest shape of an embedded database.
 */
const EMBEDDED_POOL_SIZE = 1;

export interface Database {
  dataSource: DataSource;
  /** 'server' (DATABASE_URL), 'embedded' (we own the data folder) or 'embedded-client' (another process does). */
  mode: 'server' | 'embedded' | 'embedded-client';
  close(): Promise<void>;
}

export interface OpenOptions {
  /**
   * A CLI command may borrow the socket of a running service; the service itself must own the
   * folder and refuses when another process holds it.
   */
  allowBorrow?: boolean;
  poolSize?: number;
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<Database> {
  const poolSize = options.poolSize ?? 8;
  if (config.databaseUrl) {
    const dataSource = buildDataSource({ url: config.databaseUrl }, poolSize, config);
    await initialize(dataSource, true);
    return { dataSource, mode: 'server', close: () => dataSource.destroy() };
  }

  const running = options.allowBorrow ? await findRunningEmbedded(config.dataDir) : null;
  if (running) {
    const dataSource = buildDataSource({ host: running.host, port: running.port }, EMBEDDED_POOL_SIZE, config);
    await initialize(dataSource);
    return { dataSource, mode: 'embedded-client', close: () => dataSource.destroy() };
  }

  const embedded = await startEmbeddedPostgres(config.dataDir);
  const dataSource = buildDataSource({ host: embedded.host, port: embedded.port }, EMBEDDED_POOL_SIZE, config);
  try {
    await initialize(dataSource);
  } catch (error) {
    await embedded.close();
    throw error;
  }
  return {
    dataSource,
    mode: 'embedded',
    async close() {
      await dataSource.destroy().catch(() => undefined);
      await embedded.close();
    },
  };
}

function buildDataSource(target: { url: string } | { host: string; port: number }, poolSize: number, config: Config): DataSource {
  const dataSource = new DataSource({
    type: 'postgres',
    ...target,
    ...('host' in target ? { username: 'postgres', database: 'postgres' } : {}),
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    // PGlite has no uuid-ossp; gen_random_uuid() is built in on both.
    uuidExtension: 'pgcrypto',
    synchronize: false,
    logging: false,
    poolSize,
  });
  // Webhook Secrets are sealed and opened with the configured key wherever this DataSource reads or writes them.
  useSecretBox(dataSource, new SecretBox(config.secretEncryptionKey));
  return dataSource;
}

// Any number of processes may start at once against one server: one migrates, the others wait.
const MIGRATION_LOCK_KEY = 72420011;

/** Migrates; on a server under an advisory lock (the embedded database has one connection and one owner). */
async function initialize(dataSource: DataSource, shared = false): Promise<void> {
  await dataSource.initialize();
  try {
    if (!shared) {
      await dataSource.runMigrations({ transaction: 'each' });
      return;
    }
    const lockHolder = dataSource.createQueryRunner();
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
      await lockHolder.release();
    }
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    throw error;
  }
}
