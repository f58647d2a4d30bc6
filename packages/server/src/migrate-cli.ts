#!/usr/bin/env node
// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database).
import { mkdir } from 'node:fs/promises';
import { ConfigError, loadConfig } from './config.js';
import { openDb } from './db/db.js';
import { migrate } from './db/migrate.js';

try {
  const config = loadConfig();
  if (!config.databaseUrl) await mkdir(config.dataDir, { recursive: true });
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? null : config.dataDir });
  const applied = await migrate(db);
  await db.close();
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
} catch (err) {
  process.stderr.write(`migrate: ${err instanceof ConfigError ? 'configuration error: ' : ''}${(err as Error).message}\n`);
  process.exitCode = 1;
}
