// Exactly-once provisioning: pending-provision, claim, fenced leases, expiry, back-off, routing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { expireLeases } from '../src/store/leases.js';
import { agentCall, call, mustOk, operator, paidContract, providerWithPool, registerAgent, startHarness, type Harness, base } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness({ DC_RETRY_BACKOFF_SECONDS: '30', DC_MAX_PROVISION_ATTEMPTS: '3', DC_LOCK_TTL_SECONDS: '300' });
});
after(async () => h.close());


/** A provider with a europe/proxmox pool, two agents in it, and a fresh offering id prefix. */
async function setup(label = 'p') {
  const { provider, poolId } = await providerWithPool(h);
  const a = await registerAgent(h, provider, poolId, `${label}-a`);
  const b = await registerAgent(h, provider, poolId, `${label}-b`);
  return { provider, poolId, a, b };
}

async function backdateLease(id: string, seconds = 10) {
  await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - make_interval(secs => $2) WHERE contract_id = $1`, [id, seconds]);
}

async function events(provider: Identity, id: string) {
  return (await mustOk(call(h, provider, 'GET', `${base(provider)}/contracts/${id}/events`))).body.items as { event: string; agent_pubkey: string | null; lock_token: number }[];
}

describe('pending-provision', () => {
  test('lists only accepted and paid contracts, oldest first, with provisioning fields', async () => {
    const { provider, a } = await setup();
    const first = await paidContract(h, provider, { offering_id: 'vps-1', provisioner_config: { template: 100 } } as never);
    const second = await paidContract(h, provider, { offering_id: 'vps-1' });
    // unaccepted but paid, accepted but unpaid, requested
    const cust = generateIdentity();
    const c1 = (await mustOk(call(h, cust, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'vps-1' }))).body.contract_id;
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${c1}/payment`, { status: 'succeeded' }));
    const c2 = (await mustOk(call(h, cust, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'vps-1' }))).body.contract_id;
    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${c2}/accept`));

    const r = await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision`));
    assert.deepEqual(r.body.items.map((c: any) => c.contract_id), [first, second]);
    const item = r.body.items[0];
    assert.equal(item.provisioner_type, 'proxmox');
    assert.deepEqual(item.provisioner_config, { template: 100 });
    assert.equal(item.status, 'accepted');
    assert.equal(item.payment_status, 'succeeded');
    assert.equal(item.lock_token, 0);

    const limited = await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision?limit=1`));
    assert.equal(limited.body.items.length, 1);
    assert.equal((await agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision?limit=101`)).status, 400);
  });

  test('a contract locked by another agent is hidden until its lease expires', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'vps-2' });
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    const ids = async (who: Identity) => (await mustOk(agentCall(h, who, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.map((c: any) => c.contract_id);
    assert.deepEqual(await ids(b), []);
    assert.deepEqual(await ids(a), [id], 'the holder still sees its own contract');
    await backdateLease(id);
    assert.deepEqual(await ids(b), [id]);
  });
});

describe('locks and fencing', () => {
  test('two agents racing for one contract: exactly one wins, the other gets 409 lock_held', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'race' });
    const [ra, rb] = await Promise.all([a, b].map((x) => agentCall(h, x, 'POST', `${base(provider)}/contracts/${id}/lock`)));
    const statuses = [ra!.status, rb!.status].sort();
    assert.deepEqual(statuses, [200, 409]);
    const loser = ra!.status === 409 ? ra! : rb!;
    assert.equal(loser.body.error.code, 'lock_held');
    const winner = ra!.status === 200 ? ra! : rb!;
    assert.equal(winner.body.lock_token, 1);
    assert.equal(winner.body.lock_ttl_seconds, 300);
  });

  test('re-lock by the holder extends the lease and keeps the token', async () => {
    const { provider, a } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'relock' });
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() + interval '5 seconds' WHERE contract_id = $1`, [id]);
    const r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`, { lock_token: g.body.lock_token }));
    assert.equal(r.body.lock_token, g.body.lock_token);
    assert.ok(new Date(r.body.lock_expires_at).getTime() > Date.now() + 200_000);
    assert.deepEqual((await events(provider, id)).map((e) => e.event), ['granted', 'renewed']);
    const wrong = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`, { lock_token: 99 });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.error.code, 'lease_lost');
  });

  test('release frees the contract; a repeat release is 200; the old token is then lease_lost', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'release' });
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal((await mustOk(agentCall(h, a, 'DELETE', `${base(provider)}/contracts/${id}/lock`, { lock_token: g.body.lock_token }))).body.lock_agent, null);
    assert.equal((await agentCall(h, a, 'DELETE', `${base(provider)}/contracts/${id}/lock`, { lock_token: g.body.lock_token })).status, 200);
    const gb = await mustOk(agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal(gb.body.lock_token, g.body.lock_token + 1);
    const stale = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'lease_lost');
    const late = await agentCall(h, a, 'DELETE', `${base(provider)}/contracts/${id}/lock`, { lock_token: g.body.lock_token });
    assert.equal(late.status, 200, 'an exact repeat of the release stays 200 even after a new grant');
    assert.equal(late.body.lock_agent, b.publicKey, 'and changes nothing');
    const otherEnd = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: 'x' });
    assert.equal(otherEnd.body.error.code, 'lease_lost', 'a different call with the old token is lease_lost');
  });

  test('provisioned: details visible to the customer, repeat by the same holder is 200, others get lease_lost', async () => {
    const { provider, a, b } = await setup();
    const customer = generateIdentity();
    const id = await paidContract(h, provider, { offering_id: 'prov' }, customer);
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    const details = { ip: '203.0.113.7', vmid: 4242 };
    const r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: details }));
    assert.equal(r.body.status, 'provisioned');
    assert.equal(r.body.provisioned_by, a.publicKey);
    assert.equal(r.body.lock_agent, null);
    assert.equal((await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: details })).status, 200);
    const other = await agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} });
    assert.equal(other.body.error.code, 'lease_lost');
    const seen = await mustOk(call(h, customer, 'GET', `/api/v1/contracts/${id}`));
    assert.deepEqual(seen.body.instance_details, details);
    assert.equal((await agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`)).body.error.code, 'not_provisionable');
    const missing = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { instance_details: {} });
    assert.equal(missing.status, 400);
  });

  test('expiry: the sweeper counts an attempt, another agent takes over, the stale token is refused', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'expiry' });
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal((await agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`)).body.error.code, 'lock_held');
    await backdateLease(id);
    assert.ok((await expireLeases(h.db, 3)) >= 1);
    const after1 = await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`));
    assert.equal(after1.body.attempts, 1);
    assert.equal(after1.body.last_error, 'lease expired');
    assert.equal(after1.body.lock_agent, null);
    assert.equal(after1.body.next_attempt_at, null, 'expiry has no back-off');
    const gb = await mustOk(agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal(gb.body.lock_token, g.body.lock_token + 1);
    const stale = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} });
    assert.equal(stale.body.error.code, 'lease_lost');
    assert.deepEqual((await events(provider, id)).map((e) => e.event), ['granted', 'expired', 'granted']);
  });

  test('a late confirmation with the current token succeeds after expiry when nobody was granted since', async () => {
    const { provider, a } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'late' });
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await backdateLease(id);
    await expireLeases(h.db, 1); // the limit is reached: provisioning_failed
    assert.equal((await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`))).body.status, 'provisioning_failed');
    const r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: { ok: true } }));
    assert.equal(r.body.status, 'provisioned');
  });

  test('granting over an expired, unswept lease records the expiry and counts the attempt', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'unswept' });
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await backdateLease(id);
    const r = await mustOk(agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal(r.body.attempts, 1);
    assert.equal(r.body.lock_token, 2);
    assert.deepEqual((await events(provider, id)).map((e) => [e.event, e.lock_token]), [['granted', 1], ['expired', 1], ['granted', 2]]);
  });

  test('cancel during a lease (v3): provisioned answers contract_cancelled; the lease goes on as a teardown, never listed as a provision', async () => {
    const { provider, a } = await setup();
    const customer = generateIdentity();
    const id = await paidContract(h, provider, { offering_id: 'cancel' }, customer);
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`));
    const r = await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'contract_cancelled');
    // The same token renews the lease, now a teardown; a provision client never sees it.
    const renewed = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`, { lock_token: g.body.lock_token }));
    assert.equal(renewed.body.status, 'terminating');
    assert.equal(renewed.body.action, 'terminate');
    const pending = await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision`));
    assert.equal(pending.body.items.length, 0);
    const claimed = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/claim`, { max: 5 }));
    assert.equal(claimed.body.items.length, 0);
    const evs = await events(provider, id);
    assert.deepEqual(evs.map((e) => e.event), ['granted', 'terminate_requested', 'renewed']);
  });

  test('failed: attempts, last_error verbatim, back-off, then provisioning_failed at the limit; retry resets', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'fail' });
    const msg = 'clone failed: ' + 'x'.repeat(2500);
    let g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    let r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: msg }));
    assert.equal(r.body.attempts, 1);
    assert.equal(r.body.status, 'accepted');
    assert.equal(r.body.last_error, msg.slice(0, 2000));
    const wait1 = new Date(r.body.next_attempt_at).getTime() - Date.now();
    assert.ok(wait1 > 20_000 && wait1 <= 31_000, `first back-off ~30 s, got ${wait1}`);
    assert.equal((await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: msg })).status, 200, 'repeat');
    assert.equal((await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`)).body.error.code, 'backing_off');
    assert.equal((await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.length, 0);

    await h.db.query(`UPDATE contract_sign_requests SET next_attempt_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
    g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: 'again' }));
    const wait2 = new Date(r.body.next_attempt_at).getTime() - Date.now();
    assert.ok(wait2 > 50_000 && wait2 <= 61_000, `second back-off doubles, got ${wait2}`);

    await h.db.query(`UPDATE contract_sign_requests SET next_attempt_at = NULL WHERE contract_id = $1`, [id]);
    g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: 'third' }));
    assert.equal(r.body.status, 'provisioning_failed');
    assert.equal(r.body.attempts, 3);
    assert.equal(r.body.next_attempt_at, null);

    const retried = await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${id}/retry`));
    assert.equal(retried.body.status, 'accepted');
    assert.equal(retried.body.attempts, 0);
    // Three agent-class failures in a row cooled `a` down (fleet operations, fleet.test.ts): `b` gets it.
    assert.equal((await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.length, 0);
    assert.equal((await mustOk(agentCall(h, b, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.length, 1);
    assert.deepEqual((await events(provider, id)).map((e) => e.event), ['granted', 'failed', 'granted', 'failed', 'granted', 'failed', 'retried']);
  });

  test('the sweeper clears only expired locks', async () => {
    const { provider, a } = await setup();
    const live = await paidContract(h, provider, { offering_id: 'sweep' });
    const dead = await paidContract(h, provider, { offering_id: 'sweep' });
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${live}/lock`));
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${dead}/lock`));
    await backdateLease(dead);
    await expireLeases(h.db, 3);
    assert.equal((await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${live}`))).body.lock_agent, a.publicKey);
    assert.equal((await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${dead}`))).body.lock_agent, null);
    assert.equal(await expireLeases(h.db, 3), 0, 'running it again (another replica) changes nothing');
  });

  test('handoff: manual contracts leave the queue and the provider completes them', async () => {
    const { provider, poolId } = await providerWithPool(h, { name: 'manual-eu', location: 'europe', provisioner_type: 'manual' });
    const m = await registerAgent(h, provider, poolId);
    const id = await paidContract(h, provider, { offering_id: 'manual-1', provisioner_type: 'manual' });
    const g = await mustOk(agentCall(h, m, 'POST', `${base(provider)}/contracts/${id}/lock`));
    const r = await mustOk(agentCall(h, m, 'POST', `${base(provider)}/contracts/${id}/handoff`, { lock_token: g.body.lock_token, note: 'needs a person' }));
    assert.equal(r.body.status, 'provisioning');
    assert.equal(r.body.lock_agent, null);
    assert.equal((await mustOk(agentCall(h, m, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.length, 0);
    assert.equal((await agentCall(h, m, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} })).body.error.code, 'lease_lost');
    const done = await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { instance_details: { ip: '198.51.100.1' } }));
    assert.equal(done.body.status, 'provisioned');
    assert.equal(done.body.provisioned_by, provider.publicKey);
    // providers may confirm only handed-off contracts
    const other = await paidContract(h, provider, { offering_id: 'manual-1', provisioner_type: 'manual' });
    assert.equal((await call(h, provider, 'POST', `${base(provider)}/contracts/${other}/provisioned`, { instance_details: {} })).status, 409);
    assert.deepEqual((await events(provider, id)).map((e) => e.event), ['granted', 'handed_off', 'provisioned']);
  });

  test('a revoked agent\'s leases are released and the contract is available again', async () => {
    const { provider, a, b } = await setup();
    const id = await paidContract(h, provider, { offering_id: 'revoke' });
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await mustOk(call(h, provider, 'DELETE', `${base(provider)}/agents/${a.publicKey}`));
    const c = await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`));
    assert.equal(c.body.lock_agent, null);
    assert.equal((await mustOk(agentCall(h, b, 'POST', `${base(provider)}/contracts/${id}/lock`))).body.lock_token, 2);
    assert.equal((await agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`)).status, 401);
  });
});

describe('agent labels on contracts', () => {
  test('contracts name the lock holder and the provisioning agent by label; a provider or an unlabelled agent is null', async () => {
    const { provider, a } = await setup('lbl');
    const id = await paidContract(h, provider, { offering_id: 'labels' });
    const read = async () => (await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`))).body;
    assert.equal((await read()).lock_agent_label, null);
    const g = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`));
    assert.equal(g.body.lock_agent_label, 'lbl-a', 'the work item carries it');
    assert.equal((await read()).lock_agent_label, 'lbl-a');
    const listed = await mustOk(call(h, provider, 'GET', `${base(provider)}/contracts`));
    assert.equal(listed.body.items.find((c: any) => c.contract_id === id).lock_agent_label, 'lbl-a', 'and the provider\'s list');
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} }));
    const done = await read();
    assert.equal(done.lock_agent_label, null, 'no lease, no holder');
    assert.equal(done.provisioned_by_label, 'lbl-a');

    const { provider: p2, poolId } = await providerWithPool(h, { name: 'manual-labels', location: 'europe', provisioner_type: 'manual' });
    const unlabelled = await registerAgent(h, p2, poolId);
    const m = await paidContract(h, p2, { offering_id: 'manual-labels', provisioner_type: 'manual' });
    const gm = await mustOk(agentCall(h, unlabelled, 'POST', `${base(p2)}/contracts/${m}/lock`));
    assert.equal(gm.body.lock_agent, unlabelled.publicKey);
    assert.equal(gm.body.lock_agent_label, null, 'an agent without a label');
    await mustOk(agentCall(h, unlabelled, 'POST', `${base(p2)}/contracts/${m}/handoff`, { lock_token: gm.body.lock_token }));
    const byProvider = await mustOk(call(h, p2, 'POST', `${base(p2)}/contracts/${m}/provisioned`, { instance_details: {} }));
    assert.equal(byProvider.body.provisioned_by, p2.publicKey);
    assert.equal(byProvider.body.provisioned_by_label, null, 'a provider has no agent label');
  });
});

describe('claim', () => {
  test('concurrent claims never share a contract', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const agents = await Promise.all(Array.from({ length: 8 }, (_, i) => registerAgent(h, provider, poolId, `claim-${i}`)));
    const ids = [];
    for (let i = 0; i < 30; i++) ids.push(await paidContract(h, provider, { offering_id: 'claim' }));
    const results = await Promise.all(agents.map((ag) => mustOk(agentCall(h, ag, 'POST', `${base(provider)}/contracts/claim`, { max: 3 }))));
    const got = results.flatMap((r, i) => r.body.items.map((c: any) => { assert.equal(c.lock_agent, agents[i]!.publicKey); return c.contract_id; }));
    assert.equal(new Set(got).size, got.length, 'no contract granted twice');
    assert.equal(got.length, 24);
    for (const r of results) assert.equal(r.status, 200);
  });

  test('held contracts come first (renewed, token kept); exclude skips ids; max bounds the batch', async () => {
    const { provider, a } = await setup();
    const c1 = await paidContract(h, provider, { offering_id: 'held' });
    const c2 = await paidContract(h, provider, { offering_id: 'held' });
    const c3 = await paidContract(h, provider, { offering_id: 'held' });
    const g3 = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${c3}/lock`));
    const r = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/claim`, { max: 2 }));
    const ids = r.body.items.map((c: any) => c.contract_id).sort();
    assert.deepEqual(ids, [c1, c3].sort(), 'own lease first, then the oldest');
    assert.equal(r.body.items.find((c: any) => c.contract_id === c3).lock_token, g3.body.lock_token);
    const ex = await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/claim`, { max: 10, exclude: [c1, c3] }));
    assert.deepEqual(ex.body.items.map((c: any) => c.contract_id), [c2]);
    assert.equal((await agentCall(h, a, 'POST', `${base(provider)}/contracts/claim`, { max: 11 })).status, 400);
    const evs = await events(provider, c3);
    assert.deepEqual(evs.map((e) => e.event), ['granted', 'renewed']);
  });

  test('wait=N holds an empty claim until a contract is paid', async () => {
    const { provider, a } = await setup();
    const cust = generateIdentity();
    await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, {
      offering_id: 'lp', name: 'LP', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR',
    }));
    const c = (await mustOk(call(h, cust, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'lp' }))).body.contract_id;
    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${c}/accept`));
    let answered = false;
    const held = agentCall(h, a, 'POST', `${base(provider)}/contracts/claim?wait=20`, { max: 1 }).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, 'nothing to claim yet: the request is held');
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${c}/payment`, { status: 'succeeded' }));
    const r = await held;
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.items.map((x: any) => x.contract_id), [c]);
  });
});

describe('routing at grant time', () => {
  test('explicit pool, location match, type mismatch and legacy agents', async () => {
    const provider = generateIdentity();
    await mustOk(call(h, provider, 'PUT', base(provider), { name: 'Routing' }));
    const pool = async (name: string, location: string, type: string) =>
      (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name, location, provisioner_type: type }))).body.pool_id as string;
    const eu = await pool('eu', 'europe', 'proxmox');
    const eu2 = await pool('eu-2', 'europe', 'proxmox');
    const na = await pool('na', 'na', 'proxmox');
    const euScript = await pool('eu-script', 'europe', 'script');
    const [aEu, aEu2, aNa, aScript, legacy] = [
      await registerAgent(h, provider, eu), await registerAgent(h, provider, eu2), await registerAgent(h, provider, na),
      await registerAgent(h, provider, euScript), await registerAgent(h, provider, eu),
    ];
    await h.db.query(`UPDATE provider_agent_delegations SET pool_id = NULL WHERE agent_pubkey = $1`, [legacy!.publicKey]);

    const de = await paidContract(h, provider, { offering_id: 'de', datacenter_country: 'DE' });
    const us = await paidContract(h, provider, { offering_id: 'us', datacenter_country: 'us' });
    const explicit = await paidContract(h, provider, { offering_id: 'explicit', datacenter_country: 'DE', agent_pool_id: eu2 });
    const script = await paidContract(h, provider, { offering_id: 'script', datacenter_country: 'FR', provisioner_type: 'script' });
    const jp = await paidContract(h, provider, { offering_id: 'jp', datacenter_country: 'JP' });

    const seen = async (ag: Identity) =>
      (await mustOk(agentCall(h, ag, 'GET', `${base(provider)}/contracts/pending-provision`))).body.items.map((c: any) => c.contract_id).sort();
    assert.deepEqual(await seen(aEu!), [de].sort(), 'oldest europe/proxmox pool gets DE');
    assert.deepEqual(await seen(aEu2!), [explicit], 'the newer europe pool only gets its explicit offering');
    assert.deepEqual(await seen(aNa!), [us]);
    assert.deepEqual(await seen(aScript!), [script], 'type must match too');
    assert.deepEqual(await seen(legacy!), [de, us, explicit, script, jp].sort(), 'a legacy agent sees every contract of its provider');

    const denied = await agentCall(h, aNa!, 'POST', `${base(provider)}/contracts/${de}/lock`);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'not_routed');
    assert.equal((await agentCall(h, aNa!, 'POST', `${base(provider)}/contracts/${jp}/lock`)).status, 403, 'no pool for apac: nobody pooled gets it');
    const claimed = await mustOk(agentCall(h, aNa!, 'POST', `${base(provider)}/contracts/claim`, { max: 10 }));
    assert.deepEqual(claimed.body.items.map((c: any) => c.contract_id), [us]);
  });

  test('re-pointing an offering mid-provision cannot cause a second provision', async () => {
    const provider = generateIdentity();
    await mustOk(call(h, provider, 'PUT', base(provider), { name: 'Repoint' }));
    const p1 = (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'one', location: 'europe', provisioner_type: 'proxmox' }))).body.pool_id;
    const p2 = (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'two', location: 'na', provisioner_type: 'proxmox' }))).body.pool_id;
    const a1 = await registerAgent(h, provider, p1);
    const a2 = await registerAgent(h, provider, p2);
    const id = await paidContract(h, provider, { offering_id: 'moving', datacenter_country: 'DE' });
    const g = await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${id}/lock`));
    await mustOk(call(h, provider, 'PUT', `${base(provider)}/offerings/moving`, { agent_pool_id: p2 }));
    assert.equal((await agentCall(h, a2, 'POST', `${base(provider)}/contracts/${id}/lock`)).body.error.code, 'lock_held');
    assert.equal((await mustOk(agentCall(h, a2, 'POST', `${base(provider)}/contracts/claim`, { max: 5 }))).body.items.length, 0);
    await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} }));
    assert.equal((await agentCall(h, a2, 'POST', `${base(provider)}/contracts/${id}/lock`)).body.error.code, 'not_provisionable');
  });
});
