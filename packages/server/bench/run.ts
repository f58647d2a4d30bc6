// dc-api benchmarks: `npm run bench` (full, writes BENCHMARKS.md) or `npm run bench:quick`
// (BENCH_QUICK=1: every part at tiny scale, seconds, for CI; prints only).
//
// With DATABASE_URL the run creates a fresh database on that PostgreSQL server (dropped at the
// end) and starts 3 API replicas as child processes; without it, one in-process server on
// embedded PGlite. Every API request goes over HTTP, signed (DESIGN.md "Request signing").
//
//  1. claim-and-confirm throughput: N paid, accepted contracts; 50 agents (async clients in this
//     process, keep-alive) loop claim(max=10) → provisioned for each item.
//  2. dispatch latency (bench/dispatch.ts): 20 agents long-poll claim?wait=25; contracts are paid
//     one at a time at a steady rate through the operator endpoint; payment sent → claim answer.
//  3. heartbeats/s (bench/heartbeats.ts): 200 agents, 64 concurrent signed heartbeats, ~10 s.
//  4. memory (bench/memory.ts): API replica RSS idle and with 1,000 held claim long-polls; a real
//     dc-agent's RSS idle and while its script provisioner runs a slow script.
//  5. pending-provision latency at 10k offerings / 100k contracts / 1k agents in 50 pools
//     (bulk-loaded with SQL): over HTTP from many agents, and the same query directly in SQL
//     (store/leases.ts pendingProvision) to separate HTTP and auth overhead; plus its EXPLAIN.
//  6. database claim path vs pg-boss (bench/queue.ts, PostgreSQL only): claim()+provisioned()
//     against pg-boss fetch+complete, same server, workers and items, fresh databases.
//
// Environment: DATABASE_URL, BENCH_QUICK=1, BENCH_SCALE (multiplies the sizes, default 1),
// BENCH_CPU_PROF=<dir> (replicas run with --cpu-prof into that directory), BENCH_KEEP_DB=1 (keep
// the database for inspection instead of dropping it), BENCH_ONLY=<comma list of part names:
// throughput,dispatch,heartbeats,memory,agent,latency,queue,soak> (run only those; never writes
// BENCHMARKS.md). The soak (bench/soak.ts, 10 minutes; BENCH_SOAK_SECONDS) runs only when named
// there, and for 20 s in the quick pass.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { COUNTRY_REGIONS, REGION_IDS } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import { SignedClient, envWithoutDc, freePort, keepAliveAgent, mustOk, sleep, waitReady, type BoundClient, type Res } from '@dc/testkit';
import { loadConfig } from '../src/config.js';
import { PgliteDb, PostgresDb } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import { pendingProvision, pendingProvisionSql, type LeasePolicy } from '../src/store/leases.js';
import { refreshRoutes } from '../src/store/routing.js';
import { benchDispatch, type DispatchResult } from './dispatch.js';
import { benchHeartbeats, type HeartbeatResult } from './heartbeats.js';
import {
  QUICK, SCALE, TTL_SECONDS, cpuSince, cpuSnapshot, mib, ms, operator, pool, procRssKb, replica, scratchDatabases, stats, sz, type Env,
} from './lib.js';
import { benchAgentMemory, benchApiMemory, type AgentMemoryResult, type ApiMemoryResult } from './memory.js';
import { benchQueue, type QueueResult } from './queue.js';
import { benchSoak, type SoakResult } from './soak.js';
import { startPgBouncer } from '../test/private-pg.js';

const CFG = {
  throughput: { contracts: sz(5000, 300), agents: QUICK ? 10 : 50, pools: 5, max: 10 },
  latency: { offerings: sz(10_000, 200), contracts: sz(100_000, 2000), agents: sz(1000, 50), pools: QUICK ? 10 : 50, pendingPct: 3, samples: QUICK ? 200 : 3000, concurrency: 8 },
};
const TARGET_CPS = 1200; // issue 14
const TARGET_P99_MS = 5;
const TARGET_DISPATCH_P99_MS = 250;
const TARGET_HEARTBEATS = 5000;
const TARGET_HEARTBEAT_P99_MS = 20;
/** Issue 14: the claim path against pg-boss, by throughput and by CPU per item, at each queue depth. */
const TARGET_QUEUE_RATIO: Record<number, number> = { 10_000: 2.5, 1000: 1.0 };
const queueTarget = (depth: number) => TARGET_QUEUE_RATIO[depth] ?? 1.0;
const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** BENCHMARKS.md: text from this line on is written by hand and kept when the figures are regenerated. */
const KEEP_MARKER = '<!-- analysis: kept by bench/run.ts across runs -->';
const PARTS = ['throughput', 'dispatch', 'heartbeats', 'memory', 'agent', 'latency', 'queue', 'soak'] as const;
type Part = (typeof PARTS)[number];
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
if (ONLY) for (const p of ONLY) if (!PARTS.includes(p as Part)) throw new Error(`BENCH_ONLY: unknown part "${p}" (one of ${PARTS.join(', ')})`);
// The soak takes ten minutes: only when asked for (BENCH_ONLY=soak) and, shortened, in the quick pass.
const runs = (p: Part) => (ONLY ? ONLY.has(p) : p !== 'soak' || QUICK);

// ---- environment: database and API servers -------------------------------------------------------

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** The settings every API server of the run gets (replica process or in-process). */
const apiSettings = (port: number) => ({
  PORT: String(port),
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  DC_LOCK_TTL_SECONDS: String(TTL_SECONDS),
  DC_OPERATOR_PUBKEYS: operator.publicKey,
  DC_SETUP_RATE_LIMIT_PER_MINUTE: '1000000',
});

async function startPostgres(adminUrl: string): Promise<Env> {
  const name = `dcbench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const scratch = await scratchDatabases(adminUrl);
  const dbUrl = await scratch.create(name);
  const db = new PostgresDb(dbUrl, { max: 4, applicationName: 'dc-bench' });
  // BENCH_PGBOUNCER=1: the replicas query through a transaction-pooling PgBouncer (LISTEN direct);
  // BENCH_PREPARED_STATEMENTS=on|off sets their DC_PREPARED_STATEMENTS (BENCHMARKS.md "Prepared statements").
  const admin = new URL(adminUrl);
  const bouncer = process.env.BENCH_PGBOUNCER === '1' ? await startPgBouncer({ host: admin.hostname, port: Number(admin.port || 5432) }) : null;
  const replicaDb: Record<string, string> = bouncer ? { DATABASE_URL: bouncer.urlFor(name), DATABASE_LISTEN_URL: dbUrl } : { DATABASE_URL: dbUrl };
  if (process.env.BENCH_PREPARED_STATEMENTS) replicaDb.DC_PREPARED_STATEMENTS = process.env.BENCH_PREPARED_STATEMENTS;
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  const errors: string[] = [];
  const prof = process.env.BENCH_CPU_PROF;
  let closing = false;
  let ready = false;
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const args = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, MAIN_JS] : [MAIN_JS];
    const child = spawn(process.execPath, args, {
      env: {
        // none of the caller's DC_* settings: the agents sign for 127.0.0.1:PORT
        ...envWithoutDc(),
        ...apiSettings(port),
        ...replicaDb,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', (code, sig) => {
      if (closing) return;
      // A replica that dies mid-run (crash, or killed from outside) invalidates every figure:
      // stop at once instead of letting the clients retry against a dead port for minutes.
      const why = `replica ${i} (pid ${child.pid}) exited ${code ?? sig} during the run`;
      errors.push(why);
      if (!ready) return; // waitReady reports it
      closing = true;
      console.error(`bench failed: ${why}`);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      void Promise.race([scratch.close().catch(() => {}), sleep(5000)]).then(() => process.exit(1));
    });
    children.push(child);
    urls.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(urls.map((url) => waitReady(url, { failed: () => (errors.length > 0 ? errors.join('; ') : null) })));
  ready = true;
  const httpAgent = keepAliveAgent();
  const pgVersion = (await db.query<{ v: string }>(`SELECT version() AS v`)).rows[0]!.v;
  await sleep(1000);
  return {
    kind: 'postgres',
    db,
    urls,
    clients: urls.map((u) => SignedClient.http(u, httpAgent)),
    pgVersion,
    apiPids: children.map((c) => c.pid!),
    adminUrl,
    dbName: name,
    rssAtStart: children.map((c) => procRssKb(c.pid!)),
    async close() {
      closing = true;
      httpAgent.destroy();
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
            }),
        ),
      );
      await db.close();
      await bouncer?.close();
      const keep = process.env.BENCH_KEEP_DB === '1';
      if (keep) console.log(`# BENCH_KEEP_DB: kept database ${name}`);
      await scratch.close({ keep });
    },
  };
}

async function startPglite(): Promise<Env> {
  const db = await PgliteDb.open(null);
  const port = await freePort();
  const config = loadConfig(apiSettings(port));
  const server: RunningServer = await startServer(config, { db, listen: true });
  const pgVersion = (await db.query<{ v: string }>(`SELECT version() AS v`)).rows[0]!.v;
  const url = `http://127.0.0.1:${port}`;
  const httpAgent = keepAliveAgent();
  return {
    kind: 'pglite',
    db,
    urls: [url],
    clients: [SignedClient.http(url, httpAgent)],
    pgVersion: `PGlite (embedded): ${pgVersion}`,
    apiPids: [],
    adminUrl: null,
    dbName: null,
    rssAtStart: [],
    async close() {
      httpAgent.destroy();
      await server.close();
      await db.close();
    },
  };
}

// ---- 1. claim-and-confirm throughput --------------------------------------------------------------

interface ThroughputResult {
  contracts: number;
  agents: number;
  replicas: number;
  seconds: number;
  cps: number;
  requests: number;
  claims: number;
  emptyClaims: number;
  claim: ReturnType<typeof stats>;
  provisioned: ReturnType<typeof stats>;
  errors: Record<string, number>;
  setupSeconds: number;
  cpu: { apiMs: number; dbMs: number; selfMs: number };
  confirm: Confirm;
}

/** batch: one POST …/contracts/provisioned per claimed batch (dc-agent's batching); each: one call per item. */
type Confirm = 'batch' | 'each';

async function benchThroughput(env: Env, confirm: Confirm): Promise<ThroughputResult> {
  const cfg = CFG.throughput;
  const t0 = Date.now();
  const provider = generateIdentity();
  const pk = provider.publicKey;
  const prov = (i = 0) => replica(env, i).as(provider);
  mustOk(await prov().request('PUT', `/api/v1/providers/${pk}`, { name: 'Bench Provider' }), 'provider');
  const poolDefs = [
    { name: 'eu-proxmox', location: 'europe', provisioner_type: 'proxmox', offerings: [['eu-de', 'DE'], ['eu-fr', 'FR']] },
    { name: 'na-proxmox', location: 'na', provisioner_type: 'proxmox', offerings: [['na-us', 'US'], ['na-ca', 'CA']] },
    { name: 'apac-script', location: 'apac', provisioner_type: 'script', offerings: [['apac-jp', 'JP'], ['apac-sg', 'SG']] },
    { name: 'latam-proxmox', location: 'latam', provisioner_type: 'proxmox', offerings: [['latam-br', 'BR'], ['latam-ar', 'AR']] },
    { name: 'eu-proxmox-2', location: 'europe', provisioner_type: 'proxmox', offerings: [['eu-nl-ded', 'NL'], ['eu-pl-ded', 'PL']], explicit: true },
  ].slice(0, cfg.pools);
  const poolIds: string[] = [];
  const offeringsByPool: string[][] = [];
  for (const p of poolDefs) {
    const r = mustOk(await prov().request('POST', `/api/v1/providers/${pk}/pools`, { name: p.name, location: p.location, provisioner_type: p.provisioner_type }), 'pool');
    poolIds.push(r.body.pool_id);
    const ids: string[] = [];
    for (const [id, country] of p.offerings) {
      mustOk(
        await prov().request('POST', `/api/v1/providers/${pk}/offerings`, {
          offering_id: id, name: id, product_type: 'compute', datacenter_country: country, monthly_price: 12, currency: 'EUR',
          provisioner_type: p.provisioner_type, ...('explicit' in p && p.explicit ? { agent_pool_id: r.body.pool_id } : {}),
        }),
        'offering',
      );
      ids.push(id!);
    }
    offeringsByPool.push(ids);
  }
  // Agents through the real setup endpoint, spread evenly over the pools.
  const agents: { client: BoundClient; pool: number }[] = [];
  await pool(Array.from({ length: cfg.agents }, (_, i) => i), 8, async (i) => {
    const poolIdx = i % poolDefs.length;
    const tok = mustOk(await prov(i).request('POST', `/api/v1/providers/${pk}/pools/${poolIds[poolIdx]}/setup-tokens`, { label: `bench-${i}` }), 'token');
    const id = generateIdentity();
    const client = replica(env, i).as(id, 'X-Agent-Pubkey');
    mustOk(await client.request('POST', '/api/v1/agents/setup', { token: tok.body.token, agent_pubkey: id.publicKey }), 'setup');
    agents[i] = { client, pool: poolIdx };
  });
  // Contracts: paid and accepted, as the API leaves them, in one statement; pools get equal shares.
  const offeringOf: string[] = [];
  for (let i = 0; i < cfg.contracts; i++) {
    const ids = offeringsByPool[i % poolDefs.length]!;
    offeringOf.push(ids[Math.floor(i / poolDefs.length) % ids.length]!);
  }
  await env.db.query(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status)
     SELECT gen_random_uuid()::text, $1, u.offering_id, md5(random()::text) || md5(random()::text), 'accepted', 'succeeded'
     FROM unnest($2::text[]) WITH ORDINALITY AS u(offering_id, i) ORDER BY u.i`,
    [pk, offeringOf],
  );
  await env.db.query(`ANALYZE contract_sign_requests`);
  const remaining = poolDefs.map((_, k) => offeringOf.filter((_, i) => i % poolDefs.length === k).length);
  const setupSeconds = (Date.now() - t0) / 1000;

  const claimMs: number[] = [];
  const provMs: number[] = [];
  const errors: Record<string, number> = {};
  let claims = 0;
  let emptyClaims = 0;
  let requests = 0;
  const base = `/api/v1/providers/${pk}/contracts`;
  const cpu0 = await cpuSnapshot(env);
  const start = performance.now();
  await Promise.all(
    agents.map(async (a) => {
      const client = a.client;
      for (;;) {
        if (performance.now() - start > 600_000) throw new Error(`throughput run did not finish in 10 minutes: ${JSON.stringify({ remaining, errors })}`);
        const t = performance.now();
        let r: Res<{ items: { contract_id: string; lock_token: number }[] }>;
        try {
          r = await client.request('POST', `${base}/claim`, { max: cfg.max });
        } catch (err) {
          errors[`claim ${(err as Error).message}`] = (errors[`claim ${(err as Error).message}`] ?? 0) + 1;
          await sleep(20);
          continue;
        }
        requests++;
        claims++;
        claimMs.push(performance.now() - t);
        if (r.status !== 200) {
          errors[`claim ${r.status}`] = (errors[`claim ${r.status}`] ?? 0) + 1;
          await sleep(20);
          continue;
        }
        if (r.body.items.length === 0) {
          emptyClaims++;
          if (remaining[a.pool]! <= 0) return;
          await sleep(10); // the rest of this pool is leased to other agents
          continue;
        }
        if (confirm === 'batch') {
          const items = r.body.items.map((item) => ({ contract_id: item.contract_id, lock_token: item.lock_token, instance_details: { hostname: `vm-${item.contract_id.slice(0, 8)}` } }));
          for (let attempt = 0; attempt < 5; attempt++) {
            const t1 = performance.now();
            try {
              const p = await client.request<{ items: { status: number; error?: { code: string } }[] }>('POST', `${base}/provisioned`, { items });
              requests++;
              provMs.push(performance.now() - t1);
              if (p.status === 200) {
                for (const it of p.body.items) {
                  if (it.status === 200) remaining[a.pool]!--;
                  else errors[`provisioned item ${it.status} ${it.error?.code ?? ''}`] = (errors[`provisioned item ${it.status} ${it.error?.code ?? ''}`] ?? 0) + 1;
                }
                break;
              }
              errors[`provisioned batch ${p.status}`] = (errors[`provisioned batch ${p.status}`] ?? 0) + 1;
              if (p.status < 500) break;
            } catch (err) {
              errors[`provisioned batch ${(err as Error).message}`] = (errors[`provisioned batch ${(err as Error).message}`] ?? 0) + 1;
            }
            await sleep(20);
          }
          continue;
        }
        await Promise.all(
          r.body.items.map(async (item) => {
            for (let attempt = 0; attempt < 5; attempt++) {
              const t1 = performance.now();
              try {
                const p = await client.request('POST', `${base}/${item.contract_id}/provisioned`, { lock_token: item.lock_token, instance_details: { hostname: `vm-${item.contract_id.slice(0, 8)}` } });
                requests++;
                provMs.push(performance.now() - t1);
                if (p.status === 200) {
                  remaining[a.pool]!--;
                  return;
                }
                errors[`provisioned ${p.status} ${p.body?.error?.code ?? ''}`] = (errors[`provisioned ${p.status} ${p.body?.error?.code ?? ''}`] ?? 0) + 1;
                if (p.status < 500) return;
              } catch (err) {
                errors[`provisioned ${(err as Error).message}`] = (errors[`provisioned ${(err as Error).message}`] ?? 0) + 1;
              }
              await sleep(20);
            }
          }),
        );
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = await cpuSince(env, cpu0);
  const left = (await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND status <> 'provisioned'`, [pk])).rows[0]!.n;
  if (left !== 0) throw new Error(`throughput run ended with ${left} contracts not provisioned`);
  return {
    contracts: cfg.contracts,
    agents: cfg.agents,
    replicas: env.urls.length,
    seconds,
    cps: cfg.contracts / seconds,
    requests,
    claims,
    emptyClaims,
    claim: stats(claimMs),
    provisioned: stats(provMs),
    errors,
    setupSeconds,
    cpu,
    confirm,
  };
}

// ---- 2. pending-provision latency at scale -------------------------------------------------------

interface LatencyResult {
  offerings: number;
  contracts: number;
  pending: number;
  agents: number;
  pools: number;
  loadSeconds: number;
  httpSequential: ReturnType<typeof stats>;
  httpConcurrent: ReturnType<typeof stats> & { concurrency: number; rps: number };
  sql: ReturnType<typeof stats>;
  itemsPerAnswer: number;
  explain: string;
  seqScanOnContracts: boolean;
  /** CPU per sequential HTTP request: API process(es), database backends, client (this process). */
  cpuPerRequest: { apiMs: number; dbMs: number; selfMs: number };
}

async function benchLatency(env: Env): Promise<LatencyResult> {
  const cfg = CFG.latency;
  const db = env.db;
  const t0 = Date.now();
  const provider = generateIdentity();
  const pk = provider.publicKey;
  const types = ['proxmox', 'script', 'manual'];
  await db.query(`INSERT INTO provider_registrations (pubkey, name) VALUES ($1, 'Bench Provider at scale')`, [pk]);
  // Pools: the first 21 cover every (location, type) and receive location-routed offerings; the
  // others are younger duplicates and receive only offerings that name them.
  const pools = Array.from({ length: cfg.pools }, (_, i) => ({
    id: `bp-${i}-${randomBytes(3).toString('hex')}`,
    location: REGION_IDS[i % REGION_IDS.length]!,
    type: types[Math.floor(i / REGION_IDS.length) % types.length]!,
  }));
  await db.query(
    `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type, created_at)
     SELECT u.id, $1, 'bench-pool-' || u.i, u.loc, u.typ, now() - interval '1 day' + u.i * interval '1 second'
     FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(id, loc, typ, i)`,
    [pk, pools.map((p) => p.id), pools.map((p) => p.location), pools.map((p) => p.type)],
  );
  const defaults = Math.min(pools.length, REGION_IDS.length * types.length);
  const countriesOf = new Map<string, string[]>();
  for (const [c, r] of Object.entries(COUNTRY_REGIONS)) countriesOf.set(r, [...(countriesOf.get(r) ?? []), c]);
  // Offerings: 70% routed by location to a default pool, 30% naming one of the younger pools.
  const off = { id: [] as string[], country: [] as string[], region: [] as string[], type: [] as string[], pool: [] as (string | null)[] };
  for (let j = 0; j < cfg.offerings; j++) {
    const explicit = pools.length > defaults && j % 10 < 3;
    const p = explicit ? pools[defaults + (j % (pools.length - defaults))]! : pools[j % defaults]!;
    const countries = countriesOf.get(p.location)!;
    const country = countries[j % countries.length]!;
    off.id.push(`bo-${j}`);
    off.country.push(country);
    off.region.push(COUNTRY_REGIONS[country]!);
    off.type.push(p.type);
    off.pool.push(explicit ? p.id : null);
  }
  await db.query(
    `INSERT INTO provider_offerings (provider_pubkey, offering_id, name, product_type, datacenter_country, datacenter_region,
       monthly_price, currency, provisioner_type, provisioner_config, agent_pool_id)
     SELECT $1, u.id, 'Offering ' || u.id, 'compute', u.country, u.region, 10 + (u.i % 90), 'EUR', u.typ,
       jsonb_build_object('template', 9000 + u.i % 5), u.pool
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(id, country, region, typ, pool, i)`,
    [pk, off.id, off.country, off.region, off.type, off.pool],
  );
  await refreshRoutes(db, pk); // rows written with SQL: store their routes as the API would
  // Agents: delegations inserted directly, spread evenly over the pools.
  const agents = Array.from({ length: cfg.agents }, (_, k) => ({ id: generateIdentity(), pool: pools[k % pools.length]!.id }));
  await db.query(
    `INSERT INTO provider_agent_delegations (agent_pubkey, provider_pubkey, pool_id, permissions, label, issued_at, signature)
     SELECT u.agent, $1, u.pool, ARRAY['fetch_contracts', 'heartbeat', 'provision'], 'bench-agent-' || u.i, now(), repeat('0', 128)
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(agent, pool, i)`,
    [pk, agents.map((a) => a.id.publicKey), agents.map((a) => a.pool)],
  );
  // Contracts: most provisioned; pendingPct% paid and accepted (a tenth of those leased to
  // someone else), 1% still requested. Oldest first spans a month.
  const agentKeys = agents.map((a) => a.id.publicKey);
  await db.query(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status, created_at,
       provisioning_lock_agent, provisioning_lock_at, provisioning_lock_expires_at, provisioning_lock_token, lease_agent, lease_outcome,
       attempts, provisioned_by, provisioned_at, instance_details, instance_config)
     SELECT 'bc-' || g || '-' || $5, $1, 'bo-' || ((g * 7919) % $3), md5(g::text) || md5((g + 1)::text),
       s.status, CASE WHEN s.status = 'requested' THEN 'pending' ELSE 'succeeded' END,
       now() - interval '30 days' + g * interval '20 seconds',
       CASE WHEN s.leased THEN ($4::text[])[1 + g % cardinality($4::text[])] END,
       CASE WHEN s.leased THEN now() END, CASE WHEN s.leased THEN now() + interval '1 hour' END,
       CASE WHEN s.status = 'provisioned' OR s.leased THEN 1 ELSE 0 END,
       CASE WHEN s.status = 'provisioned' OR s.leased THEN ($4::text[])[1 + g % cardinality($4::text[])] END,
       CASE WHEN s.status = 'provisioned' THEN 'provisioned' END, CASE WHEN s.status = 'provisioned' OR s.leased THEN 1 ELSE 0 END,
       CASE WHEN s.status = 'provisioned' THEN ($4::text[])[1 + g % cardinality($4::text[])] END,
       CASE WHEN s.status = 'provisioned' THEN now() - interval '1 day' END,
       CASE WHEN s.status = 'provisioned' THEN jsonb_build_object('hostname', 'vm-' || g, 'ipv4', '10.1.' || (g % 250) || '.' || (g % 199)) END,
       jsonb_build_object('hostname', 'host-' || g, 'os_image', 'debian-12', 'cpu_cores', 2)
     FROM generate_series(1, $2::int) g,
       LATERAL (SELECT CASE WHEN g % 100 < $6 THEN 'accepted' WHEN g % 100 = 99 THEN 'requested' ELSE 'provisioned' END AS status,
                       (g % 100 < $6 AND g % 10 = 0) AS leased) s`,
    [pk, cfg.contracts, cfg.offerings, agentKeys, randomBytes(3).toString('hex'), cfg.pendingPct],
  );
  await db.query(`VACUUM ANALYZE contract_sign_requests`).catch(() => db.query(`ANALYZE contract_sign_requests`));
  await db.query(`ANALYZE provider_offerings`);
  await db.query(`ANALYZE agent_pools`);
  await db.query(`ANALYZE provider_agent_delegations`);
  const pending = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND status = 'accepted'`, [pk])).rows[0]!.n;
  const loadSeconds = (Date.now() - t0) / 1000;

  const path = `/api/v1/providers/${pk}/contracts/pending-provision?limit=50`;
  const clients = agents.map((a, k) => replica(env, k).as(a.id, 'X-Agent-Pubkey'));
  const pick = () => clients[Math.floor(Math.random() * clients.length)]!;
  let items = 0;
  let answers = 0;
  const get = async () => {
    const c = pick();
    const t = performance.now();
    const r = await c.request<{ items: unknown[] }>('GET', path);
    const dt = performance.now() - t;
    if (r.status !== 200) throw new Error(`pending-provision: ${r.status} ${r.text}`);
    items += r.body.items.length;
    answers++;
    return dt;
  };
  // Warm-up: connections, JIT, caches.
  for (let i = 0; i < Math.min(200, cfg.samples); i++) await get();
  const seq: number[] = [];
  const cpu0 = await cpuSnapshot(env);
  for (let i = 0; i < cfg.samples; i++) seq.push(await get());
  const cpuSeq = await cpuSince(env, cpu0);
  const conc: number[] = [];
  const tc = performance.now();
  await pool(Array.from({ length: cfg.samples }, (_, i) => i), CFG.latency.concurrency, async () => {
    conc.push(await get());
  });
  const concSeconds = (performance.now() - tc) / 1000;

  const policy: LeasePolicy = { ttlSeconds: TTL_SECONDS, backoffSeconds: 30, maxAttempts: 5 };
  const sql: number[] = [];
  for (let i = 0; i < Math.min(200, cfg.samples); i++) {
    const a = agents[i % agents.length]!;
    await pendingProvision(db, { agent: a.id.publicKey, provider: pk, poolId: a.pool }, 50, policy);
  }
  for (let i = 0; i < cfg.samples; i++) {
    const a = agents[Math.floor(Math.random() * agents.length)]!;
    const t = performance.now();
    await pendingProvision(db, { agent: a.id.publicKey, provider: pk, poolId: a.pool }, 50, policy);
    sql.push(performance.now() - t);
  }
  // EXPLAIN for an agent of a default (location-routed) pool: the largest share of work.
  const a0 = agents[0]!;
  const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${pendingProvisionSql(true, 50, TTL_SECONDS)}`, [pk, a0.id.publicKey, a0.pool]);
  const explain = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  return {
    offerings: cfg.offerings,
    contracts: cfg.contracts,
    pending,
    agents: cfg.agents,
    pools: cfg.pools,
    loadSeconds,
    httpSequential: stats(seq),
    httpConcurrent: { ...stats(conc), concurrency: CFG.latency.concurrency, rps: cfg.samples / concSeconds },
    sql: stats(sql),
    itemsPerAnswer: items / answers,
    explain,
    seqScanOnContracts: /Seq Scan on contract_sign_requests/.test(explain),
    cpuPerRequest: { apiMs: cpuSeq.apiMs / cfg.samples, dbMs: cpuSeq.dbMs / cfg.samples, selfMs: cpuSeq.selfMs / cfg.samples },
  };
}

// ---- report ------------------------------------------------------------------------------------

function machine(): { cpus: string; model: string; node: string; load: string; memory: string } {
  let cpus = '?';
  try {
    cpus = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // no nproc
  }
  let model = '?';
  let memory = '?';
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '?';
    const kb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);
    if (kb) memory = `${(kb / 1024 / 1024).toFixed(1)} GiB`;
  } catch {
    // not Linux
  }
  return { cpus, model, node: process.version, load: loadavg().map((x) => x.toFixed(2)).join(' '), memory };
}

/**
 * What this machine charges for the two things every request pays (a signature check and a
 * database round trip), measured alone before the parts run: runs on different days compare
 * through these (a virtual machine's context switches have cost 3× one day to the next).
 */
async function calibrate(db: Env['db']): Promise<{ verifyUs: number; roundTripUs: number; roundTripCpuUs: number }> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const msg = Buffer.alloc(200, 1);
  const sig = sign(null, msg, privateKey);
  const N = 2000;
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) verify(null, msg, publicKey, sig);
  const verifyUs = Number(process.hrtime.bigint() - t) / 1e3 / N;
  for (let i = 0; i < N; i++) await db.query('SELECT $1::int AS n', [i], { prepare: 'bench_calibrate' });
  const cpu0 = process.cpuUsage();
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await db.query('SELECT $1::int AS n', [i], { prepare: 'bench_calibrate' });
  const roundTripUs = Number(process.hrtime.bigint() - t) / 1e3 / N;
  const cpu = process.cpuUsage(cpu0);
  return { verifyUs, roundTripUs, roundTripCpuUs: (cpu.user + cpu.system) / N };
}

type Row = [string, string, string, string];
const ok = (b: boolean) => (b ? 'met' : '**missed**');
const cpuRow = (c: { apiMs: number; dbMs: number; selfMs: number }) => `${ms(c.apiMs)} / ${ms(c.dbMs)} / ${ms(c.selfMs)} ms`;
const errs = (e: Record<string, number>) => (Object.keys(e).length === 0 ? 'none' : JSON.stringify(e));
const sum = (xs: (number | null)[]) => xs.reduce<number>((a, b) => a + (b ?? 0), 0);

async function main(): Promise<void> {
  const dbUrl = process.env.DATABASE_URL?.trim() || null;
  const started = new Date();
  const m0 = machine();
  const cores = Number(m0.cpus) || 2;
  const t0 = Date.now();
  console.log(`# dc-api bench (${QUICK ? 'quick' : 'full'}, scale ${SCALE}${ONLY ? `, only ${[...ONLY].join(',')}` : ''}) on ${dbUrl ? `PostgreSQL ${redact(dbUrl)}` : 'embedded PGlite'}; load average ${m0.load}`);
  const env = dbUrl ? await startPostgres(dbUrl) : await startPglite();
  const cal = await calibrate(env.db);
  console.log(`# this machine now: Ed25519 verify ${cal.verifyUs.toFixed(0)} µs; database round trip (SELECT $1, prepared) ${cal.roundTripUs.toFixed(0)} µs wall, ${cal.roundTripCpuUs.toFixed(0)} µs client CPU`);
  let tp: ThroughputResult | null = null;
  let tpEach: ThroughputResult | null = null;
  let disp: DispatchResult | null = null;
  let hb: HeartbeatResult | null = null;
  let mem: ApiMemoryResult | null = null;
  let agentMem: AgentMemoryResult | null = null;
  let lat: LatencyResult | null = null;
  let queue: QueueResult | null = null;
  let soak: SoakResult | null = null;
  const timings: string[] = [];
  const step = async <T>(part: Part, title: string, fn: () => Promise<T>, summary: (r: T) => string): Promise<T | null> => {
    if (!runs(part)) return null;
    console.log(`# ${part}: ${title}`);
    const t = Date.now();
    const r = await fn();
    timings.push(`${part} ${((Date.now() - t) / 1000).toFixed(1)} s`);
    console.log(`#   ${summary(r)} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    return r;
  };
  try {
    tp = await step('throughput', `claim-and-confirm, ${CFG.throughput.contracts} contracts, ${CFG.throughput.agents} agents, ${env.urls.length} replica(s), batch confirmations`, () => benchThroughput(env, 'batch'), (r) => `${r.cps.toFixed(0)} contracts/s`);
    tpEach = await step('throughput', 'the same, one provisioned call per contract', () => benchThroughput(env, 'each'), (r) => `${r.cps.toFixed(0)} contracts/s`);
    disp = await step('dispatch', 'payment → lease held, agents long-polling claim?wait=25', () => benchDispatch(env), (r) => `${r.contracts} contracts at ${r.achievedRate.toFixed(0)}/s: p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms; errors ${errs(r.errors)}`);
    hb = await step('heartbeats', 'signed heartbeats, keep-alive, concurrent', () => benchHeartbeats(env), (r) => `${r.perSecond.toFixed(0)} heartbeats/s, p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms; errors ${errs(r.errors)}`);
    mem = await step('memory', 'API RSS idle and with held claim long-polls', () => benchApiMemory(env), (r) => `${r.inProcess ? `in-process API (bench process) ${mib(r.inProcess.idleKb)} MiB idle, ${mib(r.inProcess.heldKb)} MiB with ${r.longPolls} long-polls` : `idle ${r.replicas.map((x) => mib(x.idleKb)).join('/')} MiB, ${r.longPolls} long-polls ${r.replicas.map((x) => mib(x.heldKb)).join('/')} MiB`}; answered early ${r.answeredEarly}`);
    agentMem = await step('agent', 'dc-agent RSS idle and provisioning (script provisioner)', () => benchAgentMemory(env), (r) => r.skipped ?? `idle ${mib(r.idleKb)} MiB, provisioning max ${mib(r.provisioningMaxKb)} MiB; exit ${r.exitCode}`);
    lat = await step('latency', `pending-provision at ${CFG.latency.offerings} offerings / ${CFG.latency.contracts} contracts / ${CFG.latency.agents} agents`, () => benchLatency(env), (r) => `HTTP p50 ${ms(r.httpSequential.p50)} ms p99 ${ms(r.httpSequential.p99)} ms; SQL p50 ${ms(r.sql.p50)} ms p99 ${ms(r.sql.p99)} ms`);
    queue = await step('queue', 'database claim path vs pg-boss', () => benchQueue(env), (r) => r.skipped ?? r.runs.map((x) => `${x.name}: ${x.perSecond.toFixed(0)}/s`).join('; '));
    soak = await step('soak', 'long-polling agents, heartbeats and a trickle of contracts; RSS, file descriptors, connections sampled', () => benchSoak(env), (r) =>
      `${r.agents} agents ${r.seconds} s: RSS growth ${r.rssGrowthKb.map((k) => mib(k)).join(' / ')} MiB, fds ${r.fdGrowth.join(' / ')}, db connections ${r.dbConnectionGrowth ?? 'n/a'}; ${r.paid} paid, ${r.provisioned} provisioned; errors ${errs(r.errors)}`);
  } finally {
    await env.close();
  }
  const totalSeconds = (Date.now() - t0) / 1000;
  const m1 = machine();
  const command = `${dbUrl ? `DATABASE_URL=${redact(dbUrl)} ` : ''}${QUICK ? 'npm run bench:quick' : 'npm run bench'}${process.env.BENCH_SCALE ? ` (BENCH_SCALE=${SCALE})` : ''}`;
  const pglite = env.kind === 'pglite';
  const rows: Row[] = [];
  const details: string[] = [];
  const targets: Row[] = []; // [what, target, result, verdict]

  if (tp) {
    rows.push(
      [`claim-and-confirm throughput (${tp.contracts} contracts, ${tp.agents} agents, ${tp.replicas} replica${tp.replicas > 1 ? 's' : ''}, claim max=${CFG.throughput.max}, one batch confirmation per claim)`, `${tp.cps.toFixed(0)} contracts/s`, `≥ ${TARGET_CPS}/s`, ok(tp.cps >= TARGET_CPS)],
      ['  claim latency p50 / p99 (under that load)', `${ms(tp.claim.p50)} / ${ms(tp.claim.p99)} ms`, '', ''],
      ['  batch provisioned latency p50 / p99 (under that load)', `${ms(tp.provisioned.p50)} / ${ms(tp.provisioned.p99)} ms`, '', ''],
      ...(tpEach
        ? ([
            [`  the same with one provisioned call per contract (before batch confirmations)`, `${tpEach.cps.toFixed(0)} contracts/s`, '', ''],
            ['    its CPU per contract: API replicas / PostgreSQL backends / agents', cpuRow({ apiMs: tpEach.cpu.apiMs / tpEach.contracts, dbMs: tpEach.cpu.dbMs / tpEach.contracts, selfMs: tpEach.cpu.selfMs / tpEach.contracts }), '', ''],
          ] as Row[])
        : []),
      ...(pglite
        ? ([
            ['  CPU per contract: API + PGlite + agents (all in this one process)', `${ms(tp.cpu.selfMs / tp.contracts)} ms`, '', ''],
            ['  CPU ceiling of that single process (one core)', `${((1000 * tp.contracts) / tp.cpu.selfMs).toFixed(0)} contracts/s`, '', ''],
          ] as Row[])
        : ([
            ['  CPU per contract: API replicas / PostgreSQL backends / agents (bench process)', cpuRow({ apiMs: tp.cpu.apiMs / tp.contracts, dbMs: tp.cpu.dbMs / tp.contracts, selfMs: tp.cpu.selfMs / tp.contracts }), '', ''],
            [`  server-side CPU ceiling on ${cores} dedicated cores (API + PostgreSQL, agents elsewhere)`, `${((cores * 1000 * tp.contracts) / (tp.cpu.apiMs + tp.cpu.dbMs)).toFixed(0)} contracts/s`, '', ''],
            [`  end-to-end CPU ceiling on ${cores} dedicated cores (agents on the same cores)`, `${((cores * 1000 * tp.contracts) / (tp.cpu.apiMs + tp.cpu.dbMs + tp.cpu.selfMs)).toFixed(0)} contracts/s`, '', ''],
          ] as Row[])),
    );
    targets.push(['claim-and-confirm throughput', `≥ ${TARGET_CPS}/s`, `${tp.cps.toFixed(0)}/s`, ok(tp.cps >= TARGET_CPS)]);
    details.push(
      `- Throughput run: ${tp.requests} requests (${tp.claims} claims, ${tp.emptyClaims} empty) in ${tp.seconds.toFixed(2)} s = ${(tp.requests / tp.seconds).toFixed(0)} signed requests/s; setup (API: provider, ${CFG.throughput.pools} pools, offerings, ${tp.agents} agents via /agents/setup; SQL: contracts) ${tp.setupSeconds.toFixed(1)} s. Errors: ${errs(tp.errors)}.`,
      `- claim latency (ms) p50 ${ms(tp.claim.p50)}, p90 ${ms(tp.claim.p90)}, p99 ${ms(tp.claim.p99)}, max ${ms(tp.claim.max)}; provisioned p50 ${ms(tp.provisioned.p50)}, p90 ${ms(tp.provisioned.p90)}, p99 ${ms(tp.provisioned.p99)}, max ${ms(tp.provisioned.max)}.`,
    );
  }
  if (disp) {
    const d = disp;
    rows.push(
      [`dispatch latency, payment sent → claim answer with the lease (${d.contracts} contracts paid one at a time at ${d.ratePerSecond}/s, ${d.agents} agents long-polling claim?wait=25, ${d.replicas} replica${d.replicas > 1 ? 's' : ''})`, `p50 ${ms(d.latency.p50)} ms, p99 ${ms(d.latency.p99)} ms`, `p99 < ${TARGET_DISPATCH_P99_MS} ms`, ok(d.latency.p99 < TARGET_DISPATCH_P99_MS && d.latency.n === d.contracts)],
      ['  payment request latency p50 / p99 (operator endpoint, random replica)', `${ms(d.payment.p50)} / ${ms(d.payment.p99)} ms`, '', ''],
      [`  CPU per contract (pay + claim + provisioned + wake-ups): ${pglite ? 'all in this process' : 'API / PostgreSQL / bench process'}`, pglite ? `${ms(d.cpuPerContract.selfMs)} ms` : cpuRow(d.cpuPerContract), '', ''],
    );
    targets.push(['dispatch latency p99 (payment → lease held)', `< ${TARGET_DISPATCH_P99_MS} ms`, `${ms(d.latency.p99)} ms (p50 ${ms(d.latency.p50)})`, ok(d.latency.p99 < TARGET_DISPATCH_P99_MS && d.latency.n === d.contracts)]);
    details.push(
      `- Dispatch: ${d.contracts} accepted contracts in ${d.pools} location-routed pools (${d.agents / d.pools} agents each, agents spread round-robin over the replicas); payments sent open-loop at ${d.achievedRate.toFixed(1)}/s to a random replica; t0 just before each payment request, t1 when the claim answer carrying the contract arrived (one clock, this process). Latency (ms) p50 ${ms(d.latency.p50)}, p90 ${ms(d.latency.p90)}, p99 ${ms(d.latency.p99)}, max ${ms(d.latency.max)}, mean ${ms(d.latency.mean)}, after a warm-up wave of ${d.warmup.contracts} contracts on the fresh replicas (cold start: p50 ${ms(d.warmup.latency.p50)}, p99 ${ms(d.warmup.latency.p99)}, max ${ms(d.warmup.latency.max)}); p50 / p99 by quarter of the run ${d.byQuarter.map((q) => `${ms(q.p50)} / ${ms(q.p99)}`).join(', ')}; ${d.beforePaymentAnswer} of ${d.contracts} leases reached an agent before the payment request itself was answered. Payment request p50 ${ms(d.payment.p50)}, p99 ${ms(d.payment.p99)}, max ${ms(d.payment.max)} ms. ${d.claimRequests} claim requests, ${d.emptyClaims} answered empty (a wake-up lost the race to another replica's waiter, or a 25 s wait ended). Errors: ${errs(d.errors)}.`,
    );
  }
  if (hb) {
    const h = hb;
    const c = h.cpuPerHeartbeat;
    rows.push(
      [`heartbeats with signature verification (${h.agents} agents, ${h.concurrency} concurrent, keep-alive, ${h.replicas} replica${h.replicas > 1 ? 's' : ''}, ${h.seconds.toFixed(0)} s)`, `${h.perSecond.toFixed(0)} heartbeats/s`, `≥ ${TARGET_HEARTBEATS}/s`, ok(h.perSecond >= TARGET_HEARTBEATS)],
      ['  heartbeat latency p50 / p99 (under that load)', `${ms(h.latency.p50)} / ${ms(h.latency.p99)} ms`, `p99 < ${TARGET_HEARTBEAT_P99_MS} ms`, ok(h.latency.p99 < TARGET_HEARTBEAT_P99_MS)],
      [`  heartbeat latency p50 / p99 at ${h.light.concurrency} concurrent (no queueing; ${h.light.perSecond.toFixed(0)}/s)`, `${ms(h.light.latency.p50)} / ${ms(h.light.latency.p99)} ms`, '', ''],
      [`  same report repeated inside the rewrite bound (nonce written, agent row not): ${h.unchanged.perSecond.toFixed(0)} heartbeats/s, p50 / p99`, `${ms(h.unchanged.latency.p50)} / ${ms(h.unchanged.latency.p99)} ms`, '', ''],
      ...(pglite
        ? ([['  CPU per heartbeat: API + PGlite + client (all in this one process)', `${ms(c.selfMs)} ms`, '', '']] as Row[])
        : ([
            ['  CPU per heartbeat: API replicas / PostgreSQL backends / client (bench process)', cpuRow(c), '', ''],
            [`  server-side CPU ceiling on ${cores} dedicated cores (API + PostgreSQL, clients elsewhere)`, `${((cores * 1000) / (c.apiMs + c.dbMs)).toFixed(0)} heartbeats/s`, '', ''],
            [`  end-to-end CPU ceiling on ${cores} dedicated cores (clients on the same cores)`, `${((cores * 1000) / (c.apiMs + c.dbMs + c.selfMs)).toFixed(0)} heartbeats/s`, '', ''],
            ['  CPU per heartbeat, same report repeated: API replicas / PostgreSQL backends / client', cpuRow(h.unchanged.cpuPerHeartbeat), '', ''],
            [`  server-side CPU ceiling on ${cores} dedicated cores, same report repeated`, `${((cores * 1000) / (h.unchanged.cpuPerHeartbeat.apiMs + h.unchanged.cpuPerHeartbeat.dbMs)).toFixed(0)} heartbeats/s`, '', ''],
          ] as Row[])),
    );
    targets.push(
      ['heartbeats/s (signed)', `≥ ${TARGET_HEARTBEATS}/s`, `${h.perSecond.toFixed(0)}/s`, ok(h.perSecond >= TARGET_HEARTBEATS)],
      ['heartbeat p99 under that load', `< ${TARGET_HEARTBEAT_P99_MS} ms`, `${ms(h.latency.p99)} ms`, ok(h.latency.p99 < TARGET_HEARTBEAT_P99_MS)],
    );
    details.push(
      `- Heartbeats: ${h.requests} signed requests in ${h.seconds.toFixed(2)} s after a warm-up, each from one of ${h.agents} agents (new nonce and Ed25519 signature each), round-robin over the replicas on keep-alive connections (node:http client, at most ${h.concurrency} in flight). Latency (ms) p50 ${ms(h.latency.p50)}, p90 ${ms(h.latency.p90)}, p99 ${ms(h.latency.p99)}, max ${ms(h.latency.max)}. CPU in the window: API ${(h.cpu.apiMs / 1000).toFixed(1)} s, PostgreSQL ${(h.cpu.dbMs / 1000).toFixed(1)} s, client ${(h.cpu.selfMs / 1000).toFixed(1)} s of ${(h.seconds * cores).toFixed(1)} core-seconds. Errors: ${errs(h.errors)}.`,
    );
  }
  if (mem) {
    const r = mem;
    if (r.inProcess) {
      rows.push([`API RSS idle → with ${r.longPolls} held claim?wait=${r.waitSeconds} long-polls (in-process server: bench process RSS, includes the clients)`, `${mib(r.inProcess.idleKb)} → ${mib(r.inProcess.heldKb)} MiB`, '', '']);
    } else {
      rows.push(
        ['API RSS per replica at start (no traffic yet)', `${r.replicas.map((x) => mib(x.atStartKb)).join(' / ')} MiB`, '', ''],
        ['API RSS per replica idle (after the benchmarks above)', `${r.replicas.map((x) => mib(x.idleKb)).join(' / ')} MiB`, '', ''],
        [`API RSS per replica with ${r.longPolls} agents long-polling (claim?wait=${r.waitSeconds} held open, ${r.replicas.map((x) => x.held).join(' / ')} per replica)`, `${r.replicas.map((x) => mib(x.heldKb)).join(' / ')} MiB`, '', ''],
        ['  growth per held long-poll', `${((sum(r.replicas.map((x) => x.heldKb)) - sum(r.replicas.map((x) => x.idleKb))) / r.longPolls).toFixed(1)} KiB`, '', ''],
      );
    }
    details.push(`- Memory: VmRSS from /proc/PID/status. ${r.longPolls} agents of a pool with no offerings (so no work) each sent one \`claim?wait=${r.waitSeconds}\`, spread round-robin over the replicas, one connection each; RSS read once the replicas' CPU went quiet (${r.settleSeconds.toFixed(1)} s after the first request), then every request was aborted. Answered before the measurement: ${r.answeredEarly} (expected 0). Errors: ${errs(r.errors)}.`);
  }
  if (agentMem) {
    const a = agentMem;
    if (a.skipped) rows.push(['dc-agent RSS', a.skipped, '', '']);
    else {
      rows.push(
        ['dc-agent RSS idle (`dc-agent run`, script provisioner, heartbeating, claim long-poll parked)', `${mib(a.idleKb)} MiB`, '', ''],
        [`dc-agent RSS while provisioning (${a.concurrent} contracts at once, script sleeps ${a.scriptSeconds} s; max of ${a.provisioningSamples} samples)`, `${mib(a.provisioningMaxKb)} MiB`, '', ''],
      );
      details.push(`- dc-agent: the built bundle (${(a.bundleBytes / 1024).toFixed(0)} KiB, \`packages/agent/dist/dc-agent.mjs\`) registered with \`dc-agent setup\` against replica 0, script provisioner (\`user = "nobody"\`, max_concurrent ${a.concurrent}), run as \`node dc-agent.mjs run --config …\`. RSS of the agent process only (not the script's shell). Payment → both contracts provisioned ${a.wallSeconds.toFixed(1)} s; exit code after SIGTERM ${a.exitCode}.`);
    }
  }
  if (lat) {
    rows.push(
      [`pending-provision over HTTP, sequential, random agent (${lat.httpSequential.n} requests)`, `p50 ${ms(lat.httpSequential.p50)} ms, p99 ${ms(lat.httpSequential.p99)} ms`, `p99 < ${TARGET_P99_MS} ms`, ok(lat.httpSequential.p99 < TARGET_P99_MS)],
      [`  CPU per request: ${pglite ? 'API + PGlite + client (one process)' : 'API replica / PostgreSQL backend / client'}`, pglite ? `${ms(lat.cpuPerRequest.selfMs)} ms` : cpuRow(lat.cpuPerRequest), '', ''],
      [`pending-provision over HTTP, ${lat.httpConcurrent.concurrency} concurrent clients`, `p50 ${ms(lat.httpConcurrent.p50)} ms, p99 ${ms(lat.httpConcurrent.p99)} ms, ${lat.httpConcurrent.rps.toFixed(0)} req/s`, '', ''],
      [`pending-provision in SQL (store/leases.ts pendingProvision)`, `p50 ${ms(lat.sql.p50)} ms, p99 ${ms(lat.sql.p99)} ms`, `p99 < ${TARGET_P99_MS} ms`, ok(lat.sql.p99 < TARGET_P99_MS)],
      ['pending-provision plan', lat.seqScanOnContracts ? 'Seq Scan on contract_sign_requests' : 'index-backed (no Seq Scan on contract_sign_requests)', 'index-backed', ok(!lat.seqScanOnContracts)],
    );
    targets.push(
      ['pending-provision over HTTP p99', `< ${TARGET_P99_MS} ms`, `${ms(lat.httpSequential.p99)} ms`, ok(lat.httpSequential.p99 < TARGET_P99_MS)],
      ['pending-provision in SQL p99', `< ${TARGET_P99_MS} ms`, `${ms(lat.sql.p99)} ms`, ok(lat.sql.p99 < TARGET_P99_MS)],
    );
    details.push(
      `- Latency data set: ${lat.offerings} offerings, ${lat.contracts} contracts (${lat.pending} accepted and paid, a tenth of them leased to other agents; ~1% requested; the rest provisioned), ${lat.agents} agents in ${lat.pools} pools, plus the earlier parts' data; bulk-loaded with SQL in ${lat.loadSeconds.toFixed(1)} s, then VACUUM ANALYZE. limit=50, ${lat.itemsPerAnswer.toFixed(1)} items per answer on average.`,
      `- pending-provision over HTTP (signed, keep-alive, agents chosen at random, replicas round-robin) sequential: p50 ${ms(lat.httpSequential.p50)}, p90 ${ms(lat.httpSequential.p90)}, p99 ${ms(lat.httpSequential.p99)}, max ${ms(lat.httpSequential.max)} ms; ${lat.httpConcurrent.concurrency} concurrent: p50 ${ms(lat.httpConcurrent.p50)}, p99 ${ms(lat.httpConcurrent.p99)} ms at ${lat.httpConcurrent.rps.toFixed(0)} req/s.`,
      `- The same query in SQL from the bench process: p50 ${ms(lat.sql.p50)}, p90 ${ms(lat.sql.p90)}, p99 ${ms(lat.sql.p99)}, max ${ms(lat.sql.max)} ms (includes a pg round trip; planning happens on every call, as in the server).`,
    );
  }
  if (queue) {
    const q = queue;
    if (q.skipped) {
      rows.push(['database claim path vs pg-boss', q.skipped, '', 'n/a']);
      targets.push(['claim path vs pg-boss (items/s and CPU per item ratios)', '', q.skipped, 'n/a']);
    } else {
      const cpuOf = (r: { cpuPerItem: { dbMs: number; selfMs: number } }) => r.cpuPerItem.dbMs + r.cpuPerItem.selfMs;
      for (const depth of q.depths) {
        const at = q.runs.filter((r) => r.depth === depth);
        for (const r of at) rows.push([`${r.name} (${q.workers} workers, ${depth} queued${r.rounds > 1 ? `, ${r.rounds} refills` : ''})`, `${r.perSecond.toFixed(0)} items/s`, '', '']);
        const boss = (batch: number) => at.find((r) => r.name.startsWith('pg-boss') && r.batch === batch);
        for (const o of at.filter((r) => r.name.startsWith('ours'))) {
          const b = boss(o.batch);
          if (!b) continue;
          const ratio = o.perSecond / b.perSecond;
          const cpuRatio = cpuOf(b) / cpuOf(o);
          const want = queueTarget(depth);
          const confirm = o.confirm === 'batch' ? 'batch confirm' : 'confirm per item';
          rows.push([`  ratio ours / pg-boss, batch ${o.batch}, ${depth} queued`, `${ratio.toFixed(2)}×`, `≥ ${want.toFixed(1)}×`, ok(ratio >= want)]);
          rows.push([`    same, by CPU per item (PostgreSQL + client; less sensitive to other load on the machine)`, `${cpuRatio.toFixed(2)}× (${ms(cpuOf(o))} vs ${ms(cpuOf(b))} ms)`, `≥ ${want.toFixed(1)}×`, ok(cpuRatio >= want)]);
          targets.push([
            `claim path vs pg-boss, batch ${o.batch} (${confirm}), ${depth} queued: items/s, CPU per item`,
            `≥ ${want.toFixed(1)}×`,
            `${ratio.toFixed(2)}× (${o.perSecond.toFixed(0)} vs ${b.perSecond.toFixed(0)}/s), ${cpuRatio.toFixed(2)}× (${ms(cpuOf(o))} vs ${ms(cpuOf(b))} ms)`,
            ok(ratio >= want && cpuRatio >= want),
          ]);
        }
        for (const o of at.filter((r) => r.name.startsWith('prototype'))) {
          const b = boss(o.batch);
          if (b) rows.push([`  ratio ${o.name.replace(/^prototype, not in src: /, 'prototype ')} / pg-boss, batch ${o.batch}, ${depth} queued`, `${(o.perSecond / b.perSecond).toFixed(2)}×`, '', '']);
        }
      }
      details.push(
        `- Claim path vs pg-boss: each side in a fresh database on the same server (ours migrated; ${q.runs.find((r) => r.name.startsWith('pg-boss'))?.name.split(':')[0] ?? 'pg-boss'} in its own schema; the prototypes, bench/prototypes.ts, in a third one with their schema addition), ${q.workers} workers in this process over a pg pool of ${q.workers} connections, no HTTP. Each drain starts with its whole queue in place (${q.depths.join(' or ')} items: a backlog) after twice as many finished ones (history: provisioned contracts / completed jobs); shallow queues are refilled and drained again until ≥ 5,000 items went through, and only the drains are timed; ours and pg-boss runs alternate. Per call (ms, p50 / p99: claim or fetch, then confirm or complete) and CPU per item (PostgreSQL backends of that database / this process):`,
        ...q.runs.map((r) => `  - ${r.depth} queued${r.rounds > 1 ? ` ×${r.rounds}` : ''}, ${r.name}: ${r.perSecond.toFixed(0)} items/s (${r.items} items in ${r.seconds.toFixed(2)} s); take p50 ${ms(r.take.p50)} / p99 ${ms(r.take.p99)}; confirm p50 ${ms(r.done.p50)} / p99 ${ms(r.done.p99)}; CPU/item ${ms(r.cpuPerItem.dbMs)} / ${ms(r.cpuPerItem.selfMs)} ms. Errors: ${errs(r.errors)}.`),
      );
    }
  }
  if (mem && !mem.inProcess) {
    targets.push(['API RSS with 1,000 long-polling agents', 'report', `${mem.replicas.map((x) => mib(x.heldKb)).join(' / ')} MiB (idle ${mem.replicas.map((x) => mib(x.idleKb)).join(' / ')})`, '']);
  }
  if (agentMem && !agentMem.skipped) targets.push(['dc-agent RSS idle / provisioning', 'report', `${mib(agentMem.idleKb)} / ${mib(agentMem.provisioningMaxKb)} MiB`, '']);

  // Errors are not misses: a part that could not do its work means the suite itself is broken
  // (CI runs bench:quick so that this never goes unnoticed). Targets are judged in full runs only.
  const problems: string[] = [];
  const check = (part: string, e: Record<string, number> | undefined) => {
    if (e && Object.keys(e).length > 0) problems.push(`${part}: ${JSON.stringify(e)}`);
  };
  check('throughput', tp?.errors);
  check('throughput', tpEach?.errors);
  check('dispatch', disp?.errors);
  check('heartbeats', hb?.errors);
  check('memory', mem?.errors);
  if (agentMem && !agentMem.skipped && agentMem.exitCode !== 0) problems.push(`agent: dc-agent exited ${agentMem.exitCode} after SIGTERM`);
  for (const r of queue?.runs ?? []) check(`queue ${r.name}`, r.errors);
  check('soak', soak?.errors);
  if (soak) {
    const s = soak;
    rows.push(
      [`soak: ${s.agents} agents long-polling claim?wait=50, heartbeats every ${s.heartbeatSeconds} s, ${s.contractsPerMinute} contracts/min, ${s.seconds} s`, `${s.provisioned} of ${s.paid} paid provisioned`, '', ''],
      ['  RSS per replica: first sample after warm-up → last', `${s.samples[Math.min(1, s.samples.length - 1)]!.rssKb.map((k) => mib(k)).join(' / ')} → ${s.samples[s.samples.length - 1]!.rssKb.map((k) => mib(k)).join(' / ')} MiB`, 'no growth', ''],
      ['  open file descriptors per replica: growth', s.fdGrowth.join(' / '), 'no growth', ''],
      ['  database connections (dc-api): growth', String(s.dbConnectionGrowth ?? 'n/a'), 'no growth', ''],
    );
    details.push(`- Soak samples (t s: RSS MiB per replica; fds; db connections): ${s.samples.map((x) => `${x.t}: ${x.rssKb.map((k) => mib(k)).join('/')}; ${x.fds.join('/')}; ${x.dbConnections ?? 'n/a'}`).join(' | ')}. ${s.heartbeats} heartbeats, ${s.claims} claims. Errors: ${errs(s.errors)}.`);
  }

  const table = ['| benchmark | result | target | |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const targetTable = ['| target | wanted | this run | |', '|---|---|---|---|', ...targets.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  details.push(`- Wall time per part: ${timings.join(', ')}; whole run ${totalSeconds.toFixed(0)} s.`);
  console.log('\n' + table + '\n');
  console.log(targetTable + '\n');
  console.log(details.join('\n'));
  if (problems.length > 0) {
    console.error(`bench: errors during the run:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exitCode = 1;
  }
  if (QUICK || ONLY) {
    console.log(`# ${QUICK ? 'BENCH_QUICK' : 'BENCH_ONLY'}: BENCHMARKS.md not written`);
    return;
  }
  const md = `# Benchmarks

Generated by \`packages/server/bench/run.ts\` on ${started.toISOString()}; every figure below comes from this one run.

## Machine

- CPU: ${m0.cpus} cores (\`nproc\`), ${m0.model}; memory ${m0.memory}
- Node ${m0.node}
- Database: ${env.pgVersion}
- Load average (1/5/15 min) at start: ${m0.load}; at end: ${m1.load}. The machine is shared: other processes ran at the same time.
- Measured alone before the parts ran: an Ed25519 verify ${cal.verifyUs.toFixed(0)} µs; a database round trip (\`SELECT $1\`, prepared) ${cal.roundTripUs.toFixed(0)} µs wall and ${cal.roundTripCpuUs.toFixed(0)} µs client CPU. Compare runs of different days through these.

## Command

\`\`\`
${command}
\`\`\`

## Against targets

${targetTable}

## Results

${table}

${details.join('\n')}
${lat ? `
## pending-provision plan at scale

\`EXPLAIN (ANALYZE, BUFFERS)\` of \`pendingProvisionSql(pooled = true, limit = 50)\` (store/leases.ts) for an agent of a location-routed pool:

\`\`\`
${lat.explain}
\`\`\`
` : ''}`;
  const out = `${REPO_ROOT}BENCHMARKS.md`;
  // Everything after KEEP_MARKER in the current file is hand-written analysis: carried over.
  let kept = '';
  try {
    const prev = readFileSync(out, 'utf8');
    const at = prev.indexOf(KEEP_MARKER);
    if (at >= 0) kept = '\n' + prev.slice(at);
  } catch {
    // first run
  }
  writeFileSync(out, md + kept);
  console.log(`# wrote ${out}`);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
