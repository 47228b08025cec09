/**
 * Graceful shutdown: on SIGTERM a worker stops claiming, lets the attempts in flight finish up to
 * SHUTDOWN_TIMEOUT_MS, then releases the claims it could not finish (due now, unlocked), so
 * another worker sends them at once instead of after their lease. Worker processes run on both
 * databases (on the embedded one they join the server of the test's service).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { DeliveryEngine } from '../../src/delivery/engine';
import { createLogger } from '../../src/logger';
import { ACTOR, createWebhook, sleep, waitFor } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';
import { startTestService, type TestService } from '../support/testService';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

const DELIVERY_TIMEOUT_MS = 10_000;
const LEASE_MARGIN_MS = 30_000;
const LEASE_MS = DELIVERY_TIMEOUT_MS + LEASE_MARGIN_MS;

/**
 * A receiver that answers deliveries after 100 ms, except, while `hang` is set, those of even
 * PrimaryKeys: it never answers them (a receiver slower than any shutdown deadline).
 */
interface SlowReceiver extends Receiver {
  hang: boolean;
  /** EventIds answered 200, and those left hanging. */
  answered: Set<string>;
  hung: Set<string>;
}

async function startSlowReceiver(): Promise<SlowReceiver> {
  const open: http.ServerResponse[] = [];
  const state = { hang: true, answered: new Set<string>(), hung: new Set<string>() };
  const receiver = await startReceiver((req, res) => {
    if (req.headers['x-hook-test'] === 'true') {
      res.writeHead(200).end('verified');
      return;
    }
    const payload = JSON.parse(req.body.toString('utf8')) as { EventId: string; PrimaryKey: number };
    if (state.hang && payload.PrimaryKey % 2 === 0) {
      state.hung.add(payload.EventId);
      open.push(res);
      return;
    }
    setTimeout(() => {
      state.answered.add(payload.EventId);
      res.writeHead(200).end('ok');
    }, 100);
  });
  const closeReceiver = receiver.close;
  return Object.assign(state, {
    url: receiver.url,
    port: receiver.port,
    requests: receiver.requests,
    close: async () => {
      for (const res of open) res.destroy();
      await closeReceiver();
    },
  });
}

interface DeliveryState {
  event_id: string;
  status: string;
  attempts: number;
  locked: boolean;
  due: boolean;
}

async function deliveryStates(t: TestService): Promise<DeliveryState[]> {
  return t.service.db.dataSource.query(
    `SELECT event_id, status, attempts, locked_by IS NOT NULL AS locked, run_at <= now() AS due FROM delivery ORDER BY delivery_id`,
  );
}

/** Every delivery is done or at once claimable by another worker; none waits for a lease. */
function expectDoneOrClaimable(states: DeliveryState[], r: SlowReceiver): void {
  const stuck = states.filter((d) => !(d.status === 'succeeded' || (d.status === 'pending' && !d.locked && d.due)));
  expect(stuck).toEqual([]);
  const byEvent = new Map(states.map((d) => [d.event_id, d]));
  // What the receiver answered in time was recorded; what hung was released without an attempt.
  expect([...r.answered].filter((id) => byEvent.get(id)?.status !== 'succeeded')).toEqual([]);
  expect(r.hung.size).toBeGreaterThan(0);
  for (const id of r.hung) expect(byEvent.get(id)).toMatchObject({ status: 'pending', attempts: 0, locked: false, due: true });
}

describe('graceful shutdown', () => {
  let t: TestService | undefined;
  let r: SlowReceiver | undefined;
  const children: ChildProcess[] = [];
  const engines: DeliveryEngine[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await r?.close();
    await t?.stop();
    t = undefined;
    r = undefined;
  });

  async function setUp(events: number, shutdownTimeoutMs: number): Promise<TestService> {
    t = await startTestService({
      RUN_WORKER: 'false',
      WORKER_CONCURRENCY: '8',
      DELIVERY_TIMEOUT_MS: String(DELIVERY_TIMEOUT_MS),
      LEASE_MARGIN_MS: String(LEASE_MARGIN_MS),
      SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
      POLL_INTERVAL_MS: '100',
    });
    r = await startSlowReceiver();
    await createWebhook(t.service.manager, r.url, ['shutdown.burst'], { secret: '' });
    for (let i = 1; i <= events; i++) await t.service.manager.signalEvent('shutdown.burst', i, null, ACTOR);
    return t;
  }

  function engine(service: TestService): DeliveryEngine {
    const config = loadConfig(service.env);
    const e = new DeliveryEngine(service.service.db.dataSource, config, createLogger(config));
    engines.push(e);
    return e;
  }

  /** Another worker, with the receiver answering everything, sends the rest well before any lease could expire. */
  async function secondWorkerFinishes(service: TestService, receiver: SlowReceiver, start: () => void): Promise<void> {
    receiver.hang = false;
    const begun = Date.now();
    start();
    await waitFor('every delivery succeeded', async () => (await deliveryStates(service)).every((d) => d.status === 'succeeded'), 20_000);
    expect(Date.now() - begun).toBeLessThan(LEASE_MS / 2);
  }

  it('engine.close() lets attempts in flight finish until SHUTDOWN_TIMEOUT_MS, then releases the unfinished claims and drops late results', async () => {
    const service = await setUp(60, 800);
    const first = engine(service);
    first.startWorker();
    await waitFor('four hanging attempts', () => r!.hung.size >= 4, 20_000, 5);
    await waitFor('some answered attempts recorded', async () => (await deliveryStates(service)).some((d) => d.status === 'succeeded'));

    const closing = Date.now();
    await first.close();
    const took = Date.now() - closing;
    expect(took).toBeGreaterThanOrEqual(750); // it waited for the hanging attempts ...
    expect(took).toBeLessThan(800 + 1500); // ... until the deadline, not for the delivery timeout or the lease

    const [{ attempts }] = await service.service.db.dataSource.query(`SELECT count(*)::int AS attempts FROM delivery_attempt`);
    const states = await deliveryStates(service);
    expectDoneOrClaimable(states, r!);
    // The hanging sends were cut off when the worker stopped; those late results are not recorded.
    await sleep(300);
    const after = await service.service.db.dataSource.query(`SELECT count(*)::int AS attempts, count(*) FILTER (WHERE http_status IS DISTINCT FROM 200)::int AS failed FROM delivery_attempt`);
    expect(after[0]).toEqual({ attempts, failed: 0 });

    await secondWorkerFinishes(service, r!, () => engine(service).startWorker());
  });

  it('a worker process stopped with SIGTERM mid-burst against a slow receiver exits 0 within the deadline, leaving nothing locked; a second worker sends the rest', async () => {
    expect(fs.existsSync(CLI)).toBe(true); // npm test builds dist/ first; otherwise run `npm run build`
    const shutdownTimeoutMs = 1500;
    const service = await setUp(200, shutdownTimeoutMs);
    const start = (): { child: ChildProcess; log: string[]; started: Promise<void> } => {
      const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, ...service.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const log: string[] = [];
      const started = new Promise<void>((resolve) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          log.push(chunk.toString('utf8'));
          if (log.join('').includes('delivery worker started')) resolve();
        });
        child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString('utf8')));
      });
      return { child, log, started };
    };
    const first = start();
    await first.started;
    await waitFor('four hanging attempts', () => r!.hung.size >= 4, 20_000, 5);
    await waitFor('some answered attempts recorded', async () => (await deliveryStates(service)).some((d) => d.status === 'succeeded'));
    const [{ locked }] = await service.service.db.dataSource.query(`SELECT count(*)::int AS locked FROM delivery WHERE locked_by IS NOT NULL`);
    expect(locked).toBeGreaterThan(0);

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => first.child.once('exit', (code, signal) => resolve({ code, signal })));
    const stopping = Date.now();
    first.child.kill('SIGTERM');
    const exit = await exited;
    const took = Date.now() - stopping;
    expect({ exit, log: exit.code === 0 ? '' : first.log.join('') }).toEqual({ exit: { code: 0, signal: null }, log: '' });
    expect(took).toBeGreaterThanOrEqual(shutdownTimeoutMs - 100);
    expect(took).toBeLessThan(shutdownTimeoutMs + 2000);
    expect(first.log.join('')).toMatch(/released the unfinished claims/);

    const states = await deliveryStates(service);
    expect(states.filter((d) => d.status === 'pending').length).toBeGreaterThan(0); // it was mid-burst
    expectDoneOrClaimable(states, r!);

    await secondWorkerFinishes(service, r!, () => void start().started);
  });

  it('serve stops on SIGTERM: it exits 0, the port stops answering and the database is left closed (a new serve opens it)', async () => {
    const database: TestDatabase = await createTestDatabase();
    try {
      const env = { ...process.env, ...database.env, PORT: '0', LOG_LEVEL: 'info', BOOTSTRAP_TICKET: 'false', SHUTDOWN_TIMEOUT_MS: '2000' };
      const serveOnce = async (): Promise<void> => {
        const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let out = '';
        child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
        const url = await new Promise<string>((resolve, reject) => {
          child.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString('utf8');
            const match = /"url":"http:\/\/localhost:(\d+)"/.exec(out);
            if (match) resolve(`http://127.0.0.1:${match[1]}`);
          });
          child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening:\n${out}`)));
        });
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      };
      await serveOnce();
      await serveOnce(); // the embedded data folder was released
    } finally {
      await database.drop();
    }
  });
});
