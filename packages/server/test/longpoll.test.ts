// Long-poll dispatch across replicas (LISTEN/NOTIFY): prompt wake-ups for the right pool only,
// no more waiters woken than there is work, lease expiry announced by a timer, clean shutdown.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import type { Db } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import { connectTestDb, agentCall, call, createTestDb, mustOk, operator, providerWithPool, registerAgent, testConfig, type Harness, type TestDb, base } from './helpers.js';

let testDb: TestDb;
let secondDb: Db; // replica B's own connection(s) to the same database
let a: Harness; // replica A
let b: Harness; // replica B

function harness(server: RunningServer, db: Db): Harness {
  return { server, testDb, db, close: () => server.close() };
}

before(async () => {
  testDb = await createTestDb();
  const env = { DC_LOCK_TTL_SECONDS: '3' };
  const opts = { listen: false, jobs: false, logger: false } as const;
  a = harness(await startServer(testConfig(env), { ...opts, db: testDb.db }), testDb.db);
  // On PostgreSQL replica B has its own pool and LISTEN connection; PGlite is one in-process engine.
  secondDb = testDb.url ? connectTestDb(testDb.url) : testDb.db;
  b = harness(await startServer(testConfig(env), { ...opts, db: secondDb }), secondDb);
});
after(async () => {
  await a.server.close();
  await b.server.close();
  if (secondDb !== testDb.db) await secondDb.close();
  await testDb.drop();
});


async function acceptedUnpaid(h: Harness, provider: Identity, offering: string, country = 'DE'): Promise<string> {
  const o = await call(h, provider, 'GET', `${base(provider)}/offerings/${offering}`);
  if (o.status === 404) {
    await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, {
      offering_id: offering, name: offering, product_type: 'compute', datacenter_country: country, monthly_price: 5, currency: 'EUR',
    }));
  }
  const c = await mustOk(call(h, generateIdentity(), 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: offering }));
  await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${c.body.contract_id}/accept`));
  return c.body.contract_id;
}

async function untilParked(h: Harness, n: number): Promise<void> {
  const deadline = Date.now() + 30_000; // an upper bound for a loaded machine, never waited for when things work
  while (h.server.ctx.dispatcher.parked < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(h.server.ctx.dispatcher.parked >= n, `expected ${n} parked requests`);
}

test('a held claim returns when a matching contract is paid on another replica', async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agent = await registerAgent(a, provider, poolId);
  const id = await acceptedUnpaid(a, provider, 'lp-eu');
  const held = agentCall(a, agent, 'POST', `${base(provider)}/contracts/claim?wait=30`, { max: 1 });
  await untilParked(a, 1);
  await mustOk(call(b, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  const r = await held;
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.items.map((c: any) => c.contract_id), [id]);
  assert.equal(r.body.items[0].lock_agent, agent.publicKey);
});

test('pending-provision?wait holds too and returns the contract once paid elsewhere', async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agent = await registerAgent(a, provider, poolId);
  const id = await acceptedUnpaid(a, provider, 'lp-pp');
  const held = agentCall(a, agent, 'GET', `${base(provider)}/contracts/pending-provision?wait=30`);
  await untilParked(a, 1);
  await mustOk(call(b, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  assert.deepEqual((await held).body.items.map((c: any) => c.contract_id), [id]);
});

test('work routed to another pool does not wake the waiter, which times out empty', async () => {
  const { provider } = await providerWithPool(a, { name: 'eu', location: 'europe' });
  const naPool = (await mustOk(call(a, provider, 'POST', `${base(provider)}/pools`, { name: 'na', location: 'na', provisioner_type: 'proxmox' }))).body.pool_id;
  const naAgent = await registerAgent(a, provider, naPool);
  const euContract = await acceptedUnpaid(a, provider, 'eu-only', 'DE');
  const wokenBefore = a.server.ctx.dispatcher.woken;
  const started = Date.now();
  const held = agentCall(a, naAgent, 'POST', `${base(provider)}/contracts/claim?wait=2`, { max: 1 });
  await untilParked(a, 1);
  await mustOk(call(b, operator, 'POST', `/api/v1/contracts/${euContract}/payment`, { status: 'succeeded' }));
  const r = await held;
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.items, []);
  assert.ok(Date.now() - started >= 1900, 'held until wait elapsed');
  assert.equal(a.server.ctx.dispatcher.woken, wokenBefore, 'the europe contract woke nobody in na');
});

test('an empty long-poll times out after N seconds', async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agent = await registerAgent(a, provider, poolId);
  const started = Date.now();
  const r = await mustOk(agentCall(a, agent, 'GET', `${base(provider)}/contracts/pending-provision?wait=1`));
  assert.deepEqual(r.body.items, []);
  assert.ok(Date.now() - started >= 900);
  assert.equal((await agentCall(a, agent, 'GET', `${base(provider)}/contracts/pending-provision?wait=51`)).status, 400);
});

test('two new contracts wake two of five parked agents, not all of them', async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agents: Identity[] = [];
  for (let i = 0; i < 5; i++) agents.push(await registerAgent(a, provider, poolId));
  const c1 = await acceptedUnpaid(a, provider, 'herd');
  const c2 = await acceptedUnpaid(a, provider, 'herd');
  const wokenBefore = a.server.ctx.dispatcher.woken;
  const parkedBefore = a.server.ctx.dispatcher.parked;
  const withWork: string[] = [];
  const held = agents.map((ag) =>
    agentCall(a, ag, 'POST', `${base(provider)}/contracts/claim?wait=3`, { max: 1 }).then((r) => {
      for (const c of r.body.items) withWork.push(c.contract_id);
      return r;
    }),
  );
  await untilParked(a, parkedBefore + 5);
  await mustOk(call(b, operator, 'POST', `/api/v1/contracts/${c1}/payment`, { status: 'succeeded' }));
  await mustOk(call(b, operator, 'POST', `/api/v1/contracts/${c2}/payment`, { status: 'succeeded' }));
  while (withWork.length < 2) await new Promise((r) => setTimeout(r, 5));
  // Measured before the 3 s leases can expire and legitimately wake someone else.
  assert.deepEqual(withWork.sort(), [c1, c2].sort());
  assert.equal(a.server.ctx.dispatcher.woken - wokenBefore, 2, 'one wake-up per contract');
  assert.equal(a.server.ctx.dispatcher.parked, parkedBefore + 3, 'the other three stay parked');
  await Promise.all(held);
});

test('a lease expiring wakes a waiting agent without any write (expiry timer)', async () => {
  const { provider, poolId } = await providerWithPool(a);
  const first = await registerAgent(a, provider, poolId);
  const second = await registerAgent(a, provider, poolId);
  const id = await acceptedUnpaid(a, provider, 'expiring');
  await mustOk(call(a, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  const g = await mustOk(agentCall(a, first, 'POST', `${base(provider)}/contracts/${id}/lock`)); // TTL 3 s
  const r = await mustOk(agentCall(a, second, 'POST', `${base(provider)}/contracts/claim?wait=30`, { max: 1 }));
  assert.deepEqual(r.body.items.map((c: any) => c.contract_id), [id]);
  assert.equal(r.body.items[0].lock_token, g.body.lock_token + 1);
  assert.equal(r.body.items[0].attempts, 1, 'the expiry counted as an attempt');
});

test('shutdown answers held long-polls at once', async () => {
  const db = testDb.url ? connectTestDb(testDb.url) : testDb.db;
  const s = await startServer(testConfig(), { db, listen: false, jobs: false, logger: false });
  const h = harness(s, db);
  const { provider, poolId } = await providerWithPool(h);
  const agent = await registerAgent(h, provider, poolId);
  const held = agentCall(h, agent, 'POST', `${base(provider)}/contracts/claim?wait=40`, { max: 1 });
  await untilParked(h, 1);
  const started = Date.now();
  await s.close();
  const r = await held;
  assert.ok(Date.now() - started < 20_000, 'close did not wait for the 40 s long-poll');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.items, []);
  if (db !== testDb.db) await db.close();
});

