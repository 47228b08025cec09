import { spawn } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { authenticate } from '../../src/core/tickets';
import { openDatabase } from '../../src/db/dataSource';
import { call, createSoapClient } from '../support/soapClient';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

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
    const created = await run(['tickets', 'create', '--name', 'Integration', '--associate-id', '42'], database.env);
    expect(created.code).toBe(0);
    const ticket = created.stdout.trim().split('\n').pop()!;
    expect(ticket).toMatch(/^wat_[A-Za-z0-9_-]{43}$/);

    const bound = await run(['tickets', 'create', '--name', 'App bound', '--application', 'app-token-1'], database.env);
    expect(bound.code).toBe(0);

    const list = await run(['tickets', 'list'], database.env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/\tIntegration\tassociate 42\toperator\t.*\tactive/);
    expect(list.stdout).toMatch(/\tApp bound\tassociate 1\tapplication\t.*\tactive/);
    expect(list.stdout).not.toContain(ticket);
    expect(list.stdout).not.toContain('app-token-1');
  });

  it('tickets revoke makes a ticket unusable and says so for an unknown id', async () => {
    const created = await run(['tickets', 'create', '--name', 'Short-lived'], database.env);
    const ticket = created.stdout.trim().split('\n').pop()!;
    const list = await run(['tickets', 'list'], database.env);
    const id = /^(\d+)\tShort-lived\t/m.exec(list.stdout)![1];
    const revoked = await run(['tickets', 'revoke', id], database.env);
    expect(revoked.code).toBe(0);
    expect((await run(['tickets', 'list'], database.env)).stdout).toMatch(new RegExp(`^${id}\\tShort-lived\\t.*\\trevoked `, 'm'));
    const again = await run(['tickets', 'revoke', id], database.env);
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
      const created = await run(['tickets', 'create', '--name', 'While running'], database.env);
      expect(created.code).toBe(0);
      const ticket = created.stdout.trim().split('\n').pop()!;
      const url = `http://127.0.0.1:${port}/Remote/Services88/Webhook.svc`;
      const client = await createSoapClient(`${url}?wsdl`, url, ticket);
      const [result] = await call(client, 'CreateDefaultWebhook', {});
      expect(result.Response.Type).toBe('webhook');

      const second = await run(['serve'], { ...database.env, PORT: '0' });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/is in use by another webhook-agent process/);
    } finally {
      serve.kill('SIGTERM');
      await new Promise((resolve) => serve.once('exit', resolve));
    }
  });

  it('exits 2 with a clear message on bad usage or configuration', async () => {
    const usage = await run(['tickets', 'create'], database.env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/needs --name NAME/);
    const config = await run(['migrate'], { ...database.env, PORT: 'eighty' });
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/PORT="eighty" is not a whole number/);
    const unknown = await run(['frobnicate'], database.env);
    expect(unknown.code).toBe(2);
  });

  it('migrate reports an up-to-date schema and --help describes every command', async () => {
    const migrate = await run(['migrate'], database.env);
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/up to date/);
    const help = await run(['--help'], {});
    expect(help.code).toBe(0);
    for (const command of ['serve', 'migrate', 'tickets create']) expect(help.stdout).toContain(command);
  });
});
