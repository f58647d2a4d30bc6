// Dashboard lists at fleet scale (issue 16): the offerings, pool agents and contracts list queries
// at 10k offerings / 1k agents in one pool / 100k contracts, with their plans, and the bytes a
// pool-detail refresh costs (the whole pool as before, against a page with ETag and compression).
//
//   node packages/server/dist/bench/lists.js                 (full; DATABASE_URL: a fresh database
//                                                              on that server, else PGlite)
//   BENCH_QUICK=1 node packages/server/dist/bench/lists.js   (tiny, seconds)
//
// Prints a Markdown section for BENCHMARKS.md.
import { brotliDecompressSync } from 'node:zlib';
import type { Contract, OfferingListQuery, PoolAgentListQuery } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { SignedClient, mustOk, type Transport } from '@dc/testkit';
import { loadConfig } from '../src/config.js';
import { PgliteDb, PostgresDb, type Db, type Queryable } from '../src/db/db.js';
import { startServer } from '../src/server.js';
import { listOfferings } from '../src/store/offerings.js';
import { refreshRoutes } from '../src/store/routing.js';
import { pagePoolAgents } from '../src/store/pools.js';
import { listProviderContracts } from '../src/store/contracts.js';
import { QUICK, ms, operator, scratchDatabases, stats, sz } from './lib.js';

const CFG = { offerings: sz(10_000, 300), pools: 10, agents: sz(1000, 60), contracts: sz(100_000, 2000), samples: QUICK ? 20 : 300 };
const TARGET_P99_MS = 20;
const OFFLINE_AFTER = 90;
const STATUSES = ['requested', 'accepted', 'provisioning', 'provisioned', 'cancelled', 'rejected', 'terminated'];

async function seed(db: Db, provider: string): Promise<{ pools: string[]; bigPool: string }> {
  await db.query(`INSERT INTO provider_registrations (pubkey, name) VALUES ($1, 'bench')`, [provider]);
  // Ten pools, each the default of its own (location, type) pair; offerings spread over them,
  // every fifth one pinned to a pool explicitly.
  const pairs = [['europe', 'proxmox'], ['na', 'proxmox'], ['apac', 'proxmox'], ['latam', 'proxmox'], ['mena', 'proxmox'],
    ['europe', 'script'], ['na', 'script'], ['apac', 'script'], ['latam', 'script'], ['mena', 'script']];
  await db.query(
    `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type, created_at)
     SELECT 'lp-' || i, $1, 'pool ' || i, ($2::text[])[i], ($3::text[])[i], now() - make_interval(secs => 100 - i)
     FROM generate_series(1, $4) i`,
    [provider, pairs.map((p) => p[0]), pairs.map((p) => p[1]), CFG.pools],
  );
  const countries: Record<string, string> = { europe: 'DE', na: 'US', apac: 'JP', latam: 'BR', mena: 'AE' };
  await db.query(
    `INSERT INTO provider_offerings (provider_pubkey, offering_id, name, product_type, datacenter_country, datacenter_region,
       monthly_price, currency, provisioner_type, provisioner_config, agent_pool_id, status)
     SELECT $1, 'off-' || lpad(i::text, 6, '0'), 'Offering ' || (ARRAY['small', 'medium', 'large', 'gpu'])[1 + i % 4] || ' ' || i,
       (ARRAY['compute', 'storage', 'gpu'])[1 + i % 3], ($2::jsonb ->> ($3::text[])[1 + i % 10]), ($3::text[])[1 + i % 10], 10, 'EUR',
       ($4::text[])[1 + i % 10], '{"template": 9000}'::jsonb,
       CASE WHEN i % 5 = 0 THEN 'lp-' || (1 + (i / 5) % 10) END, CASE WHEN i % 7 = 0 THEN 'inactive' ELSE 'active' END
     FROM generate_series(1, $5) i`,
    [provider, JSON.stringify(countries), pairs.map((p) => p[0]), pairs.map((p) => p[1]), CFG.offerings],
  );
  // Pinned offerings must match their pool's type.
  await db.query(`UPDATE provider_offerings o SET provisioner_type = p.provisioner_type FROM agent_pools p WHERE o.agent_pool_id = p.pool_id`);
  await refreshRoutes(db, provider); // rows written with SQL: store their routes as the API would
  // One big pool of 1,000 agents, half of them heartbeating; two agents in every other pool.
  await db.query(
    `INSERT INTO provider_agent_delegations (agent_pubkey, provider_pubkey, pool_id, permissions, label, issued_at, signature)
     SELECT md5('a' || i) || md5('b' || i), $1, CASE WHEN i <= $2 THEN 'lp-1' ELSE 'lp-' || (2 + i % 9) END,
       ARRAY['fetch_contracts', 'heartbeat', 'provision'], 'agent-' || lpad(i::text, 4, '0'), now(), repeat('0', 128)
     FROM generate_series(1, $2 + 18) i`,
    [provider, CFG.agents],
  );
  await db.query(
    `INSERT INTO agent_status (agent_pubkey, last_seen_at, version)
     SELECT agent_pubkey, now() - CASE WHEN label < 'agent-' || lpad(($2 / 2)::text, 4, '0') THEN interval '5 seconds' ELSE interval '1 hour' END, '1.0.0'
     FROM provider_agent_delegations WHERE provider_pubkey = $1`,
    [provider, CFG.agents],
  );
  for (let at = 0; at < CFG.contracts; at += 20_000) {
    await db.query(
      `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status, created_at)
       SELECT md5('c' || i), $1, 'off-' || lpad((1 + i % $4)::text, 6, '0'), md5('k' || i) || md5('l' || i),
         ($5::text[])[1 + i % 7], 'succeeded', now() - make_interval(secs => $3 - i)
       FROM generate_series($2 + 1, least($2 + 20000, $3)) i`,
      [provider, at, CFG.contracts, CFG.offerings, STATUSES],
    );
  }
  await db.exec('VACUUM ANALYZE');
  return { pools: Array.from({ length: CFG.pools }, (_, i) => `lp-${i + 1}`), bigPool: 'lp-1' };
}

/** Records the SQL a store function sends, to EXPLAIN it. */
function recording(db: Db): { q: Queryable; last: () => { sql: string; params: unknown[] }[] } {
  let log: { sql: string; params: unknown[] }[] = [];
  const q = {
    query: (sql: string, params: unknown[] = []) => {
      log.push({ sql, params });
      return db.query(sql, params);
    },
  } as unknown as Queryable;
  return { q, last: () => { const l = log; log = []; return l; } };
}

async function measure(name: string, fn: () => Promise<unknown>): Promise<{ name: string; p50: number; p99: number }> {
  for (let i = 0; i < 5; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < CFG.samples; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  const s = stats(samples);
  return { name, p50: s.p50, p99: s.p99 };
}

/** The bytes of an HTTP/1.1 answer: status line, header lines, blank line, body. */
function wireBytes(status: number, headers: Record<string, unknown>, body: number): number {
  let n = `HTTP/1.1 ${status} XX\r\n`.length + 2;
  for (const [k, v] of Object.entries(headers)) n += `${k}: ${String(v)}\r\n`.length;
  return n + body;
}

async function main(): Promise<void> {
  const adminUrl = process.env.DATABASE_URL?.trim() || null;
  const scratch = adminUrl ? await scratchDatabases(adminUrl) : null;
  const url = scratch ? await scratch.create(`dc_lists_${process.pid}`) : null;
  const db: Db = url ? new PostgresDb(url, { max: 8 }) : await PgliteDb.open(null);
  const config = loadConfig({ LOG_LEVEL: 'silent', DC_OPERATOR_PUBKEYS: operator.publicKey, DC_AGENT_OFFLINE_AFTER_SECONDS: String(OFFLINE_AFTER) });
  const server = await startServer(config, { db, listen: false, jobs: false, logger: false });
  const out: string[] = [];
  try {
    const provider: Identity = generateIdentity();
    const pk = provider.publicKey;
    const t0 = Date.now();
    const { bigPool } = await seed(db, pk);
    const n = (await db.query<{ o: number; a: number; c: number }>(
      `SELECT (SELECT count(*) FROM provider_offerings)::int AS o, (SELECT count(*) FROM provider_agent_delegations WHERE pool_id = $1)::int AS a,
         (SELECT count(*) FROM contract_sign_requests)::int AS c`, [bigPool])).rows[0]!;
    console.error(`seeded ${n.o} offerings, ${n.a} agents in ${bigPool}, ${n.c} contracts in ${((Date.now() - t0) / 1000).toFixed(1)} s (${db.kind})`);

    const rec = recording(db);
    const off = (q: OfferingListQuery) => () => listOfferings(rec.q, pk, q);
    const agents = (q: PoolAgentListQuery) => () => pagePoolAgents(rec.q, bigPool, OFFLINE_AFTER, q);
    const contracts = (q: { status?: Contract['status']; limit?: number; offset?: number }) => () => listProviderContracts(rec.q, pk, q);
    const cases: [string, () => Promise<unknown>][] = [
      ['offerings: first page (100)', off({ limit: 100 })],
      ['offerings: page 50 (offset 4,900)', off({ limit: 100, offset: Math.min(4900, CFG.offerings - 100) })],
      ['offerings: pool filter', off({ limit: 100, pool_id: 'lp-3' })],
      ['offerings: status filter (inactive)', off({ limit: 100, status: 'inactive' })],
      ['offerings: product_type filter', off({ limit: 100, product_type: 'gpu' })],
      ['offerings: search q="large 12"', off({ limit: 100, q: 'large 12' })],
      ['offerings: search q="zzz" (no match)', off({ limit: 100, q: 'zzz' })],
      [`pool agents: first page (100 of ${CFG.agents})`, agents({ limit: 100 })],
      ['pool agents: status online', agents({ limit: 100, status: 'online' })],
      ['pool agents: search q="agent-09"', agents({ limit: 100, q: 'agent-09' })],
      ['contracts: first page (100)', contracts({ limit: 100 })],
      ['contracts: page 100 (offset 9,900)', contracts({ limit: 100, offset: Math.min(9900, CFG.contracts - 100) })],
      ['contracts: status filter (provisioning)', contracts({ limit: 100, status: 'provisioning' })],
    ];
    const rows: { name: string; p50: number; p99: number }[] = [];
    const plans: string[] = [];
    for (const [name, fn] of cases) {
      const m = await measure(name, fn);
      rows.push(m);
      console.error(`${name}: p50 ${ms(m.p50)} ms p99 ${ms(m.p99)} ms`);
      rec.last();
      await fn();
      const sqls = rec.last();
      const main = sqls[0]!;
      const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${main.sql}`, main.params)).rows.map((r) => r['QUERY PLAN']);
      plans.push(`-- ${name}\n${plan.join('\n')}`);
      if (sqls[1]) {
        const p2 = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${sqls[1].sql}`, sqls[1].params)).rows.map((r) => r['QUERY PLAN']);
        plans.push(`-- ${name} (total)\n${p2.join('\n')}`);
      }
    }

    // Bytes per background refresh of the pool page, a 1,000-agent pool.
    let last = { raw: 0, headers: {} as Record<string, unknown>, status: 0 };
    const transport: Transport = async (r) => {
      const res = await server.app.inject({ method: r.method, url: r.path, headers: { host: 'bench.local', ...r.headers } });
      last = { raw: res.rawPayload.length, headers: res.headers, status: res.statusCode };
      const enc = res.headers['content-encoding'];
      const text = (enc === 'br' ? brotliDecompressSync(res.rawPayload) : res.rawPayload).toString('utf8');
      return { status: res.statusCode, headers: res.headers as Record<string, string>, text };
    };
    const client = new SignedClient(transport, 'bench.local');
    const P = `/api/v1/providers/${pk}/pools/${bigPool}`;
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const r = await client.request(provider, 'GET', path, undefined, { headers });
      return { r, bytes: wireBytes(last.status, last.headers, last.raw) };
    };
    const before = await get(P);
    const summary = await get(`${P}?agents_limit=0`, { 'accept-encoding': 'gzip, deflate, br' });
    const page = await get(`${P}/agents?limit=100`, { 'accept-encoding': 'gzip, deflate, br' });
    const summary304 = await get(`${P}?agents_limit=0`, { 'accept-encoding': 'gzip, deflate, br', 'if-none-match': String(summary.r.headers.etag) });
    const page304 = await get(`${P}/agents?limit=100`, { 'accept-encoding': 'gzip, deflate, br', 'if-none-match': String(page.r.headers.etag) });
    mustOk(before.r);
    if (summary304.r.status !== 304 || page304.r.status !== 304) throw new Error('expected 304 for an unchanged pool');
    const beforeBr = await get(P, { 'accept-encoding': 'gzip, deflate, br' });

    out.push(`## Dashboard lists and refreshes at fleet scale (issue 16)`, '');
    out.push(`${db.kind === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL'}; ${n.o.toLocaleString('en')} offerings in ${CFG.pools} pools, ${n.a.toLocaleString('en')} agents in one pool (half online), ${n.c.toLocaleString('en')} contracts; the store functions called directly, ${CFG.samples} samples each after 5 warm-ups. Target p99 < ${TARGET_P99_MS} ms.`, '');
    out.push('| query | p50 ms | p99 ms | |', '|---|---:|---:|---|');
    for (const r of rows) out.push(`| ${r.name} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.p99 < TARGET_P99_MS ? 'ok' : 'over target'} |`);
    out.push('', `Bytes per background refresh of a ${n.a.toLocaleString('en')}-agent pool page (status line + headers + body):`, '');
    out.push('| refresh | bytes |', '|---|---:|');
    out.push(`| before: pool detail with every agent, uncompressed (what committed main's dashboard fetches every 2.5 s; measured with today's fields) | ${before.bytes.toLocaleString('en')} |`);
    out.push(`| pool detail with every agent, brotli | ${beforeBr.bytes.toLocaleString('en')} |`);
    out.push(`| after, changed: pool summary (agents_limit=0) + a page of 100 agents, brotli | ${(summary.bytes + page.bytes).toLocaleString('en')} |`);
    out.push(`| after, unchanged: both answer 304 | ${(summary304.bytes + page304.bytes).toLocaleString('en')} |`);
    out.push('', '<details><summary>Plans (EXPLAIN ANALYZE)</summary>', '', '```', ...plans, '```', '', '</details>');
    console.log(out.join('\n'));
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
