import { loadConfig } from '../../src/config';
import { openDatabase, type Database } from '../../src/db/dataSource';
import { analyzeGrownTables } from '../../src/db/tableStatistics';
import { recordEvent } from '../../src/delivery/signal';
import { workerOptions } from '../../src/delivery/engine';
import { DeliveryWorker } from '../../src/delivery/worker';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

/** A database of its own for the describe block it is called in. */
function freshDatabase(): { database: TestDatabase; db: Database } {
  const t = {} as { database: TestDatabase; db: Database };
  beforeAll(async () => {
    t.database = await createTestDatabase();
    t.db = await openDatabase(loadConfig(t.database.env));
  }, 120_000);
  afterAll(async () => {
    await t.db.close();
    await t.database.drop();
  });
  return t;
}

/** A young database's tables get fresh planner statistics once the changes since the last ANALYZE reach half their rows plus 500 (a table about doubling). */
describe('analyzeGrownTables', () => {
  const t = freshDatabase();

  const lastAnalyze = async (table: string): Promise<Date | null> =>
    ((await t.db.dataSource.query(`SELECT last_analyze FROM pg_stat_user_tables WHERE relname = $1`, [table])) as Array<{ last_analyze: Date | null }>)[0].last_analyze;

  it('leaves tables that barely changed alone, then analyzes the one that grew, once', async () => {
    expect(await analyzeGrownTables(t.db.dataSource)).toEqual([]);
    expect(await lastAnalyze('event')).toBeNull();

    for (let key = 1; key <= 1100; key++) await recordEvent(t.db.dataSource, 'statistics.test', key, null, 1, 'everyone');
    // Activity counters reach pg_stat_user_tables within a second or so of the commits.
    let analyzed: string[] = [];
    for (const deadline = Date.now() + 10_000; !analyzed.includes('event') && Date.now() < deadline; ) {
      analyzed = await analyzeGrownTables(t.db.dataSource);
      if (!analyzed.includes('event')) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(analyzed).toEqual(['event']);
    expect(await lastAnalyze('event')).toBeInstanceOf(Date);
    expect(await analyzeGrownTables(t.db.dataSource)).toEqual([]);
  }, 60_000);
});

/**
 * A worker that starts on a database grown without one (serve signalling with RUN_WORKER=false,
 * an import) refreshes the statistics at its first heartbeat (and at every one after): until then
 * its claims run on plans made for empty tables.
 */
describe('a starting worker', () => {
  const t = freshDatabase();

  it('analyzes the tables that grew at its first heartbeat, and warns when autovacuum is off', async () => {
    for (let key = 1; key <= 1100; key++) await recordEvent(t.db.dataSource, 'statistics.worker', key, null, 1, 'everyone');
    // Wait until the activity counters show the growth (they reach pg_stat_user_tables within a second or so).
    const grown = async () =>
      ((await t.db.dataSource.query(`SELECT n_mod_since_analyze::int AS n FROM pg_stat_user_tables WHERE relname = 'event'`)) as Array<{ n: number }>)[0].n >= 1100;
    for (const deadline = Date.now() + 10_000; !(await grown()) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 200));
    const analyzedBefore = ((await t.db.dataSource.query(`SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'event'`)) as Array<{ last_analyze: Date | null }>)[0].last_analyze;
    expect(analyzedBefore).toBeNull();

    const config = loadConfig({ ...t.database.env, LOG_LEVEL: 'warn' });
    const logged: string[] = [];
    // The next heartbeat is a minute away: only the first one can have analyzed.
    const worker = new DeliveryWorker(t.db.dataSource, { ...workerOptions(config), heartbeatMs: 60_000, listenUrl: null }, createLogger(config, { write: (line: string) => logged.push(line) }));
    worker.start();
    try {
      let analyzed: Date | null = null;
      for (const deadline = Date.now() + 10_000; !analyzed && Date.now() < deadline; ) {
        analyzed = ((await t.db.dataSource.query(`SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'event'`)) as Array<{ last_analyze: Date | null }>)[0].last_analyze;
        if (!analyzed) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(analyzed).toBeInstanceOf(Date);
      // The same first beat checked autovacuum before it analyzed: a server with it off (this
      // machine's PostgreSQL server) gets the warning, the embedded server (on) does not.
      const [{ autovacuum }] = (await t.db.dataSource.query('SHOW autovacuum')) as Array<{ autovacuum: string }>;
      expect(logged.filter((line) => line.includes('autovacuum is off')).length).toBe(autovacuum === 'off' ? 1 : 0);
    } finally {
      await worker.stop();
    }
  }, 60_000);
});
