import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { openDatabase } from './dataSource';
import { DataDirInUseError, tryLockDataDir, unlockDataDir } from './dataDirLock';
import { embeddedPaths, EmbeddedServerError, isCluster, openEmbeddedServer } from './embeddedServer';

/**
 * One-time conversion of a data folder written by the release that ran on PGlite: every table
 * is copied row for row, every column both schemas share, and every sequence's position, into
 * the embedded PostgreSQL server, which the current migrations set up first (so columns added
 * since take their defaults). The new cluster is built beside the old database and moved into
 * place only when every table's row count matches; the PGlite folder is kept as a backup.
 */

const BATCH_ROWS = 1000;
/** TypeORM's bookkeeping: the new cluster records the current migrations itself. */
const SKIPPED_TABLES = new Set(['migrations', 'typeorm_metadata']);

export interface ConvertedTable {
  table: string;
  rows: number;
}

export interface ConversionReport {
  tables: ConvertedTable[];
  sequences: number;
  /** Where the PGlite database now lies. */
  backup: string;
}

interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  close(): Promise<void>;
}

export async function convertPglite(config: Config): Promise<ConversionReport> {
  const paths = embeddedPaths(config.dataDir);
  if (!fs.existsSync(path.join(paths.pglite, 'PG_VERSION'))) {
    throw new EmbeddedServerError(`There is no PGlite database to convert in ${paths.pglite} (DATA_DIR=${config.dataDir}).`);
  }
  if (isCluster(paths)) {
    throw new EmbeddedServerError(
      `${paths.cluster} exists already: this folder was converted before (or the service started on it). ` +
        `Nothing was changed. To convert again, stop the service and remove ${paths.cluster} first.`,
    );
  }
  const holder = tryLockDataDir(config.dataDir, 'convert-pglite');
  if (holder !== null) throw new DataDirInUseError(config.dataDir, holder);
  const staging = path.join(config.dataDir, 'converting');
  try {
    fs.rmSync(staging, { recursive: true, force: true }); // an interrupted earlier attempt
    fs.mkdirSync(staging, { mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
    const { tables, sequences } = await copyInto(staging, paths.pglite, config);
    // Only now, with the staging server stopped and every count matched, does the new cluster take its place.
    const stagingPaths = embeddedPaths(staging);
    fs.renameSync(stagingPaths.cluster, paths.cluster);
    fs.renameSync(stagingPaths.passwordFile, paths.passwordFile);
    const backup = freeName(path.join(config.dataDir, 'pgdata.pglite-backup'));
    fs.renameSync(paths.pglite, backup);
    fs.rmSync(staging, { recursive: true, force: true });
    return { tables, sequences, backup };
  } finally {
    unlockDataDir(config.dataDir);
  }
}

async function copyInto(staging: string, pgliteDir: string, config: Config): Promise<{ tables: ConvertedTable[]; sequences: number }> {
  const { PGlite } = await import('@electric-sql/pglite');
  const source: PgliteLike = await PGlite.create(pgliteDir);
  const server = await openEmbeddedServer(staging, { command: 'convert-pglite', join: false });
  try {
    const target = await openDatabase({ ...config, databaseUrl: server.url }, { poolSize: 2 });
    try {
      const ds = target.dataSource;
      const tables: ConvertedTable[] = [];
      await ds.transaction(async (tx) => {
        // Rows go in table by table: foreign keys are checked by the source database already.
        await tx.query('SET LOCAL session_replication_role = replica');
        for (const table of await sourceTables(source)) {
          const sourceColumns = await columnsOf(source, table);
          const targetColumns = new Set(await columnsOf(tx, table));
          if (targetColumns.size === 0) throw new Error(`The PGlite database has a table ${table} that this release does not know; nothing was converted.`);
          const columns = sourceColumns.filter((column) => targetColumns.has(column)).map(quoteIdent).join(', ');
          let rows = 0;
          for (let offset = 0; ; offset += BATCH_ROWS) {
            const batch = await source.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM ${quoteIdent(table)} t ORDER BY ctid LIMIT ${BATCH_ROWS} OFFSET ${offset}`);
            if (batch.rows.length === 0) break;
            // Through JSON every value keeps its exact text form (bigints, timestamps, arrays, jsonb).
            await tx.query(
              `INSERT INTO ${quoteIdent(table)} (${columns}) SELECT ${columns} FROM json_populate_recordset(NULL::${quoteIdent(table)}, $1::json)`,
              [`[${batch.rows.map((r) => r.row).join(',')}]`],
            );
            rows += batch.rows.length;
          }
          const [{ count }] = (await tx.query(`SELECT count(*)::int AS count FROM ${quoteIdent(table)}`)) as { count: number }[];
          if (count !== rows) throw new Error(`Table ${table}: copied ${rows} rows but the new database holds ${count}; nothing was converted.`);
          tables.push({ table, rows });
        }
      });
      const sequences = await copySequencePositions(source, ds);
      return { tables, sequences };
    } finally {
      await target.close();
    }
  } finally {
    await server.close();
    await source.close();
  }
}

async function sourceTables(source: PgliteLike): Promise<string[]> {
  const { rows } = await source.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  return rows.map((r) => r.name).filter((name) => !SKIPPED_TABLES.has(name));
}

type Queryable = PgliteLike | { query(sql: string, params?: unknown[]): Promise<unknown> };

async function columnsOf(db: Queryable, table: string): Promise<string[]> {
  const sql = "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position";
  const result = (await db.query(sql, [table])) as { rows?: { name: string }[] } | { name: string }[];
  return (Array.isArray(result) ? result : result.rows ?? []).map((r) => r.name);
}

/** Sequences (serial ids) continue where they were, so no id is handed out twice. */
async function copySequencePositions(source: PgliteLike, target: { query(sql: string, params?: unknown[]): Promise<unknown> }): Promise<number> {
  const { rows } = await source.query<{ name: string; last_value: string | null }>(
    "SELECT sequencename AS name, last_value::text AS last_value FROM pg_sequences WHERE schemaname = 'public'",
  );
  let copied = 0;
  for (const { name, last_value } of rows) {
    if (last_value === null) continue; // never used: the new sequence starts where it would have
    await target.query('SELECT setval($1::regclass, $2::bigint, true)', [quoteIdent(name), last_value]);
    copied++;
  }
  return copied;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function freeName(wanted: string): string {
  if (!fs.existsSync(wanted)) return wanted;
  return `${wanted}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}
