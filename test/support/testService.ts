import type { DestinationStream } from 'pino';
import { loadConfig } from '../../src/config';
import { createTicket } from '../../src/core/tickets';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { SOAP_PATH } from '../../src/soap/endpoint';
import { createTestDatabase, type TestDatabase } from './testDatabase';

export interface TestService {
  service: RunningService;
  database: TestDatabase;
  /** The SOAP endpoint URL. */
  soapUrl: string;
  wsdlUrl: string;
  ticket: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A real service on 127.0.0.1 (random port) over a fresh database, allowed to reach local
 * receivers (http and loopback targets), with one ticket for associate 7 "Test Associate".
 */
export async function startTestService(overrides: Record<string, string> = {}, options: { logDestination?: DestinationStream } = {}): Promise<TestService> {
  const database = await createTestDatabase();
  const env: Record<string, string> = {
    PORT: '0',
    ALLOW_HTTP_TARGETS: 'true',
    ALLOW_PRIVATE_TARGETS: 'true',
    VERIFY_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'silent',
    BOOTSTRAP_TICKET: 'false',
    ...database.env,
    ...overrides,
  };
  const config = loadConfig(env);
  const service = await startService(config, createLogger(config, options.logDestination));
  const publicUrl = service.url;
  const ticket = await createTicket(service.db.dataSource, 'Test Associate', 7);
  return {
    service,
    database,
    soapUrl: `${publicUrl}${SOAP_PATH}`,
    wsdlUrl: `${publicUrl}${SOAP_PATH}?wsdl`,
    ticket,
    env,
    async stop() {
      await service.close();
      await database.drop();
    },
  };
}

/**
 * The test service's own database and a URL to administer it from elsewhere: on a server the
 * database created for the test (administered from DATABASE_URL's), embedded the server's
 * `postgres` (administered from template1: a database cannot refuse connections to itself).
 */
export function databaseAdmin(t: TestService): { dbName: string; adminUrl: string } {
  if (t.database.mode === 'server') return { dbName: new URL(t.env.DATABASE_URL).pathname.slice(1), adminUrl: process.env.DATABASE_URL! };
  return { dbName: 'postgres', adminUrl: t.service.db.url.replace('@/postgres?', '@/template1?') };
}
