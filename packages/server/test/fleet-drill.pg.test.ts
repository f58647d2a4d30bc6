// Fleet operations under real concurrency (DESIGN.md "Fleet operations (v3)"), PostgreSQL only:
// three dc-api processes on one database and sixteen agent processes in five pools.
//   - eu: a drain mid-run (the drained agent takes nothing new and finishes what it held) and a
//     "broken" agent whose every provision fails (cooled down after 3 failures; others provision
//     what it failed);
//   - cap / fcfs: agents with max_concurrent 1, 2 and 4 waiting in long-polls; the cap trio reports
//     its limits (the replica wakes the waiter with the most free slots first), the fcfs trio keeps
//     the same limits to itself (the server sees equals: each re-parks after its grant and waits its
//     turn, first come, first served). Rounds of 3 and 5 contracts arrive one notice at a time into
//     the idle trio; the capacity-aware trio's grant shares come closer to 1:2:4 by a set margin;
//   - home → spare: every home agent stopped; home's contracts go to its fallback after
//     fallback_after_seconds, and back to home once its agents return.
// Exactly-once holds throughout: every contract provisioned once, none lost.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node scripts/run-tests.mjs fleet-drill
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateIdentity, seedHex, type Identity } from '@dc/core/node';
import { AGENT_WORKER_JS, SignedClient, envWithoutDc, freePort, keepAliveAgent, mustOk, sleep, waitReady } from '@dc/testkit';
import { createTestDb, operator, serverUrl, type TestDb } from './helpers.js';
import { notifyWork } from '../src/store/work-notify.js';

const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));
const REPLICAS = 3;
// Long enough that no lease expires on a loaded machine: an expiry counts toward a cool-down, and
// this drill cools down only the broken agent.
const TTL_SECONDS = 20;
const OFFLINE_AFTER_SECONDS = 10;
const FALLBACK_AFTER_SECONDS = 3;
// The issue asks for at least 1,000 contracts in all (asserted below with the total).
const EU_CONTRACTS = 760;
// Capacity rounds, per trio: 3 and 5 contracts (about 40 % and 70 % of its seven slots), eight times.
const TRIO_ROUNDS = Array.from({ length: 8 }, () => [3, 5]).flat();
const TRIO_CONTRACTS = TRIO_ROUNDS.reduce((a, k) => a + k, 0); // per trio
// Longer than a round's grants take, so that no agent frees a slot mid-round.
const TRIO_WORK_MS = 1500;
// After an agent sent its long-poll: time for the replica to run its query and park it.
const PARK_MS = 80;
const APAC_CONTRACTS = 60; // per phase (home away, home back)
const DEADLINE_MS = 200_000;

type PoolKey = 'eu' | 'cap' | 'fcfs' | 'home' | 'spare';
const POOLS: { key: PoolKey; location: string }[] = [
  { key: 'eu', location: 'europe' },
  { key: 'cap', location: 'na' }, // the oldest na pool: location-routed na offerings
  { key: 'fcfs', location: 'na' }, // explicit offering only
  { key: 'home', location: 'apac' }, // the oldest apac pool
  { key: 'spare', location: 'apac' },
];

interface Worker {
  name: string;
  pool: PoolKey;
  agent: Identity;
  replica: number;
  env: Record<string, string>;
  proc: ChildProcess | null;
  grants: number;
  viaFallback: number;
  stopped: boolean;
  /** Leases held, and whether its last claim was a long-poll (DC_REPORT_WAITS): it waits with free slots. */
  inflight: number;
  waiting: boolean;
}

test('fleet operations: drain, cool-down, capacity-aware wake-ups and fallback pools, exactly once', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL (PostgreSQL)', timeout: 300_000 }, async () => {
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  let testDb: TestDb | null = null;
  const serverErrors: string[] = [];
  const unexpected: string[] = [];
  const httpAgent = keepAliveAgent();
  try {
    testDb = await createTestDb();
    const db = testDb.db;

    // ---- replicas -----------------------------------------------------------------------------
    const urls: string[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      urls.push(`http://127.0.0.1:${port}`);
      const proc = spawn(process.execPath, [MAIN_JS], {
        env: {
          ...envWithoutDc(), ...testDb.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn',
          DC_LOCK_TTL_SECONDS: String(TTL_SECONDS), DC_LOCK_SWEEP_SECONDS: '1', DC_RETRY_BACKOFF_SECONDS: '0',
          DC_MAX_PROVISION_ATTEMPTS: '1000', DC_AGENT_OFFLINE_AFTER_SECONDS: String(OFFLINE_AFTER_SECONDS),
          DC_AGENT_FAILURE_THRESHOLD: '3', DC_AGENT_COOLDOWN_SECONDS: '3600', DC_RETRY_ELSEWHERE_SECONDS: '120',
          DC_OPERATOR_PUBKEYS: operator.publicKey, DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(proc);
      proc.on('exit', () => children.delete(proc));
      for (const stream of [proc.stdout!, proc.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          let level = 50;
          try {
            level = (JSON.parse(line) as { level?: number }).level ?? 0;
          } catch {
            // not a log line: a crash trace
          }
          if (level >= 50) serverErrors.push(`replica ${i}: ${line.slice(0, 600)}`);
        });
      }
    }
    await Promise.all(urls.map((u) => waitReady(u, { timeoutMs: 30_000 })));
    const clients = urls.map((u) => SignedClient.http(u, httpAgent));
    const provider = generateIdentity();
    const pk = provider.publicKey;
    const prov = (i = 0) => clients[i % REPLICAS]!.as(provider);
    const P = `/api/v1/providers/${pk}`;
    mustOk(await prov().request('PUT', P, { name: 'Fleet drill' }), 'register provider');

    // ---- pools, fallback, offerings ----------------------------------------------------------
    const poolId = {} as Record<PoolKey, string>;
    for (const p of POOLS) {
      const r = mustOk(await prov().request('POST', `${P}/pools`, { name: `drill-${p.key}`, location: p.location, provisioner_type: 'script' }), `pool ${p.key}`);
      poolId[p.key] = r.body.pool_id;
    }
    const fb = mustOk(await prov(1).request('PUT', `${P}/pools/${poolId.home}`, { fallback_pool_id: poolId.spare, fallback_after_seconds: FALLBACK_AFTER_SECONDS }), 'set fallback');
    assert.equal(fb.body.fallback_pool_id, poolId.spare);
    const offerings: { id: string; country: string; pool: PoolKey; explicit?: boolean }[] = [
      { id: 'eu-de', country: 'DE', pool: 'eu' },
      { id: 'na-us', country: 'US', pool: 'cap' },
      { id: 'na-ca-fcfs', country: 'CA', pool: 'fcfs', explicit: true },
      { id: 'apac-jp', country: 'JP', pool: 'home' },
    ];
    for (const o of offerings) {
      const r = mustOk(await prov().request('POST', `${P}/offerings`, {
        offering_id: o.id, name: o.id, product_type: 'compute', datacenter_country: o.country, monthly_price: 5, currency: 'EUR',
        provisioner_type: 'script', ...(o.explicit && { agent_pool_id: poolId[o.pool] }),
      }), `offering ${o.id}`);
      assert.equal(r.body.resolved_pool_id, poolId[o.pool]);
    }

    // ---- agents (real setup endpoint) ----------------------------------------------------------
    const spec: { name: string; pool: PoolKey; replica?: number; env: Record<string, string> }[] = [
      ...[1, 2, 3, 4].map((n) => ({ name: `eu-${n}`, pool: 'eu' as const, env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000' } })),
      { name: 'eu-drainee', pool: 'eu', env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000', DC_WORK_MS: '150' } },
      { name: 'eu-broken', pool: 'eu', env: { DC_WORKER_CAP: '1', DC_HEARTBEAT_MS: '1000', DC_ALWAYS_FAIL: '1' } },
      // Both trios on replica 0: the wake-up order is per replica.
      ...[1, 2, 4].map((n) => ({ name: `cap-${n}`, pool: 'cap' as const, replica: 0, env: { DC_MAX_CONCURRENT: String(n), DC_HEARTBEAT_MS: '1000', DC_WORK_MS: String(TRIO_WORK_MS), DC_CLAIM_WAIT_SECONDS: '20', DC_REPORT_WAITS: '1' } })),
      ...[1, 2, 4].map((n) => ({ name: `fcfs-${n}`, pool: 'fcfs' as const, replica: 0, env: { DC_WORKER_CAP: String(n), DC_HEARTBEAT_MS: '1000', DC_WORK_MS: String(TRIO_WORK_MS), DC_CLAIM_WAIT_SECONDS: '20', DC_REPORT_WAITS: '1' } })),
      ...[1, 2].map((n) => ({ name: `home-${n}`, pool: 'home' as const, env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000', DC_CLAIM_WAIT_SECONDS: '20' } })),
      ...[1, 2].map((n) => ({ name: `spare-${n}`, pool: 'spare' as const, env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000', DC_CLAIM_WAIT_SECONDS: '20' } })),
    ];
    const workers: Worker[] = [];
    for (const [i, s] of spec.entries()) {
      const tok = mustOk(await prov(i).request('POST', `${P}/pools/${poolId[s.pool]}/setup-tokens`, { label: s.name }), 'token');
      const agent = generateIdentity();
      mustOk(await clients[i % REPLICAS]!.as(agent, 'X-Agent-Pubkey').request('POST', '/api/v1/agents/setup', { token: tok.body.token, agent_pubkey: agent.publicKey }), 'setup');
      workers.push({ name: s.name, pool: s.pool, agent, replica: s.replica ?? i % REPLICAS, env: s.env, proc: null, grants: 0, viaFallback: 0, stopped: false, inflight: 0, waiting: false });
    }
    assert.ok(workers.length >= 12);
    const byName = (n: string) => workers.find((w) => w.name === n)!;
    const confirmedBy = new Map<string, string[]>();
    const claimedBy = new Map<string, string>();
    const start = (w: Worker) => {
      w.stopped = false;
      const proc = spawn(process.execPath, [AGENT_WORKER_JS], {
        env: {
          ...envWithoutDc(), DC_WORKER_ID: w.name, DC_AGENT_SEED: seedHex(w.agent.privateKey), DC_PROVIDER_PUBKEY: pk,
          DC_API_URL: urls[w.replica]!, DC_LOCK_TTL_SECONDS: String(TTL_SECONDS), DC_IDLE_EXIT_MS: String(10 * 60_000),
          DC_LONG_RENEW_PCT: '0', DC_LONG_EXPIRE_PCT: '0', DC_FAIL_PCT: '0', ...w.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      w.proc = proc;
      children.add(proc);
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        let m: any;
        try {
          m = JSON.parse(line);
        } catch {
          unexpected.push(`${w.name}: ${line.slice(0, 300)}`);
          return;
        }
        if (m.ev === 'claimed') {
          w.grants += m.items.length;
          w.inflight += m.items.length;
          w.waiting = false;
          for (const i of m.items as unknown[][]) claimedBy.set(i[0] as string, w.name);
          w.viaFallback += m.items.filter((i: unknown[]) => i[3] === true).length;
        } else if (m.ev === 'waiting') w.waiting = true;
        else if (m.ev === 'provisioned') {
          confirmedBy.set(m.id, [...(confirmedBy.get(m.id) ?? []), w.name]);
          w.inflight--;
        } else if (m.ev === 'failed' || m.ev === 'dropped') w.inflight--;
        else if (m.ev === 'unexpected' || m.ev === 'anomaly') unexpected.push(`${w.name}: ${line.slice(0, 400)}`);
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => unexpected.push(`${w.name} stderr: ${line.slice(0, 400)}`));
      proc.on('exit', () => {
        children.delete(proc);
        if (w.proc === proc) w.proc = null;
      });
    };
    const stop = async (w: Worker) => {
      w.stopped = true;
      const proc = w.proc;
      if (!proc) return;
      await new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      });
    };

    const count = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(sql, params)).rows[0]!.n;
    const bulk = async (offering: string, n: number) => {
      await db.query(
        `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
         SELECT gen_random_uuid()::text, $1, $2, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded' FROM generate_series(1, $3)`,
        [pk, offering, n],
      );
    };
    /** One paid contract through the API, so that its payment wakes the long-polls. */
    const paid = async (offering: string, i: number) => {
      const c = clients[i % REPLICAS]!;
      const r = mustOk(await c.as(generateIdentity()).request('POST', '/api/v1/contracts', { provider_pubkey: pk, offering_id: offering }), 'contract');
      const id = r.body.contract_id as string;
      mustOk(await c.as(provider).request('POST', `${P}/contracts/${id}/accept`), 'accept');
      mustOk(await c.as(operator).request('POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }), 'payment');
      return id;
    };
    const provisionedIn = (offering: string) =>
      count(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND offering_id = $2 AND status = 'provisioned'`, [pk, offering]);
    const waitFor = async (what: string, f: () => boolean | Promise<boolean>, everyMs = 200) => {
      const t0 = Date.now();
      while (!(await f())) {
        if (Date.now() - t0 > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
        await sleep(everyMs);
      }
    };

    // ---- eu: drain mid-run, broken agent -------------------------------------------------------
    await bulk('eu-de', EU_CONTRACTS);
    for (const w of workers) start(w);
    const drainee = byName('eu-drainee');
    const broken = byName('eu-broken');
    await waitFor('100 eu contracts provisioned', async () => (await provisionedIn('eu-de')) >= 100);
    const drained = mustOk(await prov(1).request('PUT', `${P}/agents/${drainee.agent.publicKey}`, { state: 'draining', reason: 'kernel upgrade' }), 'drain');
    assert.equal(drained.body.state, 'draining');
    assert.equal(drained.body.state_set_by, 'provider');
    const drainMark = await count(`SELECT COALESCE(max(event_id), 0)::int AS n FROM contract_events`);
    const brokenGrantsAtDrain = broken.grants;

    // ---- cap vs fcfs: rounds of single contracts into the idle trio --------------------------------
    // One contract per notice, the next only once the last is granted and its agent parked again: each
    // notice wakes exactly one waiter, so the replica's wake order alone decides every grant (a notice
    // for several contracts wakes all three, which then race, and the first claims all its free slots).
    // By the limits of the grantees, a round goes 4,4,2 (3 contracts) and 4,4,2,4,1 (5) capacity-aware
    // (free slots water-filled, ties to the least recently granted); first come, first served takes
    // turns: 1,2,4 and 1,2,4,2,4 in some order. Over the rounds 1:2:5 against 2:3:3.
    const feed = async (offering: string) =>
      db.transaction(async (tx) => {
        const id = (await tx.query<{ contract_id: string }>(
          `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
           VALUES (gen_random_uuid()::text, $1, $2, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded') RETURNING contract_id`,
          [pk, offering],
        )).rows[0]!.contract_id;
        await notifyWork(tx, [id], OFFLINE_AFTER_SECONDS);
        return id;
      });
    const capOf = (w: Worker) => Number(w.name.split('-')[1]);
    /** Every member waits again with its free slots, or has none. */
    const parked = (ws: Worker[]) => waitFor('trio agents waiting', () => ws.every((w) => w.waiting || w.inflight >= capOf(w)), 5).then(() => sleep(PARK_MS));
    const rounds = async (pool: 'cap' | 'fcfs', offering: string) => {
      const members = workers.filter((w) => w.pool === pool);
      const out: string[][] = [];
      for (const k of TRIO_ROUNDS) {
        const ids: string[] = [];
        const got: string[] = [];
        for (let j = 0; j < k; j++) {
          ids.push(await feed(offering));
          await waitFor(`the grant of ${ids[j]}`, () => claimedBy.has(ids[j]!), 5);
          got.push(claimedBy.get(ids[j]!)!);
          await parked(members);
        }
        await waitFor(`a ${pool} round provisioned`, () => members.every((w) => w.inflight === 0), 5);
        // The replica counts the slots each confirmation through it frees (Dispatcher.slotsFreed):
        // parked waiters rank with them without re-querying.
        await parked(members);
        out.push(got);
      }
      return out;
    };
    // After eu's burst: under that load a replica parks a long-poll later than PARK_MS allows.
    let trioMs = 0;
    const trio = (async () => {
      await waitFor('every eu contract provisioned', async () => (await provisionedIn('eu-de')) === EU_CONTRACTS);
      const t0 = Date.now();
      const rs = await Promise.all([rounds('cap', 'na-us'), rounds('fcfs', 'na-ca-fcfs')]);
      trioMs = Date.now() - t0;
      return rs;
    })();

    // ---- home → spare: home's agents stopped; its contracts go to spare after the timer --------
    const home = workers.filter((w) => w.pool === 'home');
    const spare = workers.filter((w) => w.pool === 'spare');
    await Promise.all(home.map(stop));
    const awayIds: string[] = [];
    for (let i = 0; i < APAC_CONTRACTS; i++) awayIds.push(await paid('apac-jp', i));
    await waitFor('home contracts provisioned by the fallback pool', async () =>
      (await count(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE contract_id = ANY($1) AND status = 'provisioned'`, [awayIds])) === APAC_CONTRACTS);
    const spareGrantsAway = spare.reduce((a, w) => a + w.viaFallback, 0);
    // Home's agents return: new home contracts stay home.
    for (const w of home) start(w);
    await waitFor('home agents online again', async () =>
      (await count(`SELECT count(*)::int AS n FROM agent_status WHERE agent_pubkey = ANY($1) AND last_seen_at > now() - interval '2 seconds'`, [home.map((w) => w.agent.publicKey)])) === home.length);
    const backIds: string[] = [];
    for (let i = 0; i < APAC_CONTRACTS; i++) {
      backIds.push(await paid('apac-jp', i));
      await sleep(20);
    }
    const [capRounds, fcfsRounds] = await trio;

    // ---- everything provisioned, exactly once --------------------------------------------------
    const total = EU_CONTRACTS + 2 * TRIO_CONTRACTS + 2 * APAC_CONTRACTS;
    assert.ok(total >= 1000, `the drill runs at least 1,000 contracts (${total})`);
    await waitFor('every contract provisioned', async () =>
      (await count(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND status = 'provisioned'`, [pk])) === total);
    await sleep(500); // let the last confirmations' output lines arrive
    const drainedNow = mustOk(await prov(2).request('GET', `${P}/agents/${drainee.agent.publicKey}`), 'get agent');
    const brokenNow = mustOk(await prov(2).request('GET', `${P}/agents/${broken.agent.publicKey}`), 'get agent');
    await Promise.all(workers.map(stop));

    const dupes = [...confirmedBy].filter(([, by]) => by.length > 1);
    assert.deepEqual(dupes, [], 'no contract confirmed twice');
    assert.equal(confirmedBy.size, total, 'every contract confirmed once by a worker');
    const provisionedEvents = await count(`SELECT count(*)::int AS n FROM contract_events e JOIN contract_sign_requests c USING (contract_id) WHERE c.provider_pubkey = $1 AND e.event = 'provisioned'`, [pk]);
    assert.equal(provisionedEvents, total, 'one provisioned event per contract');

    // Drain: no grant to the drained agent after the drain answered; it finished what it held.
    const lateGrants = await count(`SELECT count(*)::int AS n FROM contract_events WHERE agent_pubkey = $1 AND event = 'granted' AND event_id > $2`, [drainee.agent.publicKey, drainMark]);
    assert.equal(lateGrants, 0, 'no grant to a draining agent after the drain answered');
    const heldAtDrain = await count(
      `SELECT count(*)::int AS n FROM contract_events g WHERE g.agent_pubkey = $1 AND g.event = 'granted'
         AND NOT EXISTS (SELECT 1 FROM contract_events e WHERE e.contract_id = g.contract_id AND e.lock_token = g.lock_token AND e.event IN ('provisioned', 'failed', 'released', 'expired'))`,
      [drainee.agent.publicKey],
    );
    assert.equal(heldAtDrain, 0, 'every lease of the drained agent ended');
    assert.equal(drainedNow.body.drained, true, 'the drained agent reports drained');

    // Cool-down: three failures, then nothing; its contracts were provisioned by others.
    const brokenFailed = await count(`SELECT count(*)::int AS n FROM contract_events WHERE agent_pubkey = $1 AND event = 'failed'`, [broken.agent.publicKey]);
    const brokenProvisioned = await count(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provisioned_by = $1`, [broken.agent.publicKey]);
    assert.equal(brokenFailed, 3, 'the broken agent failed exactly three times before its cool-down');
    assert.equal(broken.grants, 3, 'no grant to the broken agent after its cool-down');
    assert.equal(brokenProvisioned, 0);
    assert.ok(brokenNow.body.cooldown_until, 'the broken agent is cooling down');
    const failedByBroken = await count(
      `SELECT count(*)::int AS n FROM contract_sign_requests c WHERE c.status = 'provisioned'
         AND EXISTS (SELECT 1 FROM contract_events e WHERE e.contract_id = c.contract_id AND e.agent_pubkey = $1 AND e.event = 'failed')`,
      [broken.agent.publicKey],
    );
    assert.equal(failedByBroken, brokenFailed, "the broken agent's contracts were provisioned by others");

    // Capacity: grant shares of each trio's rounds against the capacity shares 1:2:4.
    const shares = (pool: PoolKey, rs: string[][]) =>
      workers.filter((w) => w.pool === pool).map((w) => {
        const grants = rs.flat().filter((n) => n === w.name).length;
        return { name: w.name, grants, share: grants / TRIO_CONTRACTS };
      });
    const ideal = [1 / 7, 2 / 7, 4 / 7];
    const distance = (s: { share: number }[]) => s.reduce((a, x, i) => a + Math.abs(x.share - ideal[i]!), 0);
    const cap = shares('cap', capRounds);
    const fcfs = shares('fcfs', fcfsRounds);
    /** Rounds granted as the policy predicts: grants per agent (1-, 2-, 4-slot) for 3 and 5 contracts. */
    const asPredicted = (pool: PoolKey, rs: string[][], want: Record<number, number[]>) =>
      rs.filter((r) => [1, 2, 4].map((n) => r.filter((x) => x === `${pool}-${n}`).length).join() === want[r.length]!.join()).length;
    const capPredicted = asPredicted('cap', capRounds, { 3: [0, 1, 2], 5: [1, 1, 3] });
    const fcfsPredicted = asPredicted('fcfs', fcfsRounds, { 3: [1, 1, 1], 5: [1, 2, 2] });
    // Fallback: the away contracts went to spare via fallback; the back contracts stayed home.
    const awayVia = await count(`SELECT count(*)::int AS n FROM contract_events e WHERE e.contract_id = ANY($1) AND e.event = 'granted' AND e.via_fallback`, [awayIds]);
    const backHome = await count(
      `SELECT count(*)::int AS n FROM contract_sign_requests WHERE contract_id = ANY($1) AND provisioned_by = ANY($2)`,
      [backIds, home.map((w) => w.agent.publicKey)],
    );
    const cooling = (await db.query<{ label: string }>(
      `SELECT label FROM provider_agent_delegations WHERE provider_pubkey = $1 AND cooldown_until > now() ORDER BY label`, [pk],
    )).rows.map((r) => r.label);
    const report = {
      contracts: total,
      cooling_down: cooling,
      drain: { grants_before: drainee.grants, late_grants: lateGrants },
      broken: { grants_at_drain: brokenGrantsAtDrain, grants: broken.grants, failed: brokenFailed },
      capacity: {
        cap: cap.map((x) => `${x.name}: ${x.grants} (${(x.share * 100).toFixed(1)}%)`), fcfs: fcfs.map((x) => `${x.name}: ${x.grants} (${(x.share * 100).toFixed(1)}%)`),
        distance_cap: distance(cap).toFixed(3), distance_fcfs: distance(fcfs).toFixed(3),
        seconds: Math.round(trioMs / 1000),
        rounds_as_predicted: { cap: `${capPredicted}/${TRIO_ROUNDS.length}`, fcfs: `${fcfsPredicted}/${TRIO_ROUNDS.length}` },
        // Each round as the limits of its grantees in grant order ("44241": 4-slot, 4-slot, 2-slot, …).
        rounds: { cap: capRounds.map((r) => r.map((n) => n.split('-')[1]).join('')).join(' '), fcfs: fcfsRounds.map((r) => r.map((n) => n.split('-')[1]).join('')).join(' ') },
      },
      fallback: { away_granted_via_fallback: awayVia, spare_via_fallback_by_worker: spareGrantsAway, back_provisioned_at_home: backHome, of: APAC_CONTRACTS },
    };
    console.log(`# fleet drill ${JSON.stringify(report)}`);
    assert.deepEqual(cooling, ['eu-broken'], 'only the broken agent cooled down');
    assert.ok(awayVia >= APAC_CONTRACTS, 'contracts of the stopped pool were granted via its fallback');
    assert.equal(backHome, APAC_CONTRACTS, 'once its agents returned, the pool kept its contracts');
    // Predicted: cap 8/16/40 of 64 (distance 0.107), fcfs 16/24/24 (0.393). One grant to another agent
    // of the trio moves its distance by at most 2/64 = 0.031: the margin of 0.15 holds unless about
    // five of the 128 grants go astray against capacity.
    assert.ok(cap[2]!.share > cap[1]!.share && cap[1]!.share > cap[0]!.share, `shares follow max_concurrent 4 > 2 > 1 (${report.capacity.cap.join(', ')})`);
    assert.ok(distance(fcfs) - distance(cap) >= 0.15, `capacity-aware beats first come, first served by 0.15 (${report.capacity.distance_cap} vs ${report.capacity.distance_fcfs})`);
    assert.deepEqual(unexpected, [], 'workers saw nothing unexpected');
    assert.deepEqual(serverErrors, [], 'no server errors');
  } finally {
    killAll();
    process.off('exit', killAll);
    httpAgent.destroy();
    await testDb?.drop().catch(() => {});
  }
});
