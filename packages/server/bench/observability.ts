// Observability benchmark (issue 12): pool statistics at 100k contracts / 1M lock-history events
// in 50 pools, and the /metrics per-pool gauges with 50 pools.
//
//   node packages/server/dist/bench/observability.js            (full; DATABASE_URL: a fresh
//                                                                 database on that server)
//   BENCH_QUICK=1 node packages/server/dist/bench/observability.js   (tiny, seconds, prints only)
//
// A full run on PostgreSQL rewrites the section between the observability markers in
// BENCHMARKS.md (inside the hand-written part that bench/run.ts keeps).
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '@dc/core/node';
import { STATS_WINDOW_SECONDS, STATS_BUCKETS, type StatsWindow } from '@dc/core';
import { SignedClient, mustOk } from '@dc/testkit';
import { loadConfig } from '../src/config.js';
import { PgliteDb, PostgresDb, type Db } from '../src/db/db.js';
import { startServer } from '../src/server.js';
import { poolStats, statsSql } from '../src/store/stats.js';
import { refreshRoutes } from '../src/store/routing.js';
import { poolGaugeRows } from '../src/store/pool-metrics.js';
import { createMetrics } from '../src/metrics.js';
import { registerPoolGauges } from '../src/pool-gauges.js';
import type { AppContext } from '../src/context.js';
import { QUICK, explainAnalyze, ms, operator, scratchDatabases, stats, sz } from './lib.js';

const CFG = { pools: 50, agentsPerPool: 4, offeringsPerPool: 4, contracts: sz(100_000, 2000), eventsPerContract: 10, samples: QUICK ? 30 : 300 };
const TARGET_P99_MS = 50;
const START = '<!-- observability:start -->';
const END = '<!-- observability:end -->';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Seeds one provider, 50 pools with agents and explicit offerings, contracts and their lock history over 7 days. */
async function seed(db: Db, provider: string): Promise<string[]> {
  await db.query(`INSERT INTO provider_registrations (pubkey, name) VALUES ($1, 'bench')`, [provider]);
  await db.query(
    `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type, created_at)
     SELECT 'bp-' || lpad(i::text, 3, '0'), $1, 'pool ' || i, 'europe', 'proxmox', now() - make_interval(secs => 1000 - i)
     FROM generate_series(1, $2) i`,
    [provider, CFG.pools],
  );
  const pools = (await db.query<{ pool_id: string }>(`SELECT pool_id FROM agent_pools ORDER BY pool_id`)).rows.map((r) => r.pool_id);
  await db.query(
    `INSERT INTO provider_agent_delegations (agent_pubkey, provider_pubkey, pool_id, permissions, issued_at, signature)
     SELECT md5(p.pool_id || a) || md5(a || p.pool_id), $1, p.pool_id, ARRAY['heartbeat'], now(), 'x'
     FROM agent_pools p, generate_series(1, $2) a`,
    [provider, CFG.agentsPerPool],
  );
  // Three of four agents online.
  await db.query(
    `INSERT INTO agent_status (agent_pubkey, last_seen_at, version)
     SELECT agent_pubkey, now(), '1.0.0' FROM provider_agent_delegations WHERE right(agent_pubkey, 1) <> 'f'`,
  );
  await db.query(
    `INSERT INTO provider_offerings (provider_pubkey, offering_id, name, product_type, datacenter_country, datacenter_region,
       monthly_price, currency, provisioner_type, agent_pool_id)
     SELECT $1, p.pool_id || '-o' || k, 'o', 'compute', 'DE', 'europe', 5, 'EUR', 'proxmox', p.pool_id
     FROM agent_pools p, generate_series(1, $2) k`,
    [provider, CFG.offeringsPerPool],
  );
  await refreshRoutes(db, provider); // rows written with SQL: store their routes as the API would
  // Contracts over the last 7 days: 3 % waiting (accepted, paid), the rest provisioned.
  await db.query(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status,
       created_at, provisionable_at, provisioning_lock_token, lease_agent, provisioned_by, provisioned_at)
     SELECT 'c' || i, $1, 'bp-' || lpad((1 + i % $3)::text, 3, '0') || '-o' || (1 + (i / $3) % $4), md5('cust' || i) || md5('c' || i),
       CASE WHEN i % 100 < 3 THEN 'accepted' ELSE 'provisioned' END, 'succeeded',
       t, t + interval '5 seconds', 2, NULL, NULL, NULL
     FROM (SELECT i, now() - make_interval(secs => random() * 604800) AS t FROM generate_series(1, $2) i) s`,
    [provider, CFG.contracts, CFG.pools, CFG.offeringsPerPool],
  );
  // Ten events per contract by an agent of its pool: grant, renewals, an expiry or failure for one
  // in five, a second grant, and the outcome (provisioned, or failed for waiting contracts).
  await db.query(
    `INSERT INTO contract_events (contract_id, at, event, agent_pubkey, lock_token, detail, pool_id, provision_ms)
     SELECT c.contract_id, c.provisionable_at + make_interval(secs => 10 * k),
       CASE WHEN k = 0 OR k = 8 THEN 'granted'
            WHEN k = 7 THEN (CASE WHEN n % 10 = 0 THEN 'expired' WHEN n % 10 = 1 THEN 'failed' ELSE 'renewed' END)
            WHEN k = 9 THEN (CASE WHEN c.status = 'provisioned' THEN 'provisioned' ELSE 'failed' END)
            ELSE 'renewed' END,
       d.agent_pubkey, CASE WHEN k < 8 THEN 1 ELSE 2 END, NULL, o.agent_pool_id,
       CASE WHEN k = 9 AND c.status = 'provisioned' THEN (5000 + random() * 600000)::bigint END
     FROM (SELECT c.*, substr(c.contract_id, 2)::int AS n FROM contract_sign_requests c) c
     JOIN provider_offerings o ON o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id
     JOIN LATERAL (SELECT agent_pubkey FROM provider_agent_delegations d WHERE d.pool_id = o.agent_pool_id ORDER BY agent_pubkey LIMIT 1) d ON true
     CROSS JOIN generate_series(0, $1 - 1) k`,
    [CFG.eventsPerContract],
  );
  // A settled table: statistics and the visibility map (index-only scans) as autovacuum keeps them.
  await db.exec('VACUUM ANALYZE');
  return pools;
}

async function main(): Promise<void> {
  const adminUrl = process.env.DATABASE_URL?.trim() || null;
  const scratch = adminUrl ? await scratchDatabases(adminUrl) : null;
  const url = scratch ? await scratch.create(`dc_obs_${process.pid}`) : null;
  const db: Db = url ? new PostgresDb(url, { max: 8 }) : await PgliteDb.open(null);
  const config = loadConfig({ LOG_LEVEL: 'silent', DC_OPERATOR_PUBKEYS: operator.publicKey });
  const server = await startServer(config, { db, listen: false, jobs: false, logger: false });
  try {
    const provider = generateIdentity();
    const t0 = Date.now();
    const pools = await seed(db, provider.publicKey);
    const counts = (await db.query<{ c: number; e: number }>(`SELECT (SELECT count(*) FROM contract_sign_requests)::int AS c, (SELECT count(*) FROM contract_events)::int AS e`)).rows[0]!;
    console.log(`seeded ${counts.c} contracts, ${counts.e} events, ${pools.length} pools in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const client = SignedClient.inject(server.app, 'bench.local');
    const windows: StatsWindow[] = ['1h', '24h', '7d'];
    const http: Record<string, ReturnType<typeof stats>> = {};
    const sql: Record<string, ReturnType<typeof stats>> = {};
    for (const w of windows) {
      for (let i = 0; i < 10; i++) await poolStats(db, provider.publicKey, pools[i % pools.length]!, w); // warm-up
      const hs: number[] = [];
      const ss: number[] = [];
      for (let i = 0; i < CFG.samples; i++) {
        const pool_id = pools[i % pools.length]!;
        let t = performance.now();
        mustOk(await client.request(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools/${pool_id}/stats?window=${w}`));
        hs.push(performance.now() - t);
        t = performance.now();
        await poolStats(db, provider.publicKey, pool_id, w);
        ss.push(performance.now() - t);
      }
      http[w] = stats(hs);
      sql[w] = stats(ss);
      console.log(`stats ${w}: HTTP p50 ${ms(http[w]!.p50)} ms p99 ${ms(http[w]!.p99)} ms; SQL p50 ${ms(sql[w]!.p50)} ms p99 ${ms(sql[w]!.p99)} ms`);
    }
    const list: number[] = [];
    for (let i = 0; i < Math.min(CFG.samples, 100); i++) {
      const t = performance.now();
      mustOk(await client.request(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools`));
      list.push(performance.now() - t);
    }
    const listStats = stats(list);
    console.log(`pools list (50 pools, success_rate_24h and waiting each): p50 ${ms(listStats.p50)} ms p99 ${ms(listStats.p99)} ms`);

    // /metrics: the gauges recomputed on every scrape (cache age 0) and the query alone.
    const ctx = { db, config: { ...config, poolMetricsSeconds: 0 }, metrics: createMetrics() } as AppContext;
    registerPoolGauges(ctx);
    const scrapes: number[] = [];
    const rows: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 100); i++) {
      let t = performance.now();
      await ctx.metrics.registry.metrics();
      scrapes.push(performance.now() - t);
      t = performance.now();
      await poolGaugeRows(db, config.agentOfflineAfterSeconds);
      rows.push(performance.now() - t);
    }
    const scrape = stats(scrapes);
    const gaugeSql = stats(rows);
    console.log(`/metrics scrape, gauges recomputed: p50 ${ms(scrape.p50)} ms p99 ${ms(scrape.p99)} ms (query alone p50 ${ms(gaugeSql.p50)} ms)`);

    const load = loadavg()[0]!.toFixed(1);
    const plan = url ? await explainAnalyze(url, statsSql(STATS_WINDOW_SECONDS['7d'] / STATS_BUCKETS), [provider.publicKey, pools[0]]) : [];
    const met = (s: ReturnType<typeof stats>) => (s.p99 < TARGET_P99_MS ? 'met' : 'MISSED');
    const section = [
      START,
      `## Pool statistics and /metrics per pool (issue 12; bench/observability.ts)`,
      '',
      `Run ${new Date().toISOString()} on ${db.kind === 'postgres' ? 'PostgreSQL' : 'PGlite'}: ${counts.c} contracts, ${counts.e} lock-history events over 7 days, ${pools.length} pools × ${CFG.agentsPerPool} agents × ${CFG.offeringsPerPool} offerings. ${CFG.samples} sequential requests per window, round-robin over the pools, signed, through app.inject (no network); "SQL" is the store function alone. ${cpus().length} cores, load average ${load} at the end (figures under load above the core count are inflated by waiting for a CPU).`,
      '',
      '| figure | p50 | p99 | target |',
      '|---|---|---|---|',
      ...windows.map((w) => `| GET …/pools/{id}/stats?window=${w} (HTTP / SQL) | ${ms(http[w]!.p50)} / ${ms(sql[w]!.p50)} ms | ${ms(http[w]!.p99)} / ${ms(sql[w]!.p99)} ms | p99 < ${TARGET_P99_MS} ms: ${met(http[w]!)} |`),
      `| GET …/pools (50 pools with success_rate_24h and waiting) | ${ms(listStats.p50)} ms | ${ms(listStats.p99)} ms | |`,
      `| /metrics scrape with the 50 pools' gauges recomputed (cache age 0) | ${ms(scrape.p50)} ms | ${ms(scrape.p99)} ms | |`,
      `| the one gauge statement alone | ${ms(gaugeSql.p50)} ms | ${ms(gaugeSql.p99)} ms | |`,
      '',
      'A replica recomputes the gauges at most every DC_POOL_METRICS_SECONDS (default 5) and concurrent scrapes share one computation, so a scrape in between costs only the exposition.',
      ...(plan.length ? ['', 'Plan of the 7d statement for one pool (EXPLAIN ANALYZE, BUFFERS; warm):', '', '```', ...plan, '```'] : []),
      END,
    ].join('\n');
    console.log(section);
    if (!QUICK && db.kind === 'postgres') {
      const file = `${REPO_ROOT}BENCHMARKS.md`;
      const md = readFileSync(file, 'utf8');
      const i = md.indexOf(START);
      const j = md.indexOf(END);
      writeFileSync(file, i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + END.length) : `${md.trimEnd()}\n\n${section}\n`);
      console.log(`# wrote ${file}`);
    }
  } finally {
    await server.close();
    await db.close();
    await scratch?.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
