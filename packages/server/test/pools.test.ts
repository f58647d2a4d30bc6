// Pools (DESIGN.md "Pools, tokens, agents"): create, list, detail, partial update, delete rules,
// the four counts (agents, online, active contracts, offerings) following routing, and isolation
// between providers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { agentCall, call, mustOk, operator, paidContract, providerWithPool, registerAgent, startHarness, type Harness, type Res, base, assertError } from './helpers.js';

/** The offline cut-off this file runs with: not the default 90, so the test shows it is honoured. */
const OFFLINE_AFTER = 120;

let h: Harness;

before(async () => {
  h = await startHarness({ DC_AGENT_OFFLINE_AFTER_SECONDS: String(OFFLINE_AFTER), DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000' });
});

after(async () => {
  await h?.close();
});



async function newProvider(name = 'Provider'): Promise<Identity> {
  const p = generateIdentity();
  await mustOk(call(h, p, 'PUT', base(p), { name }));
  return p;
}

async function createPool(p: Identity, name: string, location = 'europe', provisioner_type = 'proxmox'): Promise<any> {
  const r = await call(h, p, 'POST', `${base(p)}/pools`, { name, location, provisioner_type });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function getPool(p: Identity, poolId: string): Promise<any> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
}

async function listPools(p: Identity): Promise<any[]> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/pools`))).body.items;
}

async function createOffering(p: Identity, o: Record<string, unknown>): Promise<any> {
  return (
    await mustOk(
      call(h, p, 'POST', `${base(p)}/offerings`, { name: String(o.offering_id), product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', ...o }),
    )
  ).body;
}

const heartbeat = (p: Identity, a: Identity) => mustOk(agentCall(h, a, 'POST', `${base(p)}/heartbeat`, { version: '0.5.2' }));

/** Moves an agent's last heartbeat `seconds` into the past (the database clock decides online). */
async function backdateHeartbeat(a: Identity, seconds: number): Promise<void> {
  const r = await h.db.query(`UPDATE agent_status SET last_seen_at = now() - make_interval(secs => $2) WHERE agent_pubkey = $1`, [a.publicKey, seconds]);
  assert.equal(r.rowCount, 1);
}

describe('create', () => {
  test('creating a pool is 201 with pool_id and every count at 0', async () => {
    const p = await newProvider();
    const r = await call(h, p, 'POST', `${base(p)}/pools`, { name: 'europe-proxmox', location: 'europe', provisioner_type: 'proxmox' });
    assert.equal(r.status, 201, r.text);
    assert.equal(typeof r.body.pool_id, 'string');
    assert.ok(r.body.pool_id.length > 0);
    assert.equal(r.body.provider_pubkey, p.publicKey);
    assert.equal(r.body.name, 'europe-proxmox');
    assert.equal(r.body.location, 'europe');
    assert.equal(r.body.provisioner_type, 'proxmox');
    assert.match(r.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(r.body.agents_count, 0);
    assert.equal(r.body.online_count, 0);
    assert.equal(r.body.active_contracts, 0);
    assert.equal(r.body.offerings_count, 0);
    const detail = await getPool(p, r.body.pool_id);
    assert.equal(detail.name, 'europe-proxmox');
    assert.deepEqual(detail.agents, []);
  });

  test('every region id and provisioner type is accepted', async () => {
    const p = await newProvider();
    const regions = ['europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis'];
    const types = ['proxmox', 'script', 'manual'];
    for (const [i, loc] of regions.entries()) {
      const pool = await createPool(p, `pool-${loc}`, loc, types[i % 3]);
      assert.equal(pool.location, loc);
      assert.equal(pool.provisioner_type, types[i % 3]);
    }
    assert.equal((await listPools(p)).length, regions.length);
  });

  test('two pools with the same name get different pool_ids', async () => {
    const a = await newProvider();
    const b = await newProvider();
    const pa = await createPool(a, 'same');
    const pb = await createPool(b, 'same');
    assert.notEqual(pa.pool_id, pb.pool_id);
  });

  test('a duplicate pool name for the same provider is 409 pool_name_taken', async () => {
    const p = await newProvider();
    await createPool(p, 'dup');
    const r = await call(h, p, 'POST', `${base(p)}/pools`, { name: 'dup', location: 'na', provisioner_type: 'script' });
    assertError(r, 409, 'pool_name_taken');
    assert.equal((await listPools(p)).length, 1);
  });

  test('the same pool name for another provider is allowed', async () => {
    const a = await newProvider();
    const b = await newProvider();
    await createPool(a, 'shared-name');
    await createPool(b, 'shared-name');
    assert.deepEqual((await listPools(b)).map((x) => x.name), ['shared-name']);
  });

  for (const [what, body, field] of [
    ['an unknown location', { name: 'x1', location: 'mars', provisioner_type: 'proxmox' }, 'location'],
    ['a country code as location', { name: 'x1', location: 'DE', provisioner_type: 'proxmox' }, 'location'],
    ['an upper-case location', { name: 'x1', location: 'EUROPE', provisioner_type: 'proxmox' }, 'location'],
    ['an unknown provisioner_type', { name: 'x1', location: 'europe', provisioner_type: 'docker' }, 'provisioner_type'],
    ['an empty name', { name: '', location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a name with a space', { name: 'my pool', location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a name starting with a dash', { name: '-pool', location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a name of 65 characters', { name: 'a'.repeat(65), location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a name with markup', { name: '<b>x</b>', location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a numeric name', { name: 5, location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a missing name', { location: 'europe', provisioner_type: 'proxmox' }, 'name'],
    ['a missing location', { name: 'x1', provisioner_type: 'proxmox' }, 'location'],
    ['a missing provisioner_type', { name: 'x1', location: 'europe' }, 'provisioner_type'],
    ['an unknown field', { name: 'x1', location: 'europe', provisioner_type: 'proxmox', region: 'europe' }, 'region'],
  ] as const) {
    test(`creating a pool with ${what} is 400 naming ${field}`, async () => {
      const p = await newProvider();
      const r = await call(h, p, 'POST', `${base(p)}/pools`, body);
      assertError(r, 400);
      assert.ok(r.body.error.message.includes(field), `message names ${field}: ${r.body.error.message}`);
      assert.deepEqual(await listPools(p), []);
    });
  }

  test('a name of 64 characters with dots, dashes and underscores is accepted', async () => {
    const p = await newProvider();
    const name = 'A1._-' + 'b'.repeat(59);
    assert.equal((await createPool(p, name)).name, name);
  });

  test('a body that is not JSON is 400, not 500', async () => {
    const p = await newProvider();
    const r = await call(h, p, 'POST', `${base(p)}/pools`, '{"name": ');
    assertError(r, 400);
  });

  test('creating a pool for an unregistered provider is 404 provider_not_registered', async () => {
    const stranger = generateIdentity();
    const r = await call(h, stranger, 'POST', `${base(stranger)}/pools`, { name: 'p', location: 'europe', provisioner_type: 'proxmox' });
    assertError(r, 404, 'provider_not_registered');
    assert.deepEqual((await mustOk(call(h, stranger, 'GET', `${base(stranger)}/pools`))).body.items, []);
  });
});

describe('list and detail', () => {
  test('the list is ordered by name and carries every count', async () => {
    const p = await newProvider();
    for (const n of ['zeta', 'alpha', 'mid-1', 'mid-0', 'beta']) await createPool(p, n, 'na', 'script');
    const items = await listPools(p);
    assert.deepEqual(items.map((x) => x.name), ['alpha', 'beta', 'mid-0', 'mid-1', 'zeta']);
    for (const x of items) {
      for (const k of ['pool_id', 'provider_pubkey', 'name', 'location', 'provisioner_type', 'created_at', 'agents_count', 'online_count', 'active_contracts', 'offerings_count']) {
        assert.ok(k in x, `list row has ${k}`);
      }
      assert.equal(x.location, 'na');
      assert.equal(x.provisioner_type, 'script');
    }
  });

  test('a provider with no pools gets an empty list', async () => {
    const p = await newProvider();
    assert.deepEqual((await mustOk(call(h, p, 'GET', `${base(p)}/pools`))).body, { items: [] });
  });

  test('an unknown pool is 404', async () => {
    const p = await newProvider();
    assertError(await call(h, p, 'GET', `${base(p)}/pools/nope-00000000`), 404);
  });

  test('the detail lists agents with label, status, version, last_seen_at and active_contracts, by label then key', async () => {
    const { provider: p, poolId } = await providerWithPool(h, { name: 'detail-pool' });
    const b = await registerAgent(h, p, poolId, 'node-b');
    const a = await registerAgent(h, p, poolId, 'node-a');
    const unlabelled = await registerAgent(h, p, poolId);
    const revoked = await registerAgent(h, p, poolId, 'node-c');
    await heartbeat(p, a);
    await heartbeat(p, revoked);
    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${revoked.publicKey}`));

    // node-a provisioned two contracts that are still provisioned, and one later cancelled.
    const c1 = await paidContract(h, p, { offering_id: 'detail-o' });
    const c2 = await paidContract(h, p, { offering_id: 'detail-o' });
    const c3 = await paidContract(h, p, { offering_id: 'detail-o' });
    // (v3 counts machines by their teardown owner, set with provisioned_by.)
    await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioned', provisioned_by = $1, teardown_owner = $1 WHERE contract_id = ANY($2::text[])`, [a.publicKey, [c1, c2]]);
    await h.db.query(`UPDATE contract_sign_requests SET status = 'cancelled', provisioned_by = $1, teardown_owner = $1 WHERE contract_id = $2`, [a.publicKey, c3]);

    const d = await getPool(p, poolId);
    assert.deepEqual(d.agents.map((x: any) => x.label), ['node-a', 'node-b', 'node-c', null]);
    const byKey = new Map(d.agents.map((x: any) => [x.agent_pubkey, x]));
    const ra: any = byKey.get(a.publicKey);
    assert.equal(ra.status, 'online');
    assert.equal(ra.version, '0.5.2');
    assert.match(ra.last_seen_at, /Z$/);
    assert.ok(Math.abs(Date.parse(ra.last_seen_at) - Date.now()) < 60_000);
    assert.equal(ra.active_contracts, 2);
    const rb: any = byKey.get(b.publicKey);
    assert.equal(rb.status, 'offline');
    assert.equal(rb.version, null);
    assert.equal(rb.last_seen_at, null);
    assert.equal(rb.active_contracts, 0);
    assert.equal((byKey.get(unlabelled.publicKey) as any).label, null);
    const rc: any = byKey.get(revoked.publicKey);
    assert.equal(rc.status, 'revoked', 'a revoked agent stays listed, as revoked, even with a fresh heartbeat');
    assert.equal(rc.version, '0.5.2');
    assert.equal(d.agents_count, 3, 'revoked agents are not counted');
    assert.equal(d.online_count, 1, 'a revoked agent is not online');
  });

  test('two agents with the same label are ordered by key', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const x = await registerAgent(h, p, poolId, 'same');
    const y = await registerAgent(h, p, poolId, 'same');
    const d = await getPool(p, poolId);
    assert.deepEqual(d.agents.map((a: any) => a.agent_pubkey), [x.publicKey, y.publicKey].sort());
  });
});

describe('update', () => {
  test('PUT is a partial update: only the fields sent change', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'before', 'europe', 'proxmox');
    const r1 = await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, { name: 'after' });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.name, 'after');
    assert.equal(r1.body.location, 'europe');
    assert.equal(r1.body.provisioner_type, 'proxmox');
    assert.equal(r1.body.pool_id, pool.pool_id);
    assert.equal(r1.body.created_at, pool.created_at);
    const r2 = await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, { location: 'apac' });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.body.name, 'after');
    assert.equal(r2.body.location, 'apac');
    const r3 = await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, { provisioner_type: 'manual' });
    assert.equal(r3.body.provisioner_type, 'manual');
    assert.equal(r3.body.location, 'apac');
    const d = await getPool(p, pool.pool_id);
    assert.deepEqual([d.name, d.location, d.provisioner_type], ['after', 'apac', 'manual']);
    assert.equal(typeof r3.body.agents_count, 'number');
  });

  test('PUT with the pool\'s own name is not a conflict', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'mine');
    const r = await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, { name: 'mine', location: 'na' });
    assert.equal(r.status, 200, r.text);
  });

  test('renaming a pool to another pool\'s name is 409 pool_name_taken', async () => {
    const p = await newProvider();
    await createPool(p, 'taken');
    const other = await createPool(p, 'other');
    assertError(await call(h, p, 'PUT', `${base(p)}/pools/${other.pool_id}`, { name: 'taken' }), 409, 'pool_name_taken');
    assert.equal((await getPool(p, other.pool_id)).name, 'other');
  });

  for (const [what, body, field] of [
    ['an unknown location', { location: 'moon' }, 'location'],
    ['an unknown provisioner_type', { provisioner_type: 'vmware' }, 'provisioner_type'],
    ['an invalid name', { name: 'a b' }, 'name'],
    ['an unknown field', { agents: [] }, 'agents'],
  ] as const) {
    test(`PUT with ${what} is 400 naming ${field}`, async () => {
      const p = await newProvider();
      const pool = await createPool(p, 'valid');
      const r = await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, body);
      assertError(r, 400);
      assert.ok(r.body.error.message.includes(field), r.body.error.message);
      const d = await getPool(p, pool.pool_id);
      assert.deepEqual([d.name, d.location, d.provisioner_type], ['valid', 'europe', 'proxmox']);
    });
  }

  test('PUT with an empty body object is 400', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'valid');
    assertError(await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, {}), 400);
  });

  test('PUT on an unknown pool is 404', async () => {
    const p = await newProvider();
    assertError(await call(h, p, 'PUT', `${base(p)}/pools/nope-00000000`, { name: 'x' }), 404);
  });

  test('changing the type of a pool that offerings name explicitly with the old type is 409 pool_in_use', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'typed', 'europe', 'proxmox');
    await createOffering(p, { offering_id: 'typed-o', agent_pool_id: pool.pool_id });
    assertError(await call(h, p, 'PUT', `${base(p)}/pools/${pool.pool_id}`, { provisioner_type: 'script' }), 409, 'pool_in_use');
    assert.equal((await getPool(p, pool.pool_id)).provisioner_type, 'proxmox');
  });
});

describe('delete', () => {
  test('deleting an empty pool is 204 and it is gone', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'empty');
    const r = await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`);
    assert.equal(r.status, 204, r.text);
    assertError(await call(h, p, 'GET', `${base(p)}/pools/${pool.pool_id}`), 404);
    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`), 404);
  });

  test('DELETE is 409 pool_not_empty while an un-revoked agent remains, and 204 after revoking it', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const a1 = await registerAgent(h, p, poolId, 'a1');
    const a2 = await registerAgent(h, p, poolId, 'a2');
    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${poolId}`), 409, 'pool_not_empty');
    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${a1.publicKey}`));
    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${poolId}`), 409, 'pool_not_empty');
    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${a2.publicKey}`));
    const r = await call(h, p, 'DELETE', `${base(p)}/pools/${poolId}`);
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(await listPools(p), []);
  });

  test('DELETE is 409 pool_in_use while an offering names the pool explicitly, and 204 once re-pointed', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'explicit');
    await createOffering(p, { offering_id: 'pinned', agent_pool_id: pool.pool_id, status: 'inactive' });
    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`), 409, 'pool_in_use');
    await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/pinned`, { agent_pool_id: null }));
    const r = await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`);
    assert.equal(r.status, 204, r.text);
  });

  test('a location-matched offering does not block deleting its pool', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'auto');
    const o = await createOffering(p, { offering_id: 'auto-o', datacenter_country: 'FR' });
    assert.equal(o.resolved_pool_id, pool.pool_id);
    assert.equal((await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`)).status, 204);
    const after = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings/auto-o`))).body;
    assert.equal(after.resolved_pool_id, null);
    assert.equal(after.pool_match, 'none');
  });

  test('deleting a pool removes its pending setup tokens', async () => {
    const p = await newProvider();
    const pool = await createPool(p, 'with-token');
    const t = await mustOk(call(h, p, 'POST', `${base(p)}/pools/${pool.pool_id}/setup-tokens`, {}));
    assert.equal((await call(h, p, 'DELETE', `${base(p)}/pools/${pool.pool_id}`)).status, 204);
    const agent = generateIdentity();
    const r = await agentCall(h, agent, 'POST', '/api/v1/agents/setup', { token: t.body.token, agent_pubkey: agent.publicKey });
    assertError(r, 401, 'invalid_token');
  });
});

describe('counts', () => {
  test('offerings_count counts active offerings whose resolved pool it is: explicit, and location only for the oldest pool', async () => {
    const p = await newProvider();
    const eu1 = await createPool(p, 'eu-1', 'europe', 'proxmox'); // oldest europe/proxmox: the default
    const eu2 = await createPool(p, 'eu-2', 'europe', 'proxmox');
    const na1 = await createPool(p, 'na-1', 'na', 'proxmox');
    const euScript = await createPool(p, 'eu-script', 'europe', 'script');

    await createOffering(p, { offering_id: 'de-auto', datacenter_country: 'DE' }); // → eu-1 (location)
    await createOffering(p, { offering_id: 'fr-auto', datacenter_country: 'fr' }); // → eu-1 (location, any case)
    await createOffering(p, { offering_id: 'de-pinned', datacenter_country: 'DE', agent_pool_id: eu2.pool_id }); // → eu-2
    await createOffering(p, { offering_id: 'jp-pinned-eu2', datacenter_country: 'JP', agent_pool_id: eu2.pool_id }); // explicit beats location
    await createOffering(p, { offering_id: 'us-auto', datacenter_country: 'US' }); // → na-1
    await createOffering(p, { offering_id: 'de-script', datacenter_country: 'DE', provisioner_type: 'script' }); // → eu-script
    await createOffering(p, { offering_id: 'de-inactive', datacenter_country: 'DE', status: 'inactive' }); // not counted
    await createOffering(p, { offering_id: 'pinned-inactive', agent_pool_id: eu2.pool_id, status: 'inactive' }); // not counted
    await createOffering(p, { offering_id: 'br-auto', datacenter_country: 'BR' }); // no latam pool: none
    await createOffering(p, { offering_id: 'de-manual', datacenter_country: 'DE', provisioner_type: 'manual' }); // no manual pool: none

    // Another provider's offerings in the same region never count for p's pools.
    const q = await newProvider();
    await createPool(q, 'eu-q', 'europe', 'proxmox');
    await createOffering(q, { offering_id: 'q-de', datacenter_country: 'DE' });

    const counts = async () => Object.fromEntries((await listPools(p)).map((x) => [x.name, x.offerings_count]));
    assert.deepEqual(await counts(), { 'eu-1': 2, 'eu-2': 2, 'eu-script': 1, 'na-1': 1 });
    assert.equal((await getPool(p, eu1.pool_id)).offerings_count, 2, 'detail agrees with the list');
    assert.equal((await getPool(p, eu2.pool_id)).offerings_count, 2);
    assert.equal((await getPool(p, na1.pool_id)).offerings_count, 1);
    assert.equal((await getPool(p, euScript.pool_id)).offerings_count, 1);

    // Deactivating an offering drops it; reactivating adds it back.
    await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/fr-auto`, { status: 'inactive' }));
    assert.equal((await counts())['eu-1'], 1);
    await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/fr-auto`, { status: 'active' }));
    assert.equal((await counts())['eu-1'], 2);

    // Once the oldest pool is gone, the next oldest of that region and type takes the location matches.
    assert.equal((await call(h, p, 'DELETE', `${base(p)}/pools/${eu1.pool_id}`)).status, 204);
    assert.deepEqual(await counts(), { 'eu-2': 4, 'eu-script': 1, 'na-1': 1 });

    // Moving a pool to another region moves its location matches with it.
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${na1.pool_id}`, { location: 'latam' }));
    assert.deepEqual(await counts(), { 'eu-2': 4, 'eu-script': 1, 'na-1': 1 }, 'na-1 now serves latam: br-auto instead of us-auto');
    const br = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings/br-auto`))).body;
    assert.equal(br.resolved_pool_id, na1.pool_id);
    const us = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings/us-auto`))).body;
    assert.equal(us.resolved_pool_id, null);
  });

  test('the oldest pool gets location matches even when a newer one sorts first by name', async () => {
    const p = await newProvider();
    const older = await createPool(p, 'zz-older', 'apac', 'proxmox');
    const newer = await createPool(p, 'aa-newer', 'apac', 'proxmox');
    await createOffering(p, { offering_id: 'sg', datacenter_country: 'SG' });
    assert.equal((await getPool(p, older.pool_id)).offerings_count, 1);
    assert.equal((await getPool(p, newer.pool_id)).offerings_count, 0);
  });

  test('active_contracts counts paid contracts in accepted or provisioning routed to the pool, and machines built by the pool', async () => {
    const p = await newProvider();
    const eu1 = await createPool(p, 'eu-1', 'europe', 'proxmox');
    const eu2 = await createPool(p, 'eu-2', 'europe', 'proxmox');
    await createOffering(p, { offering_id: 'auto', datacenter_country: 'DE' }); // → eu-1
    await createOffering(p, { offering_id: 'pinned', datacenter_country: 'DE', agent_pool_id: eu2.pool_id }); // → eu-2

    const accepted = await paidContract(h, p, { offering_id: 'auto' });
    const provisioning = await paidContract(h, p, { offering_id: 'auto' });
    const provisioned = await paidContract(h, p, { offering_id: 'auto' });
    const failed = await paidContract(h, p, { offering_id: 'auto' });
    const cancelled = await paidContract(h, p, { offering_id: 'auto' });
    const pinned = await paidContract(h, p, { offering_id: 'pinned' });
    await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioning' WHERE contract_id = $1`, [provisioning]);
    await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioned', provisioned_pool_id = $2 WHERE contract_id = $1`, [provisioned, eu1.pool_id]);
    await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioning_failed' WHERE contract_id = $1`, [failed]);
    await h.db.query(`UPDATE contract_sign_requests SET status = 'cancelled' WHERE contract_id = $1`, [cancelled]);

    // Accepted but unpaid, and paid but not yet accepted: neither occupies the pool.
    const customer = generateIdentity();
    const unpaid = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'auto' }));
    await mustOk(call(h, p, 'POST', `${base(p)}/contracts/${unpaid.body.contract_id}/accept`));
    const unaccepted = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'auto' }));
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${unaccepted.body.contract_id}/payment`, { status: 'succeeded' }));

    const d1 = await getPool(p, eu1.pool_id);
    assert.equal(d1.active_contracts, 3, `accepted ${accepted}, provisioning and provisioned count; the others do not`);
    assert.equal((await getPool(p, eu2.pool_id)).active_contracts, 1);
    const rows = Object.fromEntries((await listPools(p)).map((x) => [x.name, x.active_contracts]));
    assert.deepEqual(rows, { 'eu-1': 3, 'eu-2': 1 });

    // A refund cancels the contract (never granted a lease): it no longer counts.
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${pinned}/payment`, { status: 'refunded' }));
    assert.equal((await getPool(p, eu2.pool_id)).active_contracts, 0);
    // Re-pointing the offering moves its unfinished contracts to the other pool; the machine stays
    // counted where it was built, also while it is torn down after a refund.
    await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/auto`, { agent_pool_id: eu2.pool_id }));
    assert.equal((await getPool(p, eu1.pool_id)).active_contracts, 1);
    assert.equal((await getPool(p, eu2.pool_id)).active_contracts, 2);
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${provisioned}/payment`, { status: 'refunded' }));
    assert.equal((await getPool(p, eu1.pool_id)).active_contracts, 1, 'terminating, whatever the payment');
  });

  test('agents_count and online_count follow registrations, heartbeats and DC_AGENT_OFFLINE_AFTER_SECONDS', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const row = async () => (await listPools(p)).find((x) => x.pool_id === poolId);
    assert.deepEqual([(await row()).agents_count, (await row()).online_count], [0, 0]);

    const a1 = await registerAgent(h, p, poolId, 'a1');
    const a2 = await registerAgent(h, p, poolId, 'a2');
    let r = await row();
    assert.deepEqual([r.agents_count, r.online_count], [2, 0], 'registered but never seen: offline');

    await heartbeat(p, a1);
    r = await row();
    assert.deepEqual([r.agents_count, r.online_count], [2, 1]);
    await heartbeat(p, a2);
    assert.equal((await row()).online_count, 2);

    // 100 s ago is offline with the default 90 s cut-off but online with this file's 120 s.
    await backdateHeartbeat(a1, OFFLINE_AFTER - 20);
    assert.equal((await row()).online_count, 2);
    assert.equal((await getPool(p, poolId)).online_count, 2);
    await backdateHeartbeat(a1, OFFLINE_AFTER + 10);
    assert.equal((await row()).online_count, 1);
    const d = await getPool(p, poolId);
    assert.equal(d.online_count, 1);
    assert.equal(d.agents.find((x: any) => x.agent_pubkey === a1.publicKey).status, 'offline');

    // A new heartbeat brings it back.
    await heartbeat(p, a1);
    assert.equal((await row()).online_count, 2);

    // Revoking removes it from both counts.
    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${a2.publicKey}`));
    r = await row();
    assert.deepEqual([r.agents_count, r.online_count], [1, 1]);
  });
});

describe('isolation between providers', () => {
  test('provider B can never read, change or delete provider A\'s pools', async () => {
    const { provider: a, poolId } = await providerWithPool(h, { name: 'a-pool' });
    const b = await newProvider('B');
    await createPool(b, 'b-pool');

    // Under B's own path, A's pool does not exist.
    assertError(await call(h, b, 'GET', `${base(b)}/pools/${poolId}`), 404);
    assertError(await call(h, b, 'PUT', `${base(b)}/pools/${poolId}`, { name: 'stolen' }), 404);
    assertError(await call(h, b, 'DELETE', `${base(b)}/pools/${poolId}`), 404);
    assertError(await call(h, b, 'POST', `${base(b)}/pools/${poolId}/setup-tokens`, {}), 404);
    assertError(await call(h, b, 'GET', `${base(b)}/pools/${poolId}/setup-tokens`), 404);
    assert.deepEqual((await listPools(b)).map((x) => x.name), ['b-pool']);

    // Under A's path, B is not allowed at all.
    assertError(await call(h, b, 'GET', `${base(a)}/pools`), 403);
    assertError(await call(h, b, 'GET', `${base(a)}/pools/${poolId}`), 403);
    assertError(await call(h, b, 'PUT', `${base(a)}/pools/${poolId}`, { name: 'stolen' }), 403);
    assertError(await call(h, b, 'DELETE', `${base(a)}/pools/${poolId}`), 403);
    assertError(await call(h, b, 'POST', `${base(a)}/pools/${poolId}/setup-tokens`, {}), 403);

    const d = await getPool(a, poolId);
    assert.equal(d.name, 'a-pool');
  });

  test('an offering cannot name another provider\'s pool', async () => {
    const { poolId } = await providerWithPool(h, { name: 'foreign' });
    const b = await newProvider('B');
    const r = await call(h, b, 'POST', `${base(b)}/offerings`, {
      offering_id: 'steal', name: 'x', product_type: 'compute', datacenter_country: 'DE', monthly_price: 1, currency: 'EUR', agent_pool_id: poolId,
    });
    assertError(r, 400);
  });
});
