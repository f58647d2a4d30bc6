// Experiment (evidence for a proposal; not server code): the database side of one heartbeat.
// Today a heartbeat costs two statements: the auth statement (spend the nonce, read the
// delegation: SPEND_NONCE_AND_READ_AGENT_SQL in http/auth.ts) and the upsert of agent_status
// (recordHeartbeat in store/agents.ts). Copies of both (as of 2026-11-26) are timed against one
// combined statement, and against the two with synchronous_commit = off, at C concurrent
// connections from this process, in a scratch database. Reports heartbeats/s and PostgreSQL CPU
// per heartbeat (backends of the scratch database, from /proc).
//
// Run: DATABASE_URL=… node packages/server/dist/bench/experiments/heartbeat-sql.js [seconds] [concurrency]
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresDb } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { backendPids, procCpuMs, seedProvider } from '../lib.js';

const adminUrl = process.env.DATABASE_URL!;
const seconds = Number(process.argv[2] ?? 5);
const conc = Number(process.argv[3] ?? 16);
const name = `dcbench_hbsql_${process.pid}`;

const CTES = `
  t AS (SELECT to_timestamp($3::bigint / 1000.0) AS ts),
  win AS (SELECT ts, ts BETWEEN now() - make_interval(secs => 300) AND now() + make_interval(secs => 30) AS in_window FROM t),
  spent AS (
    INSERT INTO request_nonces (pubkey, nonce, request_at) SELECT $1, $2, ts FROM win WHERE in_window
    ON CONFLICT DO NOTHING RETURNING 1)`;
const AUTH_SQL = `WITH ${CTES}
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh,
         d.provider_pubkey, d.pool_id, d.revoked_at IS NOT NULL AS revoked
  FROM (SELECT 1) AS one
  LEFT JOIN provider_agent_delegations d ON d.agent_pubkey = $1`;
const HEARTBEAT_SQL = `WITH hb AS (
       INSERT INTO agent_status (agent_pubkey, last_seen_at, version, provisioner_type, active_contracts, capabilities)
       VALUES ($1, now(), $2, $3, $4, $5)
       ON CONFLICT (agent_pubkey) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, version = EXCLUDED.version,
         provisioner_type = EXCLUDED.provisioner_type, active_contracts = EXCLUDED.active_contracts,
         capabilities = EXCLUDED.capabilities
     )
     SELECT d.pool_id, p.name AS pool_name FROM provider_agent_delegations d
     LEFT JOIN agent_pools p ON p.pool_id = d.pool_id WHERE d.agent_pubkey = $1`;
/** One round trip: spend the nonce, read the delegation, and record the heartbeat only if both pass. */
const COMBINED_SQL = `WITH ${CTES},
  d AS (SELECT provider_pubkey, pool_id, revoked_at FROM provider_agent_delegations WHERE agent_pubkey = $1),
  hb AS (
    INSERT INTO agent_status (agent_pubkey, last_seen_at, version, provisioner_type, active_contracts, capabilities)
    SELECT $1, now(), $4, $5, $6, $7 FROM d
    WHERE d.revoked_at IS NULL AND d.provider_pubkey = $8 AND EXISTS (SELECT 1 FROM spent)
    ON CONFLICT (agent_pubkey) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, version = EXCLUDED.version,
      provisioner_type = EXCLUDED.provisioner_type, active_contracts = EXCLUDED.active_contracts,
      capabilities = EXCLUDED.capabilities
    RETURNING 1)
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh,
         d.provider_pubkey, d.pool_id, d.revoked_at IS NOT NULL AS revoked, p.name AS pool_name, (SELECT count(*) FROM hb)::int AS recorded
  FROM (SELECT 1) AS one LEFT JOIN d ON true LEFT JOIN agent_pools p ON p.pool_id = d.pool_id`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const u = new URL(adminUrl);
u.pathname = `/${name}`;
try {
  {
    const db = new PostgresDb(u.toString(), { max: 1 });
    await migrate(db);
    await db.close();
  }
  const variant = async (label: string, mode: 'two' | 'one', syncOff: boolean) => {
    await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = ${syncOff ? 'off' : 'on'}`);
    const db = new PostgresDb(u.toString(), { max: conc });
    try {
      const s = await seedProvider(db, { label: `hb${mode}${syncOff ? 's' : ''}`, pools: [{ location: 'europe', type: 'proxmox', offerings: 0, agents: 200 }] });
      const agents = s.pools[0]!.agents.map((a) => a.publicKey);
      const caps = JSON.stringify({ max_concurrent: 2, long_poll: true, claim: true });
      let n = 0;
      let k = 0;
      const cpu = async () => (await backendPids(admin, name)).reduce((a, pid) => a + (procCpuMs(pid) ?? 0), 0);
      const one = async () => {
        const agent = agents[k++ % agents.length]!;
        const nonce = randomBytes(16).toString('base64url');
        if (mode === 'two') {
          await db.query(AUTH_SQL, [agent, nonce, Date.now()], { prepare: 'x_auth' });
          await db.query(HEARTBEAT_SQL, [agent, '0.1.0', 'proxmox', 0, caps], { prepare: 'x_hb' });
        } else {
          const r = await db.query<{ recorded: number }>(COMBINED_SQL, [agent, nonce, Date.now(), '0.1.0', 'proxmox', 0, caps, s.provider.publicKey], { prepare: 'x_combined' });
          if (r.rows[0]!.recorded !== 1) throw new Error('not recorded');
        }
      };
      // warm-up
      for (let i = 0; i < 200; i++) await one();
      const c0 = await cpu();
      const self0 = process.cpuUsage();
      const until = performance.now() + seconds * 1000;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: conc }, async () => {
        while (performance.now() < until) {
          await one();
          n++;
        }
      }));
      const secs = (performance.now() - t0) / 1000;
      const dbMs = (await cpu()) - c0;
      const self = process.cpuUsage(self0);
      console.log(`${label.padEnd(48)} ${(n / secs).toFixed(0).padStart(6)} heartbeats/s  PostgreSQL ${(dbMs / n).toFixed(3)} ms/heartbeat  client ${((self.user + self.system) / 1000 / n).toFixed(3)} ms/heartbeat`);
    } finally {
      await db.close();
    }
  };
  for (let round = 0; round < 2; round++) {
    await variant('two statements (today)', 'two', false);
    await variant('one combined statement', 'one', false);
    await variant('two statements, synchronous_commit = off', 'two', true);
    await variant('one combined statement, synchronous_commit = off', 'one', true);
  }
} finally {
  await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await admin.end();
}
