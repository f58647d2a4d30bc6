// Location routing (DESIGN.md "Regions and routing"): explicit pool wins, else the provider's
// OLDEST pool (created_at, then pool_id) of the offering's region and provisioner type, else none.
// The stored routes (src/store/routing.ts) read by the offerings list, its pool filter, the pool
// counts and the contracts are checked against each other and a JS model on randomized data
// (stored-routes.test.ts checks them against the rule after random sequences of changes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countryToRegion } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { refreshRoutes } from '../src/store/routing.js';
import { agentCall, call, mustOk, offeringInput, operator, registerAgent, registeredProvider, startHarness, type Harness, type Res, base, assertError, prng } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});



async function pool(p: Identity, name: string, location: string, provisioner_type = 'proxmox'): Promise<string> {
  const r = await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name, location, provisioner_type }));
  return r.body.pool_id as string;
}

async function offering(p: Identity, id: string, over: Record<string, unknown> = {}): Promise<any> {
  return (await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, offeringInput(id, over)))).body;
}

async function get(p: Identity, id: string): Promise<any> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/offerings/${id}`))).body;
}

async function pools(p: Identity): Promise<Map<string, any>> {
  const r = await mustOk(call(h, p, 'GET', `${base(p)}/pools`));
  return new Map((r.body.items as any[]).map((x) => [x.pool_id, x]));
}

/**
 * Sets a pool's created_at (the routing age) with SQL: no sleeping. The API never changes it, so
 * the stored routes are refreshed as a migration changing it would have to.
 */
async function setCreatedAt(poolId: string, iso: string): Promise<void> {
  const r = await h.db.query<{ provider_pubkey: string }>(
    `UPDATE agent_pools SET created_at = $2::timestamptz WHERE pool_id = $1 RETURNING provider_pubkey`, [poolId, iso]);
  await h.db.transaction((tx) => refreshRoutes(tx, r.rows[0]!.provider_pubkey));
}

describe('routing rules', () => {
  test('an explicit pool wins over a location match, even in another region', async () => {
    const p = await registeredProvider(h);
    const eu = await pool(p, 'eu', 'europe');
    const na = await pool(p, 'na', 'na');
    const o = await offering(p, 'explicit', { datacenter_country: 'DE', agent_pool_id: na });
    assert.equal(o.datacenter_region, 'europe');
    assert.equal(o.resolved_pool_id, na);
    assert.equal(o.pool_match, 'explicit');
    const auto = await offering(p, 'auto', { datacenter_country: 'DE' });
    assert.equal(auto.resolved_pool_id, eu);
    assert.equal(auto.pool_match, 'location');
  });

  test('without an explicit pool the offering goes to the OLDEST pool of its region and provisioner type', async () => {
    const p = await registeredProvider(h);
    const first = await pool(p, 'eu-1', 'europe');
    const second = await pool(p, 'eu-2', 'europe');
    await setCreatedAt(first, '2024-01-01T00:00:00Z');
    await setCreatedAt(second, '2024-01-02T00:00:00Z');
    assert.equal((await offering(p, 'o1')).resolved_pool_id, first);

    // Make the second one older: routing follows created_at, not insertion order or name.
    await setCreatedAt(second, '2023-12-31T00:00:00Z');
    assert.equal((await get(p, 'o1')).resolved_pool_id, second);

    // Same created_at: the smaller pool_id wins.
    await setCreatedAt(first, '2023-06-01T00:00:00Z');
    await setCreatedAt(second, '2023-06-01T00:00:00Z');
    const lower = [first, second].sort()[0];
    assert.equal((await get(p, 'o1')).resolved_pool_id, lower);
    const counts = await pools(p);
    assert.equal(counts.get(lower!)!.offerings_count, 1);
    assert.equal(counts.get([first, second].sort()[1]!)!.offerings_count, 0);
  });

  test('a pool of the right region but another provisioner type does not match: pool_match none', async () => {
    const p = await registeredProvider(h);
    const scriptPool = await pool(p, 'eu-script', 'europe', 'script');
    const o = await offering(p, 'px', { datacenter_country: 'DE', provisioner_type: 'proxmox' });
    assert.equal(o.provisioner_type, 'proxmox');
    assert.equal(o.resolved_pool_id, null);
    assert.equal(o.pool_match, 'none');
    const s = await offering(p, 'sc', { datacenter_country: 'DE', provisioner_type: 'script' });
    assert.equal(s.resolved_pool_id, scriptPool);
    assert.equal(s.pool_match, 'location');
    assert.equal((await pools(p)).get(scriptPool)!.offerings_count, 1);
  });

  test('no pool in the offering\'s region: pool_match none', async () => {
    const p = await registeredProvider(h);
    await pool(p, 'eu', 'europe');
    for (const [i, cc] of ['US', 'BR', 'JP', 'AE', 'NG', 'RU'].entries()) {
      const o = await offering(p, `far-${i}`, { datacenter_country: cc });
      assert.equal(o.resolved_pool_id, null, cc);
      assert.equal(o.pool_match, 'none', cc);
    }
  });

  test('a newer second pool in the same region and type gets no location matches, only explicit ones', async () => {
    const p = await registeredProvider(h);
    const older = await pool(p, 'eu-old', 'europe');
    const newer = await pool(p, 'eu-new', 'europe');
    await setCreatedAt(older, '2024-01-01T00:00:00Z');
    await setCreatedAt(newer, '2024-02-01T00:00:00Z');
    for (const cc of ['DE', 'FR', 'NL']) await offering(p, `auto-${cc.toLowerCase()}`, { datacenter_country: cc });
    await offering(p, 'pinned', { datacenter_country: 'DE', agent_pool_id: newer });

    const counts = await pools(p);
    assert.equal(counts.get(older)!.offerings_count, 3);
    assert.equal(counts.get(newer)!.offerings_count, 1);
    const listed = await mustOk(call(h, p, 'GET', `${base(p)}/offerings?pool_id=${newer}`));
    assert.deepEqual(listed.body.items.map((o: any) => o.offering_id), ['pinned']);
    const detail = await mustOk(call(h, p, 'GET', `${base(p)}/pools/${newer}`));
    assert.equal(detail.body.offerings_count, 1);
  });

  test('a pool with agents cannot be deleted; once empty and deleted, its offerings go to the next oldest pool', async () => {
    const p = await registeredProvider(h);
    const older = await pool(p, 'eu-old', 'europe');
    const newer = await pool(p, 'eu-new', 'europe');
    await setCreatedAt(older, '2024-01-01T00:00:00Z');
    await setCreatedAt(newer, '2024-02-01T00:00:00Z');
    await offering(p, 'o1');
    const agent = await registerAgent(h, p, older);

    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${older}`), 409, 'pool_not_empty');
    assert.equal((await get(p, 'o1')).resolved_pool_id, older);

    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${agent.publicKey}`));
    const d = await call(h, p, 'DELETE', `${base(p)}/pools/${older}`);
    assert.equal(d.status, 204, d.text);
    const o = await get(p, 'o1');
    assert.equal(o.resolved_pool_id, newer);
    assert.equal(o.pool_match, 'location');

    // A pool named explicitly by an offering cannot be deleted either.
    await offering(p, 'pinned', { agent_pool_id: newer });
    assertError(await call(h, p, 'DELETE', `${base(p)}/pools/${newer}`), 409, 'pool_in_use');
    await mustOk(call(h, p, 'DELETE', `${base(p)}/offerings/pinned`));
    assert.equal((await call(h, p, 'DELETE', `${base(p)}/pools/${newer}`)).status, 204);
    const none = await get(p, 'o1');
    assert.equal(none.resolved_pool_id, null);
    assert.equal(none.pool_match, 'none');
  });

  test('changing an offering\'s country, type or explicit pool re-routes it', async () => {
    const p = await registeredProvider(h);
    const eu = await pool(p, 'eu', 'europe');
    const na = await pool(p, 'na', 'na');
    const naScript = await pool(p, 'na-script', 'na', 'script');
    await offering(p, 'move', { datacenter_country: 'DE' });
    const put = async (patch: Record<string, unknown>) => (await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/move`, patch))).body;

    let o = await put({ datacenter_country: 'us' });
    assert.deepEqual([o.datacenter_country, o.datacenter_region, o.resolved_pool_id, o.pool_match], ['US', 'na', na, 'location']);
    o = await put({ provisioner_type: 'script' });
    assert.deepEqual([o.resolved_pool_id, o.pool_match], [naScript, 'location']);
    o = await put({ datacenter_country: 'JP' });
    assert.deepEqual([o.datacenter_region, o.resolved_pool_id, o.pool_match], ['apac', null, 'none']);
    o = await put({ agent_pool_id: naScript });
    assert.deepEqual([o.resolved_pool_id, o.pool_match], [naScript, 'explicit']);
    o = await put({ agent_pool_id: null, provisioner_type: 'proxmox', datacenter_country: 'FR' });
    assert.deepEqual([o.datacenter_region, o.resolved_pool_id, o.pool_match], ['europe', eu, 'location']);

    const counts = await pools(p);
    assert.equal(counts.get(eu)!.offerings_count, 1);
    assert.equal(counts.get(na)!.offerings_count, 0);
    assert.equal(counts.get(naScript)!.offerings_count, 0);
  });

  test('changing a pool\'s location or type re-routes the offerings that match it by location', async () => {
    const p = await registeredProvider(h);
    const movable = await pool(p, 'movable', 'europe');
    await offering(p, 'de', { datacenter_country: 'DE' });
    await offering(p, 'us', { datacenter_country: 'US' });
    assert.equal((await get(p, 'de')).resolved_pool_id, movable);
    assert.equal((await get(p, 'us')).resolved_pool_id, null);
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${movable}`, { location: 'na' }));
    assert.equal((await get(p, 'de')).resolved_pool_id, null);
    assert.equal((await get(p, 'us')).resolved_pool_id, movable);
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${movable}`, { provisioner_type: 'manual' }));
    assert.equal((await get(p, 'us')).pool_match, 'none');
    assert.equal((await pools(p)).get(movable)!.offerings_count, 0);
  });

  test('an inactive offering still resolves but is not counted in offerings_count', async () => {
    const p = await registeredProvider(h);
    const eu = await pool(p, 'eu', 'europe');
    await offering(p, 'on');
    const off = await offering(p, 'off', { status: 'inactive' });
    assert.equal(off.resolved_pool_id, eu);
    assert.equal((await pools(p)).get(eu)!.offerings_count, 1);
    const listed = await mustOk(call(h, p, 'GET', `${base(p)}/offerings?pool_id=${eu}`));
    assert.deepEqual(listed.body.items.map((o: any) => o.offering_id), ['off', 'on']);
  });

  test('routing never crosses providers: another provider\'s older pool in the same region is ignored', async () => {
    const a = await registeredProvider(h);
    const b = await registeredProvider(h);
    const aPool = await pool(a, 'eu', 'europe');
    const bPool = await pool(b, 'eu', 'europe');
    await setCreatedAt(aPool, '2020-01-01T00:00:00Z');
    const o = await offering(b, 'mine');
    assert.equal(o.resolved_pool_id, bPool);
    assert.equal((await pools(a)).get(aPool)!.offerings_count, 0);
  });
});

// ---- randomized agreement of the two SQL forms ------------------------------------------------

const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'CA', 'MX', 'BR', 'AR', 'JP', 'SG', 'AU', 'AE', 'TR', 'NG', 'KE', 'RU', 'KZ'];
const LOCATIONS = ['europe', 'na', 'apac', 'mena', 'cis'];
const TYPES = ['proxmox', 'script', 'manual'];

interface PoolModel {
  pool_id: string;
  location: string;
  provisioner_type: string;
  created: number;
}
interface OfferingModel {
  id: string;
  country: string;
  type: string;
  explicit: string | null;
  active: boolean;
}

const byAge = (x: PoolModel, y: PoolModel) => x.created - y.created || (x.pool_id < y.pool_id ? -1 : x.pool_id > y.pool_id ? 1 : 0);

/** The type an offering gets without a pool or a type (v3): its region's oldest pool's, else proxmox. */
function modelDefaultType(country: string, ps: PoolModel[]): string {
  return ps.filter((p) => p.location === countryToRegion(country)).sort(byAge)[0]?.provisioner_type ?? 'proxmox';
}

function modelRoute(o: OfferingModel, ps: PoolModel[]): string | null {
  if (o.explicit) return o.explicit;
  const region = countryToRegion(o.country);
  const candidates = ps
    .filter((p) => p.location === region && p.provisioner_type === o.type)
    .sort(byAge);
  return candidates[0]?.pool_id ?? null;
}

async function checkAgreement(p: Identity, ps: PoolModel[], os: OfferingModel[], contracts: Map<string, string>, seed: number, phase: string) {
  const at = `seed ${seed}, ${phase}`;
  const listed = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings?limit=500`))).body;
  assert.equal(listed.total, os.length, at);
  const resolved = new Map<string, string | null>();
  for (const o of listed.items) {
    const m = os.find((x) => x.id === o.offering_id)!;
    const expected = modelRoute(m, ps);
    assert.equal(o.resolved_pool_id, expected, `${at}: offering ${o.offering_id}`);
    assert.equal(o.pool_match, m.explicit ? 'explicit' : expected ? 'location' : 'none', `${at}: ${o.offering_id}`);
    resolved.set(o.offering_id, o.resolved_pool_id);
  }

  const stats = await pools(p);
  assert.equal(stats.size, ps.length, at);
  const activeRouted = os.filter((o) => o.active && resolved.get(o.id) !== null).length;
  let sum = 0;
  for (const [poolId, s] of stats) {
    sum += s.offerings_count;
    const activeHere = await mustOk(call(h, p, 'GET', `${base(p)}/offerings?pool_id=${poolId}&status=active&limit=1`));
    assert.equal(s.offerings_count, activeHere.body.total, `${at}: offerings_count of ${poolId}`);
    const modelCount = os.filter((o) => o.active && resolved.get(o.id) === poolId).length;
    assert.equal(s.offerings_count, modelCount, `${at}: model count of ${poolId}`);
    const allHere = await mustOk(call(h, p, 'GET', `${base(p)}/offerings?pool_id=${poolId}&limit=500`));
    assert.deepEqual(
      allHere.body.items.map((o: any) => o.offering_id),
      os.filter((o) => resolved.get(o.id) === poolId).map((o) => o.id).sort(),
      `${at}: list ?pool_id=${poolId}`,
    );
    // active_contracts: paid, accepted contracts whose offering routes here.
    const contractsHere = [...contracts.values()].filter((offeringId) => resolved.get(offeringId) === poolId).length;
    assert.equal(s.active_contracts, contractsHere, `${at}: active_contracts of ${poolId}`);
  }
  assert.equal(sum, activeRouted, `${at}: sum of offerings_count`);

  // Contracts show their offering's route.
  for (const [contractId, offeringId] of contracts) {
    const c = await mustOk(call(h, p, 'GET', `/api/v1/contracts/${contractId}`));
    assert.equal(c.body.resolved_pool_id, resolved.get(offeringId), `${at}: contract of ${offeringId}`);
  }
}

describe('every reader of the stored routes agrees', () => {
  const seeds = process.env.ROUTING_SEED ? [Number(process.env.ROUTING_SEED)] : [1, 2, 3, Math.floor(Math.random() * 2 ** 31)];
  for (const seed of seeds) {
    test(`offerings list, pool counts and a JS model agree on randomized pools and offerings (seed ${seed})`, async () => {
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      const p = await registeredProvider(h);

      const ps: PoolModel[] = [];
      const nPools = 6 + Math.floor(rnd() * 7);
      for (let i = 0; i < nPools; i++) {
        const location = pick(LOCATIONS);
        const type = rnd() < 0.6 ? 'proxmox' : pick(TYPES);
        const id = await pool(p, `pool-${i}`, location, type);
        // Few distinct timestamps: many ties, so the pool_id tie-break is exercised.
        const created = Date.parse('2024-01-01T00:00:00Z') + Math.floor(rnd() * 4) * 1000;
        await setCreatedAt(id, new Date(created).toISOString());
        ps.push({ pool_id: id, location, provisioner_type: type, created });
      }

      const os: OfferingModel[] = [];
      const nOfferings = 30 + Math.floor(rnd() * 30);
      for (let i = 0; i < nOfferings; i++) {
        const explicit = rnd() < 0.25 ? pick(ps) : null;
        const m: OfferingModel = {
          id: `o-${String(i).padStart(3, '0')}`,
          country: pick(COUNTRIES),
          type: explicit ? explicit.provisioner_type : rnd() < 0.7 ? 'proxmox' : pick(TYPES),
          explicit: explicit?.pool_id ?? null,
          active: rnd() < 0.8,
        };
        await offering(p, m.id, {
          datacenter_country: rnd() < 0.5 ? m.country.toLowerCase() : m.country,
          ...(explicit ? { agent_pool_id: explicit.pool_id } : { provisioner_type: m.type }),
          ...(m.active ? {} : { status: 'inactive' }),
        });
        os.push(m);
      }

      // Paid, accepted contracts on some active offerings (inactive ones cannot be contracted).
      const contracts = new Map<string, string>();
      const customer = generateIdentity();
      for (const o of os.filter((x) => x.active).slice(0, 8)) {
        const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: o.id }));
        await mustOk(call(h, p, 'POST', `${base(p)}/contracts/${c.body.contract_id}/accept`));
        await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${c.body.contract_id}/payment`, { status: 'succeeded' }));
        contracts.set(c.body.contract_id, o.id);
      }
      await checkAgreement(p, ps, os, contracts, seed, 'initial');

      // Mutate: move offerings, re-point or release explicit pools, move pools, re-age pools.
      for (let i = 0; i < 12; i++) {
        const o = pick(os);
        const country = pick(COUNTRIES);
        if (rnd() < 0.3) {
          const target = pick(ps);
          await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/${o.id}`, { agent_pool_id: target.pool_id, datacenter_country: country }));
          Object.assign(o, { explicit: target.pool_id, type: target.provisioner_type, country });
        } else {
          await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/${o.id}`, { agent_pool_id: null, datacenter_country: country }));
          // Without a type, leaving a pool or a region takes the new region's default type.
          const rederive = o.explicit !== null || countryToRegion(country) !== countryToRegion(o.country);
          Object.assign(o, { explicit: null, country, type: rederive ? modelDefaultType(country, ps) : o.type });
        }
      }
      for (let i = 0; i < 3; i++) {
        const target = pick(ps);
        const location = pick(LOCATIONS);
        await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${target.pool_id}`, { location }));
        target.location = location;
        const created = Date.parse('2024-01-01T00:00:00Z') + Math.floor(rnd() * 4) * 1000;
        await setCreatedAt(target.pool_id, new Date(created).toISOString());
        target.created = created;
      }
      await checkAgreement(p, ps, os, contracts, seed, 'after changes');
    });
  }
});

describe('agents only matter for routing through their pool', () => {
  test('the agent\'s heartbeat names the pool the offerings resolve to', async () => {
    const p = await registeredProvider(h);
    const eu = await pool(p, 'eu', 'europe');
    const agent = await registerAgent(h, p, eu, 'node-1');
    const hb = await mustOk(agentCall(h, agent, 'POST', `${base(p)}/heartbeat`, { version: '1.0.0' }));
    assert.equal(hb.body.pool_id, eu);
    assert.equal((await offering(p, 'o')).resolved_pool_id, hb.body.pool_id);
  });
});
