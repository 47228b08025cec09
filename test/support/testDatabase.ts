import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

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
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    return { env: { DATA_DIR: dataDir }, mode: 'embedded', drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
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
