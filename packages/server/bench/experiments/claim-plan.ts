// Experiment: EXPLAIN (ANALYZE, BUFFERS) of claim() (store/leases.ts) with N queued contracts in
// one pool, in a fresh database, after M of them were already claimed and confirmed (dead index
// entries). Run: DATABASE_URL=… node packages/server/dist/bench/experiments/claim-plan.js [N] [M]
import pg from 'pg';
import { PostgresDb, type Db } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { claim, provisioned, type LeasePolicy } from '../../src/store/leases.js';
import { seedContracts, seedProvider } from '../lib.js';

const policy: LeasePolicy = { ttlSeconds: 300, backoffSeconds: 30, maxAttempts: 5 };
const adminUrl = process.env.DATABASE_URL!;
const n = Number(process.argv[2] ?? 10000);
const m = Number(process.argv[3] ?? 0);
const name = `dcbench_plan_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const u = new URL(adminUrl);
u.pathname = `/${name}`;
const db = new PostgresDb(u.toString(), { max: 2 });
try {
  await migrate(db);
  const s = await seedProvider(db, { label: 'plan', pools: [{ location: 'europe', type: 'proxmox', offerings: 1, agents: 1 }] });
  const p = s.pools[0]!;
  await seedContracts(db, s.provider.publicKey, Array.from({ length: n }, () => p.offerings[0]!), 'succeeded');
  await db.query(`VACUUM ANALYZE`);
  const caller = { agent: p.agents[0]!.publicKey, provider: s.provider.publicKey, poolId: p.id };
  const t0 = performance.now();
  for (let i = 0; i < m; i++) {
    const [it] = await claim(db, caller, { max: 1, exclude: [] }, policy);
    await provisioned(db, caller, it!.contract_id, it!.lock_token, { h: 1 }, policy);
  }
  if (m) console.log(`${m} claim+provisioned sequentially: ${((performance.now() - t0) / m).toFixed(2)} ms each`);
  let captured: { sql: string; params: readonly unknown[] } | null = null;
  const spy = Object.create(db) as Db;
  spy.query = (async (sql: string, params: readonly unknown[] = []) => {
    captured = { sql, params };
    throw new Error('captured');
  }) as Db['query'];
  await claim(spy, caller, { max: 1, exclude: [] }, policy).catch(() => {});
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  for (let k = 0; k < 2; k++) {
    await c.query('BEGIN');
    const r = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${captured!.sql}`, captured!.params as unknown[]);
    await c.query('ROLLBACK');
    if (k === 1) console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
  }
  await c.end();
} finally {
  await db.close();
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
