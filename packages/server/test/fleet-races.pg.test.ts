// Fleet operations under real concurrency, PostgreSQL only: two app instances (replicas), each with
// its own connection pool, on one database. Grants lock the agent's row first and read its limits
// in a later statement (store/eligibility.ts), so
//   - concurrent claims and locks for one agent on both replicas never exceed its max_concurrent;
//   - once a drain has answered on replica A, no grant to that agent commits on replica B;
//   - an agent's nonce sent to both replicas at once, among other agents' calls, is spent exactly
//     once (each replica sends agent auth in batches: store/agent-auth.ts).
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node scripts/run-tests.mjs fleet-races
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '@dc/core/node';
import type { Db } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import {
  agentCall, base, call, connectTestDb, createTestDb, mustOk, paidContract, providerWithPool, registerAgent, serverUrl, testConfig, type Harness, type TestDb,
} from './helpers.js';

const skip = serverUrl() ? false : 'needs TEST_DATABASE_URL (PostgreSQL)';
let testDb: TestDb;
let secondDb: Db;
let a: Harness; // replica A
let b: Harness; // replica B

before(async () => {
  if (skip) return;
  testDb = await createTestDb();
  const opts = { listen: false, jobs: false, logger: false } as const;
  a = { server: await startServer(testConfig(), { ...opts, db: testDb.db }), testDb, db: testDb.db, close: async () => {} };
  secondDb = connectTestDb(testDb.url!);
  b = { server: await startServer(testConfig(), { ...opts, db: secondDb }), testDb, db: secondDb, close: async () => {} };
});
after(async () => {
  if (skip) return;
  await a.server.close();
  await b.server.close();
  await secondDb.close();
  await testDb.drop();
});

/** `n` paid, accepted contracts of `offering`, inserted at once (the offering exists). */
async function contracts(provider: Identity, offering: string, n: number): Promise<string[]> {
  const r = await testDb.db.query<{ contract_id: string }>(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
     SELECT gen_random_uuid()::text, $1, $2, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded' FROM generate_series(1, $3)
     RETURNING contract_id`,
    [provider.publicKey, offering, n],
  );
  return r.rows.map((x) => x.contract_id);
}

test('two replicas granting to one agent at once never exceed its max_concurrent', { skip, timeout: 300_000 }, async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agent = await registerAgent(a, provider, poolId);
  const MAX = 2;
  await mustOk(agentCall(a, agent, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0', max_concurrent: MAX }));
  await paidContract(a, provider, { offering_id: 'cap-race' });
  await testDb.db.query(`UPDATE contract_sign_requests SET status = 'rejected' WHERE provider_pubkey = $1`, [provider.publicKey]);
  const refusals = new Map<string, number>();
  for (let round = 0; round < 25; round++) {
    const ids = await contracts(provider, 'cap-race', 8);
    const requests = [a, b].flatMap((replica, r) => [
      ...[0, 1, 2].map(() => agentCall(replica, agent, 'POST', `${base(provider)}/contracts/claim`, { max: 3 })),
      ...[0, 1, 2].map((i) => agentCall(replica, agent, 'POST', `${base(provider)}/contracts/${ids[r * 3 + i]}/lock`)),
    ]);
    for (const res of await Promise.all(requests)) {
      if (res.status !== 200) {
        assert.equal(res.status, 409, res.text);
        refusals.set(res.body.error.code, (refusals.get(res.body.error.code) ?? 0) + 1);
      }
    }
    const held = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM contract_sign_requests WHERE provisioning_lock_agent = $1 AND status = 'accepted'`,
      [agent.publicKey],
    );
    assert.equal(held.rows[0]!.n, MAX, `round ${round}: exactly max_concurrent leases held`);
    const grants = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM contract_events WHERE contract_id = ANY($1) AND event = 'granted'`,
      [ids],
    );
    assert.equal(grants.rows[0]!.n, MAX, `round ${round}: no grant beyond max_concurrent was ever recorded`);
    // Done with this round's contracts: the next round starts with free slots.
    await testDb.db.query(
      `UPDATE contract_sign_requests SET status = 'rejected', provisioning_lock_agent = NULL, provisioning_lock_expires_at = NULL WHERE contract_id = ANY($1)`,
      [ids],
    );
  }
  assert.ok((refusals.get('agent_at_capacity') ?? 0) > 0, `locks were refused at capacity: ${JSON.stringify([...refusals])}`);
  for (const code of refusals.keys()) assert.ok(['agent_at_capacity', 'lock_held'].includes(code), code);
});

test('a drain answered on one replica stops grants on the other', { skip, timeout: 300_000 }, async () => {
  for (let round = 0; round < 5; round++) {
    const { provider, poolId } = await providerWithPool(a);
    const agent = await registerAgent(a, provider, poolId);
    await paidContract(a, provider, { offering_id: 'drain-race' });
    await contracts(provider, 'drain-race', 400);
    const taken = new Set<string>(); // a claim may also return a lease another loop just took (renewed: its own)
    let stop = false;
    let afterDrain = 0;
    let drained = false;
    // Four claim loops on replica B, each taking one new contract at a time.
    const loops = [0, 1, 2, 3].map(async () => {
      while (!stop) {
        const r = await mustOk(agentCall(b, agent, 'POST', `${base(provider)}/contracts/claim`, { max: 1, exclude: [...taken] }));
        for (const c of r.body.items) taken.add(c.contract_id);
        if (drained) afterDrain++;
      }
    });
    while (taken.size < 5 + round * 3) await new Promise((r) => setTimeout(r, 2));
    await mustOk(call(a, provider, 'PUT', `${base(provider)}/agents/${agent.publicKey}`, { state: 'draining' }));
    const answeredAt = (await testDb.db.query<{ t: Date }>(`SELECT clock_timestamp() AS t`)).rows[0]!.t;
    drained = true;
    while (afterDrain < 40) await new Promise((r) => setTimeout(r, 2));
    stop = true;
    await Promise.all(loops);
    const late = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM contract_events WHERE agent_pubkey = $1 AND event = 'granted' AND at > $2`,
      [agent.publicKey, answeredAt],
    );
    assert.equal(late.rows[0]!.n, 0, `round ${round}: no grant committed after the drain answered`);
    const before = await testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_events WHERE agent_pubkey = $1 AND event = 'granted'`, [agent.publicKey]);
    assert.ok(before.rows[0]!.n >= 5, 'grants happened before the drain');
  }
});

test('one agent nonce sent to two replicas at once, among other agents\' calls, is accepted exactly once', { skip, timeout: 300_000 }, async () => {
  const { provider, poolId } = await providerWithPool(a);
  const agents: Identity[] = [];
  for (let i = 0; i < 8; i++) agents.push(await registerAgent(a, provider, poolId, `nonce-race-${i}`));
  for (let round = 0; round < 20; round++) {
    const nonce = `nonce-race-round-${round}-xx`;
    const beat = (replica: Harness, agent: Identity, n?: string) =>
      call(replica, agent, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0' }, { keyHeader: 'X-Agent-Pubkey', ...(n ? { nonce: n } : {}) });
    const racers = [a, b].flatMap((replica) => [0, 1, 2].map(() => beat(replica, agents[0]!, nonce)));
    const others = agents.slice(1).flatMap((agent) => [a, b].map((replica) => beat(replica, agent)));
    const [raced, rest] = await Promise.all([Promise.all(racers), Promise.all(others)]);
    assert.deepEqual(raced.map((r) => r.status).sort(), [200, 401, 401, 401, 401, 401], `round ${round}`);
    for (const r of raced.filter((x) => x.status === 401)) assert.equal(r.body.error.code, 'replayed_request');
    assert.ok(rest.every((r) => r.status === 200), `round ${round}: the other agents' beats were all accepted`);
  }
});
