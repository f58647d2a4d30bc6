// What every route and job needs: the database, the configuration, the server's own key.
import type { Identity } from '@dc/core/node';
import type { Config } from './config.js';
import type { Db } from './db/db.js';
import type { Metrics } from './metrics.js';
import type { Dispatcher } from './dispatch.js';

export interface AppContext {
  db: Db;
  config: Config;
  serverKey: Identity;
  metrics: Metrics;
  /** Parks long-poll requests until work is announced (LISTEN/NOTIFY). */
  dispatcher: Dispatcher;
  /** How many migrations this build ships; /readyz waits for all of them. */
  expectedMigrations: number;
}
