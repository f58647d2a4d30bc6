// What every route and job needs: the database, the configuration, the server's own key.
import type { Identity } from '@dc/core';
import type { Config } from './config.js';
import type { Db } from './db/db.js';
import type { Metrics } from './metrics.js';

export interface AppContext {
  db: Db;
  config: Config;
  serverKey: Identity;
  metrics: Metrics;
  /** How many migrations this build ships; /readyz waits for all of them. */
  expectedMigrations: number;
}
