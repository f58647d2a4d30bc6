// Experiment: what agent auth (store/agent-auth.ts) costs per call, alone and in batches, in a fresh
// database with 1,000 agents. One connection; `concurrency` calls of different agents are issued
// in the same turn (1: a lone call, as a replica at low load sends it). Reports wall time and
// CPU per call of this process and of the PostgreSQL backend. `single` instead of a concurrency
// runs the baseline: the one-call statement agent auth used before batching (b3c4a40, kept below),
// one call at a time. Run:
//   DATABASE_URL=… node packages/server/dist/bench/experiments/agent-auth.js [CONCURRENCY|single] [HEARTBEAT=0|1]
import { randomBytes } from 'node:crypto';
import { MAX_CLOCK_FUTURE_MS, MAX_CLOCK_PAST_MS } from '@dc/core';
import { PostgresDb } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { AgentAuthBatcher } from '../../src/store/agent-auth.js';
import { procCpuMs, scratchDatabases, seedProvider } from '../lib.js';

// The baseline: b3c4a40's store/auth.ts SPEND_NONCE_AND_READ_AGENT_SQL, one call per statement.
const SINGLE_CALL_SQL = `WITH
  t AS (SELECT to_timestamp($3::bigint / 1000.0) AS ts),
  win AS (SELECT ts, ts BETWEEN now() - make_interval(secs => ${MAX_CLOCK_PAST_MS / 1000})
                          AND now() + make_interval(secs => ${MAX_CLOCK_FUTURE_MS / 1000}) AS in_window FROM t),
  spent AS (
    INSERT INTO request_nonces (pubkey, nonce, request_at) SELECT $1, $2, ts FROM win WHERE in_window
    ON CONFLICT DO NOTHING RETURNING 1),
  d AS (
    SELECT provider_pubkey, pool_id, revoked_at IS NOT NULL AS revoked, state FROM provider_agent_delegations WHERE agent_pubkey = $1)
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh,
         d.provider_pubkey, d.pool_id, d.revoked
  FROM (SELECT 1) AS one
  LEFT JOIN d ON true`;

const adminUrl = process.env.DATABASE_URL!;
const single = process.argv[2] === 'single';
const concurrency = single ? 1 : Number(process.argv[2] ?? 1);
const heartbeat = process.argv[3] === '1';
const CALLS = 3000;
const name = `dcbench_auth_${process.pid}`;
const scratch = await scratchDatabases(adminUrl);
const url = await scratch.create(name);
const db = new PostgresDb(url, { max: 1 });
try {
  await migrate(db);
  const s = await seedProvider(db, { label: 'auth', pools: [{ location: 'europe', type: 'proxmox', offerings: 1, agents: 1000 }] });
  await db.query(`ANALYZE`);
  const agents = s.pools[0]!.agents;
  const provider = s.provider.publicKey;
  const batcher = new AgentAuthBatcher(db, 1);
  const spend = async (agent: string, i: number): Promise<{ fresh: number }> => {
    const nonce = randomBytes(12).toString('hex');
    if (single) return (await db.query<{ fresh: number }>(SINGLE_CALL_SQL, [agent, nonce, String(Date.now())], { prepare: 'dc_auth_single' })).rows[0]!;
    return batcher.spend({ agentPubkey: agent, nonce, timestampMs: String(Date.now()), pathProvider: provider, ...(heartbeat ? { heartbeat: { version: `v${i}` } } : {}) });
  };
  const run = async (calls: number) => {
    for (let i = 0; i < calls; i += concurrency) {
      const out = await Promise.all(Array.from({ length: concurrency }, (_, j) => spend(agents[(i + j) % agents.length]!.publicKey, i)));
      if (out.some((r) => r.fresh !== 1)) throw new Error('a nonce was not spent');
    }
  };
  await run(300);
  const backend = (await db.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid;
  const pg0 = procCpuMs(backend)!;
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  await run(CALLS);
  const wall = performance.now() - t0;
  const self = process.cpuUsage(self0);
  const per = (v: number) => (v / CALLS).toFixed(3);
  console.log(`${single ? 'baseline single-call statement' : `${concurrency} per turn${heartbeat ? ', heartbeats' : ''}`}: wall ${per(wall)} ms/call; CPU per call: PostgreSQL ${per(procCpuMs(backend)! - pg0)} ms, this process ${per((self.user + self.system) / 1000)} ms`);
} finally {
  await db.close();
  await scratch.close();
}
