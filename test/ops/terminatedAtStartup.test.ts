import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { ACTOR, createWebhook, startCheckingReceiver, waitFor, type CheckingReceiver } from '../delivery/helpers';
import type { TestDatabase } from '../support/testDatabase';
import { databaseBehindProxy, itBehindProxy, type TcpProxy } from '../support/tcpProxy';

/**
 * A backend terminated the moment its startup finished: the server's ReadyForQuery and its
 * FATAL 57P01 reach node-postgres in one packet, so the client reports the error before any
 * code that awaited its connect() has run. Every connection the service opens (its pool, the
 * worker's LISTEN) must have an error listener from the start, or the process dies of an
 * unhandled 'error' event. CI once lost a worker process this way in the outage test of
 * workers.test.ts. Needs a PostgreSQL server (DATABASE_URL) to put a proxy in front of.
 */
const runIt = itBehindProxy('terminatedAtStartup.test.ts');

describe('connections terminated as their startup completes', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let service: RunningService | undefined;
  let receiver: CheckingReceiver | undefined;

  afterAll(async () => {
    await service?.close();
    await receiver?.close();
    await proxy?.close();
    await database?.drop();
  });

  runIt("crash nothing: the pool and the worker's LISTEN connect again, and every event signalled afterwards is delivered", async () => {
    let url: string;
    ({ database, proxy, url } = await databaseBehindProxy());
    const config = loadConfig({ ...database.env, DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'silent', BOOTSTRAP_TICKET: 'false', RUN_WORKER: 'true', ALLOW_HTTP_TARGETS: 'true', ALLOW_PRIVATE_TARGETS: 'true' });
    service = await startService(config, createLogger(config));
    receiver = await startCheckingReceiver(null);
    await createWebhook(service.manager, receiver.url, ['startup.killed'], { secret: '' });

    // Every connection the service has now is terminated, and each new one dies as it starts:
    // the pool's clients, the worker's claims and heartbeat, and its LISTEN connection retry.
    proxy.terminateAtStartup(true);
    const admin = new Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [new URL(url).pathname.slice(1)]);
      await waitFor('the pool and the listener to be terminated at startup', () => proxy!.terminatedAtStartup >= 4, 15_000);
    } finally {
      proxy.terminateAtStartup(false);
      await admin.end();
    }

    for (let key = 1; key <= 20; key++) await service.manager.signalEvent('startup.killed', key, null, ACTOR);
    await waitFor('20 deliveries', () => receiver!.delivered.length === 20, 20_000);
    expect(new Set(receiver.delivered.map((d) => d.payload.PrimaryKey)).size).toBe(20);
  });
});
