import crypto from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/**
 * Hot reads straight on the DataSource's pg pool as named (prepared) statements: PostgreSQL
 * parses and plans each once per connection, and no TypeORM query runner is created and
 * released per call. Rows come back as TypeORM's `query()` gives them (same pool, same type
 * parsers). Inside a transaction use the EntityManager's `query` instead.
 */

export function pgPool(ds: DataSource): Pool {
  return (ds.driver as PostgresDriver).master as Pool;
}

/** `name` must name exactly one SQL text (pg prepares it under that name on each connection). */
export async function preparedQuery<Row>(ds: DataSource, name: string, text: string, values: unknown[]): Promise<Row[]> {
  const result = await pgPool(ds).query({ name, text, values });
  return result.rows as Row[];
}

/**
 * A named prepared statement on the pool, or inside a transaction on the transaction's own
 * connection (so statements in a transaction are planned once per connection too). Returns the
 * rows, as a SELECT (or a statement with RETURNING) gives them.
 */
export async function preparedOn<Row>(db: DataSource | EntityManager, name: string, text: string, values: unknown[]): Promise<Row[]> {
  if (db instanceof DataSource) return preparedQuery<Row>(db, name, text, values);
  const client = (db.queryRunner as { databaseConnection?: PoolClient } | undefined)?.databaseConnection;
  if (!client) return (await db.query(text, values)) as Row[];
  const result = await client.query({ name, text, values });
  return result.rows as Row[];
}

/**
 * A stable statement name for SQL whose text is one of a few shapes (which members a save sets,
 * which statement of the delivery engine): the prefix and a hash of the text.
 */
const statementNames = new Map<string, string>();
export function statementName(prefix: string, text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `${prefix}_${crypto.createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}
