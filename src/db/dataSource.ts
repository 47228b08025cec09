import 'reflect-metadata';
import { DataSource } from 'typeorm';
import type { Config } from '../config';
import { openEmbeddedServer } from './embeddedServer';
import { ListenedClient } from './listenedClient';
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
import { LiveClaims1765000000000 } from './migrations/1765000000000-LiveClaims';
import { NotificationMembers1765200000000 } from './migrations/1765200000000-NotificationMembers';
import { AttemptCycle1765300000000 } from './migrations/1765300000000-AttemptCycle';
import { EventTraceParent1765400000000 } from './migrations/1765400000000-EventTraceParent';
import { PreviousSecret1765500000000 } from './migrations/1765500000000-PreviousSecret';
import { RateLimitBucket1765500000001 } from './migrations/1765500000001-RateLimitBucket';
import { StablePlans1765600000000 } from './migrations/1765600000000-StablePlans';
import { HotAttemptSettlement1765700000000 } from './migrations/1765700000000-HotAttemptSettlement';
import { ClaimIndexes1765800000000 } from './migrations/1765800000000-ClaimIndexes';
import { WebhookChangedNotify1765900000000 } from './migrations/1765900000000-WebhookChangedNotify';
import { WebhookChangedById1766000000000 } from './migrations/1766000000000-WebhookChangedById';
import { LiveClaimCap1766100000000 } from './migrations/1766100000000-LiveClaimCap';
import { FewerDeliveryIndexes1766200000000 } from './migrations/1766200000000-FewerDeliveryIndexes';
import { ClaimReturnsWhatSendingNeeds1766300000000 } from './migrations/1766300000000-ClaimReturnsWhatSendingNeeds';
import { ClaimVisitsReadyWebhooks1766400000000 } from './migrations/1766400000000-ClaimVisitsReadyWebhooks';
import { LockedByWebhook1766500000000 } from './migrations/1766500000000-LockedByWebhook';
import { ClaimStartsAtOldestDue1766600000000 } from './migrations/1766600000000-ClaimStartsAtOldestDue';
import { ChangesAnnouncedAfterCommit1766700000000 } from './migrations/1766700000000-ChangesAnnouncedAfterCommit';
import { SecretBox, useSecretBox } from './secretBox';

export const ENTITIES = [WebhookRow, TicketRow, EventRow, DeliveryRow, DeliveryAttemptRow];
export const MIGRATIONS = [
  Initial1764374400000,
  Delivery1764460800000,
  Applications1764547200000,
  SecretEnvelope1764633600000,
  ClaimPerWebhookCap1764720000000,
  TicketApplication1764806400000,
  LiveClaims1765000000000,
  NotificationMembers1765200000000,
  AttemptCycle1765300000000,
  EventTraceParent1765400000000,
  PreviousSecret1765500000000,
  RateLimitBucket1765500000001,
  StablePlans1765600000000,
  HotAttemptSettlement1765700000000,
  ClaimIndexes1765800000000,
  WebhookChangedNotify1765900000000,
  WebhookChangedById1766000000000,
  LiveClaimCap1766100000000,
  FewerDeliveryIndexes1766200000000,
  ClaimReturnsWhatSendingNeeds1766300000000,
  ClaimVisitsReadyWebhooks1766400000000,
  LockedByWebhook1766500000000,
  ClaimStartsAtOldestDue1766600000000,
  ChangesAnnouncedAfterCommit1766700000000,
];

export interface Database {
  dataSource: DataSource;
  /** 'server' (DATABASE_URL) or 'embedded' (the PostgreSQL server in DATA_DIR, started by this or another process). */
  mode: 'server' | 'embedded';
  /** The connection URL in effect (DATABASE_URL, or the embedded server's socket), for LISTEN and child connections. */
  url: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** What this process is ("serve", "worker", a CLI command): named in the data folder's lock and in messages. */
  command?: string;
  /**
   * Workers and CLI commands join the embedded server another process runs (starting it for
   * their own run when none does); `serve` must own the data folder and refuses when another
   * process does.
   */
  join?: boolean;
  poolSize?: number;
}

/** Opens the configured database (starting the embedded server where needed) and brings its schema up to date. */
export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<Database> {
  // Two at least: the migration lock holds one connection while the migrations run on another.
  const poolSize = Math.max(options.poolSize ?? 8, 2);
  const embedded = config.databaseUrl ? null : await openEmbeddedServer(config.dataDir, { command: options.command ?? 'serve', join: options.join ?? false });
  const url = config.databaseUrl ?? embedded!.url;
  const dataSource = buildDataSource(url, poolSize, config);
  try {
    await initialize(dataSource);
  } catch (error) {
    await embedded?.close().catch(() => undefined);
    throw error;
  }
  return {
    dataSource,
    mode: embedded ? 'embedded' : 'server',
    url,
    async close() {
      await dataSource.destroy().catch(() => undefined);
      await embedded?.close();
    },
  };
}

function buildDataSource(url: string, poolSize: number, config: Config): DataSource {
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    // gen_random_uuid() is built in; no extension needed.
    uuidExtension: 'pgcrypto',
    synchronize: false,
    logging: false,
    poolSize,
    // pg-pool makes its clients with this class: each has an 'error' listener from birth (db/listenedClient.ts says why).
    extra: { Client: ListenedClient },
  });
  // Webhook Secrets are sealed and opened with the configured key wherever this DataSource reads or writes them.
  useSecretBox(dataSource, new SecretBox(config.secretEncryptionKeys));
  return dataSource;
}

// Any number of processes may start at once against one database: one migrates, the others wait.
const MIGRATION_LOCK_KEY = 72420011;

/** Migrates under an advisory lock. */
async function initialize(dataSource: DataSource): Promise<void> {
  await dataSource.initialize();
  try {
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
