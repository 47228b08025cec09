import type { DataSource, EntityManager } from 'typeorm';

/**
 * Planner statistics that keep up with a young database. Prepared statements and PL/pgSQL
 * (claim_deliveries) keep a plan per connection; a plan made while a table was small scans it
 * sequentially until an ANALYZE invalidates it, and autovacuum looks only once a minute and then
 * waits for 10-20% of a table to change. In a new database's first minutes (or after an import)
 * that is every table: a claim's scans of `delivery` and `event` grew with them (auto_explain,
 * issue 11). A table whose changes since its last ANALYZE reach half its rows (and 500) is
 * analyzed here; as a table grows that happens a few times, then autovacuum's thresholds take over.
 */
const TABLES = ['webhook', 'event', 'delivery', 'delivery_attempt'] as const;

/** ANALYZEs the tables that grew that much; returns their names. */
export async function analyzeGrownTables(db: DataSource | EntityManager): Promise<string[]> {
  const rows: Array<{ table: string }> = await db.query(
    `SELECT relname AS table FROM pg_stat_user_tables
     WHERE schemaname = current_schema() AND relname = ANY($1::text[]) AND n_mod_since_analyze >= 500 + n_live_tup / 2`,
    [TABLES],
  );
  const grown = rows.map((row) => row.table).filter((table): table is (typeof TABLES)[number] => (TABLES as readonly string[]).includes(table));
  // Names from the fixed list above, never from input.
  for (const table of grown) await db.query(`ANALYZE ${table}`);
  return grown;
}

/**
 * True when the server's autovacuum is off. Then nothing reclaims the dead rows every claim and
 * settlement leaves in delivery, delivery_attempt and event: they and their indexes grow, and
 * claims slow down with them (a VACUUM before a deep-queue drain made it 10-15% faster here).
 */
export async function autovacuumIsOff(db: DataSource | EntityManager): Promise<boolean> {
  const [row] = (await db.query(`SELECT current_setting('autovacuum') = 'off' AS off`)) as Array<{ off: boolean }>;
  return row.off;
}
