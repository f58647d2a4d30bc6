// Stored routes (migration 007, src/store/routing.ts): provider_offerings.route_pool_id and, for
// contracts in ROUTED_STATUSES, contract_sign_requests.route_pool_id must always equal the routing
// rule evaluated fresh. Random sequences of API changes check that after every single change; the
// claim path is checked to read the stored route; on PostgreSQL, concurrent changes must leave no
// stale route and no 5xx (a deadlock would answer 500).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countryToRegion } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { RESOLVED_POOL_ID, ROUTE_JOIN, lockRouting, refreshRoutes } from '../src/store/routing.js';
import { routedStatusSql } from '../src/store/contract-state.js';
import { agentCall, call, mustOk, offeringInput, operator, registerAgent, registeredProvider, serverUrl, startHarness, type Harness, type Res, base, prng } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

// Pools live in three regions; BR (latam) and KE (ssa) offerings only ever route explicitly.
const LOCATIONS = ['europe', 'na', 'apac'];
const COUNTRIES = ['DE', 'FR', 'US', 'CA', 'JP', 'SG', 'BR', 'KE'];
const TYPES = ['proxmox', 'script', 'manual'];
/** Few distinct ages: re-aged pools tie often, so the pool_id tie-break is exercised. */
const AGES = ['2024-01-01T00:00:00Z', '2024-01-01T00:00:01Z', '2024-01-01T00:00:02Z'];

// ---- the invariants, in SQL ------------------------------------------------------------------

/** Offerings of `provider` whose stored route is not the rule evaluated now (a): must be none. */
async function staleOfferings(provider: string): Promise<unknown[]> {
  return (
    await h.db.query(
      `SELECT o.offering_id, o.route_pool_id AS stored, ${RESOLVED_POOL_ID} AS fresh
       FROM provider_offerings o ${ROUTE_JOIN}
       WHERE o.provider_pubkey = $1 AND o.route_pool_id IS DISTINCT FROM ${RESOLVED_POOL_ID}
       ORDER BY o.offering_id`,
      [provider],
    )
  ).rows;
}

/** Contracts in ROUTED_STATUSES whose stored route is not their offering's route evaluated now (b): must be none. */
async function staleContracts(provider: string): Promise<unknown[]> {
  return (
    await h.db.query(
      `SELECT c.contract_id, c.offering_id, c.status, c.route_pool_id AS stored, r.fresh
       FROM contract_sign_requests c
       LEFT JOIN (SELECT o.offering_id, ${RESOLVED_POOL_ID} AS fresh FROM provider_offerings o ${ROUTE_JOIN}
                  WHERE o.provider_pubkey = $1) r ON r.offering_id = c.offering_id
       WHERE c.provider_pubkey = $1 AND ${routedStatusSql()} AND c.route_pool_id IS DISTINCT FROM r.fresh
       ORDER BY c.contract_id`,
      [provider],
    )
  ).rows;
}

async function assertNoStaleRoute(provider: string, at: string): Promise<void> {
  assert.deepEqual(await staleOfferings(provider), [], `${at}: offerings whose stored route is stale`);
  assert.deepEqual(await staleContracts(provider), [], `${at}: routed contracts whose stored route is stale`);
}

// ---- the JS model of the rule ----------------------------------------------------------------

interface PoolModel {
  location: string;
  type: string;
  /** created_at to the microsecond, as sortable text: the API shows milliseconds only, PostgreSQL orders by microseconds. */
  created: string;
}

/** Explicit pool wins; else the oldest pool (created_at, then pool_id) of the offering's region and type; else none. */
function modelRoute(o: { country: string; type: string; explicit: string | null }, pools: Map<string, PoolModel>): string | null {
  if (o.explicit) return o.explicit;
  let best: [string, PoolModel] | null = null;
  for (const [id, p] of pools) {
    if (p.location !== countryToRegion(o.country) || p.type !== o.type) continue;
    if (!best || p.created < best[1].created || (p.created === best[1].created && id < best[0])) best = [id, p];
  }
  return best?.[0] ?? null;
}

async function createdStamp(poolId: string): Promise<string> {
  const r = await h.db.query<{ t: string }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t FROM agent_pools WHERE pool_id = $1`, [poolId]);
  return r.rows[0]!.t;
}

// ---- random sequences ------------------------------------------------------------------------

type Op =
  | { op: 'createPool'; name: string; location: string; provisioner_type: string }
  | { op: 'putPool'; pool: string; patch: Record<string, unknown> }
  | { op: 'deletePool'; pool: string }
  | { op: 'createOffering'; body: Record<string, unknown> }
  | { op: 'putOffering'; offering: string; patch: Record<string, unknown> }
  | { op: 'importCsv'; csv: string }
  | { op: 'createContract'; offering: string; then: ('accept' | 'pay' | 'reject' | 'cancel')[] }
  | { op: 'contractStep'; contract: string; step: 'accept' | 'pay' | 'reject' | 'cancel' }
  | { op: 'reage'; pool: string; created_at: string };

/** A refusal the sequence may meet (conflicting fallbacks, a pool in use, a mismatched type, an inactive offering…). */
function refusedOrOk(r: Res, at: string): boolean {
  assert.ok(r.status < 500, `${at}: server error ${r.status}: ${r.text}`);
  assert.ok(r.status < 300 || [400, 404, 409].includes(r.status), `${at}: unexpected ${r.status}: ${r.text}`);
  return r.status < 300;
}

const CSV_HEADER = 'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status';

interface SequenceStats {
  ops: number;
  refused: number;
  contractRouteChanges: number;
  offeringRouteChanges: number;
  routedContracts: number;
}

async function runSequence(seed: number, nOps: number): Promise<SequenceStats> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  const p = await registeredProvider(h);
  const provider = p.publicKey;
  const customer = generateIdentity();

  // Kept in creation order, so a seed replays the same operations. Pool ids are random, so which of
  // two equally old pools wins the tie-break (and a type derived from it) may differ between runs.
  const pools = new Map<string, PoolModel>();
  const offerings: string[] = [];
  const contracts: string[] = [];
  let poolNo = 0;
  let offeringNo = 0;
  const stats: SequenceStats = { ops: 0, refused: 0, contractRouteChanges: 0, offeringRouteChanges: 0, routedContracts: 0 };
  let lastOfferingRoutes = new Map<string, string | null>();
  let lastContractRoutes = new Map<string, string | null>();
  // Contracts past ROUTED_STATUSES keep the route they had when they left them.
  const frozen = new Map<string, string | null>();

  const poolIds = () => [...pools.keys()];
  const somePool = () => (pools.size > 0 ? pick(poolIds()) : null);

  function nextOp(): Op {
    for (;;) {
      const x = rnd() * 26;
      if (x < 3 || pools.size === 0) {
        return { op: 'createPool', name: `pool-${poolNo++}`, location: pick(LOCATIONS), provisioner_type: chance(0.6) ? 'proxmox' : pick(TYPES) };
      }
      if (x < 6) {
        const patch: Record<string, unknown> = {};
        if (chance(0.6)) patch.location = pick(LOCATIONS);
        if (chance(0.3)) patch.provisioner_type = pick(TYPES);
        if (chance(0.15)) patch.paused = chance(0.5);
        if (chance(0.15)) patch.fallback_pool_id = chance(0.3) ? null : somePool();
        if (Object.keys(patch).length === 0) patch.location = pick(LOCATIONS);
        return { op: 'putPool', pool: somePool()!, patch };
      }
      if (x < 7) return { op: 'deletePool', pool: somePool()! };
      if (x < 10 || offerings.length === 0) {
        const body: Record<string, unknown> = { datacenter_country: pick(COUNTRIES) };
        if (chance(0.3)) body.agent_pool_id = somePool();
        if (chance(0.5)) body.provisioner_type = pick(TYPES);
        if (chance(0.15)) body.status = 'inactive';
        return { op: 'createOffering', body: offeringInput(`o-${offeringNo++}`, body) };
      }
      if (x < 14) {
        const patch: Record<string, unknown> = {};
        if (chance(0.5)) patch.datacenter_country = pick(COUNTRIES);
        if (chance(0.3)) patch.agent_pool_id = chance(0.4) ? null : somePool();
        if (chance(0.3)) patch.provisioner_type = pick(TYPES);
        if (chance(0.15)) patch.status = chance(0.7) ? 'active' : 'inactive';
        if (Object.keys(patch).length === 0) patch.datacenter_country = pick(COUNTRIES);
        return { op: 'putOffering', offering: pick(offerings), patch };
      }
      if (x < 15.5) {
        const lines = [CSV_HEADER];
        const n = 1 + Math.floor(rnd() * 4);
        const ids = new Set<string>();
        for (let i = 0; i < n; i++) {
          const id = chance(0.5) ? pick(offerings) : `o-${offeringNo++}`;
          if (ids.has(id)) continue;
          ids.add(id);
          const pool = chance(0.25) ? somePool() ?? '' : '';
          const type = chance(0.5) ? pick(TYPES) : '';
          lines.push(`${id},${id},compute,${pick(COUNTRIES)},5,EUR,${type},${pool},${chance(0.9) ? 'active' : 'inactive'}`);
        }
        return { op: 'importCsv', csv: lines.join('\n') + '\n' };
      }
      if (x < 21) {
        const then: ('accept' | 'pay' | 'reject' | 'cancel')[] = [];
        const y = rnd();
        if (y < 0.6) then.push('accept', ...(chance(0.8) ? (['pay'] as const) : []));
        else if (y < 0.68) then.push('reject');
        else if (y < 0.74) then.push('cancel');
        return { op: 'createContract', offering: pick(offerings), then };
      }
      if (x < 23) {
        if (contracts.length === 0) continue;
        return { op: 'contractStep', contract: pick(contracts), step: pick(['accept', 'pay', 'pay', 'reject', 'cancel'] as const) };
      }
      return { op: 'reage', pool: somePool()!, created_at: pick(AGES) };
    }
  }

  async function contractStep(id: string, step: 'accept' | 'pay' | 'reject' | 'cancel', at: string): Promise<boolean> {
    const r =
      step === 'accept' ? await call(h, p, 'POST', `${base(p)}/contracts/${id}/accept`)
      : step === 'reject' ? await call(h, p, 'POST', `${base(p)}/contracts/${id}/reject`)
      : step === 'cancel' ? await call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`)
      : await call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' });
    return refusedOrOk(r, at);
  }

  async function apply(op: Op, at: string): Promise<boolean> {
    switch (op.op) {
      case 'createPool': {
        const r = await call(h, p, 'POST', `${base(p)}/pools`, { name: op.name, location: op.location, provisioner_type: op.provisioner_type });
        if (!refusedOrOk(r, at)) return false;
        pools.set(r.body.pool_id, { location: op.location, type: op.provisioner_type, created: await createdStamp(r.body.pool_id) });
        return true;
      }
      case 'putPool': {
        const r = await call(h, p, 'PUT', `${base(p)}/pools/${op.pool}`, op.patch);
        if (!refusedOrOk(r, at)) return false;
        const m = pools.get(op.pool)!;
        m.location = (op.patch.location as string | undefined) ?? m.location;
        m.type = (op.patch.provisioner_type as string | undefined) ?? m.type;
        return true;
      }
      case 'deletePool': {
        const r = await call(h, p, 'DELETE', `${base(p)}/pools/${op.pool}`);
        if (!refusedOrOk(r, at)) return false;
        pools.delete(op.pool);
        return true;
      }
      case 'createOffering': {
        const r = await call(h, p, 'POST', `${base(p)}/offerings`, op.body);
        if (!refusedOrOk(r, at)) return false;
        offerings.push(op.body.offering_id as string);
        return true;
      }
      case 'putOffering':
        return refusedOrOk(await call(h, p, 'PUT', `${base(p)}/offerings/${op.offering}`, op.patch), at);
      case 'importCsv': {
        const r = await call(h, p, 'POST', `${base(p)}/offerings/import`, op.csv, { contentType: 'text/csv' });
        if (!refusedOrOk(r, at)) return false;
        for (const line of op.csv.trim().split('\n').slice(1)) {
          const id = line.split(',')[0]!;
          if (!offerings.includes(id)) offerings.push(id);
        }
        return true;
      }
      case 'createContract': {
        const r = await call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider, offering_id: op.offering });
        if (!refusedOrOk(r, at)) return false;
        contracts.push(r.body.contract_id);
        for (const step of op.then) await contractStep(r.body.contract_id, step, `${at} (${step})`);
        return true;
      }
      case 'contractStep':
        return contractStep(op.contract, op.step, at);
      case 'reage': {
        // created_at never changes through the API: the test moves it to exercise the oldest-pool
        // tie-break, and must then refresh the stored routes as a migration changing it would.
        await h.db.transaction(async (tx) => {
          await lockRouting(tx, provider, 'pools');
          await tx.query(`UPDATE agent_pools SET created_at = $2::timestamptz WHERE pool_id = $1`, [op.pool, op.created_at]);
          await refreshRoutes(tx, provider);
        });
        pools.get(op.pool)!.created = await createdStamp(op.pool);
        return true;
      }
    }
  }

  /** (a) and (b) in SQL, (c) one sampled offering and contract through the API, frozen routes, and counts for the diagnostics. */
  async function check(at: string): Promise<void> {
    await assertNoStaleRoute(provider, at);

    const o = (await h.db.query<{ offering_id: string; route_pool_id: string | null }>(
      `SELECT offering_id, route_pool_id FROM provider_offerings WHERE provider_pubkey = $1`, [provider])).rows;
    const offeringRoutes = new Map(o.map((x) => [x.offering_id, x.route_pool_id]));
    if (o.length > 0) {
      const sample = pick(o);
      const got = await mustOk(call(h, p, 'GET', `${base(p)}/offerings/${sample.offering_id}`));
      assert.equal(got.body.resolved_pool_id, sample.route_pool_id, `${at}: API resolved_pool_id of offering ${sample.offering_id}`);
    }
    for (const [id, route] of offeringRoutes) {
      if (lastOfferingRoutes.has(id) && lastOfferingRoutes.get(id) !== route) stats.offeringRouteChanges++;
    }
    lastOfferingRoutes = offeringRoutes;

    const c = (await h.db.query<{ contract_id: string; offering_id: string; route_pool_id: string | null; routed: boolean }>(
      `SELECT c.contract_id, c.offering_id, c.route_pool_id, ${routedStatusSql()} AS routed
       FROM contract_sign_requests c WHERE c.provider_pubkey = $1`, [provider])).rows;
    const contractRoutes = new Map<string, string | null>();
    for (const x of c) {
      if (x.routed) {
        contractRoutes.set(x.contract_id, x.route_pool_id);
        if (lastContractRoutes.has(x.contract_id) && lastContractRoutes.get(x.contract_id) !== x.route_pool_id) stats.contractRouteChanges++;
      } else if (!frozen.has(x.contract_id)) {
        frozen.set(x.contract_id, x.route_pool_id);
      } else {
        assert.equal(x.route_pool_id, frozen.get(x.contract_id), `${at}: contract ${x.contract_id} left the routed statuses: its route stays`);
      }
    }
    lastContractRoutes = contractRoutes;
    stats.routedContracts = Math.max(stats.routedContracts, contractRoutes.size);
    if (c.length > 0) {
      // A contract's answer shows its offering's (stored) route, whatever its status.
      const sample = pick(c);
      const got = await mustOk(call(h, p, 'GET', `/api/v1/contracts/${sample.contract_id}`));
      assert.equal(got.body.resolved_pool_id, offeringRoutes.get(sample.offering_id), `${at}: API resolved_pool_id of contract ${sample.contract_id}`);
    }
  }

  /** The JS model against the API's pools and offerings, and the routed contracts' stored routes. */
  async function checkModel(at: string): Promise<void> {
    const listed = new Map(((await mustOk(call(h, p, 'GET', `${base(p)}/pools`))).body.items as any[]).map((x) => [x.pool_id, x]));
    assert.deepEqual([...listed.keys()].sort(), poolIds().sort(), `${at}: pools`);
    for (const [id, m] of pools) {
      assert.deepEqual([listed.get(id).location, listed.get(id).provisioner_type], [m.location, m.type], `${at}: pool ${id}`);
    }
    const items = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings?limit=500`))).body.items as any[];
    assert.deepEqual(items.map((x) => x.offering_id).sort(), [...offerings].sort(), `${at}: offerings`);
    const expected = new Map<string, string | null>();
    for (const x of items) {
      const route = modelRoute({ country: x.datacenter_country, type: x.provisioner_type, explicit: x.agent_pool_id }, pools);
      expected.set(x.offering_id, route);
      assert.equal(x.resolved_pool_id, route, `${at}: model route of offering ${x.offering_id}`);
      assert.equal(x.pool_match, x.agent_pool_id ? 'explicit' : route ? 'location' : 'none', `${at}: pool_match of ${x.offering_id}`);
    }
    const routed = (await h.db.query<{ contract_id: string; offering_id: string; route_pool_id: string | null }>(
      `SELECT c.contract_id, c.offering_id, c.route_pool_id FROM contract_sign_requests c
       WHERE c.provider_pubkey = $1 AND ${routedStatusSql()}`, [provider])).rows;
    for (const x of routed) assert.equal(x.route_pool_id, expected.get(x.offering_id), `${at}: model route of contract ${x.contract_id}`);
  }

  await check(`seed ${seed}, start`);
  for (let i = 0; i < nOps; i++) {
    const op = nextOp();
    const at = `seed ${seed}, op #${i} ${JSON.stringify(op)}`;
    if (!(await apply(op, at))) stats.refused++;
    stats.ops++;
    await check(at);
  }
  await checkModel(`seed ${seed}, end of sequence`);
  return stats;
}

describe('stored routes follow the rule after every change', () => {
  const seeds = process.env.STORED_ROUTES_SEED ? [Number(process.env.STORED_ROUTES_SEED)] : [1, 2, 3, 4, Math.floor(Math.random() * 2 ** 31)];
  for (const seed of seeds) {
    test(`random sequences of pool, offering, import, contract and re-age changes (seed ${seed}; replay with STORED_ROUTES_SEED=${seed})`, async (t) => {
      const stats = await runSequence(seed, 60);
      t.diagnostic(JSON.stringify(stats));
      // Not vacuous: routes of offerings moved during the sequence, with contracts on them.
      assert.ok(stats.offeringRouteChanges > 0, `seed ${seed}: no offering changed route: ${JSON.stringify(stats)}`);
      assert.ok(stats.routedContracts > 0, `seed ${seed}: no routed contract: ${JSON.stringify(stats)}`);
    });
  }
});

// ---- the claim path reads the stored route ---------------------------------------------------

describe('claim uses the stored route', () => {
  test('a contract re-routed by a pool location change goes to an agent of the new pool, not of the old one', async () => {
    const p = await registeredProvider(h);
    const poolA = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'a', location: 'europe', provisioner_type: 'proxmox' }))).body.pool_id as string;
    const poolB = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'b', location: 'europe', provisioner_type: 'proxmox' }))).body.pool_id as string;
    // A is the older europe pool: DE offerings route to it, B only gets them once A leaves europe.
    await h.db.transaction(async (tx) => {
      await lockRouting(tx, p.publicKey, 'pools');
      await tx.query(`UPDATE agent_pools SET created_at = $2::timestamptz WHERE pool_id = $1`, [poolA, AGES[0]]);
      await tx.query(`UPDATE agent_pools SET created_at = $2::timestamptz WHERE pool_id = $1`, [poolB, AGES[1]]);
      await refreshRoutes(tx, p.publicKey);
    });
    const agentA = await registerAgent(h, p, poolA, 'agent-a');
    const agentB = await registerAgent(h, p, poolB, 'agent-b');
    await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, offeringInput('vps', { datacenter_country: 'DE' })));
    const customer = generateIdentity();
    const contract = async () => {
      const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'vps' }));
      await mustOk(call(h, p, 'POST', `${base(p)}/contracts/${c.body.contract_id}/accept`));
      await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${c.body.contract_id}/payment`, { status: 'succeeded' }));
      return c.body.contract_id as string;
    };
    const pending = async (agent: Identity) =>
      (await mustOk(agentCall(h, agent, 'GET', `${base(p)}/contracts/pending-provision`))).body.items.map((c: any) => c.contract_id);

    const paidBefore = await contract();
    // Requested before the move, accepted and paid after it.
    const requested = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'vps' }))).body.contract_id as string;
    assert.deepEqual(await pending(agentA), [paidBefore]);
    assert.deepEqual(await pending(agentB), []);

    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${poolA}`, { location: 'na' }));
    const stored = (await h.db.query<{ contract_id: string; route_pool_id: string }>(
      `SELECT contract_id, route_pool_id FROM contract_sign_requests WHERE contract_id = ANY($1::text[]) ORDER BY contract_id`, [[paidBefore, requested]])).rows;
    assert.deepEqual(stored.map((r) => r.route_pool_id), [poolB, poolB], 'both contracts re-routed to B');
    await mustOk(call(h, p, 'POST', `${base(p)}/contracts/${requested}/accept`));
    await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${requested}/payment`, { status: 'succeeded' }));
    const paidAfter = await contract();

    assert.deepEqual(await pending(agentA), [], 'the old pool sees none of them');
    const deniedLock = await agentCall(h, agentA, 'POST', `${base(p)}/contracts/${paidBefore}/lock`);
    assert.equal(deniedLock.status, 403, deniedLock.text);
    assert.equal(deniedLock.body.error.code, 'not_routed');
    const byA = await mustOk(agentCall(h, agentA, 'POST', `${base(p)}/contracts/claim`, { max: 10 }));
    assert.deepEqual(byA.body.items, [], 'an agent of the old pool is granted nothing');

    const byB = await mustOk(agentCall(h, agentB, 'POST', `${base(p)}/contracts/claim`, { max: 10 }));
    assert.deepEqual(byB.body.items.map((c: any) => c.contract_id).sort(), [paidBefore, requested, paidAfter].sort());
    for (const item of byB.body.items) assert.equal(item.lock_agent, agentB.publicKey);
  });
});

// ---- concurrent changes (PostgreSQL) ---------------------------------------------------------

describe('concurrent changes leave no stale route', () => {
  test('waves of concurrent pool, offering, import and contract changes: no 5xx, every route fresh', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL' }, async (t) => {
    // The seed fixes the mix of operations, not their interleaving.
    const seed = Number(process.env.STORED_ROUTES_SEED ?? Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`seed ${seed}`);
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const p = await registeredProvider(h);
    const customer = generateIdentity();
    const pools: string[] = [];
    const offerings: string[] = [];
    for (let i = 0; i < 4; i++) {
      pools.push((await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: `seed-${i}`, location: LOCATIONS[i % LOCATIONS.length], provisioner_type: 'proxmox' }))).body.pool_id);
    }
    for (let i = 0; i < 10; i++) {
      await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, offeringInput(`seed-${i}`, { datacenter_country: pick(COUNTRIES), provisioner_type: 'proxmox' })));
      offerings.push(`seed-${i}`);
    }

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let n = 0;
    const record = (what: string, r: Res) => {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status >= 500 || ![200, 201, 204, 400, 404, 409].includes(r.status)) failures.push(`${what}: ${r.status} ${r.text}`);
      return r;
    };
    const task = (): (() => Promise<void>) => {
      const x = rnd();
      const k = n++;
      if (x < 0.12) {
        return async () => {
          const r = record('create pool', await call(h, p, 'POST', `${base(p)}/pools`, { name: `race-${k}`, location: pick(LOCATIONS), provisioner_type: rnd() < 0.8 ? 'proxmox' : 'script' }));
          if (r.status === 201 || r.status === 200) pools.push(r.body.pool_id);
        };
      }
      if (x < 0.3) {
        const pool = pick(pools);
        const patch = rnd() < 0.85 ? { location: pick(LOCATIONS) } : { provisioner_type: pick(['proxmox', 'script']) };
        return async () => void record('move pool', await call(h, p, 'PUT', `${base(p)}/pools/${pool}`, patch));
      }
      if (x < 0.34) {
        const pool = pick(pools);
        return async () => void record('delete pool', await call(h, p, 'DELETE', `${base(p)}/pools/${pool}`));
      }
      if (x < 0.46) {
        const id = `race-${k}`;
        const body = offeringInput(id, { datacenter_country: pick(COUNTRIES), ...(rnd() < 0.2 ? { agent_pool_id: pick(pools) } : { provisioner_type: 'proxmox' }) });
        return async () => {
          const r = record('create offering', await call(h, p, 'POST', `${base(p)}/offerings`, body));
          if (r.status === 201 || r.status === 200) offerings.push(id);
        };
      }
      if (x < 0.62) {
        const id = pick(offerings);
        const patch = rnd() < 0.8 ? { datacenter_country: pick(COUNTRIES) } : { agent_pool_id: rnd() < 0.5 ? null : pick(pools) };
        return async () => void record('put offering', await call(h, p, 'PUT', `${base(p)}/offerings/${id}`, patch));
      }
      if (x < 0.68) {
        const ids = [...new Set([pick(offerings), pick(offerings), `race-${k}`])];
        const csv = [CSV_HEADER, ...ids.map((id) => `${id},${id},compute,${pick(COUNTRIES)},5,EUR,proxmox,,active`)].join('\n') + '\n';
        return async () => {
          const r = record('import', await call(h, p, 'POST', `${base(p)}/offerings/import`, csv, { contentType: 'text/csv' }));
          if (r.status === 200) for (const id of ids) if (!offerings.includes(id)) offerings.push(id);
        };
      }
      const id = pick(offerings);
      const pay = rnd() < 0.7;
      return async () => {
        const c = record('create contract', await call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: id }));
        if (c.status !== 201 && c.status !== 200) return;
        const cid = c.body.contract_id as string;
        record('accept', await call(h, p, 'POST', `${base(p)}/contracts/${cid}/accept`));
        if (pay) record('pay', await call(h, operator, 'POST', `/api/v1/contracts/${cid}/payment`, { status: 'succeeded' }));
      };
    };

    const WAVES = 8;
    const PER_WAVE = 60;
    for (let w = 0; w < WAVES; w++) {
      await Promise.all(Array.from({ length: PER_WAVE }, () => task()).map((run) => run()));
      await assertNoStaleRoute(p.publicKey, `seed ${seed}, after wave ${w}`);
    }
    t.diagnostic(`statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.deepEqual(failures, [], 'no request failed with a server error');
    const routed = (await h.db.query<{ n: number; with_route: number }>(
      `SELECT count(*)::int AS n, count(c.route_pool_id)::int AS with_route FROM contract_sign_requests c
       WHERE c.provider_pubkey = $1 AND ${routedStatusSql()}`, [p.publicKey])).rows[0]!;
    t.diagnostic(`routed contracts ${routed.n}, with a route ${routed.with_route}`);
    assert.ok(routed.with_route > 0, 'the waves produced routed contracts');
  });
});
