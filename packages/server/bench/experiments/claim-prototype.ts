// Experiment (evidence for a proposal; not server code): claim() from store/leases.ts against a
// prototype claim that avoids sorting the whole eligible set. The prototype assumes a column
// contract_sign_requests.routed_pool_id (added here, in a scratch database only) with a partial
// index (provider_pubkey, routed_pool_id, created_at, contract_id) WHERE accepted and paid, and
// takes the caller's own open leases in a separate branch instead of `ORDER BY mine DESC`.
// Both sides confirm with provisioned() from store/leases.ts.
//
// Run: DATABASE_URL=… node packages/server/dist/bench/experiments/claim-prototype.js [items] [workers] [max]
// (EXP_VARIANTS=prototype: the prototype alone, in a table holding only its own queue.)
import { PostgresDb } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { claim, provisioned, type Caller, type LeasePolicy } from '../../src/store/leases.js';
import { backendPids, explainAnalyze, procCpuMs, scratchDatabases, seedContracts, seedProvider } from '../lib.js';
import { PROTO_CLAIM_SQL as PROTO_SQL, PROTO_SCHEMA } from '../prototypes.js';

const policy: LeasePolicy = { ttlSeconds: 300, backoffSeconds: 30, maxAttempts: 5 };
const adminUrl = process.env.DATABASE_URL!;
const items = Number(process.argv[2] ?? 10000);
const workers = Number(process.argv[3] ?? 8);
const max = Number(process.argv[4] ?? 1);
const name = `dcbench_proto_${process.pid}`;
const scratch = await scratchDatabases(adminUrl);
const admin = scratch.admin;
const url = await scratch.create(name);
const db = new PostgresDb(url, { max: workers });
try {
  await migrate(db);
  await db.exec(PROTO_SCHEMA);
  const run = async (variant: 'src' | 'prototype') => {
    const s = await seedProvider(db, { label: `p${variant[0]}`, pools: [{ location: 'europe', type: 'proxmox', offerings: 1, agents: workers }] });
    const p = s.pools[0]!;
    await seedContracts(db, s.provider.publicKey, Array.from({ length: items }, () => p.offerings[0]!), 'succeeded');
    await db.query(`UPDATE contract_sign_requests SET routed_pool_id = $1 WHERE provider_pubkey = $2`, [p.id, s.provider.publicKey]);
    await db.query(`VACUUM ANALYZE contract_sign_requests`);
    const cpu = async () => (await backendPids(admin, name)).reduce((a, pid) => a + (procCpuMs(pid) ?? 0), 0);
    let done = 0;
    const c0 = await cpu();
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(p.agents.map(async (a) => {
      const caller: Caller = { agent: a.publicKey, provider: s.provider.publicKey, poolId: p.id };
      for (;;) {
        const got = variant === 'src'
          ? (await claim(db, caller, { max, exclude: [] }, policy)).map((i) => ({ contract_id: i.contract_id, lock_token: i.lock_token }))
          : (await db.query<{ contract_id: string; lock_token: number }>(PROTO_SQL, [caller.provider, caller.agent, caller.poolId, [], max, policy.ttlSeconds, policy.maxAttempts], { prepare: 'proto_claim' })).rows;
        if (got.length === 0) return;
        for (const it of got) {
          await provisioned(db, caller, it.contract_id, it.lock_token, { h: 1 }, policy);
          done++;
        }
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    const dbMs = (await cpu()) - c0;
    const self = process.cpuUsage(self0);
    console.log(`${variant.padEnd(9)} max=${max}: ${done}/${items} items, ${(done / secs).toFixed(0)} items/s, PostgreSQL CPU ${(dbMs / done).toFixed(2)} ms/item, bench ${((self.user + self.system) / 1000 / done).toFixed(2)} ms/item`);
    if (variant === 'prototype') {
      // The plan with a full queue: seed again and EXPLAIN one claim.
      await seedContracts(db, s.provider.publicKey, Array.from({ length: items }, () => p.offerings[0]!), 'succeeded');
      await db.query(`UPDATE contract_sign_requests SET routed_pool_id = $1 WHERE provider_pubkey = $2 AND routed_pool_id IS NULL`, [p.id, s.provider.publicKey]);
      await db.query(`VACUUM ANALYZE contract_sign_requests`);
      const lines = await explainAnalyze(url, PROTO_SQL, [s.provider.publicKey, p.agents[0]!.publicKey, p.id, [], max, 300, 5]);
      console.log(lines.filter((l) => /CTE others|Index Scan|Seq Scan on contract|Sort Method|Execution Time|Planning Time/.test(l)).join('\n'));
    }
  };
  if (process.env.EXP_VARIANTS !== 'prototype') await run('src');
  await run('prototype');
} finally {
  await db.close();
  await scratch.close();
}
