// Teardown after provisioning (DESIGN.md "Teardown after provisioning (v3)", issue 10): every
// trigger and refusal through the API, on PGlite and PostgreSQL. Time is moved by backdating rows
// (heartbeats, leases), never by waiting.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import type { Db } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import { expireLeases } from '../src/store/leases.js';
import {
  agentCall, connectTestDb, assertError, base, call, createTestDb, mustOk, offeringInput, operator, registerAgent, registeredProvider, testConfig,
  type Harness, type Res, type TestDb,
} from './helpers.js';

const MAX_ATTEMPTS = 3;
const GRACE = 600;
let testDb: TestDb;
let secondDb: Db;
let h: Harness; // replica A
let h2: Harness; // replica B, same database
const customer = generateIdentity();

function harness(server: RunningServer, db: Db): Harness {
  return { server, testDb, db, close: () => server.close() };
}

before(async () => {
  testDb = await createTestDb();
  const env = { DC_MAX_PROVISION_ATTEMPTS: String(MAX_ATTEMPTS), DC_RETRY_BACKOFF_SECONDS: '30', DC_STICKY_GRACE_SECONDS: String(GRACE) };
  const opts = { listen: false, jobs: false, logger: false } as const;
  h = harness(await startServer(testConfig(env), { ...opts, db: testDb.db }), testDb.db);
  secondDb = testDb.url ? connectTestDb(testDb.url) : testDb.db;
  h2 = harness(await startServer(testConfig(env), { ...opts, db: secondDb }), secondDb);
});
after(async () => {
  await h?.server.close();
  await h2?.server.close();
  if (secondDb && secondDb !== testDb.db) await secondDb.close();
  await testDb?.drop();
});

const BOTH = ['provision', 'terminate'];
const TAKES_BOTH = { actions: BOTH };

interface Fleet {
  provider: Identity;
  poolId: string;
  a: Identity; // builds the machines
  b: Identity; // same pool, same host_scope
  c: Identity; // same pool, another host_scope
  offering: string;
}

let n = 0;
/** A provider with one pool, an offering routed to it and three agents that heartbeat. */
async function fleet(): Promise<Fleet> {
  const provider = await registeredProvider(h);
  const pool = await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: `td-${++n}`, location: 'europe', provisioner_type: 'proxmox' }));
  const poolId = pool.body.pool_id as string;
  const offering = `td-${n}`;
  await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, offeringInput(offering)));
  const [a, b, c] = [await registerAgent(h, provider, poolId, 'a'), await registerAgent(h, provider, poolId, 'b'), await registerAgent(h, provider, poolId, 'c')];
  const f = { provider, poolId, a, b, c, offering };
  await beat(f, a, { actions: BOTH, host_scope: 'cluster-1' });
  await beat(f, b, { actions: BOTH, host_scope: 'cluster-1' });
  await beat(f, c, { actions: BOTH, host_scope: 'cluster-2' });
  return f;
}

const beat = (f: Fleet, agent: Identity, capabilities: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  mustOk(agentCall(h, agent, 'POST', `${base(f.provider)}/heartbeat`, { version: '1.0.0', capabilities, ...extra }));

const cpath = (f: Fleet, id: string) => `${base(f.provider)}/contracts/${id}`;

async function paid(f: Fleet): Promise<string> {
  const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: f.provider.publicKey, offering_id: f.offering }));
  const id = c.body.contract_id as string;
  await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/accept`));
  await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  return id;
}

/** A paid contract provisioned by `agent` (default A); returns its id and the provision token. */
async function provisioned(f: Fleet, agent: Identity = f.a): Promise<{ id: string; token: number }> {
  const id = await paid(f);
  const l = await mustOk(agentCall(h, agent, 'POST', `${cpath(f, id)}/lock`));
  await mustOk(agentCall(h, agent, 'POST', `${cpath(f, id)}/provisioned`, { lock_token: l.body.lock_token, instance_details: { vmid: 101, host_scope: 'cluster-1' } }));
  return { id, token: l.body.lock_token };
}

const triggers: Record<string, (f: Fleet, id: string) => Promise<Res>> = {
  cancel: (_f, id) => call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`),
  refund: (_f, id) => call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'refunded' }),
  terminate: (f, id) => call(h, f.provider, 'POST', `${cpath(f, id)}/terminate`, { reason: 'customer asked by phone' }),
};

const row = async (id: string) => (await h.db.query<any>(`SELECT * FROM contract_sign_requests WHERE contract_id = $1`, [id])).rows[0];
const events = async (f: Fleet, id: string) => (await mustOk(call(h, f.provider, 'GET', `${cpath(f, id)}/events`))).body.items as any[];
const claim = (f: Fleet, agent: Identity, body: Record<string, unknown> = TAKES_BOTH) =>
  agentCall(h, agent, 'POST', `${base(f.provider)}/contracts/claim`, { max: 10, ...body });
const claimedIds = async (f: Fleet, agent: Identity, body?: Record<string, unknown>) =>
  ((await mustOk(claim(f, agent, body))).body.items as any[]).map((i) => i.contract_id);
/** The owner was last heard from `seconds` ago (database clock). */
const lastSeen = (agent: Identity, seconds: number) =>
  h.db.query(`UPDATE agent_status SET last_seen_at = now() - make_interval(secs => $2) WHERE agent_pubkey = $1`, [agent.publicKey, seconds]);

describe('triggers', () => {
  for (const [name, trigger] of Object.entries(triggers)) {
    test(`${name} on a provisioned contract → terminating, owned by the agent that built it; repeats are 200 and change nothing`, async () => {
      const f = await fleet();
      const { id } = await provisioned(f);
      const r = await trigger(f, id);
      assert.equal(r.status, 200, r.text);
      const c = await row(id);
      assert.equal(c.status, 'terminating');
      assert.equal(c.teardown_owner, f.a.publicKey);
      assert.equal(c.provisioned_pool_id, f.poolId);
      assert.equal(c.provisioned_type, 'proxmox');
      assert.equal(c.host_scope, 'cluster-1');
      assert.deepEqual(c.instance_details, { vmid: 101, host_scope: 'cluster-1' }, 'instance details stay for the teardown');
      const ev = await events(f, id);
      const last = ev.at(-1);
      assert.equal(last.event, 'terminate_requested');
      assert.equal(last.action, 'terminate');
      assert.ok(ev.filter((e) => e.event === 'provisioned').every((e) => e.action === 'provision'));
      if (name === 'terminate') assert.match(last.detail, /customer asked by phone/);
      // Repeats (any trigger) on a contract already ending: 200, no event, nothing but the payment recorded.
      const before = await row(id);
      for (const [other, again] of Object.entries(triggers)) {
        if (other === 'refund' && name === 'refund') continue; // a payment cannot be refunded twice (409, v2)
        const rr = await again(f, id);
        assert.equal(rr.status, 200, `${other} after ${name}: ${rr.text}`);
      }
      const after = await row(id);
      assert.equal(after.status, 'terminating');
      assert.equal((await events(f, id)).length, ev.length, 'a repeat adds no event');
      assert.equal(after.provisioning_lock_token, before.provisioning_lock_token);
    });
  }

  for (const name of ['cancel', 'refund', 'terminate']) {
    test(`${name} mid-provision: the holder's lease becomes its teardown lease; provisioned is 409 contract_cancelled`, async () => {
      const f = await fleet();
      const id = await paid(f);
      const l = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`));
      const token = l.body.lock_token as number;
      await mustOk(triggers[name]!(f, id));
      let c = await row(id);
      assert.equal(c.status, 'terminating');
      assert.equal(c.instance_details, null);
      assert.equal(c.teardown_owner, f.a.publicKey);
      assert.equal(c.provisioned_pool_id, f.poolId);
      assert.equal(c.host_scope, 'cluster-1', "the owner's heartbeat scope");
      assert.equal(c.provisioning_lock_agent, f.a.publicKey, 'the lease goes on');
      assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/provisioned`, { lock_token: token, instance_details: {} }), 409, 'contract_cancelled');
      // The same token renews the teardown; others are refused.
      const renewed = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`, { lock_token: token }));
      assert.equal(renewed.body.action, 'terminate');
      assert.equal(renewed.body.lock_token, token);
      assertError(await agentCall(h, f.b, 'POST', `${cpath(f, id)}/lock`), 409, 'sticky_owner');
      assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminated`, { lock_token: token + 1 }), 409, 'lease_lost');
      const done = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminated`, { lock_token: token }));
      assert.equal(done.body.status, 'terminated');
      assert.equal(done.body.terminated_by, f.a.publicKey);
      assert.ok(done.body.terminated_at);
      // Exact repeat: 200, nothing added.
      const evCount = (await events(f, id)).length;
      await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminated`, { lock_token: token }));
      assert.equal((await events(f, id)).length, evCount);
      c = await row(id);
      assert.equal(c.status, 'terminated');
      const ev = await events(f, id);
      assert.deepEqual(ev.map((e) => [e.event, e.action]), [
        ['granted', 'provision'], ['terminate_requested', 'terminate'], ['renewed', 'terminate'], ['terminated', 'terminate'],
      ]);
      assert.equal(ev.filter((e) => e.event === 'terminated').length, 1);
    });
  }

  test('a contract never granted a lease is cancelled (v2), with no teardown', async () => {
    const f = await fleet();
    for (const [name, trigger] of Object.entries(triggers)) {
      const id = await paid(f);
      await mustOk(trigger(f, id));
      const c = await row(id);
      assert.equal(c.status, 'cancelled', name);
      assert.deepEqual((await events(f, id)).map((e) => e.event), ['cancelled']);
    }
  });

  test('bad input: terminate on requested, rejected or cancelled is 409; unknown contract 404; wrong actor refused; nothing changes', async () => {
    const f = await fleet();
    const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: f.provider.publicKey, offering_id: f.offering }));
    const id = c.body.contract_id as string;
    const before = await row(id);
    const r = await call(h, f.provider, 'POST', `${cpath(f, id)}/terminate`, {});
    assertError(r, 409, 'invalid_transition');
    assert.match(r.body.error.message, /reject/i);
    assert.deepEqual(await row(id), before);
    assertError(await call(h, f.provider, 'POST', `${cpath(f, 'no-such-contract')}/terminate`, {}), 404, 'not_found');
    assertError(await call(h, customer, 'POST', `${cpath(f, id)}/terminate`, {}), 403);
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminate`, {}), 403);
    const other = await registeredProvider(h);
    assertError(await call(h, other, 'POST', `${base(other)}/contracts/${id}/terminate`, {}), 404);
    assertError(await call(h, f.provider, 'POST', `${cpath(f, id)}/terminate`, { reason: 'x'.repeat(2001) }), 400, 'invalid_input');
    assertError(await call(h, f.provider, 'POST', `${cpath(f, id)}/terminated`, {}), 409, 'invalid_transition');
    assert.deepEqual(await row(id), before);
  });
});

describe('teardown work', () => {
  test('only clients that ask for teardowns get them, teardowns first, max bounds the total', async () => {
    const f = await fleet();
    const { id } = await provisioned(f);
    const waitingProvision = await paid(f);
    await mustOk(triggers.cancel!(f, id));
    // An older client: neither pending-provision nor claim without actions ever shows a teardown.
    const pending = await mustOk(agentCall(h, f.a, 'GET', `${base(f.provider)}/contracts/pending-provision`));
    assert.deepEqual(pending.body.items.map((i: any) => i.contract_id), [waitingProvision]);
    assert.ok(pending.body.items.every((i: any) => i.action === 'provision'));
    const both = await mustOk(agentCall(h, f.a, 'GET', `${base(f.provider)}/contracts/pending-provision?actions=provision,terminate`));
    assert.deepEqual(both.body.items.map((i: any) => [i.contract_id, i.action]), [[id, 'terminate'], [waitingProvision, 'provision']]);
    const item = both.body.items[0];
    assert.deepEqual(item.instance_details, { vmid: 101, host_scope: 'cluster-1' });
    assert.equal(item.provisioned_by, f.a.publicKey);
    assert.equal(item.provisioner_type, 'proxmox');
    assertError(await agentCall(h, f.a, 'GET', `${base(f.provider)}/contracts/pending-provision?actions=destroy`), 400, 'invalid_input');
    const onlyTeardowns = await mustOk(agentCall(h, f.a, 'GET', `${base(f.provider)}/contracts/pending-provision?actions=terminate`));
    assert.deepEqual(onlyTeardowns.body.items.map((i: any) => i.contract_id), [id]);
    const c1 = await mustOk(claim(f, f.a, { max: 1, actions: BOTH }));
    assert.deepEqual(c1.body.items.map((i: any) => [i.contract_id, i.action]), [[id, 'terminate']], 'max bounds the total; teardowns first');
    assert.equal(c1.body.items[0].lock_token, 2, 'lock_token continues its sequence');
  });

  test('sticky owner first; others of the same pool and host_scope only after the grace period; another scope never', async () => {
    const f = await fleet();
    const { id } = await provisioned(f);
    await mustOk(triggers.terminate!(f, id));
    assert.deepEqual(await claimedIds(f, f.b), [], 'the owner is sticky');
    assertError(await agentCall(h, f.b, 'POST', `${cpath(f, id)}/lock`), 409, 'sticky_owner');
    assertError(await agentCall(h, f.c, 'POST', `${cpath(f, id)}/lock`), 403, 'not_routed');
    const detail = async () => (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    assert.equal((await detail()).teardowns_waiting, 0);
    // Within the grace period the owner keeps it.
    await lastSeen(f.a, GRACE - 30);
    assert.deepEqual(await claimedIds(f, f.b), []);
    // Past it, B (same scope) may take it; C (another scope) never.
    await lastSeen(f.a, GRACE + 30);
    assert.deepEqual(await claimedIds(f, f.c), []);
    const got = await mustOk(claim(f, f.b));
    assert.deepEqual(got.body.items.map((i: any) => i.contract_id), [id]);
    // While B holds a live lease, the owner coming back gets lock_held, and nobody else takes it.
    await beat(f, f.a, { actions: BOTH, host_scope: 'cluster-1' });
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`), 409, 'lock_held');
    const done = await mustOk(agentCall(h, f.b, 'POST', `${cpath(f, id)}/terminated`, { lock_token: got.body.items[0].lock_token }));
    assert.equal(done.body.terminated_by, f.b.publicKey);
  });

  test('a revoked owner or one that does not advertise terminate is not sticky; with nobody able, it waits', async () => {
    const f = await fleet();
    const one = await provisioned(f);
    const two = await provisioned(f);
    await mustOk(triggers.cancel!(f, one.id));
    await mustOk(triggers.cancel!(f, two.id));
    // The owner's last heartbeat does not list terminate (an older agent): others may take its teardowns.
    await beat(f, f.a, { actions: ['provision'], host_scope: 'cluster-1' });
    assert.deepEqual((await claimedIds(f, f.b, { max: 1, actions: BOTH })).length, 1);
    // Revoked: its leases are released and others take over at once.
    await beat(f, f.a, { actions: BOTH, host_scope: 'cluster-1' });
    const own = await mustOk(claim(f, f.a));
    assert.deepEqual(own.body.items.map((i: any) => i.contract_id), [two.id]);
    assertError(await agentCall(h, f.b, 'POST', `${cpath(f, two.id)}/lock`), 409, 'sticky_owner');
    await mustOk(call(h, f.provider, 'DELETE', `${base(f.provider)}/agents/${f.a.publicKey}`));
    // B holds `one`; with B's and A's leases gone, nobody of cluster-1 is left once B is revoked too.
    const takeTwo = await mustOk(agentCall(h, f.b, 'POST', `${cpath(f, two.id)}/lock`));
    assert.equal(takeTwo.body.lock_agent, f.b.publicKey);
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, two.id)}/terminated`, { lock_token: own.body.items[0].lock_token }), 401);
    await mustOk(agentCall(h, f.b, 'DELETE', `${cpath(f, two.id)}/lock`, { lock_token: takeTwo.body.lock_token }));
    const detail = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    assert.equal(detail.teardowns_waiting, 0, 'B can still take them');
    await mustOk(call(h, f.provider, 'DELETE', `${base(f.provider)}/agents/${f.b.publicKey}`));
    const waiting = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    assert.equal(waiting.teardowns_waiting, 2, 'only C is left, in another host_scope');
  });

  test('stale tokens are lease_lost; expiry counts attempts; failures back off; the limit → termination_failed; provider retry and manual confirmation', async () => {
    const f = await fleet();
    const { id, token: provisionToken } = await provisioned(f);
    await mustOk(triggers.cancel!(f, id));
    const t1 = (await mustOk(claim(f, f.a))).body.items[0].lock_token as number;
    assert.equal(t1, provisionToken + 1);
    // The provision lease's token confirms nothing of the teardown.
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminated`, { lock_token: provisionToken }), 409, 'lease_lost');
    assertError(await agentCall(h, f.a, 'DELETE', `${cpath(f, id)}/lock`, { lock_token: provisionToken }), 409, 'lease_lost');
    // An exact repeat of the provisioned call is still 200 (contract_cancelled never refuses one).
    const rep = await agentCall(h, f.a, 'POST', `${cpath(f, id)}/provisioned`, { lock_token: provisionToken, instance_details: { vmid: 101, host_scope: 'cluster-1' } });
    assert.equal(rep.status, 200, rep.text);
    // Failed: back-off, attempts + 1, the lease ends. A teardown lease held no provision slot, so
    // the agent's parked long-polls are not told of a freed one (Dispatcher.slotsFreed).
    const freed: number[] = [];
    const slotsFreed = h.server.ctx.dispatcher.slotsFreed;
    h.server.ctx.dispatcher.slotsFreed = (provider, agent, count) => {
      freed.push(count);
      slotsFreed.call(h.server.ctx.dispatcher, provider, agent, count);
    };
    const failed = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/failed`, { lock_token: t1, error_message: 'qm destroy: locked' }));
    h.server.ctx.dispatcher.slotsFreed = slotsFreed;
    assert.deepEqual(freed, []);
    assert.equal(failed.body.status, 'terminating');
    assert.equal(failed.body.attempts, 1);
    assert.ok(failed.body.next_attempt_at, 'backing off');
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`), 409, 'backing_off');
    await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/failed`, { lock_token: t1, error_message: 'qm destroy: locked' })); // exact repeat
    await h.db.query(`UPDATE contract_sign_requests SET next_attempt_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
    // Expiry counts an attempt (and is not followed by a back-off).
    const t2 = (await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`))).body.lock_token as number;
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
    assert.equal(await expireLeases(h.db, MAX_ATTEMPTS), 1);
    let c = await row(id);
    assert.equal(c.status, 'terminating');
    assert.equal(c.attempts, 2);
    // The third attempt fails at the limit: termination_failed, recorded as such. (No grant since
    // the expiry: A's lock renews its token, as for provisioning.)
    const t3 = (await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`))).body.lock_token as number;
    assert.equal(t3, t2);
    const last = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/failed`, { lock_token: t3, error_message: 'still locked' }));
    assert.equal(last.body.status, 'termination_failed');
    assert.deepEqual(await claimedIds(f, f.a), [], 'a failed teardown is nobody\'s work until retried');
    const ev = await events(f, id);
    assert.deepEqual(ev.slice(-2).map((e) => e.event), ['failed', 'termination_failed']);
    assert.ok(ev.filter((e) => e.event === 'expired').every((e) => e.action === 'terminate'));
    // Provider retry: back to terminating with attempts reset; the owner takes it again.
    const retried = await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/retry`));
    assert.equal(retried.body.status, 'terminating');
    assert.equal(retried.body.attempts, 0);
    const t4 = (await mustOk(claim(f, f.a))).body.items[0].lock_token as number;
    // The provider marks it terminated by hand: the live lease is fenced off.
    const byHand = await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/terminated`, { note: 'deleted in the Proxmox UI' }));
    assert.equal(byHand.body.status, 'terminated');
    assert.equal(byHand.body.terminated_by, f.provider.publicKey);
    assertError(await agentCall(h, f.a, 'POST', `${cpath(f, id)}/terminated`, { lock_token: t4 }), 409, 'lease_lost');
    assert.equal((await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/terminated`, {}))).status, 200, 'a repeat by the provider');
    c = await row(id);
    assert.equal(c.status, 'terminated');
    assert.equal((await events(f, id)).filter((e) => e.event === 'terminated').length, 1);
  });

  test('a provider-completed (manual) machine starts its teardown handed off; an agent may hand a teardown off', async () => {
    const f = await fleet();
    const id = await paid(f);
    const l = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`));
    await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, id)}/handoff`, { lock_token: l.body.lock_token }));
    await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/provisioned`, { instance_details: { note: 'by hand' } }));
    await mustOk(triggers.terminate!(f, id));
    const c = await row(id);
    assert.equal(c.status, 'terminating');
    assert.equal(c.teardown_handed_off, true);
    assert.equal(c.provisioned_pool_id, f.poolId, 'it counts for the pool of the agent that handed it off');
    assert.deepEqual(await claimedIds(f, f.a), []);
    const refused = await agentCall(h, f.a, 'POST', `${cpath(f, id)}/lock`);
    assertError(refused, 409, 'invalid_transition');
    assert.match(refused.body.error.message, /handed off to a person/);
    await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/terminated`, {}));
    // An agent's own teardown handed off to a person.
    const other = await provisioned(f);
    await mustOk(triggers.cancel!(f, other.id));
    const t = (await mustOk(claim(f, f.a))).body.items[0].lock_token;
    const handed = await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, other.id)}/handoff`, { lock_token: t, note: 'pull the disk' }));
    assert.equal(handed.body.status, 'terminating');
    assert.equal(handed.body.teardown_handed_off, true);
    assert.deepEqual(await claimedIds(f, f.a), []);
    await mustOk(call(h, f.provider, 'POST', `${cpath(f, other.id)}/terminated`, {}));
  });
});

describe('routing, counts and inventory', () => {
  test('teardowns route by the pool that built the machine, not the offering\'s current route; deletion is 409 while machines live', async () => {
    const f = await fleet();
    const { id } = await provisioned(f);
    const pool2 = await mustOk(call(h, f.provider, 'POST', `${base(f.provider)}/pools`, { name: `td-moved-${n}`, location: 'europe', provisioner_type: 'proxmox' }));
    const d = await registerAgent(h, f.provider, pool2.body.pool_id, 'd');
    await beat(f, d, { actions: BOTH, host_scope: 'cluster-1' });
    await mustOk(call(h, f.provider, 'PUT', `${base(f.provider)}/offerings/${f.offering}`, { agent_pool_id: pool2.body.pool_id }));
    assertError(await call(h, f.provider, 'DELETE', `${base(f.provider)}/offerings/${f.offering}`), 409, 'offering_in_use');
    await mustOk(triggers.cancel!(f, id));
    await lastSeen(f.a, GRACE + 30);
    assert.deepEqual(await claimedIds(f, d), [], 'the new route does not get the teardown');
    assertError(await agentCall(h, d, 'POST', `${cpath(f, id)}/lock`), 403, 'not_routed');
    // Counts: the machine counts for the pool that built it and its owner, whatever the payment.
    const p1 = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    assert.equal(p1.active_contracts, 1);
    assert.equal(p1.agents.find((x: any) => x.agent_pubkey === f.a.publicKey).active_contracts, 1);
    const p2 = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${pool2.body.pool_id}`))).body;
    assert.equal(p2.active_contracts, 0);
    for (const agent of [f.a, f.b, f.c]) await mustOk(call(h, f.provider, 'DELETE', `${base(f.provider)}/agents/${agent.publicKey}`));
    assertError(await call(h, f.provider, 'DELETE', `${base(f.provider)}/pools/${f.poolId}`), 409, 'pool_in_use');
    await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/terminated`, {}));
    await mustOk(call(h, f.provider, 'DELETE', `${base(f.provider)}/pools/${f.poolId}`));
  });

  test('inventory: orphans (ended or unknown contracts) and ghosts (provisioned, machine missing) in pool detail', async () => {
    const f = await fleet();
    const kept = await provisioned(f);
    const missing = await provisioned(f);
    const ended = await provisioned(f);
    await mustOk(triggers.cancel!(f, ended.id));
    const t = (await mustOk(claim(f, f.a))).body.items[0].lock_token;
    await mustOk(agentCall(h, f.a, 'POST', `${cpath(f, ended.id)}/terminated`, { lock_token: t }));
    await beat(f, f.a, { actions: BOTH, host_scope: 'cluster-1' }, { inventory: [kept.id, ended.id, 'dc-unknown-1'] });
    const d = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    const orphans = d.orphans.map((o: any) => [o.contract_id, o.reason]).sort();
    assert.deepEqual(orphans, [[ended.id, 'terminated'], ['dc-unknown-1', 'unknown']].sort());
    assert.ok(d.orphans.every((o: any) => o.agent_pubkey === f.a.publicKey));
    assert.deepEqual(d.ghosts, [{ agent_pubkey: f.a.publicKey, contract_id: missing.id }]);
    // /metrics counts them per pool (database-derived, so any replica answers alike).
    const metrics = await h2.server.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, new RegExp(`dc_pool_orphans\\{pool_id="${f.poolId}"\\} 2`));
    assert.match(metrics.body, new RegExp(`dc_pool_ghosts\\{pool_id="${f.poolId}"\\} 1`));
    // A heartbeat without inventory keeps the last report.
    await beat(f, f.a, { actions: BOTH, host_scope: 'cluster-1' });
    const again = (await mustOk(call(h, f.provider, 'GET', `${base(f.provider)}/pools/${f.poolId}`))).body;
    assert.equal(again.orphans.length, 2);
    // Limits: at most 10,000 ids.
    const tooMany = Array.from({ length: 10_001 }, (_, i) => `c${i}`);
    assertError(await agentCall(h, f.a, 'POST', `${base(f.provider)}/heartbeat`, { version: '1', inventory: tooMany }), 400, 'invalid_input');
  });
});

describe('dispatch', () => {
  test('a terminate request wakes the sticky owner\'s held claim on another replica within a second', async () => {
    const f = await fleet();
    const { id } = await provisioned(f);
    const bWaits = agentCall(h2, f.b, 'POST', `${base(f.provider)}/contracts/claim?wait=5`, { max: 1, actions: BOTH });
    const held = agentCall(h2, f.a, 'POST', `${base(f.provider)}/contracts/claim?wait=20`, { max: 1, actions: BOTH });
    const deadline = Date.now() + 30_000;
    while (h2.server.ctx.dispatcher.parked < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h2.server.ctx.dispatcher.parked, 2);
    const t0 = Date.now();
    await mustOk(triggers.terminate!(f, id));
    const r = await mustOk(held);
    const ms = Date.now() - t0;
    assert.deepEqual(r.body.items.map((i: any) => [i.contract_id, i.action]), [[id, 'terminate']]);
    assert.ok(ms < 1000, `woken in ${ms} ms`);
    assert.deepEqual((await mustOk(bWaits)).body.items, [], 'the non-owner gets nothing');
  });
});
