// Fleet operations under real concurrency (DESIGN.md "Fleet operations (v3)"), PostgreSQL only:
// three dc-api processes on one database and sixteen agent processes in five pools.
//   - eu: a drain mid-run (the drained agent takes nothing new and finishes what it held) and a
//     "broken" agent whose every provision fails (cooled down after 3 failures; others provision
//     what it failed);
//   - cap / fcfs: agents with max_concurrent 1, 2 and 4 waiting in long-polls; the cap trio reports
//     its limits (the replica wakes the waiter with the most free slots first), the fcfs trio keeps
//     the same limits to itself (the server sees equals: first come, first served). The grant
//     shares of each trio are reported against the capacity shares 1:2:4 in the same run;
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
const EU_CONTRACTS = 700;
const TRIO_CONTRACTS = 300; // per trio
const TRIO_OUTSTANDING = 5;
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
      ...[1, 2, 4].map((n) => ({ name: `cap-${n}`, pool: 'cap' as const, replica: 0, env: { DC_MAX_CONCURRENT: String(n), DC_HEARTBEAT_MS: '1000', DC_WORK_MS: '300', DC_CLAIM_WAIT_SECONDS: '20' } })),
      ...[1, 2, 4].map((n) => ({ name: `fcfs-${n}`, pool: 'fcfs' as const, replica: 0, env: { DC_WORKER_CAP: String(n), DC_HEARTBEAT_MS: '1000', DC_WORK_MS: '300', DC_CLAIM_WAIT_SECONDS: '20' } })),
      ...[1, 2].map((n) => ({ name: `home-${n}`, pool: 'home' as const, env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000', DC_CLAIM_WAIT_SECONDS: '20' } })),
      ...[1, 2].map((n) => ({ name: `spare-${n}`, pool: 'spare' as const, env: { DC_WORKER_CAP: '2', DC_HEARTBEAT_MS: '1000', DC_CLAIM_WAIT_SECONDS: '20' } })),
    ];
    const workers: Worker[] = [];
    for (const [i, s] of spec.entries()) {
      const tok = mustOk(await prov(i).request('POST', `${P}/pools/${poolId[s.pool]}/setup-tokens`, { label: s.name }), 'token');
      const agent = generateIdentity();
      mustOk(await clients[i % REPLICAS]!.as(agent, 'X-Agent-Pubkey').request('POST', '/api/v1/agents/setup', { token: tok.body.token, agent_pubkey: agent.publicKey }), 'setup');
      workers.push({ name: s.name, pool: s.pool, agent, replica: s.replica ?? i % REPLICAS, env: s.env, proc: null, grants: 0, viaFallback: 0, stopped: false });
    }
    assert.ok(workers.length >= 12);
    const byName = (n: string) => workers.find((w) => w.name === n)!;
    const confirmedBy = new Map<string, string[]>();
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
          w.viaFallback += m.items.filter((i: unknown[]) => i[3] === true).length;
        } else if (m.ev === 'provisioned') confirmedBy.set(m.id, [...(confirmedBy.get(m.id) ?? []), w.name]);
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
    const waitFor = async (what: string, f: () => Promise<boolean>) => {
      const t0 = Date.now();
      while (!(await f())) {
        if (Date.now() - t0 > DEADLINE_MS) throw new Error(`timed out waiting for ${what}`);
        await sleep(200);
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

    // ---- cap vs fcfs: each trio kept at five contracts outstanding (about 70 % of its seven slots,
    // where the wake-up order decides most), fed in one transaction with its work notice --------
    const outstanding = (offering: string) =>
      count(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND offering_id = $2 AND status = 'accepted'`, [pk, offering]);
    const feed = async (offering: string, n: number) => {
      await db.transaction(async (tx) => {
        const ids = (await tx.query<{ contract_id: string }>(
          `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
           SELECT gen_random_uuid()::text, $1, $2, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded' FROM generate_series(1, $3)
           RETURNING contract_id`,
          [pk, offering, n],
        )).rows.map((r) => r.contract_id);
        await notifyWork(tx, ids, OFFLINE_AFTER_SECONDS);
      });
    };
    const trio = Promise.all(['na-us', 'na-ca-fcfs'].map(async (offering) => {
      for (let fed = 0; fed < TRIO_CONTRACTS;) {
        const n = Math.min(TRIO_OUTSTANDING - (await outstanding(offering)), TRIO_CONTRACTS - fed);
        if (n > 0) {
          await feed(offering, n);
          fed += n;
        }
        await sleep(25);
      }
    }));

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
    await trio;

    // ---- everything provisioned, exactly once --------------------------------------------------
    const total = EU_CONTRACTS + 2 * TRIO_CONTRACTS + 2 * APAC_CONTRACTS;
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

    // Capacity: grant shares of each trio against the capacity shares 1:2:4.
    const shares = (pool: PoolKey) => {
      const ws = workers.filter((w) => w.pool === pool);
      const sum = ws.reduce((a, w) => a + w.grants, 0);
      return ws.map((w) => ({ name: w.name, grants: w.grants, share: w.grants / sum }));
    };
    const ideal = [1 / 7, 2 / 7, 4 / 7];
    const distance = (s: { share: number }[]) => s.reduce((a, x, i) => a + Math.abs(x.share - ideal[i]!), 0);
    const cap = shares('cap');
    const fcfs = shares('fcfs');
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
      capacity: { cap: cap.map((x) => `${x.name}: ${x.grants} (${(x.share * 100).toFixed(0)}%)`), fcfs: fcfs.map((x) => `${x.name}: ${x.grants} (${(x.share * 100).toFixed(0)}%)`), distance_cap: distance(cap).toFixed(3), distance_fcfs: distance(fcfs).toFixed(3) },
      fallback: { away_granted_via_fallback: awayVia, spare_via_fallback_by_worker: spareGrantsAway, back_provisioned_at_home: backHome, of: APAC_CONTRACTS },
    };
    console.log(`# fleet drill ${JSON.stringify(report)}`);
    assert.deepEqual(cooling, ['eu-broken'], 'only the broken agent cooled down');
    assert.ok(awayVia >= APAC_CONTRACTS, 'contracts of the stopped pool were granted via its fallback');
    assert.equal(backHome, APAC_CONTRACTS, 'once its agents returned, the pool kept its contracts');
    // The capacity-aware trio's shares follow its limits. Whether they land closer to 1:2:4 than first
    // come, first served is reported, not asserted: at 300 contracts per trio the two distances are
    // within each other's noise (3 of 4 runs closer, one 0.110 vs 0.083), see BENCHMARKS.md.
    assert.ok(cap[2]!.share > cap[1]!.share && cap[1]!.share > cap[0]!.share, `shares follow max_concurrent 4 > 2 > 1 (${report.capacity.cap.join(', ')})`);
    assert.deepEqual(unexpected, [], 'workers saw nothing unexpected');
    assert.deepEqual(serverErrors, [], 'no server errors');
  } finally {
    killAll();
    process.off('exit', killAll);
    httpAgent.destroy();
    await testDb?.drop().catch(() => {});
  }
});
