// Heartbeats per second with signature verification: many agents, a fixed number of concurrent
// signed `POST /api/v1/providers/{pk}/heartbeat` requests on keep-alive connections spread over
// the replicas, for a fixed time. Every request is a new signature and nonce, so each one costs
// the server an Ed25519 verification and one statement (nonce, delegation and the heartbeat upsert).
// The main pass changes each agent's report every beat, so every beat is written; a second pass
// repeats the same report inside the rewrite bound (routes/agents.ts), so only the nonce is.
import { performance } from 'node:perf_hooks';
import { SignedClient, keepAliveAgent } from '@dc/testkit';
import { cpuSince, cpuSnapshot, perItem, pick, seedProvider, sz, type CpuSplit, type Env, type Stats, stats } from './lib.js';

export interface HeartbeatResult {
  agents: number;
  concurrency: number;
  seconds: number;
  requests: number;
  perSecond: number;
  latency: Stats;
  errors: Record<string, number>;
  cpu: CpuSplit;
  cpuPerHeartbeat: CpuSplit;
  replicas: number;
  /** A short second pass at low concurrency: latency without queueing. */
  light: { concurrency: number; perSecond: number; latency: Stats };
  /** The same concurrency, each agent repeating its last report inside the rewrite bound: not rewritten. */
  unchanged: { seconds: number; perSecond: number; latency: Stats; cpuPerHeartbeat: CpuSplit };
}

export async function benchHeartbeats(env: Env): Promise<HeartbeatResult> {
  const cfg = { agents: sz(200, 20), concurrency: pick(64, 16), seconds: pick(10, 2), unchangedSeconds: pick(5, 1), warmupSeconds: pick(1.5, 0.3), lightConcurrency: 4, lightSeconds: pick(3, 0.5) };
  const seeded = await seedProvider(env.db, { label: 'hb', pools: [{ location: 'europe', type: 'proxmox', offerings: 0, agents: cfg.agents }] });
  const pk = seeded.provider.publicKey;
  const path = `/api/v1/providers/${pk}/heartbeat`;
  // One keep-alive agent per replica: at most `concurrency` connections in all.
  const httpAgents = env.urls.map(() => keepAliveAgent(Math.ceil(cfg.concurrency / env.urls.length) + 1));
  const replicas = env.urls.map((u, r) => SignedClient.http(u, httpAgents[r]!));
  const clients = seeded.pools[0]!.agents.map((id, k) => replicas[k % replicas.length]!.as(id, 'X-Agent-Pubkey'));
  const body = { version: '0.1.0', provisioner_type: 'proxmox', active_contracts: 0, capabilities: { max_concurrent: 2, long_poll: true, claim: true } };
  const errors: Record<string, number> = {};
  const lat: number[] = [];
  let k = 0;
  let measuring = false;
  let requests = 0;
  // changing: each round over the agents flips active_contracts, so every beat differs from the stored one.
  const run = async (until: number, concurrency = cfg.concurrency, changing = true) => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const n = k++;
          const c = clients[n % clients.length]!;
          const t = performance.now();
          try {
            const r = await c.request('POST', path, changing ? { ...body, active_contracts: Math.floor(n / clients.length) % 2 } : body);
            if (r.status !== 200) errors[`${r.status} ${r.text.slice(0, 80)}`] = (errors[`${r.status} ${r.text.slice(0, 80)}`] ?? 0) + 1;
          } catch (e) {
            errors[(e as Error).message] = (errors[(e as Error).message] ?? 0) + 1;
          }
          if (measuring) {
            lat.push(performance.now() - t);
            requests++;
          }
        }
      }),
    );
  };
  await run(performance.now() + cfg.warmupSeconds * 1000); // connections, JIT, caches
  measuring = true;
  const cpu0 = await cpuSnapshot(env);
  const start = performance.now();
  await run(start + cfg.seconds * 1000);
  const seconds = (performance.now() - start) / 1000;
  const cpu = await cpuSince(env, cpu0);
  const heavy = { requests, lat: [...lat] };
  lat.length = 0;
  requests = 0;
  await run(performance.now() + 200, cfg.concurrency, false); // every agent's row now holds the repeated report
  lat.length = 0;
  requests = 0;
  const cpuU0 = await cpuSnapshot(env);
  const unchangedStart = performance.now();
  await run(unchangedStart + cfg.unchangedSeconds * 1000, cfg.concurrency, false);
  const unchangedSeconds = (performance.now() - unchangedStart) / 1000;
  const unchanged = { seconds: unchangedSeconds, perSecond: requests / unchangedSeconds, latency: stats(lat), cpuPerHeartbeat: perItem(await cpuSince(env, cpuU0), requests) };
  lat.length = 0;
  requests = 0;
  const lightStart = performance.now();
  await run(lightStart + cfg.lightSeconds * 1000, cfg.lightConcurrency);
  const light = { concurrency: cfg.lightConcurrency, perSecond: requests / ((performance.now() - lightStart) / 1000), latency: stats(lat) };
  for (const a of httpAgents) a.destroy();
  const seen = (await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM agent_status s JOIN provider_agent_delegations d USING (agent_pubkey) WHERE d.provider_pubkey = $1`, [pk])).rows[0]!.n;
  if (seen !== cfg.agents) errors[`agent_status rows ${seen}, expected ${cfg.agents}`] = 1;
  return {
    agents: cfg.agents,
    concurrency: cfg.concurrency,
    seconds,
    requests: heavy.requests,
    perSecond: heavy.requests / seconds,
    latency: stats(heavy.lat),
    errors,
    cpu,
    cpuPerHeartbeat: perItem(cpu, heavy.requests),
    replicas: env.urls.length,
    light,
    unchanged,
  };
}
