import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
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
