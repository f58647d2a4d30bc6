#!/usr/bin/env node
// dc-api entry point: `npm start`. Configuration errors are printed with the variable's name.
import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';
import { DRAIN_TIMEOUT_MS } from './timing.js';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`dc-api: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const server = await startServer(config);
  const where = config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}`;
  server.app.log.info({ port: config.port, host: config.host, database: where }, 'dc-api listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    // A client that holds its connection open past the drain must not keep the process alive.
    const cut = setTimeout(() => {
      server.app.log.warn({ ms: DRAIN_TIMEOUT_MS }, 'drain timed out; closing the remaining connections');
      server.app.server.closeAllConnections();
    }, DRAIN_TIMEOUT_MS);
    cut.unref();
    server.close().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`dc-api: shutdown failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1; // keep running
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: Error) => {
    process.stderr.write(`dc-api: failed to start: ${err.message}\n`);
    process.exit(1);
  },
);
