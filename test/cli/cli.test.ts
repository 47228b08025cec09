import { spawn } from 'node:child_process';
import { loadConfig } from '../../src/config';
import { authenticate } from '../../src/core/tickets';
import { openDatabase } from '../../src/db/dataSource';
import { call, createSoapClient } from '../support/soapClient';
import { CLI, runCli } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';




/** The compiled CLI (npm test builds it first), run as a child process against a real database. */
describe('webhook-agent CLI', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('tickets create prints the ticket alone on the last line of stdout; tickets list never shows it', async () => {
    const created = await runCli(['tickets', 'create', '--name', 'Integration', '--associate-id', '42'], database.env);
    expect(created.code).toBe(0);
    const ticket = created.stdout.trim().split('\n').pop()!;
    expect(ticket).toMatch(/^wat_[A-Za-z0-9_-]{43}$/);

    const bound = await runCli(['tickets', 'create', '--name', 'App bound', '--application', 'app-token-1'], database.env);
    expect(bound.code).toBe(0);

    const list = await runCli(['tickets', 'list'], database.env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/\tIntegration\tassociate 42\toperator\t.*\tactive/);
    expect(list.stdout).toMatch(/\tApp bound\tassociate 1\tapplication\t.*\tactive/);
    expect(list.stdout).not.toContain(ticket);
    expect(list.stdout).not.toContain('app-token-1');
  });

  it('tickets revoke makes a ticket unusable and says so for an unknown id', async () => {
    const created = await runCli(['tickets', 'create', '--name', 'Short-lived'], database.env);
    const ticket = created.stdout.trim().split('\n').pop()!;
    const list = await runCli(['tickets', 'list'], database.env);
    const id = /^(\d+)\tShort-lived\t/m.exec(list.stdout)![1];
    const revoked = await runCli(['tickets', 'revoke', id], database.env);
    expect(revoked.code).toBe(0);
    expect((await runCli(['tickets', 'list'], database.env)).stdout).toMatch(new RegExp(`^${id}\\tShort-lived\\t.*\\trevoked `, 'm'));
    const again = await runCli(['tickets', 'revoke', id], database.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/No active ticket/);
    const db = await openDatabase(loadConfig(database.env));
    try {
      await expect(authenticate(db.dataSource, ticket)).rejects.toThrow(/unknown or revoked/);
    } finally {
      await db.close();
    }
  });

  it('tickets create works while the service holds the embedded data folder, through its socket', async () => {
    if (database.mode === 'server') return; // the shared-folder case exists only in embedded mode
    const serve = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...database.env, PORT: '0', LOG_LEVEL: 'info', BOOTSTRAP_TICKET: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        serve.stdout.on('data', (chunk) => {
          out += chunk;
          const match = /"url":"http:\/\/localhost:(\d+)"/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        serve.once('exit', () => reject(new Error(`serve exited: ${out}`)));
      });
      const created = await runCli(['tickets', 'create', '--name', 'While running'], database.env);
      expect(created.code).toBe(0);
      const ticket = created.stdout.trim().split('\n').pop()!;
      const url = `http://127.0.0.1:${port}/Remote/Services88/Webhook.svc`;
      const client = await createSoapClient(`${url}?wsdl`, url, ticket);
      const [result] = await call(client, 'CreateDefaultWebhook', {});
      expect(result.Response.Type).toBe('webhook');

      const second = await runCli(['serve'], { ...database.env, PORT: '0' });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/is in use by another webhook-agent process/);
    } finally {
      serve.kill('SIGTERM');
      await new Promise((resolve) => serve.once('exit', resolve));
    }
  });

  it('exits 2 with a clear message on bad usage or configuration', async () => {
    const usage = await runCli(['tickets', 'create'], database.env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/needs --name NAME/);
    const config = await runCli(['migrate'], { ...database.env, PORT: 'eighty' });
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/PORT="eighty" is not a whole number/);
    const unknown = await runCli(['frobnicate'], database.env);
    expect(unknown.code).toBe(2);
  });

  it('migrate reports an up-to-date schema and --help describes every command', async () => {
    const migrate = await runCli(['migrate'], database.env);
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/up to date/);
    const help = await runCli(['--help'], {});
    expect(help.code).toBe(0);
    for (const command of ['serve', 'migrate', 'tickets create']) expect(help.stdout).toContain(command);
  });
});
