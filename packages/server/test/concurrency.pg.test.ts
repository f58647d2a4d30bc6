// Exactly-once under real concurrency (DESIGN.md "Leases and exactly-once"), PostgreSQL only:
// three dc-api processes on one database, two dozen agent processes (@dc/testkit's agent-worker)
// claiming, renewing, failing and confirming thousands of contracts, while the test SIGKILLs
// agents mid-provision (restarting them with the same key) and one API replica. Afterwards the
// database must show every contract provisioned exactly once, by an agent of the pool it is routed
// to, and a lock history in which no two leases were ever live at once. Teardown (v3): a third of
// the provisioned contracts are cancelled, refunded or terminated mid-run, some only after one
// agent was killed for good; each must be terminated exactly once, by the agent that built it
// unless that agent was gone past DC_STICKY_GRACE_SECONDS, and nothing else torn down. The
// odd-numbered agents confirm with the v3 batch calls (DC_BATCH_CONFIRM), so kills hit them too.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node scripts/run-tests.mjs concurrency
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateIdentity, seedHex, type Identity } from '@dc/core/node';
import { AGENT_WORKER_JS, SignedClient, envWithoutDc, freePort, keepAliveAgent, mustOk, sleep, waitReady } from '@dc/testkit';
import { DEFAULT_AGENT_OFFLINE_AFTER_SECONDS } from '../src/config.js';
import { heartbeatRewriteAfterSeconds } from '../src/routes/agents.js';
import { createTestDb, operator, serverUrl, type TestDb } from './helpers.js';

const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));

const TTL_SECONDS = 3;
const REPLICAS = 3;
const CONTRACTS = Number(process.env.CONCURRENCY_CONTRACTS ?? 2000);
// Provisioning, plus a third of the machines torn down and one grace period waited out.
const RUN_DEADLINE_MS = 300_000;
// Longer than any heartbeat gap of a live agent here (a SIGKILLed worker's restart, the API
// replica's restart under load), so only the agent killed for good loses its teardowns.
const GRACE_SECONDS = 30;

// Pools in creation order (the oldest pool of a location and type receives location-routed
// offerings; eu-proxmox-2 is younger than eu-proxmox and only gets offerings that name it).
const POOLS = [
  { key: 'eu', name: 'eu-proxmox', location: 'europe', provisioner_type: 'proxmox', agents: 7, share: 7 },
  { key: 'na', name: 'na-proxmox', location: 'na', provisioner_type: 'proxmox', agents: 6, share: 6 },
  { key: 'apac', name: 'apac-script', location: 'apac', provisioner_type: 'script', agents: 6, share: 6 },
  { key: 'eu2', name: 'eu-proxmox-2', location: 'europe', provisioner_type: 'proxmox', agents: 5, share: 5 },
] as const;
type PoolKey = (typeof POOLS)[number]['key'];

const OFFERINGS: { id: string; country: string; type: string; pool: PoolKey; explicit: boolean }[] = [
  { id: 'eu-de-1', country: 'DE', type: 'proxmox', pool: 'eu', explicit: false },
  { id: 'eu-fr-1', country: 'fr', type: 'proxmox', pool: 'eu', explicit: false },
  { id: 'eu-fi-1', country: 'FI', type: 'proxmox', pool: 'eu', explicit: false },
  { id: 'na-us-1', country: 'US', type: 'proxmox', pool: 'na', explicit: false },
  { id: 'na-ca-1', country: 'CA', type: 'proxmox', pool: 'na', explicit: false },
  { id: 'na-mx-1', country: 'MX', type: 'proxmox', pool: 'na', explicit: false },
  { id: 'apac-jp-1', country: 'JP', type: 'script', pool: 'apac', explicit: false },
  { id: 'apac-sg-1', country: 'SG', type: 'script', pool: 'apac', explicit: false },
  { id: 'apac-au-1', country: 'AU', type: 'script', pool: 'apac', explicit: false },
  { id: 'eu-nl-dedicated', country: 'NL', type: 'proxmox', pool: 'eu2', explicit: true },
  { id: 'eu-pl-dedicated', country: 'PL', type: 'proxmox', pool: 'eu2', explicit: true },
];

interface Replica {
  index: number;
  port: number;
  url: string;
  proc: ChildProcess | null;
  starts: number;
}

interface Worker {
  index: number;
  /** Killed for good (not restarted): its teardowns go to its pool once the grace period passes. */
  dead?: boolean;
  agent: Identity;
  pool: PoolKey;
  replica: number;
  proc: ChildProcess | null;
  inflight: Set<string>;
  killedByUs: boolean;
  done: boolean;
  starts: number;
  exitError: string | null;
}

test('exactly-once provisioning: 3 replicas, 24 agent processes, kills and restarts', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL (PostgreSQL)', timeout: 400_000 }, async () => {
  const t0 = Date.now();
  const children = new Set<ChildProcess>();
  let stopped = false; // set when the test ends: no more (re)starts
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', killAll); // backstop if the test process dies mid-run
  let testDb: TestDb | null = null;
  const serverErrors: string[] = [];
  const httpAgent = keepAliveAgent();
  try {
    testDb = await createTestDb();
    const dbEnv = testDb.env;
    const db = testDb.db;

    // ---- API replicas ---------------------------------------------------------------------------
    const replicas: Replica[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      replicas.push({ index: i, port, url: `http://127.0.0.1:${port}`, proc: null, starts: 0 });
    }
    const startReplica = (r: Replica) => {
      if (stopped) return;
      const proc = spawn(process.execPath, [MAIN_JS], {
        env: {
          ...envWithoutDc(),
          ...dbEnv,
          PORT: String(r.port),
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          DC_LOCK_TTL_SECONDS: String(TTL_SECONDS),
          DC_LOCK_SWEEP_SECONDS: '1',
          DC_RETRY_BACKOFF_SECONDS: '0',
          DC_MAX_PROVISION_ATTEMPTS: '1000',
          DC_STICKY_GRACE_SECONDS: String(GRACE_SECONDS),
          DC_OPERATOR_PUBKEYS: operator.publicKey,
          DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      r.proc = proc;
      r.starts++;
      children.add(proc);
      proc.on('exit', () => children.delete(proc));
      for (const stream of [proc.stdout!, proc.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          let level = 0;
          try {
            level = (JSON.parse(line) as { level?: number }).level ?? 0;
          } catch {
            level = 50; // not a log line: a crash trace
          }
          if (level >= 50) serverErrors.push(`replica ${r.index}: ${line.slice(0, 600)}`);
        });
      }
    };
    // All three start together: migrations are serialised by their advisory lock.
    for (const r of replicas) startReplica(r);
    await Promise.all(replicas.map((r) => waitReady(r.url, { timeoutMs: 30_000 })));
    const tReady = Date.now();

    // ---- provider, pools, offerings ---------------------------------------------------------------
    const provider = generateIdentity();
    const pk = provider.publicKey;
    const clients = replicas.map((r) => SignedClient.http(r.url, httpAgent));
    const client = (i: number) => clients[i % REPLICAS]!;
    const prov = (i = 0) => client(i).as(provider);
    mustOk(await prov().request('PUT', `/api/v1/providers/${pk}`, { name: 'Concurrency Provider' }), 'register provider');
    const poolIds = new Map<PoolKey, string>();
    for (const p of POOLS) {
      const r = mustOk(await prov().request('POST', `/api/v1/providers/${pk}/pools`, { name: p.name, location: p.location, provisioner_type: p.provisioner_type }), `create pool ${p.name}`);
      poolIds.set(p.key, r.body.pool_id);
    }
    const expectedPool = new Map<string, string>(); // offering → pool id, from the routing rule
    await Promise.all(
      OFFERINGS.map(async (o, i) => {
        const r = mustOk(
          await prov(i).request('POST', `/api/v1/providers/${pk}/offerings`, {
            offering_id: o.id, name: o.id, product_type: 'compute', datacenter_country: o.country, monthly_price: 9.5, currency: 'EUR',
            provisioner_type: o.type, ...(o.explicit ? { agent_pool_id: poolIds.get(o.pool) } : {}),
          }),
          `create offering ${o.id}`,
        );
        expectedPool.set(o.id, poolIds.get(o.pool)!);
        assert.equal(r.body.resolved_pool_id, poolIds.get(o.pool), `offering ${o.id} resolves to its pool`);
        assert.equal(r.body.pool_match, o.explicit ? 'explicit' : 'location');
      }),
    );

    // ---- contracts: one per offering through the API, the rest in one SQL statement -------------
    const apiContracts: string[] = [];
    const customerOf = new Map<string, Identity>();
    await Promise.all(
      OFFERINGS.map(async (o, i) => {
        const customerKey = generateIdentity();
        const customer = client(i).as(customerKey);
        const c = mustOk(await customer.request('POST', '/api/v1/contracts', { provider_pubkey: pk, offering_id: o.id }), 'create contract');
        const id = c.body.contract_id as string;
        customerOf.set(id, customerKey);
        mustOk(await prov(i + 1).request('POST', `/api/v1/providers/${pk}/contracts/${id}/accept`), 'accept');
        mustOk(await client(i + 2).as(operator).request('POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }), 'payment');
        apiContracts.push(id);
      }),
    );
    // Offerings interleaved so that oldest-first spans every pool; weights follow the agent counts.
    const byPool = new Map<PoolKey, string[]>();
    for (const o of OFFERINGS) byPool.set(o.pool, [...(byPool.get(o.pool) ?? []), o.id]);
    const weights = POOLS.map((p) => p.share);
    const totalShare = weights.reduce((a, b) => a + b, 0);
    const sqlOfferings: string[] = [];
    const bulk = CONTRACTS - apiContracts.length;
    for (let i = 0; i < bulk; i++) {
      let x = (i * 7919) % totalShare;
      let k = 0;
      while (x >= weights[k]!) x -= weights[k++]!;
      const offerings = byPool.get(POOLS[k]!.key)!;
      sqlOfferings.push(offerings[Math.floor(i / totalShare) % offerings.length]!);
    }
    // Exactly the row the API makes (createContract + accept + payment) with the status columns set.
    await db.query(
      `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
       SELECT gen_random_uuid()::text, $1, u.offering_id, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded'
       FROM unnest($2::text[]) WITH ORDINALITY AS u(offering_id, i) ORDER BY u.i`,
      [pk, sqlOfferings],
    );
    const shape = `status, payment_status, attempts, provisioning_lock_token, provisioning_lock_agent, lease_agent, lease_outcome,
      next_attempt_at, last_error, provisioned_by, instance_details, ssh_pubkey, instance_config`;
    const apiRow = (await db.query(`SELECT ${shape} FROM contract_sign_requests WHERE contract_id = $1`, [apiContracts[0]])).rows[0];
    const sqlRow = (await db.query(`SELECT ${shape} FROM contract_sign_requests WHERE provider_pubkey = $1 AND NOT (contract_id = ANY($2)) LIMIT 1`, [pk, apiContracts])).rows[0];
    assert.deepEqual(sqlRow, apiRow, 'bulk-inserted contracts look exactly like API-made ones');
    const total = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1`, [pk])).rows[0]!.n;
    assert.equal(total, CONTRACTS);

    // ---- agents through the real setup endpoint -------------------------------------------------
    const workers: Worker[] = [];
    const agentPool = new Map<string, string>();
    let wi = 0;
    const setupJobs: Promise<void>[] = [];
    for (const p of POOLS) {
      for (let a = 0; a < p.agents; a++) {
        const index = wi++;
        setupJobs.push(
          (async () => {
            const label = `${p.name}-node-${a + 1}`;
            const tok = mustOk(await prov(index).request('POST', `/api/v1/providers/${pk}/pools/${poolIds.get(p.key)}/setup-tokens`, { label }), 'setup token');
            const agent = generateIdentity();
            const r = mustOk(
              await client(index + 1).as(agent, 'X-Agent-Pubkey').request('POST', '/api/v1/agents/setup', { token: tok.body.token, agent_pubkey: agent.publicKey }),
              'agent setup',
            );
            assert.equal(r.body.pool_id, poolIds.get(p.key));
            agentPool.set(agent.publicKey, poolIds.get(p.key)!);
            workers[index] = { index, agent, pool: p.key, replica: index % REPLICAS, proc: null, inflight: new Set(), killedByUs: false, done: false, starts: 0, exitError: null };
          })(),
        );
      }
    }
    await Promise.all(setupJobs);
    const tSetup = Date.now();

    // ---- worker processes -------------------------------------------------------------------------
    const confirmedBy = new Map<string, Set<string>>(); // contract → agents that got 200 on provisioned
    const terminatedBy = new Map<string, Set<string>>(); // contract → agents that got 200 on terminated
    const dropped = new Map<string, number>(); // error code → count
    const unexpected: string[] = [];
    const retryWhy = new Map<string, number>();
    let retries = 0;
    const exitStats: Record<string, number> = {}; // summed over worker runs that ended normally
    let workerRenewals = 0;
    let workerFailures = 0;
    let apiRestartedAt = 0;
    // Odd-numbered workers confirm provisioned/failed in batches; every such confirmation line carries `batch`.
    const batching = (w: Worker) => w.index % 2 === 1;
    let batchConfirmations = 0;
    const batchSizes = new Map<number, number>(); // items in the batch request → confirmations seen
    const batchMismatch: string[] = []; // a batch worker's single confirmation, or the other way round
    let replicaDownSeconds = 0;
    const startWorker = (w: Worker) => {
      if (stopped) return;
      w.killedByUs = false;
      w.inflight.clear();
      const proc = spawn(process.execPath, [AGENT_WORKER_JS], {
        env: {
          ...envWithoutDc(),
          DC_WORKER_ID: String(w.index),
          DC_AGENT_SEED: seedHex(w.agent.privateKey),
          DC_PROVIDER_PUBKEY: pk,
          // Its own replica first, the others behind it as a load balancer would: while replica 1 is
          // down (its start takes 15–30 s on these 2 busy cores) its agents are served elsewhere.
          DC_API_URL: replicas.map((_, i) => replicas[(w.replica + i) % REPLICAS]!.url).join(','),
          DC_LOCK_TTL_SECONDS: String(TTL_SECONDS),
          DC_WORKER_CAP: String(1 + (w.index % 3)),
          // Teardowns can appear until the end (and wait out the grace period): the test stops the workers.
          DC_IDLE_EXIT_MS: String(10 * 60_000),
          DC_TEARDOWNS: '1',
          DC_HOST_SCOPE: `cluster-${w.pool}`,
          // 2% of items outlive the TTL renewing every TTL/3, 2% outlive it without renewing
          // (their lease expires and is usually taken over), 2% are reported failed (retried at once).
          DC_LONG_RENEW_PCT: '2',
          DC_LONG_EXPIRE_PCT: '2',
          DC_FAIL_PCT: '2',
          ...(batching(w) && { DC_BATCH_CONFIRM: '1' }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      w.proc = proc;
      w.starts++;
      children.add(proc);
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        let m: any;
        try {
          m = JSON.parse(line);
        } catch {
          unexpected.push(`worker ${w.index} stdout: ${line.slice(0, 300)}`);
          return;
        }
        const confirmation = m.ev === 'provisioned' || m.ev === 'failed' || (['dropped', 'unexpected'].includes(m.ev) && ['provisioned', 'failed'].includes(m.phase));
        if (confirmation) {
          if (typeof m.batch === 'number') {
            batchConfirmations++;
            batchSizes.set(m.batch, (batchSizes.get(m.batch) ?? 0) + 1);
          }
          if ((typeof m.batch === 'number') !== batching(w)) batchMismatch.push(`worker ${w.index}: ${line.slice(0, 200)}`);
        }
        switch (m.ev) {
          case 'claimed':
            for (const [id] of m.items as [string, number][]) w.inflight.add(id);
            break;
          case 'terminated': {
            w.inflight.delete(m.id);
            const s = terminatedBy.get(m.id) ?? new Set<string>();
            s.add(w.agent.publicKey);
            terminatedBy.set(m.id, s);
            break;
          }
          case 'provisioned': {
            w.inflight.delete(m.id);
            const s = confirmedBy.get(m.id) ?? new Set<string>();
            s.add(w.agent.publicKey);
            confirmedBy.set(m.id, s);
            break;
          }
          case 'failed':
            workerFailures++;
            w.inflight.delete(m.id);
            break;
          case 'renewed':
            workerRenewals++;
            break;
          case 'dropped':
            w.inflight.delete(m.id);
            dropped.set(m.code, (dropped.get(m.code) ?? 0) + 1);
            break;
          case 'retry': {
            retries++;
            const why = String(m.why).replace(/[0-9a-f-]{36}/g, '…').slice(0, 80);
            retryWhy.set(why, (retryWhy.get(why) ?? 0) + 1);
            break;
          }
          case 'exit':
            for (const [k, n] of Object.entries(m.stats as Record<string, number>)) exitStats[k] = (exitStats[k] ?? 0) + n;
            break;
          case 'unexpected':
          case 'anomaly':
            unexpected.push(`worker ${w.index}: ${line.slice(0, 400)}`);
            break;
        }
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => unexpected.push(`worker ${w.index} stderr: ${line.slice(0, 400)}`));
      proc.on('exit', (code, signal) => {
        children.delete(proc);
        if (w.proc !== proc) return;
        w.proc = null;
        if (w.dead) {
          w.done = true;
          return;
        }
        if (w.killedByUs) {
          // Restart with the same key after a moment; claim hands its own open leases back first.
          setTimeout(() => startWorker(w), 200 + Math.random() * 600);
          return;
        }
        w.done = true;
        if (code !== 0) w.exitError = `exit code ${code} signal ${signal}`;
      });
    };
    const tWork = Date.now();
    for (const w of workers) startWorker(w);

    // ---- chaos: SIGKILL agents mid-provision, and one API replica once ---------------------------
    let kills = 0;
    let apiRestarts = 0;
    // The progress polls share the database server with the replicas (and, on a shared CI host,
    // other tests): a moment of "too many clients" is waited out, not a failure of the system under test.
    const polled = async <T>(f: () => Promise<T>): Promise<T> => {
      for (let i = 0; ; i++) {
        try {
          return await f();
        } catch (err) {
          if ((err as { code?: string }).code !== 'database_unavailable' || i >= 20) throw err;
          await sleep(500);
        }
      }
    };
    // Done = provisioned, or already ended after provisioning.
    const provisionedCount = () => polled(async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND status IN ('provisioned', 'terminating', 'terminated')`, [pk])).rows[0]!.n);
    let lastKill = Date.now();
    let nextMilestone = 1;
    const MILESTONES = 14; // a kill at every 1/14 of progress, or every 2 s, whichever comes first
    const MAX_KILLS = 30; // each restart costs a Node start-up; on a slow machine, stop at 30
    let apiRestart: Promise<void> | null = null;
    let apiRestartError: Error | null = null;
    const timeline: string[] = [];
    // Teardowns: every third contract (by id) is ended once provisioned; half of those ("late") only
    // after one agent was killed for good, so that its machines wait out the grace period.
    const sortedIds = (await db.query<{ contract_id: string }>(`SELECT contract_id FROM contract_sign_requests WHERE provider_pubkey = $1 ORDER BY contract_id`, [pk])).rows.map((r) => r.contract_id);
    const toEnd = new Set(sortedIds.filter((_, i) => i % 3 === 0));
    const late = new Set(sortedIds.filter((_, i) => i % 6 === 0));
    const triggered = new Map<string, string>(); // contract → trigger used
    let deadWorker: Worker | null = null;
    let deadAt = 0;
    let triggering: Promise<void> | null = null;
    let nTrigger = 0;
    const triggerSome = async () => {
      const due = (
        await polled(() => db.query<{ contract_id: string }>(
          // (A trigger whose answer was lost during the replica restart took effect: no longer provisioned.)
          `SELECT contract_id FROM contract_sign_requests WHERE provider_pubkey = $1 AND status = 'provisioned' AND contract_id = ANY($2::text[])`,
          [pk, [...toEnd].filter((id) => !triggered.has(id) && (deadWorker !== null || !late.has(id)))],
        ))
      ).rows.map((r) => r.contract_id);
      for (let i = 0; i < due.length; i += 25) {
        await Promise.all(
          due.slice(i, i + 25).map(async (id) => {
            const k = nTrigger++;
            const customer = customerOf.get(id);
            const how = customer && k % 2 === 0 ? 'cancel' : k % 2 === 0 ? 'refund' : 'terminate';
            const c = client(k);
            const r = how === 'cancel' ? await c.as(customer!).request('POST', `/api/v1/contracts/${id}/cancel`)
              : how === 'refund' ? await c.as(operator).request('POST', `/api/v1/contracts/${id}/payment`, { status: 'refunded' })
              : await c.as(provider).request('POST', `/api/v1/providers/${pk}/contracts/${id}/terminate`, { reason: 'concurrency test' });
            // A replica being restarted answers with a network error or 5xx: the next round retries.
            if (r.status === 200) triggered.set(id, how);
            else if (how === 'refund' && r.status === 409 && (await db.query(`SELECT 1 FROM contract_sign_requests WHERE contract_id = $1 AND payment_status = 'refunded'`, [id])).rowCount === 1) {
              triggered.set(id, how); // an earlier attempt's answer was lost (replica restart); a payment is recorded once
            } else if (r.status < 500) unexpected.push(`${how} ${id}: ${r.status} ${r.text.slice(0, 200)}`);
          }).map((p) => p.catch(() => {})),
        );
      }
    };
    const settled = async () => {
      const r = await polled(() => db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1
           AND status <> CASE WHEN contract_id = ANY($2::text[]) THEN 'terminated' ELSE 'provisioned' END`,
        [pk, [...toEnd]],
      ));
      return r.rows[0]!.n === 0;
    };
    for (;;) {
      if (workers.every((w) => w.done)) break;
      if (deadWorker && (await settled())) break;
      if (Date.now() - tWork > RUN_DEADLINE_MS) {
        const left = await db.query(`SELECT status, count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 GROUP BY status`, [pk]);
        console.log('# timeline: ' + timeline.join('; '));
        console.log('# worker retries by cause: ' + JSON.stringify(Object.fromEntries([...retryWhy].sort((a, b) => b[1] - a[1]).slice(0, 10))));
        throw new Error(`workers did not finish within ${RUN_DEADLINE_MS} ms: ${JSON.stringify(left.rows)}; running: ${workers.filter((w) => !w.done).map((w) => w.index)}; ended ${triggered.size}/${toEnd.size}, dead worker ${deadWorker?.index}`);
      }
      await sleep(200);
      // A failed round (the database busy) is retried by the next one.
      triggering ??= triggerSome().catch(() => {}).finally(() => {
        triggering = null;
      });
      const done = await provisionedCount();
      const progress = done / total;
      if (deadWorker === null && progress >= 0.5) {
        // The eu agent that built the most machines still to be ended late: they wait out its grace period.
        const owners = (
          await polled(() => db.query<{ agent: string; n: number }>(
            `SELECT provisioned_by AS agent, count(*)::int AS n FROM contract_sign_requests
             WHERE provider_pubkey = $1 AND status = 'provisioned' AND contract_id = ANY($2::text[]) GROUP BY 1 ORDER BY 2 DESC`,
            [pk, [...late]],
          ))
        ).rows;
        const eu = (a: string) => workers.find((w) => w.agent.publicKey === a && w.pool === 'eu' && w.proc && !w.killedByUs);
        const victim = owners.map((o) => eu(o.agent)).find((w) => w !== undefined);
        if (victim?.proc) {
          deadWorker = victim;
          victim.dead = victim.killedByUs = true;
          victim.proc.kill('SIGKILL');
          deadAt = Date.now();
          timeline.push(`${((deadAt - tWork) / 1000).toFixed(1)}s SIGKILL worker ${victim.index} for good at ${(progress * 100).toFixed(0)}%`);
        }
      }
      if (apiRestart === null && progress >= 0.35) {
        const r = replicas[1]!;
        timeline.push(`${((Date.now() - tWork) / 1000).toFixed(1)}s SIGKILL replica 1 at ${(progress * 100).toFixed(0)}%`);
        apiRestart = (async () => {
          const killedAt = Date.now();
          r.proc?.kill('SIGKILL');
          await sleep(500);
          startReplica(r);
          // A Node start under this load (two replicas and 24 agents on 2 cores) took 15–28 s, and
          // longer through PgBouncer; the test is about exactly-once across the crash, not start-up time.
          await waitReady(r.url, { timeoutMs: 90_000 });
          apiRestarts++;
          apiRestartedAt = Date.now();
          replicaDownSeconds = (apiRestartedAt - killedAt) / 1000;
          timeline.push(`${((apiRestartedAt - tWork) / 1000).toFixed(1)}s replica 1 ready again`);
        })().catch((err: Error) => {
          apiRestartError = err;
        });
      }
      if (progress < 0.95 && kills < MAX_KILLS && (progress >= nextMilestone / MILESTONES || Date.now() - lastKill >= 2000)) {
        while (progress >= nextMilestone / MILESTONES) nextMilestone++;
        const busy = workers.filter((w) => w.proc && !w.killedByUs && !w.dead && w.inflight.size > 0);
        const pool = busy.length > 0 ? busy : workers.filter((w) => w.proc && !w.killedByUs);
        const victim = pool[Math.floor(Math.random() * pool.length)];
        if (victim?.proc) {
          victim.killedByUs = true;
          victim.proc.kill('SIGKILL');
          kills++;
          lastKill = Date.now();
          timeline.push(`${((lastKill - tWork) / 1000).toFixed(1)}s SIGKILL worker ${victim.index} holding ${victim.inflight.size} at ${(progress * 100).toFixed(0)}%`);
        }
      }
    }
    await apiRestart;
    if (apiRestartError) throw apiRestartError;
    await triggering;
    const allDoneAt = Date.now();
    // Every contract is where it should be: stop the workers (they would wait for more teardowns).
    stopped = true;
    for (const w of workers) {
      w.killedByUs = true;
      w.proc?.kill('SIGTERM');
    }

    // Stop the replicas so nothing changes while we read the history.
    await Promise.all(
      replicas.map(
        (r) =>
          new Promise<void>((resolve) => {
            if (!r.proc || r.proc.exitCode !== null) return resolve();
            r.proc.once('exit', () => resolve());
            r.proc.kill('SIGTERM');
          }),
      ),
    );

    // ---- verification from the database -----------------------------------------------------------
    const contracts = (
      await db.query<{ contract_id: string; offering_id: string; status: string; provisioned_by: string | null; token: number; lock_agent: string | null; lease_agent: string | null; lease_outcome: string | null; instance_details: any; terminated_by: string | null; teardown_owner: string | null }>(
        `SELECT contract_id, offering_id, status, provisioned_by, provisioning_lock_token AS token, provisioning_lock_agent AS lock_agent,
           lease_agent, lease_outcome, instance_details, terminated_by, teardown_owner FROM contract_sign_requests WHERE provider_pubkey = $1`,
        [pk],
      )
    ).rows;
    const events = (
      await db.query<{ event_id: number; contract_id: string; at: Date; event: string; action: string; agent_pubkey: string | null; lock_token: number; detail: string | null }>(
        `SELECT e.event_id, e.contract_id, e.at, e.event, e.action, e.agent_pubkey, e.lock_token, e.detail
         FROM contract_events e JOIN contract_sign_requests c USING (contract_id)
         WHERE c.provider_pubkey = $1 ORDER BY e.contract_id, e.event_id`,
        [pk],
      )
    ).rows;
    const eventsOf = new Map<string, typeof events>();
    for (const e of events) {
      const list = eventsOf.get(e.contract_id) ?? [];
      list.push(e);
      eventsOf.set(e.contract_id, list);
    }
    const workerOfAgent = new Map(workers.map((w) => [w.agent.publicKey, String(w.index)]));

    const violations: string[] = [];
    const v = (id: string, msg: string) => violations.push(`${id}: ${msg}`);
    const counts: Record<string, number> = {};
    let renewedByClaim = 0;
    let takeovers = 0; // grants over another agent's expired lease
    let lateConfirmations = 0; // provisioned after the lease had expired (no new grant since)
    let teardownsByOthers = 0; // teardowns of the dead agent's machines, taken by its pool
    for (const c of contracts) {
      const ends = toEnd.has(c.contract_id);
      if (c.status !== (ends ? 'terminated' : 'provisioned')) v(c.contract_id, `status is ${c.status}`);
      if (c.lock_agent !== null) v(c.contract_id, `still locked by ${c.lock_agent}`);
      const evs = eventsOf.get(c.contract_id) ?? [];
      // Lease reconstruction, in commit order (event_id: every change runs under the row lock).
      let token = 0;
      let holder: string | null = null;
      let live = false; // a lease that nobody has ended or expired
      let open = false; // the grantee may still renew or confirm with the current token
      let lastAt = 0;
      let provisionedEvents = 0;
      let lastGrantOrRenew: { agent: string | null; token: number } | null = null;
      let prevEnded: string | null = null;
      let terminatedEvents = 0;
      let tearingDown = false;
      let teardownGrant: { agent: string | null; at: number } | null = null;
      for (const e of evs) {
        if (e.action !== (tearingDown || e.event === 'terminate_requested' ? 'terminate' : 'provision')) v(c.contract_id, `event ${e.event} has action ${e.action}`);
        if (e.event === 'granted' && tearingDown) teardownGrant = { agent: e.agent_pubkey, at: e.at.getTime() };
        counts[e.event] = (counts[e.event] ?? 0) + 1;
        const at = e.at.getTime();
        if (at < lastAt) v(c.contract_id, `event ${e.event_id} is older than the event before it`);
        lastAt = at;
        switch (e.event) {
          case 'granted':
            if (e.lock_token !== token + 1) v(c.contract_id, `granted token ${e.lock_token} after token ${token} (must be +1)`);
            if (live) v(c.contract_id, `granted token ${e.lock_token} to ${e.agent_pubkey?.slice(0, 8)} while the lease of ${holder?.slice(0, 8)} (token ${token}) was live`);
            if (prevEnded === 'expired' && holder !== e.agent_pubkey) takeovers++;
            token = e.lock_token;
            holder = e.agent_pubkey;
            live = open = true;
            lastGrantOrRenew = { agent: e.agent_pubkey, token: e.lock_token };
            if (e.agent_pubkey && agentPool.get(e.agent_pubkey) !== expectedPool.get(c.offering_id)) {
              v(c.contract_id, `granted to an agent of pool ${agentPool.get(e.agent_pubkey)} but routed to ${expectedPool.get(c.offering_id)}`);
            }
            break;
          case 'renewed':
            if (e.agent_pubkey !== holder || e.lock_token !== token || !open) v(c.contract_id, `renewal by ${e.agent_pubkey?.slice(0, 8)} token ${e.lock_token} of a lease that is not its own open one (holder ${holder?.slice(0, 8)} token ${token} open ${open})`);
            if (e.detail === 'claim') renewedByClaim++;
            live = true;
            lastGrantOrRenew = { agent: e.agent_pubkey, token: e.lock_token };
            break;
          case 'expired':
            if (e.agent_pubkey !== holder || e.lock_token !== token || !live) v(c.contract_id, `expiry of token ${e.lock_token} (${e.agent_pubkey?.slice(0, 8)}) that was not the live lease (holder ${holder?.slice(0, 8)} token ${token} live ${live})`);
            live = false;
            break;
          case 'released':
          case 'failed':
          case 'provisioned':
            if (e.agent_pubkey !== holder || e.lock_token !== token || !open) v(c.contract_id, `${e.event} by ${e.agent_pubkey?.slice(0, 8)} token ${e.lock_token} without holding the open lease (holder ${holder?.slice(0, 8)} token ${token} open ${open})`);
            if (e.event === 'provisioned') {
              provisionedEvents++;
              if (!live) lateConfirmations++;
              if (!lastGrantOrRenew || lastGrantOrRenew.agent !== e.agent_pubkey || lastGrantOrRenew.token !== e.lock_token) {
                v(c.contract_id, `provisioned with token ${e.lock_token} but the latest grant/renewal was ${JSON.stringify(lastGrantOrRenew)}`);
              }
              if (e.agent_pubkey !== c.provisioned_by) v(c.contract_id, `provisioned event by ${e.agent_pubkey?.slice(0, 8)} but provisioned_by ${c.provisioned_by?.slice(0, 8)}`);
            }
            live = open = false;
            break;
          case 'terminate_requested':
            if (tearingDown || provisionedEvents !== 1 || live) v(c.contract_id, `terminate requested twice, before provisioning or during a lease`);
            tearingDown = true;
            break;
          case 'terminated':
            if (!tearingDown || e.agent_pubkey !== holder || e.lock_token !== token || !open) v(c.contract_id, `terminated by ${e.agent_pubkey?.slice(0, 8)} token ${e.lock_token} without holding the open teardown lease`);
            terminatedEvents++;
            live = open = false;
            break;
          default:
            v(c.contract_id, `unexpected event ${e.event}`);
        }
        prevEnded = e.event;
      }
      if (provisionedEvents !== 1) v(c.contract_id, `${provisionedEvents} provisioned events`);
      if (c.token !== token) v(c.contract_id, `row token ${c.token} but history ends at ${token}`);
      if (ends) {
        // Torn down exactly once, by the agent that built it unless that agent was gone past the grace period.
        if (terminatedEvents !== 1) v(c.contract_id, `${terminatedEvents} terminated events`);
        if (c.lease_outcome !== 'terminated' || c.lease_agent !== c.terminated_by) v(c.contract_id, `teardown lease_outcome ${c.lease_outcome} lease_agent ${c.lease_agent?.slice(0, 8)}`);
        if (c.teardown_owner !== c.provisioned_by) v(c.contract_id, `teardown owner ${c.teardown_owner?.slice(0, 8)} is not the builder ${c.provisioned_by?.slice(0, 8)}`);
        if (c.terminated_by !== c.provisioned_by) {
          const byDeadPool = c.provisioned_by === deadWorker?.agent.publicKey && agentPool.get(c.terminated_by ?? '') === agentPool.get(c.provisioned_by);
          // The grant to another agent came after the grace period, counted from the builder's
          // recorded last_seen_at: that is at most one beat (1 s) before its death, and an unchanged
          // beat inside the rewrite bound is not recorded (routes/agents.ts), so allow both.
          const slackMs = 1000 + heartbeatRewriteAfterSeconds(DEFAULT_AGENT_OFFLINE_AFTER_SECONDS) * 1000;
          if (!byDeadPool || !teardownGrant || teardownGrant.at < deadAt + GRACE_SECONDS * 1000 - slackMs) {
            v(c.contract_id, `torn down by ${c.terminated_by?.slice(0, 8)}, built by ${c.provisioned_by?.slice(0, 8)} (dead: ${deadWorker?.agent.publicKey.slice(0, 8)})`);
          } else teardownsByOthers++;
        }
        const toldT = terminatedBy.get(c.contract_id);
        if (toldT && (toldT.size !== 1 || !toldT.has(c.terminated_by ?? ''))) v(c.contract_id, `agents told 200 on terminated: ${[...toldT].map((a) => a.slice(0, 8))}`);
      } else {
        if (tearingDown || terminatedEvents > 0) v(c.contract_id, 'torn down without being ended');
        if (c.lease_outcome !== 'provisioned' || c.lease_agent !== c.provisioned_by) v(c.contract_id, `lease_outcome ${c.lease_outcome} lease_agent ${c.lease_agent?.slice(0, 8)}`);
      }
      if (c.provisioned_by) {
        if (agentPool.get(c.provisioned_by) !== expectedPool.get(c.offering_id)) {
          v(c.contract_id, `provisioned by an agent of pool ${agentPool.get(c.provisioned_by)} but offering ${c.offering_id} routes to ${expectedPool.get(c.offering_id)}`);
        }
        if (c.instance_details?.worker_id !== workerOfAgent.get(c.provisioned_by)) v(c.contract_id, `instance_details from worker ${c.instance_details?.worker_id}, provisioned_by is worker ${workerOfAgent.get(c.provisioned_by)}`);
      }
      // What the agents saw: at most one agent was ever told "provisioned", and it is the recorded one.
      const told = confirmedBy.get(c.contract_id);
      if (told && (told.size !== 1 || !told.has(c.provisioned_by ?? ''))) v(c.contract_id, `agents told 200 on provisioned: ${[...told].map((a) => a.slice(0, 8))}`);
    }
    const neverTold = contracts.filter((c) => !confirmedBy.has(c.contract_id)).length;
    const seconds = (allDoneAt - tWork) / 1000;
    const figures = {
      contracts: contracts.length,
      contracts_via_api: apiContracts.length,
      pools: POOLS.length,
      agents: workers.length,
      replicas: REPLICAS,
      worker_sigkills: kills,
      worker_starts: workers.reduce((a, w) => a + w.starts, 0),
      api_replica_sigkill_restarts: apiRestarts,
      replica_kill_to_ready_seconds: replicaDownSeconds,
      setup_seconds: (tSetup - t0) / 1000,
      replicas_ready_seconds: (tReady - t0) / 1000,
      work_seconds_including_idle_exit: seconds,
      contracts_per_second: Math.round((contracts.length / seconds) * 10) / 10,
      grants: counts.granted ?? 0,
      renewals_total: counts.renewed ?? 0,
      renewals_by_lock: (counts.renewed ?? 0) - renewedByClaim,
      resumed_by_claim_after_restart: renewedByClaim,
      expired_leases: counts.expired ?? 0,
      takeovers_of_expired_leases: takeovers,
      late_confirmations_after_expiry: lateConfirmations,
      failures_reported: counts.failed ?? 0,
      releases: counts.released ?? 0,
      worker_drops: Object.fromEntries(dropped),
      worker_retries: retries,
      contracts_whose_200_was_lost_by_a_killed_worker: neverTold,
      events: events.length,
      contracts_ended: toEnd.size,
      ended_by: Object.fromEntries(['cancel', 'refund', 'terminate'].map((k) => [k, [...triggered.values()].filter((x) => x === k).length])),
      terminated: counts.terminated ?? 0,
      teardowns_by_others_after_grace: teardownsByOthers,
      batch_confirming_agents: workers.filter(batching).length,
      confirmations_via_batches: batchConfirmations,
      // By the size of the batch request they went in (a lone confirmation is a batch of one).
      batch_confirmations_by_batch_size: Object.fromEntries([...batchSizes].sort((a, b) => a[0] - b[0])),
    };
    console.log('# concurrency figures ' + JSON.stringify(figures, null, 1).replace(/\n\s*/g, ' '));
    console.log('# timeline: ' + timeline.join('; '));
    console.log(`# requests by worker runs that exited normally (killed runs not counted): ${exitStats.requests} (${exitStats.claims} claims, ${exitStats.empty_claims} empty), mean latency ${((exitStats.request_ms ?? 0) / (exitStats.requests || 1)).toFixed(1)} ms; ${exitStats.batch_items ?? 0} confirmations in ${exitStats.batch_calls ?? 0} batch calls`);
    if (retryWhy.size > 0) console.log('# worker retries by cause: ' + JSON.stringify(Object.fromEntries([...retryWhy].sort((a, b) => b[1] - a[1]).slice(0, 10))));
    if (serverErrors.length > 0) console.log(`# ${serverErrors.length} replica error log lines, first: ${serverErrors.slice(0, 5).join('\n#   ')}`);

    assert.deepEqual(violations.slice(0, 30), [], `${violations.length} exactly-once violations`);
    assert.deepEqual(unexpected.slice(0, 20), [], 'workers saw no unexpected answers');
    assert.ok(batchConfirmations > 0, 'batch-confirming workers confirmed through the batch calls');
    assert.deepEqual(batchMismatch.slice(0, 10), [], 'batch workers confirmed only through batches, the others only one by one');
    assert.deepEqual(workers.filter((w) => w.exitError).map((w) => `worker ${w.index}: ${w.exitError}`), []);
    assert.deepEqual([...dropped.keys()].filter((k) => k !== 'lease_lost'), [], 'the only reason to drop work is lease_lost');
    assert.equal(contracts.length, CONTRACTS, 'no contract lost');
    assert.equal(counts.provisioned, CONTRACTS, 'one provisioned event per contract');
    assert.equal(counts.terminated, toEnd.size, 'one terminated event per ended contract');
    assert.ok(toEnd.size >= CONTRACTS / 3 - 1, 'a third of the contracts were ended');
    assert.ok(deadWorker, 'one agent was killed for good');
    assert.ok(teardownsByOthers > 0, "the dead agent's machines were torn down by its pool after the grace period");
    assert.ok(kills >= 5, `at least 5 agents killed mid-run (${kills})`);
    assert.equal(apiRestarts, 1, 'one API replica restarted');
    assert.ok((counts.expired ?? 0) > 0, 'some leases expired (long work without renewal, killed agents)');
    assert.ok(figures.renewals_by_lock > 0, 'long work renewed its lease');
    // "deadlock detected" here has been the lease sweeper: one multi-row UPDATE per replica, run by
    // every replica at once, locking rows in no fixed order (the agent then sees a 500 and retries).
    assert.deepEqual(serverErrors.filter((l) => !/too many clients|Connection terminated/i.test(l)).slice(0, 10), [], 'replicas logged no errors (no 500s, no failed sweeps)');
  } finally {
    stopped = true;
    killAll();
    httpAgent.destroy();
    process.off('exit', killAll);
    await testDb?.drop().catch(() => {});
  }
});
