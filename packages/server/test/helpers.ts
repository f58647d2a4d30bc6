// Test harness: a fresh database per test file (PGlite in memory, or a new database on the
// PostgreSQL server named by TEST_DATABASE_URL), an in-process app, and signed-request helpers
// over @dc/testkit's client.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { authorityOf, type KeyHeader } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { SignedClient, mustOk as mustOkNow, type Res } from '@dc/testkit';
import { loadConfig, type Config } from '../src/config.js';
import { PgliteDb, PostgresDb, type Db } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';

export const TEST_HOST = 'api.test.local';

/** The PostgreSQL server under test, or null for the embedded database. */
export function serverUrl(): string | null {
  return process.env.TEST_DATABASE_URL?.trim() || null;
}

export interface TestDb {
  db: Db;
  /** Connection string of this test's own database (null on PGlite). */
  url: string | null;
  /** The environment a dc-api process needs for this database (DATABASE_URL and, through PgBouncer, the rest). */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * CI runs the PostgreSQL suite a second time through a transaction-pooling PgBouncer:
 * TEST_DATABASE_URL points at PgBouncer, TEST_DATABASE_LISTEN_URL at the server itself, and
 * TEST_PREPARED_STATEMENTS=off. These give a test database's direct URL and the server settings.
 */
export function directUrl(url: string): string | null {
  const direct = process.env.TEST_DATABASE_LISTEN_URL?.trim();
  if (!direct) return null;
  const u = new URL(direct);
  u.pathname = new URL(url).pathname;
  return u.toString();
}
const preparedStatements = () => process.env.TEST_PREPARED_STATEMENTS?.trim() !== 'off';

/** A connection to a test database as dc-api would open it in this run (direct, or through PgBouncer). */
export function connectTestDb(url: string, max = 20): PostgresDb {
  return new PostgresDb(url, { max, listenUrl: directUrl(url), preparedStatements: preparedStatements() });
}

/** DATABASE_URL (and DATABASE_LISTEN_URL, DC_PREPARED_STATEMENTS when through PgBouncer) for a dc-api child process. */
export function databaseEnv(url: string): Record<string, string> {
  const listen = directUrl(url);
  return { DATABASE_URL: url, ...(listen ? { DATABASE_LISTEN_URL: listen } : {}), ...(preparedStatements() ? {} : { DC_PREPARED_STATEMENTS: 'off' }) };
}

/** A new, empty database that only this test file uses. */
export async function createTestDb(): Promise<TestDb> {
  const admin = serverUrl();
  if (!admin) {
    const db = await PgliteDb.open(null);
    return { db, url: null, env: {}, drop: () => db.close() };
  }
  const name = `dct_${process.pid}_${randomBytes(4).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const db = connectTestDb(u.toString());
  return {
    db,
    url: u.toString(),
    env: databaseEnv(u.toString()),
    async drop() {
      await db.close();
      const c2 = new pg.Client({ connectionString: admin });
      await c2.connect();
      await c2.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c2.end();
    },
  };
}

export const operator = generateIdentity();

export function testConfig(env: Record<string, string> = {}): Config {
  // Tests register many agents from one address: the setup rate limit is lifted unless a test sets it.
  return loadConfig({ LOG_LEVEL: 'silent', DC_OPERATOR_PUBKEYS: operator.publicKey, DC_SETUP_RATE_LIMIT_PER_MINUTE: '1000000', ...env });
}

export interface Harness {
  server: RunningServer;
  testDb: TestDb;
  db: Db;
  /** The authority `call` signs for: DC_PUBLIC_URL's when the harness sets it, else TEST_HOST. */
  signHost?: string;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const testDb = await createTestDb();
  const server = await startServer(testConfig(env), { db: testDb.db, listen: false, jobs: false, logger: false });
  return {
    server,
    testDb,
    db: testDb.db,
    signHost: env.DC_PUBLIC_URL ? authorityOf(env.DC_PUBLIC_URL) : TEST_HOST,
    async close() {
      await server.close();
      await testDb.drop();
    },
  };
}

export type { Res } from '@dc/testkit';

/** The harness's in-process signed client (built per call: tests pass harness copies with another server or signHost). */
const clientOf = (h: Harness) => SignedClient.inject(h.server.app, TEST_HOST, h.signHost ?? TEST_HOST);

/** Sends a request signed by `who` through app.inject (no network). */
export function call<T = any>(
  h: Harness,
  who: Identity | null,
  method: string,
  path: string,
  body?: unknown,
  opts: { keyHeader?: KeyHeader; contentType?: string; headers?: Record<string, string>; timestamp?: number; nonce?: string } = {},
): Promise<Res<T>> {
  return clientOf(h).request<T>(who, method, path, body, opts);
}

export const agentCall = <T = any>(h: Harness, agent: Identity, method: string, path: string, body?: unknown) =>
  call<T>(h, agent, method, path, body, { keyHeader: 'X-Agent-Pubkey' });

/** A registered provider with one pool; returns the pieces most tests need. */
export async function providerWithPool(
  h: Harness,
  pool: { name?: string; location?: string; provisioner_type?: string } = {},
): Promise<{ provider: Identity; poolId: string }> {
  const provider = generateIdentity();
  await mustOk(call(h, provider, 'PUT', `/api/v1/providers/${provider.publicKey}`, { name: 'Test Provider' }));
  const r = await mustOk(
    call(h, provider, 'POST', `/api/v1/providers/${provider.publicKey}/pools`, {
      name: pool.name ?? 'europe-proxmox',
      location: pool.location ?? 'europe',
      provisioner_type: pool.provisioner_type ?? 'proxmox',
    }),
  );
  return { provider, poolId: r.body.pool_id };
}

/** Registers a new agent in `poolId` through the real setup endpoint. */
export async function registerAgent(h: Harness, provider: Identity, poolId: string, label?: string): Promise<Identity> {
  const t = await mustOk(call(h, provider, 'POST', `/api/v1/providers/${provider.publicKey}/pools/${poolId}/setup-tokens`, {}));
  const agent = generateIdentity();
  await mustOk(agentCall(h, agent, 'POST', '/api/v1/agents/setup', { token: t.body.token, agent_pubkey: agent.publicKey, ...(label ? { label } : {}) }));
  return agent;
}

export async function mustOk<T>(p: Promise<Res<T>>): Promise<Res<T>> {
  return mustOkNow(await p);
}

/** Creates an offering and a paid, accepted contract for it. */
export async function paidContract(
  h: Harness,
  provider: Identity,
  offering: { offering_id: string; datacenter_country?: string; provisioner_type?: string; agent_pool_id?: string },
  customer: Identity = generateIdentity(),
): Promise<string> {
  const existing = await call(h, provider, 'GET', `/api/v1/providers/${provider.publicKey}/offerings/${offering.offering_id}`);
  if (existing.status === 404) {
    await mustOk(
      call(h, provider, 'POST', `/api/v1/providers/${provider.publicKey}/offerings`, {
        name: offering.offering_id,
        product_type: 'compute',
        datacenter_country: 'DE',
        monthly_price: 5,
        currency: 'EUR',
        ...offering,
      }),
    );
  }
  const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: offering.offering_id }));
  const id = c.body.contract_id as string;
  await mustOk(call(h, provider, 'POST', `/api/v1/providers/${provider.publicKey}/contracts/${id}/accept`));
  await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  return id;
}

/** Sends a request with exactly these headers (nothing is signed for you): for auth edge cases. */
export function rawCall<T = any>(
  h: Harness,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<Res<T>> {
  return clientOf(h).request<T>(null, method, path, opts.body, { headers: opts.headers ?? {} });
}

/** A registered provider without pools. */
export async function registeredProvider(h: Harness, name = 'Test Provider'): Promise<Identity> {
  const provider = generateIdentity();
  await mustOk(call(h, provider, 'PUT', `/api/v1/providers/${provider.publicKey}`, { name }));
  return provider;
}

/** A complete, valid offering body (DE, proxmox by default); `over` replaces or adds fields. */
export function offeringInput(offeringId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { offering_id: offeringId, name: offeringId, product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', ...over };
}

/** The provider's API prefix. */
export const base = (p: Identity) => `/api/v1/providers/${p.publicKey}`;

/** An error answer of DESIGN.md's shape: `{"error": {code, message}}`, no stack trace. */
export function assertError(r: Res, status: number, code?: string): void {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.body && typeof r.body === 'object', `error body is JSON: ${r.text}`);
  assert.deepEqual(Object.keys(r.body), ['error'], r.text);
  assert.equal(typeof r.body.error.code, 'string', r.text);
  assert.match(r.body.error.code, /^[a-z][a-z0-9_]*$/);
  assert.equal(typeof r.body.error.message, 'string', r.text);
  assert.ok(r.body.error.message.length > 0);
  assert.ok(!/\bat .+\.(js|ts):\d+/.test(r.text), 'no stack trace in a response');
  if (code !== undefined) assert.equal(r.body.error.code, code, r.text);
}

/** mulberry32: a small seeded PRNG, so a randomized test's failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
