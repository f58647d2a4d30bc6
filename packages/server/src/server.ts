// Wires a running dc-api: database, migrations, server key, HTTP app, background jobs.
import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { generateIdentity, identityFromSeed, seedHex } from '@dc/core/node';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { openDb, type Db } from './db/db.js';
import { loadMigrations, migrate } from './db/migrate.js';
import { buildApp } from './app.js';
import { createMetrics } from './metrics.js';
import { loadServerKey } from './store/agents.js';
import { startJobs } from './jobs/sweeper.js';
import { Dispatcher } from './dispatch.js';

export interface RunningServer {
  app: FastifyInstance;
  ctx: AppContext;
  /** Stops accepting, finishes in-flight requests, stops jobs, closes the database (unless shared). */
  close(): Promise<void>;
}

export async function createContext(config: Config, db?: Db): Promise<AppContext> {
  if (!db) {
    if (!config.databaseUrl) await mkdir(config.dataDir, { recursive: true });
    db = await openDb({
      databaseUrl: config.databaseUrl,
      dataDir: config.databaseUrl ? null : config.dataDir,
      listenUrl: config.databaseListenUrl,
      preparedStatements: config.preparedStatements,
    });
  }
  const migrations = await loadMigrations();
  await migrate(db, migrations);
  const candidate = generateIdentity();
  const { seed_hex } = await loadServerKey(db, candidate, seedHex(candidate.privateKey));
  const dispatcher = new Dispatcher(db, { offlineAfterSeconds: config.agentOfflineAfterSeconds });
  await dispatcher.start();
  return { db, config, serverKey: identityFromSeed(seed_hex), metrics: createMetrics(), dispatcher, expectedMigrations: migrations.length };
}

export async function startServer(
  config: Config,
  opts: { db?: Db; listen?: boolean; jobs?: boolean; logger?: boolean } = {},
): Promise<RunningServer> {
  const ownsDb = !opts.db;
  const ctx = await createContext(config, opts.db);
  const app = await buildApp(ctx, { logger: opts.logger });
  const stopJobs = opts.jobs === false ? async () => {} : startJobs(ctx, app.log);
  if (opts.listen !== false) await app.listen({ port: config.port, host: config.host });
  else await app.ready();
  return {
    app,
    ctx,
    async close() {
      await stopJobs();
      await app.close();
      if (ownsDb) await ctx.db.close();
    },
  };
}
