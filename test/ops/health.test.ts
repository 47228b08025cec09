import { startTestService, type TestService } from '../support/testService';

describe('health endpoints', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t.stop());

  it('/healthz answers 200 while the process runs', async () => {
    const response = await fetch(`${t.service.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when the database is reachable and migrated, 503 when migrations are pending', async () => {
    const ready = await fetch(`${t.service.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    // Forget the last migration: the schema is no longer known to be current.
    const [last] = await t.service.db.dataSource.query('SELECT id, timestamp, name FROM migrations ORDER BY id DESC LIMIT 1');
    await t.service.db.dataSource.query('DELETE FROM migrations WHERE id = $1', [last.id]);
    try {
      const pending = await fetch(`${t.service.url}/readyz`);
      expect(pending.status).toBe(503);
      expect(((await pending.json()) as { reason: string }).reason).toMatch(/migrations are pending/);
    } finally {
      await t.service.db.dataSource.query('INSERT INTO migrations (id, timestamp, name) VALUES ($1, $2, $3)', [last.id, last.timestamp, last.name]);
    }
    expect((await fetch(`${t.service.url}/readyz`)).status).toBe(200);
  });

  it('echoes the caller\'s X-Request-Id, or gives each request a new one', async () => {
    const given = await fetch(`${t.service.url}/healthz`, { headers: { 'X-Request-Id': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const fresh = await fetch(`${t.service.url}/healthz`);
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await fetch(`${t.service.url}/healthz`, { headers: { 'X-Request-Id': 'a b<script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
