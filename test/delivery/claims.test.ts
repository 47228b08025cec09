/**
 * Claims that scale (issue 11): claim_deliveries takes a per-webhook advisory lock, not one
 * global lock, so claimers partition the webhooks between them, and the per-webhook cap (requests
 * open: live claims less those whose receiver answered) stays exact however the claims interleave.
 */
import fc from 'fast-check';
import type { DataSource, QueryRunner } from 'typeorm';
import { claimDueDeliveries } from '../../src/delivery/sql/claims';
import { settleDeliveries } from '../../src/delivery/sql/deliveries';
import { recordSuccesses } from '../../src/delivery/sql/webhookCounters';
import { beatAndReleaseDeadClaims } from '../../src/delivery/sql/workers';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { createWebhook } from './helpers';

jest.setTimeout(120_000);

describe('claims without a global lock', () => {
  let t: TestService;
  let r: Receiver;
  let ds: DataSource;
  let hookIds: number[];

  beforeAll(async () => {
    t = await startTestService({ RUN_WORKER: 'false' });
    ds = t.service.db.dataSource;
    r = await startReceiver((_req, res) => res.writeHead(200).end());
    hookIds = [];
    for (let i = 0; i < 3; i++) hookIds.push((await createWebhook(t.service.manager, r.url, [`claims.hook${i}`], { secret: '' })).webhookId);
    await ds.query(`INSERT INTO event (event_id, name, primary_key, associate_id) SELECT gen_random_uuid(), 'claims.prop', g, 1 FROM generate_series(1, 12) g`);
  });
  afterAll(async () => {
    await r.close();
    await t.stop();
  });

  /** No deliveries, attempts or worker heartbeats. */
  async function emptyQueue(): Promise<void> {
    await ds.query(`DELETE FROM delivery_attempt`);
    await ds.query(`DELETE FROM delivery`);
    await ds.query(`DELETE FROM delivery_worker`);
  }

  /** A fresh queue: `perHook` due deliveries for each of the first `hooks` webhooks, older webhooks first. */
  async function queue(hooks: number, perHook: number): Promise<void> {
    await emptyQueue();
    await ds.query(
      `INSERT INTO delivery (event_id, webhook_id, run_at)
       SELECT e.event_id, h.id, now() - interval '1 minute' + h.n * interval '1 second'
       FROM unnest($1::int[]) WITH ORDINALITY AS h(id, n), (SELECT event_id FROM event WHERE name = 'claims.prop' AND primary_key <= $2) e`,
      [hookIds.slice(0, hooks), perHook],
    );
  }

  async function liveByWebhook(): Promise<Map<number, number>> {
    const rows: Array<{ webhook_id: number; n: number }> = await ds.query(
      `SELECT webhook_id, count(*)::int AS n FROM delivery WHERE locked_by IS NOT NULL AND status = 'pending' GROUP BY webhook_id`,
    );
    return new Map(rows.map((row) => [row.webhook_id, row.n]));
  }

  it("with one worker's claim transaction held open, a second worker claims other webhooks' deliveries at once", async () => {
    await queue(3, 6);
    const held = ds.createQueryRunner();
    await held.connect();
    try {
      await held.startTransaction();
      // Worker A claims the oldest webhook's deliveries and does not commit.
      const a: Array<{ webhookId: number }> = await held.query(`SELECT * FROM claim_deliveries('worker-a', 4, 60000, 4)`);
      expect(a.map((c) => c.webhookId)).toEqual([hookIds[0], hookIds[0], hookIds[0], hookIds[0]]);

      const started = Date.now();
      // Cleared once the race is decided: a pending timer kept jest's worker alive after the file.
      let timer: NodeJS.Timeout | undefined;
      const b = await Promise.race([
        claimDueDeliveries(ds, 'worker-b', 100, 60_000, 4),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('worker B waited for worker A')), 3000))),
      ]).finally(() => clearTimeout(timer));
      expect(Date.now() - started).toBeLessThan(1000);
      // B skips the webhook A holds and takes the others, up to the cap each.
      expect(b.filter((c) => c.webhookId === hookIds[0])).toEqual([]);
      expect(b.filter((c) => c.webhookId === hookIds[1])).toHaveLength(4);
      expect(b.filter((c) => c.webhookId === hookIds[2])).toHaveLength(4);
      await held.commitTransaction();
    } finally {
      await held.release();
    }
    // Once A committed, its four claims count: the oldest webhook is full for everyone.
    expect((await claimDueDeliveries(ds, 'worker-c', 100, 60_000, 4)).filter((c) => c.webhookId === hookIds[0])).toEqual([]);
    expect((await liveByWebhook()).get(hookIds[0])).toBe(4);
  });

  it("the cap counts requests open: a worker's answered, unrecorded claims leave it, another worker's do not, and an ordered webhook waits for the record", async () => {
    await queue(1, 6);
    const first = await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 2);
    expect(first).toHaveLength(2);
    expect(await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 2)).toHaveLength(0);
    // One of worker-a's receivers answered; its result is not recorded yet: one request is open.
    const answered = [first[0].deliveryId];
    const next = await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 2, answered);
    expect(next).toHaveLength(1);
    expect(next[0].deliveryId).not.toBe(first[0].deliveryId);
    // Another worker cannot leave out worker-a's claims: for it, three are live.
    expect(await claimDueDeliveries(ds, 'worker-b', 100, 60_000, 2, answered)).toHaveLength(0);
    expect((await liveByWebhook()).get(hookIds[0])).toBe(3);

    await ds.query(`UPDATE webhook SET ordered = true WHERE webhook_id = $1`, [hookIds[0]]);
    try {
      await queue(1, 3);
      const [head, ...more] = await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 8);
      expect(more).toEqual([]);
      // Answered, not recorded: whether it succeeded decides what goes next, so nothing does.
      expect(await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 8, [head.deliveryId])).toEqual([]);
      await settleDeliveries(ds, 'worker-a', [{ deliveryId: head.deliveryId, step: 'succeeded', delayMs: 0 }]);
      expect(await claimDueDeliveries(ds, 'worker-a', 100, 60_000, 8)).toHaveLength(1);
    } finally {
      await ds.query(`UPDATE webhook SET ordered = false WHERE webhook_id = $1`, [hookIds[0]]);
    }
  });

  it('a claim takes the Active, due webhooks with the oldest heads first, whatever their ids, and passes over the rest', async () => {
    // Five webhooks of their own, created after the three above (higher ids); each head is older
    // the higher the id, so visiting webhooks in id order would pick the wrong ones.
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createWebhook(t.service.manager, r.url, [`claims.order${i}`], { secret: '' })).webhookId);
    const [notDue, newerHead, olderHead, probing, stopped] = ids;
    try {
      await emptyQueue();
      await ds.query(`UPDATE webhook SET state = 2 WHERE webhook_id = $1`, [stopped]);
      await ds.query(`UPDATE webhook SET failing_since = now(), next_probe_at = now() + interval '1 hour' WHERE webhook_id = $1`, [probing]);
      const ages: Array<[number, string]> = [
        [notDue, '-1 hour'], // due in an hour
        [newerHead, '2 minutes'],
        [olderHead, '3 minutes'],
        [probing, '4 minutes'], // waits for its probe
        [stopped, '5 minutes'], // not Active
      ];
      for (const [id, age] of ages) {
        await ds.query(
          `INSERT INTO delivery (event_id, webhook_id, run_at)
           SELECT event_id, $1, now() - $2::interval + primary_key * interval '1 second' FROM event WHERE name = 'claims.prop' AND primary_key <= 3`,
          [id, age],
        );
      }
      const count = (claimed: Array<{ webhookId: number }>) => [...new Set(claimed.map((c) => c.webhookId))].map((id) => [id, claimed.filter((c) => c.webhookId === id).length]);
      // Room for one webhook's cap: the oldest Active, due head wins.
      expect(count(await claimDueDeliveries(ds, 'worker-order', 2, 60_000, 2))).toEqual([[olderHead, 2]]);
      // Room for more: the next one by head, then nothing else is claimable.
      expect(count(await claimDueDeliveries(ds, 'worker-order', 100, 60_000, 2))).toEqual([[newerHead, 2]]);
      expect(await claimDueDeliveries(ds, 'worker-order', 100, 60_000, 8)).toHaveLength(2);
      expect(await claimDueDeliveries(ds, 'worker-order', 100, 60_000, 8)).toEqual([]);
    } finally {
      await ds.query(`DELETE FROM delivery_attempt`);
      await ds.query(`DELETE FROM delivery WHERE webhook_id = ANY($1::int[])`, [ids]);
      await ds.query(`UPDATE webhook SET state = 2 WHERE webhook_id = ANY($1::int[])`, [ids]);
    }
  });

  it("a worker's heartbeat holds the pending deliveries of a webhook that is not Active, and only those", async () => {
    await queue(3, 4);
    // A signal that saw the webhook Active and committed after it stopped left these pending.
    await ds.query(`UPDATE webhook SET state = 2 WHERE webhook_id = $1`, [hookIds[1]]);
    try {
      await beatAndReleaseDeadClaims(ds, 'worker-beat', 3000);
      const rows: Array<{ webhook_id: number; status: string; n: number }> = await ds.query(
        `SELECT webhook_id, status, count(*)::int AS n FROM delivery GROUP BY webhook_id, status ORDER BY webhook_id`,
      );
      expect(rows).toEqual([
        { webhook_id: hookIds[0], status: 'pending', n: 4 },
        { webhook_id: hookIds[1], status: 'held', n: 4 },
        { webhook_id: hookIds[2], status: 'pending', n: 4 },
      ]);
    } finally {
      await ds.query(`UPDATE webhook SET state = 1 WHERE webhook_id = $1`, [hookIds[1]]);
      await ds.query(`DELETE FROM delivery_worker`);
    }
  });

  it('a claim and a heartbeat read what the work needs, not every webhook stored or every delivery queued', async () => {
    // Rows each statement read from a table, from PostgreSQL's own counters (flushed at once by the session that ran it).
    const rowsRead = async (table: string, run: (runner: QueryRunner) => Promise<unknown>): Promise<number> => {
      const counters = async () => {
        const [row]: Array<{ n: string }> = await ds.query(
          `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables WHERE relname = $1`,
          [table],
        );
        return Number(row.n);
      };
      const runner = ds.createQueryRunner();
      await runner.connect();
      try {
        await runner.query('SELECT pg_stat_force_next_flush()');
        await runner.query('SELECT 1');
        const before = await counters();
        await run(runner);
        await runner.query('SELECT pg_stat_force_next_flush()');
        await runner.query('SELECT 1');
        return (await counters()) - before;
      } finally {
        await runner.release();
      }
    };
    await queue(1, 1);
    const idle: Array<{ webhook_id: number }> = await ds.query(
      `INSERT INTO webhook (name, events, target_url, state, type, registered, updated)
       SELECT 'idle ' || g, ARRAY['claims.idle'], 'http://127.0.0.1:9/', 1, 'webhook', now(), now() FROM generate_series(1, 2000) g
       RETURNING webhook_id`,
    );
    try {
      await ds.query('ANALYZE webhook');
      // Beside 2,000 idle Active webhooks, a claim that takes the one due delivery reads a handful of webhook rows.
      let claimed: unknown[] = [];
      const webhookRows = await rowsRead('webhook', async (runner) => (claimed = await runner.query(`SELECT * FROM claim_deliveries('worker-scale', 10, 60000, 8)`)));
      expect(claimed).toHaveLength(1);
      expect(webhookRows).toBeLessThan(50);

      // A backlog beside a Stopped webhook: a heartbeat reads a handful of delivery rows, not the queue.
      await queue(2, 12);
      await ds.query(`INSERT INTO delivery (event_id, webhook_id) SELECT e.event_id, $1 FROM event e CROSS JOIN generate_series(1, 100) WHERE e.name = 'claims.prop'`, [hookIds[2]]);
      await ds.query(`UPDATE webhook SET state = 2 WHERE webhook_id = $1`, [idle[0].webhook_id]);
      await ds.query('ANALYZE delivery');
      const deliveryRows = await rowsRead('delivery', (runner) => beatAndReleaseDeadClaims(runner.manager, 'worker-scale', 3000));
      expect(deliveryRows).toBeLessThan(50);
    } finally {
      await emptyQueue();
      await ds.query(`DELETE FROM webhook WHERE webhook_id = ANY($1::int[])`, [idle.map((w) => w.webhook_id)]);
    }
  });

  it('N concurrent claimers never exceed the per-webhook cap, never claim a delivery twice, through claims and settlements interleaved (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          cap: fc.integer({ min: 1, max: 5 }),
          hooks: fc.integer({ min: 1, max: 3 }),
          perHook: fc.integer({ min: 1, max: 12 }),
          claimers: fc.array(
            fc.record({ limit: fc.integer({ min: 1, max: 10 }), settle: fc.integer({ min: 0, max: 3 }), answer: fc.integer({ min: 0, max: 3 }) }),
            { minLength: 2, maxLength: 6 },
          ),
        }),
        async ({ cap, hooks, perHook, claimers }) => {
          await queue(hooks, perHook);
          const holdings = claimers.map(() => new Set<string>());
          // Claims whose receiver answered, not recorded yet: their claimer leaves them out of the cap.
          const answered = claimers.map(() => new Set<string>());
          const webhookOf = new Map<string, number>();
          for (let round = 0; round < 3; round++) {
            await Promise.all(
              claimers.map(async (claimer, i) => {
                const worker = `prop-${i}`;
                if (round > 0 && claimer.settle > 0) {
                  const done = [...holdings[i]].slice(0, claimer.settle);
                  await settleDeliveries(ds, worker, done.map((deliveryId) => ({ deliveryId, step: 'succeeded' as const, delayMs: 0 })));
                  for (const id of done) {
                    holdings[i].delete(id);
                    answered[i].delete(id);
                  }
                }
                for (const id of [...holdings[i]].filter((id) => !answered[i].has(id)).slice(0, claimer.answer)) answered[i].add(id);
                for (const c of await claimDueDeliveries(ds, worker, claimer.limit, 60_000, cap, [...answered[i]])) {
                  // Never a delivery another claimer holds.
                  expect(holdings.some((h) => h.has(c.deliveryId))).toBe(false);
                  holdings[i].add(c.deliveryId);
                  webhookOf.set(c.deliveryId, c.webhookId);
                }
              }),
            );
            const live = await liveByWebhook();
            // Requests open per webhook: its live claims less those answered.
            const open = new Map(live);
            for (const id of answered.flatMap((a) => [...a])) open.set(webhookOf.get(id)!, open.get(webhookOf.get(id)!)! - 1);
            for (const n of open.values()) expect(n).toBeLessThanOrEqual(cap);
            expect([...live.values()].reduce((a, b) => a + b, 0)).toBe(holdings.reduce((a, h) => a + h.size, 0));
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a claim and a record of successes commit without waiting for the WAL flush, and no pooled connection keeps that setting', async () => {
    await queue(2, 3);
    const claimed = await claimDueDeliveries(ds, 'worker-async', 100, 60_000);
    expect(claimed).toHaveLength(6);
    const settled = await recordSuccesses(
      ds,
      'worker-async',
      claimed.map((c) => ({ attemptId: c.attemptId, deliveryId: c.deliveryId, webhookId: c.webhookId, httpStatus: 200, latencyMs: 1, responseBody: '' })),
    );
    expect(settled).toBe(6);
    // Every connection of the pool at once (each query holds its own for 50 ms): a signal on any of
    // them must still wait for its flush.
    const settings: Array<Array<{ setting: string }>> = await Promise.all(
      Array.from({ length: 8 }, () => ds.query(`SELECT pg_sleep(0.05), current_setting('synchronous_commit') AS setting`)),
    );
    expect(settings.map(([row]) => row.setting)).toEqual(Array(8).fill('on'));
  });
});
