// The database settings of DESIGN.md v3 (DATABASE_LISTEN_URL, DC_PREPARED_STATEMENTS) and what an
// unreachable database looks like to the API: 503 database_unavailable with Retry-After, never a
// 500. The outage itself, with a real PostgreSQL going away under load, is drills.pg.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../src/config.js';
import { GENERIC_PLANS_OPTION, PostgresDb, isDatabaseUnavailable } from '../src/db/db.js';
import { DomainError } from '../src/errors.js';
import { freePort } from '@dc/testkit';
import { connectTestDb, createTestDb, serverUrl } from './helpers.js';

test('generic plans are asked for only on a direct connection with prepared statements (PgBouncer refuses the startup option)', async () => {
  const url = 'postgres://u:p@127.0.0.1:1/dc';
  const direct = new PostgresDb(url);
  const pooled = new PostgresDb(url, { listenUrl: 'postgres://u:p@127.0.0.1:2/dc' });
  const unprepared = new PostgresDb(url, { preparedStatements: false });
  try {
    const startupOptions = (db: PostgresDb) => (db.pool.options as { options?: string }).options;
    assert.equal(startupOptions(direct), GENERIC_PLANS_OPTION);
    assert.equal(startupOptions(pooled), undefined);
    assert.equal(startupOptions(unprepared), undefined);
  } finally {
    await Promise.all([direct.close(), pooled.close(), unprepared.close()]);
  }
});

test('DATABASE_LISTEN_URL and DC_PREPARED_STATEMENTS are read and checked', () => {
  const base = { DATABASE_URL: 'postgres://u:p@bouncer:6432/dc' };
  const c = loadConfig({ ...base, DATABASE_LISTEN_URL: 'postgres://u:p@db:5432/dc', DC_PREPARED_STATEMENTS: 'off' });
  assert.equal(c.databaseListenUrl, 'postgres://u:p@db:5432/dc');
  assert.equal(c.preparedStatements, false);
  assert.equal(loadConfig(base).preparedStatements, true, 'on by default');
  assert.equal(loadConfig({ ...base, DC_PREPARED_STATEMENTS: 'ON' }).preparedStatements, true);
  assert.equal(loadConfig(base).databaseListenUrl, null);
  assert.throws(() => loadConfig({ ...base, DC_PREPARED_STATEMENTS: 'maybe' }), (e: Error) => e instanceof ConfigError && /DC_PREPARED_STATEMENTS must be on or off/.test(e.message));
  assert.throws(() => loadConfig({ ...base, DATABASE_LISTEN_URL: 'mysql://x' }), /DATABASE_LISTEN_URL must start with postgres/);
  assert.throws(() => loadConfig({ DATABASE_LISTEN_URL: 'postgres://db/dc' }), /DATABASE_LISTEN_URL needs DATABASE_URL/);
});

test('errors of a database that is away are told apart from bugs and bad input', () => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  for (const e of [
    withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P02'), withCode('57P03', 'the database system is starting up'), withCode('53300'), withCode('08006'),
    withCode('08P01', 'server conn crashed?'), withCode('ECONNREFUSED'), withCode('ECONNRESET'),
    new Error('Connection terminated unexpectedly'), new Error('Connection terminated due to connection timeout'),
    new Error('timeout exceeded when trying to connect'), new DomainError('database_unavailable'),
    // A long-poll woken while its replica shuts down queries an ended pool: retry elsewhere.
    new Error('Cannot use a pool after calling end on the pool'),
  ]) {
    assert.equal(isDatabaseUnavailable(e), true, `${(e as { code?: string }).code ?? ''} ${e.message}`);
  }
  for (const e of [withCode('23505', 'duplicate key'), withCode('42P01'), new Error('boom'), new DomainError('lock_held'), null, 'text']) {
    assert.equal(isDatabaseUnavailable(e), false, String(e));
  }
});

test('a query, a transaction and LISTEN against a database that is not there fail with 503 database_unavailable', async () => {
  const port = await freePort(); // nothing listens there
  const db = new PostgresDb(`postgres://nobody@127.0.0.1:${port}/none`, { max: 2 });
  try {
    for (const attempt of [() => db.query('SELECT 1'), () => db.transaction(async (tx) => tx.query('SELECT 1'))]) {
      await assert.rejects(attempt(), (e: unknown) => {
        assert.ok(e instanceof DomainError, String(e));
        assert.equal(e.code, 'database_unavailable');
        assert.equal(e.status, 503);
        assert.ok((e.retryAfterSeconds ?? 0) > 0, 'with Retry-After');
        return true;
      });
    }
    await assert.rejects(db.listen('dc_test_channel', () => {}));
  } finally {
    await db.close();
  }
});

test('DC_PREPARED_STATEMENTS=off: hot queries leave no named statement on the connection', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' }, async () => {
  const t = await createTestDb();
  const on = connectTestDb(t.url!, 1);
  const off = new PostgresDb(t.url!, { max: 1, preparedStatements: false });
  try {
    const named = async (db: PostgresDb) => {
      await db.query('SELECT $1::int AS n', [1], { prepare: 'dc_test_named' });
      return (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'dc_test_named'`)).rows[0]!.n;
    };
    assert.equal(await named(off), 0);
    // Through PgBouncer in transaction mode the check would land on any server connection.
    if (!process.env.TEST_DATABASE_LISTEN_URL) assert.equal(await named(on), 1, 'on: the statement is prepared once per connection');
  } finally {
    await on.close();
    await off.close();
    await t.drop();
  }
});
