// Experiment: EXPLAIN (ANALYZE, BUFFERS) of claim() (store/leases.ts) with N queued contracts in
// one pool, in a fresh database, after M of them were already claimed and confirmed (dead index
// entries), claiming up to MAX at once. Run:
//   DATABASE_URL=… node packages/server/dist/bench/experiments/claim-plan.js [N] [M] [MAX]
import { PostgresDb, type Db, type Queryable } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { claim, provisioned, type LeasePolicy } from '../../src/store/leases.js';
import { explainAnalyze, scratchDatabases, seedContracts, seedProvider } from '../lib.js';

const policy: LeasePolicy = { ttlSeconds: 300, backoffSeconds: 30, maxAttempts: 5 };
const adminUrl = process.env.DATABASE_URL!;
const n = Number(process.argv[2] ?? 10000);
const m = Number(process.argv[3] ?? 0);
const max = Number(process.argv[4] ?? 1);
const name = `dcbench_plan_${process.pid}`;
const scratch = await scratchDatabases(adminUrl);
const url = await scratch.create(name);
const db = new PostgresDb(url, { max: 2 });
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
  // claim() locks the agent first and then grants in one statement, both inside a transaction:
  // the spy's transaction runs the lock for real and captures the grant statement.
  let captured: { sql: string; params: readonly unknown[] } | null = null;
  const spy = Object.create(db) as Db;
  spy.transaction = (async (fn: (tx: Queryable) => Promise<unknown>) =>
    db.transaction((tx) =>
      fn({
        query: (async (sql: string, params: readonly unknown[] = []) => {
          if (!sql.includes('picked')) return tx.query(sql, params);
          captured = { sql, params };
          throw new Error('captured');
        }) as Queryable['query'],
      } as Queryable),
    )) as Db['transaction'];
  await claim(spy, caller, { max, exclude: [] }, policy).catch(() => {});
  console.log((await explainAnalyze(url, captured!.sql, captured!.params)).join('\n'));
} finally {
  await db.close();
  await scratch.close();
}
