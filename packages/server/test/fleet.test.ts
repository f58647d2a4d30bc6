// Fleet operations (DESIGN.md "Fleet operations (v3)"), through the API on both databases: drain,
// pause, health-based cool-down, retry elsewhere, capacity, fallback pools, the agent object, the
// refusal order and the capacity-aware wake-up order. Time is moved by backdating rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { ConfigError, loadConfig } from '../src/config.js';
import { Dispatcher } from '../src/dispatch.js';
import { sweepLeases } from '../src/jobs/sweeper.js';
import { agentCall, assertError, base, call, mustOk, operator, paidContract, providerWithPool, registerAgent, startHarness, type Harness, type Res } from './helpers.js';

let h: Harness;
before(async () => {
  // No back-off after a failure: a failed contract is offered again at once, so each rule is seen alone.
  h = await startHarness({ DC_RETRY_BACKOFF_SECONDS: '0', DC_MAX_PROVISION_ATTEMPTS: '100', DC_LOCK_TTL_SECONDS: '300' });
});
after(async () => h.close());

// ---- helpers ---------------------------------------------------------------------------------

const cpath = (p: Identity, id: string) => `${base(p)}/contracts/${id}`;
const apath = (p: Identity, a: Identity) => `${base(p)}/agents/${a.publicKey}`;

function heartbeat(p: Identity, a: Identity, extra: Record<string, unknown> = {}): Promise<Res> {
  return agentCall(h, a, 'POST', `${base(p)}/heartbeat`, { version: '1.0.0', ...extra });
}
const online = async (p: Identity, ...agents: Identity[]) => {
  for (const a of agents) await mustOk(heartbeat(p, a));
};
const offline = (a: Identity) => h.db.query(`UPDATE agent_status SET last_seen_at = now() - interval '1 hour' WHERE agent_pubkey = $1`, [a.publicKey]);
const lock = (p: Identity, a: Identity, id: string, body: Record<string, unknown> = {}) => agentCall(h, a, 'POST', `${cpath(p, id)}/lock`, body);
const claim = (p: Identity, a: Identity, body: Record<string, unknown> = { max: 10 }) => agentCall(h, a, 'POST', `${base(p)}/contracts/claim`, body);
const claimedIds = async (p: Identity, a: Identity, max = 10) => ((await mustOk(claim(p, a, { max }))).body.items as { contract_id: string }[]).map((c) => c.contract_id).sort();
const pendingIds = async (p: Identity, a: Identity) =>
  ((await mustOk(agentCall(h, a, 'GET', `${base(p)}/contracts/pending-provision`))).body.items as { contract_id: string }[]).map((c) => c.contract_id).sort();
const fail = (p: Identity, a: Identity, id: string, token: number, errorClass?: 'agent' | 'contract') =>
  mustOk(agentCall(h, a, 'POST', `${cpath(p, id)}/failed`, { lock_token: token, error_message: 'boom', ...(errorClass && { error_class: errorClass }) }));
const provisioned = (p: Identity, a: Identity, id: string, token: number) =>
  mustOk(agentCall(h, a, 'POST', `${cpath(p, id)}/provisioned`, { lock_token: token, instance_details: { ip: '192.0.2.1' } }));
const agentObject = async (p: Identity, a: Identity) => (await mustOk(call(h, p, 'GET', apath(p, a)))).body;
const setState = (who: Identity, p: Identity, a: Identity, body: Record<string, unknown>, asAgent = false) =>
  asAgent ? agentCall(h, who, 'PUT', apath(p, a), body) : call(h, who, 'PUT', apath(p, a), body);
const audit = async (p: Identity, kind: string) => (await mustOk(call(h, p, 'GET', `${base(p)}/audit?kind=${kind}&limit=100`))).body.items as any[];
const events = async (p: Identity, id: string) => (await mustOk(call(h, p, 'GET', `${cpath(p, id)}/events`))).body.items as any[];
const contract = async (p: Identity, id: string) => (await mustOk(call(h, p, 'GET', `/api/v1/contracts/${id}`))).body;
const createPool = async (p: Identity, body: Record<string, unknown>) =>
  (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { location: 'europe', provisioner_type: 'proxmox', ...body }))).body.pool_id as string;
const getPool = async (p: Identity, poolId: string) => (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
/** Moves a contract's provisionable_at (and its history) `seconds` into the past. */
const age = (id: string, seconds: number) =>
  h.db.query(`UPDATE contract_sign_requests SET provisionable_at = provisionable_at - make_interval(secs => $2) WHERE contract_id = $1`, [id, seconds]);
const untilParked = async (n: number) => {
  const deadline = Date.now() + 30_000; // an upper bound for a loaded machine, never waited for when things work
  while (h.server.ctx.dispatcher.parked < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(h.server.ctx.dispatcher.parked >= n, `expected ${n} parked requests`);
};

/** A provider with one europe/proxmox pool and `n` agents in it (not yet heard from). */
async function fleet(n = 2, label = 'f') {
  const { provider, poolId } = await providerWithPool(h);
  const agents: Identity[] = [];
  for (let i = 0; i < n; i++) agents.push(await registerAgent(h, provider, poolId, `${label}-${i}`));
  return { provider, poolId, agents };
}

// ---- drain -----------------------------------------------------------------------------------

describe('drain', () => {
  test('a draining agent takes no new work but renews, confirms and gets its own leases back through claim', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    const held = await paidContract(h, p, { offering_id: 'drain' });
    const fresh = await paidContract(h, p, { offering_id: 'drain' });
    const g = (await mustOk(lock(p, a!, held))).body;

    const r = await mustOk(setState(p, p, a!, { state: 'draining', reason: 'disk swap' }));
    assert.equal(r.body.state, 'draining');
    assert.equal(r.body.state_reason, 'disk swap');
    assert.equal(r.body.state_set_by, 'provider');
    assert.equal(r.body.drained, false, 'it still holds a live lease');
    assert.equal(r.body.live_leases, 1);

    assertError(await lock(p, a!, fresh), 409, 'agent_draining');
    assert.deepEqual(await pendingIds(p, a!), [held], 'pending-provision lists only its own lease');
    // A restarted agent asks claim for work: its own lease comes back, renewed with its token.
    const again = (await mustOk(claim(p, a!))).body.items;
    assert.deepEqual(again.map((c: any) => [c.contract_id, c.lock_token]), [[held, g.lock_token]]);
    await mustOk(lock(p, a!, held, { lock_token: g.lock_token }));
    const hb1 = (await mustOk(heartbeat(p, a!))).body;
    assert.deepEqual([hb1.state, hb1.drained], ['draining', false]);
    await provisioned(p, a!, held, g.lock_token);
    const hb2 = (await mustOk(heartbeat(p, a!))).body;
    assert.deepEqual([hb2.state, hb2.drained], ['draining', true]);
    assert.equal((await agentObject(p, a!)).drained, true);

    // The same state again changes nothing that is audited; resuming is.
    await mustOk(setState(p, p, a!, { state: 'draining' }));
    assert.equal((await audit(p, 'agent_state_changed')).length, 1);
    const resumed = await mustOk(setState(p, p, a!, { state: 'active' }));
    assert.deepEqual([resumed.body.state, resumed.body.state_reason, resumed.body.drained], ['active', null, false]);
    const changes = await audit(p, 'agent_state_changed');
    assert.equal(changes.length, 2);
    assert.deepEqual(changes[0].detail, { from: 'draining', to: 'active', reason: null, set_by: 'provider' });
    assert.equal((await mustOk(lock(p, a!, fresh))).body.lock_agent, a!.publicKey);
  });

  test('an agent drains and resumes itself; it may not relabel itself or touch another agent', async () => {
    const { provider: p, agents: [a, b] } = await fleet(2);
    const r = await mustOk(setState(a!, p, a!, { state: 'draining', reason: 'maintenance' }, true));
    assert.deepEqual([r.body.state, r.body.state_set_by, r.body.state_reason], ['draining', 'agent', 'maintenance']);
    assert.equal((await mustOk(agentCall(h, a!, 'GET', apath(p, a!)))).body.state, 'draining', 'it reads itself');

    const before = await agentObject(p, b!);
    assertError(await setState(a!, p, b!, { state: 'draining' }, true), 403, 'forbidden');
    assertError(await agentCall(h, a!, 'GET', apath(p, b!)), 403, 'forbidden');
    assertError(await setState(a!, p, a!, { label: 'renamed' }, true), 403, 'forbidden');
    assert.deepEqual(await agentObject(p, b!), before, 'nothing changed');
    assert.equal((await agentObject(p, a!)).label, 'f-0');

    // The provider relabels; bad input is 400 and changes nothing.
    assert.equal((await mustOk(setState(p, p, b!, { label: 'rack-7' }))).body.label, 'rack-7');
    assertError(await setState(p, p, b!, { state: 'paused' }), 400, 'invalid_input');
    assertError(await setState(p, p, b!, {}), 400, 'invalid_input');
    assertError(await setState(p, p, b!, { reason: 'x'.repeat(501) }), 400, 'invalid_input');
    assert.equal((await agentObject(p, b!)).state, 'active');

    // Unknown agents and other providers' agents are 404.
    const { provider: q, agents: [c] } = await fleet(1, 'q');
    assertError(await call(h, p, 'GET', apath(p, c!)), 404, 'not_found');
    assertError(await setState(p, p, c!, { state: 'draining' }), 404, 'not_found');
    assertError(await call(h, p, 'POST', `${apath(p, c!)}/reset-health`), 404, 'not_found');
    assertError(await call(h, p, 'GET', apath(p, generateIdentity())), 404, 'not_found');
    assert.equal((await agentObject(q, c!)).state, 'active');

    await mustOk(setState(a!, p, a!, { state: 'active' }, true));
    assert.equal((await audit(p, 'agent_state_changed')).filter((e) => e.actor_kind === 'agent').length, 2);
  });

  test('resuming wakes the agent\'s held long-poll', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    const id = await paidContract(h, p, { offering_id: 'wake-resume' });
    await mustOk(setState(p, p, a!, { state: 'draining' }));
    const parked = h.server.ctx.dispatcher.parked;
    const woken = h.server.ctx.dispatcher.woken;
    const held = agentCall(h, a!, 'POST', `${base(p)}/contracts/claim?wait=30`, { max: 1 });
    await untilParked(parked + 1);
    await mustOk(setState(p, p, a!, { state: 'active' }));
    const r = await held;
    assert.deepEqual(r.body.items.map((c: any) => c.contract_id), [id]);
    assert.ok(h.server.ctx.dispatcher.woken > woken, 'a notice woke it, not its re-check timer');
  });
});

// ---- pause -----------------------------------------------------------------------------------

describe('pause', () => {
  test('a paused pool gets no new provision grants; holders renew; teardowns continue; resuming wakes its waiters', async () => {
    const { provider: p, poolId, agents: [a] } = await fleet(1);
    const customer = generateIdentity();
    const built = await paidContract(h, p, { offering_id: 'pause' }, customer);
    const g = (await mustOk(lock(p, a!, built))).body;
    await provisioned(p, a!, built, g.lock_token);
    const heldId = await paidContract(h, p, { offering_id: 'pause' });
    const h2 = (await mustOk(lock(p, a!, heldId))).body;
    const waiting = await paidContract(h, p, { offering_id: 'pause' });

    const paused = (await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { paused: true }))).body;
    assert.equal(paused.paused, true);
    assert.equal((await mustOk(call(h, p, 'GET', `${base(p)}/pools`))).body.items.find((x: any) => x.pool_id === poolId).paused, true);
    assertError(await lock(p, a!, waiting), 409, 'pool_paused');
    assert.deepEqual(await claimedIds(p, a!), [heldId], 'claim renews its own lease only');
    await mustOk(lock(p, a!, heldId, { lock_token: h2.lock_token }));

    // Teardowns continue in a paused pool.
    await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${built}/cancel`));
    const td = (await mustOk(claim(p, a!, { max: 5, actions: ['terminate'] }))).body.items;
    assert.deepEqual(td.map((c: any) => [c.contract_id, c.action]), [[built, 'terminate']]);
    await mustOk(agentCall(h, a!, 'POST', `${cpath(p, built)}/terminated`, { lock_token: td[0].lock_token }));

    const parked = h.server.ctx.dispatcher.parked;
    const woken = h.server.ctx.dispatcher.woken;
    const held = claim(p, a!, { max: 1, exclude: [heldId] });
    const wait = agentCall(h, a!, 'POST', `${base(p)}/contracts/claim?wait=30`, { max: 1, exclude: [heldId] });
    assert.deepEqual((await held).body.items, []);
    await untilParked(parked + 1);
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { paused: false }));
    assert.deepEqual((await wait).body.items.map((c: any) => c.contract_id), [waiting]);
    assert.ok(h.server.ctx.dispatcher.woken > woken, 'resuming the pool announced its waiting work');
  });
});

// ---- health ----------------------------------------------------------------------------------

describe('health', () => {
  test('three agent-class failures cool an agent down; contract-class failures do not count; reset-health ends it', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await paidContract(h, p, { offering_id: 'health' }));

    // Contract-class failures count attempts, never against the agent.
    for (let i = 0; i < 3; i++) await fail(p, a!, ids[0]!, (await mustOk(lock(p, a!, ids[0]!))).body.lock_token, 'contract');
    assert.equal((await agentObject(p, a!)).consecutive_failures, 0);
    assert.equal((await contract(p, ids[0]!)).attempts, 3);

    // A success resets the count.
    await fail(p, a!, ids[1]!, (await mustOk(lock(p, a!, ids[1]!))).body.lock_token);
    await fail(p, a!, ids[1]!, (await mustOk(lock(p, a!, ids[1]!))).body.lock_token, 'agent');
    assert.equal((await agentObject(p, a!)).consecutive_failures, 2);
    await provisioned(p, a!, ids[1]!, (await mustOk(lock(p, a!, ids[1]!))).body.lock_token);
    assert.equal((await agentObject(p, a!)).consecutive_failures, 0);

    for (let i = 0; i < 3; i++) await fail(p, a!, ids[2]!, (await mustOk(lock(p, a!, ids[2]!))).body.lock_token);
    const cooled = await agentObject(p, a!);
    assert.equal(cooled.consecutive_failures, 0, 'the count restarts');
    const left = new Date(cooled.cooldown_until).getTime() - Date.now();
    assert.ok(left > 30_000 && left <= 61_000, `first cool-down ~60 s, got ${left}`);
    const r = await lock(p, a!, ids[3]!);
    assertError(r, 409, 'agent_cooling_down');
    assert.match(r.body.error.message, /reset-health/);
    assert.deepEqual(await claimedIds(p, a!), []);
    assert.deepEqual(await pendingIds(p, a!), []);
    const cool = await audit(p, 'agent_cooldown');
    assert.equal(cool.length, 1);
    assert.equal(cool[0].actor_kind, 'system');
    assert.equal(cool[0].subject.id, a!.publicKey);

    const reset = await mustOk(call(h, p, 'POST', `${apath(p, a!)}/reset-health`));
    assert.deepEqual([reset.body.consecutive_failures, reset.body.cooldown_until], [0, null]);
    assert.equal((await audit(p, 'agent_health_reset')).length, 1);
    await mustOk(lock(p, a!, ids[3]!));
    assertError(await agentCall(h, a!, 'POST', `${apath(p, a!)}/reset-health`), 403);
  });

  test('cool-downs double since the last success, at most an hour; a cool-down ends by time', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    const id = await paidContract(h, p, { offering_id: 'double' });
    const threeFailures = async () => {
      for (let i = 0; i < 3; i++) await fail(p, a!, id, (await mustOk(lock(p, a!, id))).body.lock_token);
      return (new Date((await agentObject(p, a!)).cooldown_until).getTime() - Date.now()) / 1000;
    };
    const endCooldown = () => h.db.query(`UPDATE provider_agent_delegations SET cooldown_until = now() - interval '1 second' WHERE agent_pubkey = $1`, [a!.publicKey]);
    const first = await threeFailures();
    assert.ok(first > 30 && first <= 61, `60 s, got ${first}`);
    await endCooldown();
    assert.equal((await agentObject(p, a!)).cooldown_until, null, 'over by time');
    const second = await threeFailures();
    assert.ok(second > 90 && second <= 121, `120 s, got ${second}`);
    await endCooldown();
    await h.db.query(`UPDATE provider_agent_delegations SET cooldowns_since_success = 12 WHERE agent_pubkey = $1`, [a!.publicKey]);
    const capped = await threeFailures();
    assert.ok(capped > 3500 && capped <= 3601, `capped at an hour, got ${capped}`);
  });

  test('a lease expiry counts once per lease: the sweeper, a takeover, and a late failed after the sweep', async () => {
    const { provider: p, agents: [a, b] } = await fleet(2);
    const [c1, c2] = [await paidContract(h, p, { offering_id: 'expiry' }), await paidContract(h, p, { offering_id: 'expiry' })];
    const g1 = (await mustOk(lock(p, a!, c1))).body;
    const g2 = (await mustOk(lock(p, a!, c2))).body;
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = ANY($1)`, [[c1, c2]]);
    assert.ok((await sweepLeases(h.server.ctx)) >= 1);
    assert.equal((await agentObject(p, a!)).consecutive_failures, 2, 'both expiries counted');
    await fail(p, a!, c1, g1.lock_token); // after the sweep: the same lease, not counted again
    assert.equal((await agentObject(p, a!)).consecutive_failures, 2);

    // Taking over an expired, unswept lease counts its expiry for the previous holder.
    void g2;
    const c3 = await paidContract(h, p, { offering_id: 'expiry' });
    const g3 = (await mustOk(lock(p, a!, c3))).body;
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = $1`, [c3]);
    await mustOk(lock(p, b!, c3));
    const after3 = await agentObject(p, a!);
    assert.equal(after3.consecutive_failures, 0, 'third count: cooled down, the count restarts');
    assert.notEqual(after3.cooldown_until, null);
    // Its late failure of that lease is lease_lost and counts nothing more.
    assertError(await agentCall(h, a!, 'POST', `${cpath(p, c3)}/failed`, { lock_token: g3.lock_token, error_message: 'x' }), 409, 'lease_lost');
    assert.equal((await agentObject(p, a!)).consecutive_failures, 0);
  });
});

// ---- retry elsewhere -------------------------------------------------------------------------

describe('retry elsewhere', () => {
  test('after X fails or lets a lease expire, another eligible agent of the pool gets the contract first', async () => {
    const { provider: p, agents: [x, y] } = await fleet(2);
    const id = await paidContract(h, p, { offering_id: 'elsewhere' });
    // y is not online: nobody else could take it, so x retries at once.
    await fail(p, x!, id, (await mustOk(lock(p, x!, id))).body.lock_token, 'contract');
    const again = (await mustOk(lock(p, x!, id))).body;
    await online(p, x!, y!);
    await fail(p, x!, id, again.lock_token, 'contract');
    const r = await lock(p, x!, id);
    assertError(r, 409, 'retry_elsewhere');
    assert.match(r.body.error.message, /120 s/);
    assert.deepEqual(await claimedIds(p, x!), [], 'claim skips it');
    assert.deepEqual(await pendingIds(p, x!), []);
    assert.deepEqual(await pendingIds(p, y!), [id]);

    // y fails it too: nobody left who has not failed it, so x may.
    await fail(p, y!, id, (await mustOk(lock(p, y!, id))).body.lock_token);
    assert.deepEqual(await claimedIds(p, x!), [id]);
  });

  test('the window ends with DC_RETRY_ELSEWHERE_SECONDS, and when the other agent goes offline; expiries count too', async () => {
    const { provider: p, agents: [x, y] } = await fleet(2);
    await online(p, x!, y!);
    const id = await paidContract(h, p, { offering_id: 'window' });
    await fail(p, x!, id, (await mustOk(lock(p, x!, id))).body.lock_token);
    assertError(await lock(p, x!, id), 409, 'retry_elsewhere');
    await age(id, 300);
    await h.db.query(`UPDATE contract_events SET at = at - interval '121 seconds' WHERE contract_id = $1`, [id]);
    await mustOk(lock(p, x!, id));

    // x lets its lease expire. Until someone else is granted it, it is still x's lease to renew;
    // once y had it (and gave it back), x's new grant waits for the window like after a failure.
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
    await sweepLeases(h.server.ctx);
    const gy = (await mustOk(lock(p, y!, id))).body;
    await mustOk(agentCall(h, y!, 'DELETE', `${cpath(p, id)}/lock`, { lock_token: gy.lock_token }));
    assertError(await lock(p, x!, id), 409, 'retry_elsewhere');
    await offline(y!);
    assert.equal((await mustOk(lock(p, x!, id))).body.lock_token, gy.lock_token + 1, 'with y offline, nobody else could take it');
  });
});

// ---- capacity --------------------------------------------------------------------------------

describe('capacity', () => {
  test('max_concurrent bounds live provision leases: claim returns the free slots, lock is 409 agent_at_capacity', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    await mustOk(heartbeat(p, a!, { max_concurrent: 2 }));
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await paidContract(h, p, { offering_id: 'cap' }));
    const first = (await mustOk(claim(p, a!, { max: 10 }))).body.items;
    assert.equal(first.length, 2);
    const rest = ids.filter((id) => !first.some((c: any) => c.contract_id === id));
    const r = await lock(p, a!, rest[0]!);
    assertError(r, 409, 'agent_at_capacity');
    assert.match(r.body.error.message, /holds 2/);
    // Its own leases come back renewed; no new ones.
    assert.deepEqual(await claimedIds(p, a!), first.map((c: any) => c.contract_id).sort());
    const obj = await agentObject(p, a!);
    assert.deepEqual([obj.max_concurrent, obj.live_leases], [2, 2]);

    await provisioned(p, a!, first[0].contract_id, first[0].lock_token);
    const next = (await mustOk(claim(p, a!, { max: 10, exclude: [first[1].contract_id] }))).body.items;
    assert.equal(next.length, 1, 'one slot free again');

    // Omitting max_concurrent keeps it; out of range is 400 and changes nothing.
    await mustOk(heartbeat(p, a!));
    assertError(await heartbeat(p, a!, { max_concurrent: 0 }), 400, 'invalid_input');
    assertError(await heartbeat(p, a!, { max_concurrent: 1001 }), 400, 'invalid_input');
    assert.equal((await agentObject(p, a!)).max_concurrent, 2);
  });

  test('teardowns do not count against capacity', async () => {
    const { provider: p, agents: [a] } = await fleet(1);
    await mustOk(heartbeat(p, a!, { max_concurrent: 1, capabilities: { actions: ['provision', 'terminate'] } }));
    const customer = generateIdentity();
    const built = await paidContract(h, p, { offering_id: 'cap-td' }, customer);
    await provisioned(p, a!, built, (await mustOk(lock(p, a!, built))).body.lock_token);
    await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${built}/cancel`));
    await mustOk(lock(p, a!, built)); // a teardown lease
    const id = await paidContract(h, p, { offering_id: 'cap-td' });
    assert.equal((await mustOk(lock(p, a!, id))).body.lock_agent, a!.publicKey);
    assert.equal((await agentObject(p, a!)).live_leases, 2, 'live_leases counts both actions');
  });
});

// ---- refusal order ---------------------------------------------------------------------------

describe('refusal order', () => {
  test('where two refusals apply, the earlier in DESIGN.md\'s order wins', async () => {
    const { provider: p, poolId, agents: [a, b] } = await fleet(2);
    await online(p, a!, b!);
    const setA = (sql: string) => h.db.query(`UPDATE provider_agent_delegations SET ${sql} WHERE agent_pubkey = $1`, [a!.publicKey]);
    const paused = (on: boolean) => h.db.query(`UPDATE agent_pools SET paused = $2 WHERE pool_id = $1`, [poolId, on]);
    /** `a` holds one lease: with max_concurrent 1 it is at capacity. */
    const atCapacity = async () => {
      await mustOk(heartbeat(p, a!, { max_concurrent: 1 }));
      await mustOk(lock(p, a!, await paidContract(h, p, { offering_id: 'order' })));
    };
    /** `a` failed `id` just now (it is offered again at once: no back-off here). */
    const aFailed = async (id: string) => fail(p, a!, id, (await mustOk(lock(p, a!, id))).body.lock_token, 'contract');
    const reset = async () => {
      await setA(`state = 'active', cooldown_until = NULL`);
      await paused(false);
      await h.db.query(`UPDATE contract_sign_requests SET status = 'rejected', provisioning_lock_agent = NULL WHERE provisioning_lock_agent = $1`, [a!.publicKey]);
      await mustOk(heartbeat(p, a!, { max_concurrent: 1000 }));
    };
    const cases: [string, (id: string) => Promise<unknown>, string][] = [
      ['paused and draining', async () => {
        await paused(true);
        await setA(`state = 'draining'`);
      }, 'pool_paused'],
      ['draining and cooling down', () => setA(`state = 'draining', cooldown_until = now() + interval '1 minute'`), 'agent_draining'],
      ['cooling down and at capacity', async () => {
        await atCapacity();
        await setA(`cooldown_until = now() + interval '1 minute'`);
      }, 'agent_cooling_down'],
      ['at capacity and retry elsewhere', async (id) => {
        await aFailed(id);
        await atCapacity();
      }, 'agent_at_capacity'],
      ['retry elsewhere and lock held', async (id) => {
        await aFailed(id);
        await mustOk(lock(p, b!, id));
      }, 'retry_elsewhere'],
      ['lock held and backing off', async (id) => {
        await mustOk(lock(p, b!, id));
        await h.db.query(`UPDATE contract_sign_requests SET next_attempt_at = now() + interval '1 minute' WHERE contract_id = $1`, [id]);
      }, 'lock_held'],
    ];
    for (const [name, arrange, code] of cases) {
      await reset();
      const id = await paidContract(h, p, { offering_id: 'order' });
      await arrange(id);
      const r = await lock(p, a!, id);
      assert.equal(r.body?.error?.code, code, `${name}: ${r.text}`);
    }

    // Earlier still: a wrong token (lease_lost) before any eligibility limit, contract_cancelled
    // before lease_lost, and routing (403) before all of them.
    await reset();
    const id = await paidContract(h, p, { offering_id: 'order' });
    await setA(`state = 'draining'`);
    await paused(true);
    assertError(await lock(p, a!, id, { lock_token: 99 }), 409, 'lease_lost');
    const customer = generateIdentity();
    const never = await paidContract(h, p, { offering_id: 'order' }, customer);
    await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${never}/cancel`));
    assertError(await lock(p, a!, never, { lock_token: 5 }), 409, 'contract_cancelled');
    const naAgent = await registerAgent(h, p, await createPool(p, { name: 'na-pool', location: 'na' }));
    await h.db.query(`UPDATE provider_agent_delegations SET state = 'draining' WHERE agent_pubkey = $1`, [naAgent.publicKey]);
    assertError(await lock(p, naAgent, never, { lock_token: 5 }), 403, 'not_routed');
  });
});

// ---- fallback pools --------------------------------------------------------------------------

describe('fallback pools', () => {
  test('validation: same provider, type and location (unless cross-region), no cycles; bad input changes nothing', async () => {
    const { provider: p, poolId: primary } = await providerWithPool(h, { name: 'primary' });
    const spare = await createPool(p, { name: 'spare' });
    const script = await createPool(p, { name: 'script', provisioner_type: 'script' });
    const na = await createPool(p, { name: 'na', location: 'na' });
    const { poolId: foreign } = await providerWithPool(h, { name: 'foreign' });
    const put = (id: string, body: Record<string, unknown>) => call(h, p, 'PUT', `${base(p)}/pools/${id}`, body);
    const before = await getPool(p, primary);
    assert.deepEqual([before.paused, before.fallback_pool_id, before.fallback_after_seconds, before.fallback_cross_region], [false, null, 300, false]);

    assertError(await put(primary, { fallback_pool_id: foreign }), 400, 'fallback_mismatch');
    assertError(await put(primary, { fallback_pool_id: 'no-such-pool' }), 400, 'fallback_mismatch');
    assertError(await put(primary, { fallback_pool_id: script }), 400, 'fallback_mismatch');
    assertError(await put(primary, { fallback_pool_id: na }), 400, 'fallback_mismatch');
    assertError(await put(primary, { fallback_pool_id: primary }), 400, 'fallback_cycle');
    assertError(await put(primary, { fallback_after_seconds: 86_401 }), 400, 'invalid_input');
    assertError(await put(primary, { fallback_after_seconds: -1 }), 400, 'invalid_input');
    assert.deepEqual(await getPool(p, primary), before, 'nothing changed');

    const linked = (await mustOk(put(primary, { fallback_pool_id: spare, fallback_after_seconds: 60 }))).body;
    assert.deepEqual([linked.fallback_pool_id, linked.fallback_after_seconds], [spare, 60]);
    assertError(await put(spare, { fallback_pool_id: primary }), 400, 'fallback_cycle');
    const third = await createPool(p, { name: 'third', fallback_pool_id: primary });
    assertError(await put(spare, { fallback_pool_id: third }), 400, 'fallback_cycle');
    // A pool another falls back to may not change type or location under it.
    assertError(await put(spare, { location: 'na' }), 400, 'fallback_mismatch');
    assertError(await put(primary, { provisioner_type: 'script' }), 400, 'fallback_mismatch');
    // Cross-region only when the pool falling back says so.
    const crossed = (await mustOk(put(spare, { fallback_pool_id: na, fallback_cross_region: true, fallback_after_seconds: null }))).body;
    assert.deepEqual([crossed.fallback_pool_id, crossed.fallback_cross_region, crossed.fallback_after_seconds], [na, true, null]);
    assertError(await put(spare, { fallback_cross_region: false }), 400, 'fallback_mismatch');
    assertError(await call(h, p, 'POST', `${base(p)}/pools`, { name: 'bad', location: 'europe', provisioner_type: 'proxmox', fallback_pool_id: script }), 400, 'fallback_mismatch');
    assert.equal((await mustOk(call(h, p, 'GET', `${base(p)}/pools`))).body.items.filter((x: any) => x.name === 'bad').length, 0);

    // A pool named as a fallback cannot be deleted.
    const del = await call(h, p, 'DELETE', `${base(p)}/pools/${na}`);
    assertError(del, 409, 'pool_in_use');
    assert.match(del.body.error.message, /"spare"/);
    await mustOk(put(spare, { fallback_pool_id: null }));
    assert.equal((await call(h, p, 'DELETE', `${base(p)}/pools/${na}`)).status, 204);
  });

  test('the chain: each pool after the routed one takes the contract once the timers before it ran out', async () => {
    const { provider: p, poolId: primary } = await providerWithPool(h, { name: 'p' });
    const q = await createPool(p, { name: 'q' });
    const r = await createPool(p, { name: 'r' });
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${primary}`, { fallback_pool_id: q, fallback_after_seconds: 300 }));
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${q}`, { fallback_pool_id: r, fallback_after_seconds: 600 }));
    const [ap, aq, ar] = [await registerAgent(h, p, primary), await registerAgent(h, p, q), await registerAgent(h, p, r)];
    await online(p, ap, aq, ar);
    const id = await paidContract(h, p, { offering_id: 'chain' });

    assert.deepEqual([await pendingIds(p, aq), await pendingIds(p, ar)], [[], []]);
    const early = await lock(p, aq, id);
    assertError(early, 403, 'not_routed');
    assert.match(early.body.error.message, /fallback timer/);
    await age(id, 301);
    assert.deepEqual([await pendingIds(p, aq), await pendingIds(p, ar)], [[id], []]);
    await age(id, 600);
    assert.deepEqual([await pendingIds(p, aq), await pendingIds(p, ar)], [[id], [id]]);
    assert.deepEqual(await pendingIds(p, ap), [id], 'the routed pool keeps it too');

    // A null timer: only when every pool before has no eligible agent.
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${q}`, { fallback_after_seconds: null }));
    assert.deepEqual(await pendingIds(p, ar), []);
    await offline(ap);
    await offline(aq);
    assert.deepEqual(await pendingIds(p, ar), [id]);

    const g = (await mustOk(lock(p, ar, id))).body;
    assert.equal(g.via_fallback, true);
    const c = await contract(p, id);
    assert.deepEqual([c.routed_pool_id, c.lease_pool_id, c.resolved_pool_id], [primary, r, primary]);
    const granted = (await events(p, id)).filter((e) => e.event === 'granted');
    assert.deepEqual(granted.map((e) => e.via_fallback), [true]);
    // Its lease stays renewable when the routed pool's agents return.
    await online(p, ap, aq);
    assert.equal((await mustOk(lock(p, ar, id, { lock_token: g.lock_token }))).body.lock_token, g.lock_token);
    assert.ok((await events(p, id)).filter((e) => e.event !== 'granted').every((e) => !('via_fallback' in e)), 'via_fallback only on grants');
  });

  test('a pool with every agent offline (or paused) hands its work to the fallback at once, and the notice wakes it', async () => {
    const { provider: p, poolId: home } = await providerWithPool(h, { name: 'home' });
    const spare = await createPool(p, { name: 'spare' });
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${home}`, { fallback_pool_id: spare, fallback_after_seconds: 3600 }));
    const [ah, as] = [await registerAgent(h, p, home), await registerAgent(h, p, spare)];
    await online(p, ah, as);
    const first = await paidContract(h, p, { offering_id: 'home' });
    assert.deepEqual(await pendingIds(p, as), []);
    await offline(ah);
    assert.deepEqual(await pendingIds(p, as), [first]);
    await online(p, ah);
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${home}`, { paused: true }));
    assert.deepEqual(await pendingIds(p, as), [first], 'paused: no eligible agent there');
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${home}`, { paused: false }));
    await mustOk(setState(p, p, ah, { state: 'draining' }));
    assert.deepEqual(await pendingIds(p, as), [first], 'draining: no eligible agent there');

    // New work routed home is announced to the spare pool's waiter too.
    const g = (await mustOk(lock(p, as, first))).body;
    assert.equal(g.via_fallback, true);
    const cust = generateIdentity();
    const c = (await mustOk(call(h, cust, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'home' }))).body.contract_id;
    await mustOk(call(h, p, 'POST', `${cpath(p, c)}/accept`));
    const parked = h.server.ctx.dispatcher.parked;
    const woken = h.server.ctx.dispatcher.woken;
    const held = agentCall(h, as, 'POST', `${base(p)}/contracts/claim?wait=30`, { max: 1, exclude: [first] });
    await untilParked(parked + 1);
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${c}/payment`, { status: 'succeeded' }));
    const got = (await held).body.items;
    assert.deepEqual(got.map((x: any) => [x.contract_id, x.via_fallback]), [[c, true]]);
    assert.deepEqual((await events(p, c)).filter((e) => e.event === 'granted').map((e) => [e.detail, e.via_fallback]), [['claim', true]]);
    assert.ok(h.server.ctx.dispatcher.woken > woken, 'the notice named the spare pool');
  });
});

// ---- the agent object ------------------------------------------------------------------------

describe('the agent object', () => {
  test('pool detail, the agents list and GET …/agents/{pk} carry state, health, capacity, live leases, success rate and host_scope', async () => {
    const { provider: p, poolId, agents: [a] } = await fleet(1, 'obj');
    await mustOk(heartbeat(p, a!, { max_concurrent: 3, capabilities: { host_scope: 'pve-cluster-1', actions: ['provision'] } }));
    let obj = await agentObject(p, a!);
    assert.deepEqual(
      [obj.pool_id, obj.state, obj.state_reason, obj.state_set_by, obj.drained, obj.live_leases, obj.consecutive_failures, obj.cooldown_until, obj.success_rate_24h, obj.host_scope, obj.max_concurrent, obj.status],
      [poolId, 'active', null, null, false, 0, 0, null, null, 'pve-cluster-1', 3, 'online'],
    );
    const [c1, c2] = [await paidContract(h, p, { offering_id: 'obj' }), await paidContract(h, p, { offering_id: 'obj' })];
    await provisioned(p, a!, c1, (await mustOk(lock(p, a!, c1))).body.lock_token);
    await fail(p, a!, c2, (await mustOk(lock(p, a!, c2))).body.lock_token);
    await fail(p, a!, c2, (await mustOk(lock(p, a!, c2))).body.lock_token, 'contract');
    await mustOk(lock(p, a!, c2));
    obj = await agentObject(p, a!);
    assert.equal(obj.success_rate_24h, 0.5, 'one provisioned, one agent-class failure; the contract-class one does not count');
    assert.deepEqual([obj.live_leases, obj.consecutive_failures, obj.active_contracts], [1, 1, 1]);
    const detail = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
    assert.deepEqual(detail.agents[0], obj);
    const listed = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}/agents`))).body.items;
    assert.deepEqual(listed[0], obj);
    // A revoked agent stays readable.
    await mustOk(call(h, p, 'DELETE', apath(p, a!)));
    assert.equal((await agentObject(p, a!)).status, 'revoked');
    assertError(await setState(p, p, a!, { state: 'draining' }), 404);
  });
});

// ---- wake-up order ---------------------------------------------------------------------------

describe('wake-up order', () => {
  test('the replica wakes its waiter with the most free slots first, ties least recently granted', async () => {
    const d = new Dispatcher(h.db); // not listening: notices are announced by hand
    const woken: string[] = [];
    const scope = { provider: 'p'.repeat(64), poolId: 'pool' };
    const park = (agent: string, freeSlots: number | null, lastGrantedAt: Date | null) =>
      void d.park({ ...scope, agent, freeSlots, lastGrantedAt }, 30_000).then(() => woken.push(agent));
    park('one-free', 1, null);
    park('four-free-recent', 4, new Date(2_000_000));
    park('full', 0, null);
    park('four-free-older', 4, new Date(1_000_000));
    park('unlimited', null, new Date(3_000_000));
    const tick = () => new Promise((r) => setImmediate(r));
    for (const expected of [['unlimited'], ['four-free-older', 'four-free-recent'], ['one-free', 'full']]) {
      d.announce({ ...scope, count: expected.length });
      await tick();
      assert.deepEqual(woken.splice(0), expected);
    }
    // An agent notice wakes that agent only.
    park('x', 4, null);
    park('y', 4, null);
    d.announce({ ...scope, count: 1, agent: 'y' });
    await tick();
    assert.deepEqual(woken.splice(0), ['y']);
    d.announce({ ...scope, count: 1 });
    await tick();
    assert.deepEqual(woken.splice(0), ['x']);
    // Leases an agent ends through this replica while parked count as free slots at once.
    park('parked-with-one', 1, null);
    park('parked-with-two', 2, null);
    d.slotsFreed(scope.provider, 'parked-with-one', 3);
    d.slotsFreed(scope.provider, 'someone-else', 5);
    d.announce({ ...scope, count: 1 });
    await tick();
    assert.deepEqual(woken.splice(0), ['parked-with-one']);
    d.announce({ ...scope, count: 1 });
    await tick();
    assert.deepEqual(woken.splice(0), ['parked-with-two']);
    await d.close();
  });
});

// ---- configuration ---------------------------------------------------------------------------

test('the fleet settings have their defaults, and a bad value names its variable', () => {
  const c = loadConfig({});
  assert.deepEqual([c.agentFailureThreshold, c.agentCooldownSeconds, c.retryElsewhereSeconds], [3, 60, 120]);
  const set = loadConfig({ DC_AGENT_FAILURE_THRESHOLD: '5', DC_AGENT_COOLDOWN_SECONDS: '30', DC_RETRY_ELSEWHERE_SECONDS: '0' });
  assert.deepEqual([set.agentFailureThreshold, set.agentCooldownSeconds, set.retryElsewhereSeconds], [5, 30, 0]);
  for (const [name, value] of [['DC_AGENT_FAILURE_THRESHOLD', '0'], ['DC_AGENT_COOLDOWN_SECONDS', '3601'], ['DC_RETRY_ELSEWHERE_SECONDS', 'soon']]) {
    assert.throws(() => loadConfig({ [name!]: value }), (e: unknown) => e instanceof ConfigError && e.message.startsWith(name!));
  }
});
