// The database claim path against pg-boss, on the same PostgreSQL server, in the same run.
//
// Ours: `claim()` and `provisioned()` from src/store/leases.ts called directly with a PostgresDb
// (no HTTP, no signatures): N workers loop claim(max) → provisioned for each item. pg-boss 10:
// the same N workers loop `boss.fetch(queue, {batchSize})` → `boss.complete(queue, ids)`. Each side
// gets a fresh database (ours migrated, pg-boss in its own schema), the same number of items
// and a pg pool of N connections, so one worker ≈ one connection. Reported as items/s and CPU
// (PostgreSQL backends of that database, this process) per item.
//
// Then, labelled "prototype (not in src)", bench-local versions of two proposed server changes
// (bench/prototypes.ts): a batch confirmation (one statement confirms the whole claimed batch,
// the shape of a `POST …/contracts/provisioned` batch endpoint) and an index-ordered claim
// (routed_pool_id column + partial index, own leases in a separate branch, so a claim does not
// sort the pool's whole queue). The index-ordered claim needs a schema addition, so it runs in a
// third scratch database; nothing here touches the server's migrations.
//
// All runs start with the whole queue (`items`) already in place: a backlog, the case where the
// cost of a claim depends on the queue depth; before the queue, `history` finished items (both
// sides), since a production table is mostly history and the planner's choices depend on it.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import PgBoss from 'pg-boss';
import { PostgresDb } from '../src/db/db.js';
import { migrate } from '../src/db/migrate.js';
import { provisionedBatch } from '../src/store/batches.js';
import { claim, provisioned, type Caller, type LeasePolicy } from '../src/store/leases.js';
import { PROTO_SCHEMA, claimPrototype, provisionedBatchPrototype } from './prototypes.js';
import { QUICK, backendPids, cpuSince, cpuSnapshot, perItem, pick, scratchDatabases, seedContracts, seedProvider, stats, sz, TTL_SECONDS, type CpuSplit, type Env, type Stats } from './lib.js';

export interface QueueRun {
  name: string;
  batch: number;
  /** Items queued when a drain starts; `rounds` drains of `depth` items, `items` in all. */
  depth: number;
  rounds: number;
  /** How items were confirmed: one call each, or one call per claimed batch (pg-boss: complete(ids)). */
  confirm: 'each' | 'batch';
  items: number;
  seconds: number;
  perSecond: number;
  /** Per call: claim/fetch and confirm/complete, ms. */
  take: Stats;
  done: Stats;
  cpuPerItem: CpuSplit;
  errors: Record<string, number>;
}
export interface QueueResult {
  skipped: string | null;
  workers: number;
  /** Queue depths measured (items queued before a run); each run had twice as many finished items before them. */
  depths: number[];
  runs: QueueRun[];
}

const policy: LeasePolicy = { ttlSeconds: TTL_SECONDS, backoffSeconds: 30, maxAttempts: 5 };
/** Shallow queues drain in a fraction of a second: refill and drain several times (only the drains are timed). */
const roundsOf = (depth: number) => (QUICK ? 1 : Math.max(1, Math.ceil(5000 / depth)));
const addCpu = (sum: CpuSplit, c: CpuSplit) => {
  sum.apiMs += c.apiMs;
  sum.dbMs += c.dbMs;
  sum.selfMs += c.selfMs;
};

export async function benchQueue(env: Env): Promise<QueueResult> {
  const workers = pick(8, 4);
  // A deep backlog (claim cost grows with it) and a shallow one (per-statement costs dominate).
  // Before each queue, twice as many finished items (history), as in production.
  const depths = QUICK ? [300] : [sz(10_000, 300), sz(1_000, 100)];
  if (env.kind !== 'postgres' || !env.adminUrl) return { skipped: 'skipped: PostgreSQL only (pg-boss needs a PostgreSQL server; this run is on embedded PGlite)', workers, depths, runs: [] };
  const scratch = await scratchDatabases(env.adminUrl);
  const admin = scratch.admin;
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const oursDb = `dcbench_q_ours_${tag}`;
  const bossDb = `dcbench_q_boss_${tag}`;
  const protoDb = `dcbench_q_proto_${tag}`;
  const urls = new Map<string, string>();
  const urlOf = (name: string) => urls.get(name)!;
  const runs: QueueRun[] = [];
  try {
    for (const name of [oursDb, bossDb, protoDb]) urls.set(name, await scratch.create(name));
    // Backends of one database, read through the admin connection (which is not one of them).
    const backendsOf = (datname: string) => () => backendPids(admin, datname);

    // ---- ours (store/leases.ts) and the prototypes, each in its own fresh database ----
    const ours = async (dbName: string, claimWith: 'src' | 'prototype', batch: number, confirm: 'each' | 'batch', depth: number): Promise<QueueRun> => {
      const history = 2 * depth;
      const rounds = roundsOf(depth);
      const items = depth * rounds;
      const db = new PostgresDb(urlOf(dbName), { max: workers, applicationName: 'dc-bench-queue' });
      try {
        const seeded = await seedProvider(db, { label: `q${claimWith[0]}${batch}${confirm[0]}${depth}`, pools: [{ location: 'europe', type: 'proxmox', offerings: 1, agents: workers }] });
        const p = seeded.pools[0]!;
        // History first (older, already provisioned), then the queue: a production table is mostly
        // history, which is also what its statistics say when the planner picks an index.
        const old = await seedContracts(db, seeded.provider.publicKey, Array.from({ length: history }, () => p.offerings[0]!), 'succeeded');
        await db.query(
          `UPDATE contract_sign_requests SET status = 'provisioned', provisioned_at = now(), provisioned_by = $2, lease_agent = $2, lease_outcome = 'provisioned',
             provisioning_lock_token = 1, instance_details = '{"hostname": "vm"}' WHERE contract_id = ANY($1::text[])`,
          [old, p.agents[0]!.publicKey],
        );
        const take: number[] = [];
        const done: number[] = [];
        const errors: Record<string, number> = {};
        const fail = (e: unknown) => (errors[(e as Error).message] = (errors[(e as Error).message] ?? 0) + 1);
        let confirmed = 0;
        let seconds = 0;
        const cpu: CpuSplit = { apiMs: 0, dbMs: 0, selfMs: 0 };
        for (let round = 0; round < rounds; round++) {
          await seedContracts(db, seeded.provider.publicKey, Array.from({ length: depth }, () => p.offerings[0]!), 'succeeded');
          if (claimWith === 'prototype') await db.query(`UPDATE contract_sign_requests SET routed_pool_id = $1 WHERE provider_pubkey = $2 AND routed_pool_id IS NULL`, [p.id, seeded.provider.publicKey]);
          await db.query(`VACUUM ANALYZE contract_sign_requests`);
          const cpu0 = await cpuSnapshot(env, backendsOf(dbName));
          const start = performance.now();
          await Promise.all(
            p.agents.map(async (agent) => {
              const caller: Caller = { agent: agent.publicKey, provider: seeded.provider.publicKey, poolId: p.id };
              for (;;) {
                const t = performance.now();
                const got =
                  claimWith === 'src'
                    ? (await claim(db, caller, { max: batch, exclude: [] }, policy)).map((i) => ({ contract_id: i.contract_id, lock_token: i.lock_token }))
                    : await claimPrototype(db, caller, batch, policy.ttlSeconds, policy.maxAttempts);
                take.push(performance.now() - t);
                // Empty: every remaining item is confirmed or held by another worker, which will confirm it.
                if (got.length === 0) return;
                if (confirm === 'each') {
                  for (const item of got) {
                    const t2 = performance.now();
                    try {
                      await provisioned(db, caller, item.contract_id, item.lock_token, { hostname: `vm-${item.contract_id.slice(0, 8)}` }, policy);
                      confirmed++;
                    } catch (e) {
                      fail(e);
                    }
                    done.push(performance.now() - t2);
                  }
                } else {
                  const t2 = performance.now();
                  try {
                    if (claimWith === 'src') {
                      // The product's batch confirmation (POST …/contracts/provisioned without HTTP).
                      const results = await provisionedBatch(db, caller, got.map((i) => ({ contract_id: i.contract_id, lock_token: i.lock_token, instance_details: { hostname: `vm-${i.contract_id.slice(0, 8)}` } })), policy);
                      for (const r of results) {
                        if (r.status === 200) confirmed++;
                        else fail(new Error(`batch item ${r.status} ${r.error?.code ?? ''}`));
                      }
                    } else {
                      // Awaited first: `confirmed += await …` would add to the value read before the
                      // await and lose the other workers' counts in between.
                      const n = await provisionedBatchPrototype(db, caller, got.map((i) => ({ id: i.contract_id, token: i.lock_token, details: { hostname: `vm-${i.contract_id.slice(0, 8)}` } })));
                      confirmed += n;
                    }
                  } catch (e) {
                    fail(e);
                  }
                  done.push(performance.now() - t2);
                }
              }
            }),
          );
          seconds += (performance.now() - start) / 1000;
          addCpu(cpu, await cpuSince(env, cpu0, backendsOf(dbName)));
        }
        if (confirmed !== items) errors[`confirmed ${confirmed} of ${items}`] = 1;
        const takeName = claimWith === 'src' ? `claim(max=${batch})` : `index-ordered claim(max=${batch})`;
        const doneName = confirm === 'each' ? 'provisioned() per item' : claimWith === 'src' ? 'provisionedBatch() (store/batches.ts)' : 'batch confirm';
        const name = `${claimWith === 'src' ? 'ours' : 'prototype, not in src'}: ${takeName} + ${doneName}`;
        return { name, batch, depth, rounds, confirm, items, seconds, perSecond: items / seconds, take: stats(take), done: stats(done), cpuPerItem: { ...perItem(cpu, items), apiMs: 0 }, errors };
      } finally {
        await db.close();
      }
    };
    {
      const setup = new PostgresDb(urlOf(oursDb), { max: 1 });
      await migrate(setup);
      await setup.close();
      const proto = new PostgresDb(urlOf(protoDb), { max: 1 });
      await migrate(proto);
      await proto.exec(PROTO_SCHEMA);
      await proto.close();
    }

    // ---- pg-boss ----
    const boss = new PgBoss({ connectionString: urlOf(bossDb), max: workers, supervise: false, schedule: false, migrate: true, application_name: 'dc-bench-pgboss' });
    const bossErrors: Record<string, number> = {};
    boss.on('error', (e: Error) => (bossErrors[e.message] = (bossErrors[e.message] ?? 0) + 1));
    await boss.start();
    try {
      const viaBoss = async (batch: number, depth: number): Promise<QueueRun> => {
        const history = 2 * depth;
        const rounds = roundsOf(depth);
        const items = depth * rounds;
        const queue = `bench-${batch}-${depth}`;
        await boss.createQueue(queue);
        const job = () => ({ name: queue, data: { contract_id: randomUUID(), offering_id: 'q-0-0' } });
        // The same history as ours: completed jobs (pg-boss keeps them in the job table until its
        // maintenance archives them, 12 h by default), then the queue.
        for (let at = 0; at < history; at += 5000) await boss.insert(Array.from({ length: Math.min(5000, history - at) }, job));
        for (;;) {
          const old = await boss.fetch(queue, { batchSize: 5000 });
          if (old.length === 0) break;
          await boss.complete(queue, old.map((j) => j.id));
        }
        const take: number[] = [];
        const done: number[] = [];
        const errors: Record<string, number> = {};
        let completed = 0;
        let seconds = 0;
        const cpu: CpuSplit = { apiMs: 0, dbMs: 0, selfMs: 0 };
        for (let round = 0; round < rounds; round++) {
          for (let at = 0; at < depth; at += 5000) await boss.insert(Array.from({ length: Math.min(5000, depth - at) }, job));
          await boss.getDb().executeSql(`VACUUM ANALYZE`, []);
          const cpu0 = await cpuSnapshot(env, backendsOf(bossDb));
          const start = performance.now();
          await Promise.all(
            Array.from({ length: workers }, async () => {
              for (;;) {
                const t = performance.now();
                const got = await boss.fetch<{ contract_id: string }>(queue, { batchSize: batch });
                take.push(performance.now() - t);
                if (got.length === 0) return;
                const t2 = performance.now();
                // complete(name, ids, data): the JS API takes output data with an id array too.
                const r = (await (boss as unknown as { complete(q: string, ids: string[], data: object): Promise<{ affected: number }> }).complete(queue, got.map((j) => j.id), { hostname: 'vm-x' }));
                done.push(performance.now() - t2);
                completed += r.affected;
              }
            }),
          );
          seconds += (performance.now() - start) / 1000;
          addCpu(cpu, await cpuSince(env, cpu0, backendsOf(bossDb)));
        }
        if (completed !== items) errors[`completed ${completed} of ${items}`] = 1;
        return { name: `pg-boss ${bossVersion()}: fetch(batchSize=${batch}) + complete(ids)`, batch, depth, rounds, confirm: 'batch', items, seconds, perSecond: items / seconds, take: stats(take), done: stats(done), cpuPerItem: { ...perItem(cpu, items), apiMs: 0 }, errors: { ...errors, ...bossErrors } };
      };
      for (const depth of depths) {
        // Interleaved, so that each pair ran under the same background load (the machine is shared).
        runs.push(await ours(oursDb, 'src', 1, 'each', depth));
        runs.push(await viaBoss(1, depth));
        runs.push(await ours(oursDb, 'src', 10, 'each', depth));
        runs.push(await viaBoss(10, depth));
        runs.push(await ours(oursDb, 'src', 10, 'batch', depth));
        runs.push(await ours(protoDb, 'prototype', 1, 'each', depth));
        runs.push(await ours(protoDb, 'prototype', 10, 'batch', depth));
      }
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  } finally {
    await scratch.close();
  }
  return { skipped: null, workers, depths, runs };
}

function bossVersion(): string {
  try {
    const main = createRequire(import.meta.url).resolve('pg-boss');
    return (JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '10';
  }
}

