import { loadConfig } from '../../src/config';
import { openDatabase, type Database } from '../../src/db/dataSource';
import { analyzeGrownTables } from '../../src/db/tableStatistics';
import { recordEvent } from '../../src/delivery/signal';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

/** A young database's tables get fresh planner statistics once the changes since the last ANALYZE reach half their rows plus 500 (a table about doubling). */
describe('analyzeGrownTables', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase(loadConfig(database.env));
  }, 120_000);
  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  const lastAnalyze = async (table: string): Promise<Date | null> =>
    ((await db.dataSource.query(`SELECT last_analyze FROM pg_stat_user_tables WHERE relname = $1`, [table])) as Array<{ last_analyze: Date | null }>)[0].last_analyze;

  it('leaves tables that barely changed alone, then analyzes the one that grew, once', async () => {
    expect(await analyzeGrownTables(db.dataSource)).toEqual([]);
    expect(await lastAnalyze('event')).toBeNull();

    for (let key = 1; key <= 1100; key++) await recordEvent(db.dataSource, 'statistics.test', key, null, 1, 'everyone');
    // Activity counters reach pg_stat_user_tables within a second or so of the commits.
    let analyzed: string[] = [];
    for (const deadline = Date.now() + 10_000; !analyzed.includes('event') && Date.now() < deadline; ) {
      analyzed = await analyzeGrownTables(db.dataSource);
      if (!analyzed.includes('event')) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(analyzed).toEqual(['event']);
    expect(await lastAnalyze('event')).toBeInstanceOf(Date);
    expect(await analyzeGrownTables(db.dataSource)).toEqual([]);
  }, 60_000);
});
