// Dispatch latency: payment confirmed → lease held by an agent.
//
// Agents (async clients in this process) long-poll `POST …/contracts/claim?wait=25` on the
// replicas; an operator pays accepted contracts one at a time at a steady rate through
// `POST /api/v1/contracts/{id}/payment` on a random replica. For each contract: t0 just before
// the payment request is sent, t1 when the claim response carrying it arrives; both on this
// process's monotonic clock, so there is no clock skew. Each agent confirms `provisioned` at once.
// Payments are sent open-loop (on schedule, not after the previous answer), so a slow answer
// does not hide the latency of the ones queued behind it. A warm-up wave (a tenth as many
// contracts, same rate) goes first and is reported apart: fresh replicas open their database
// connections and plan their prepared statements then (a cold start), and the measured wave
// shows steady state.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { SignedClient, keepAliveAgent, sleep, type BoundClient } from '@dc/testkit';
import {
  QUICK, cpuSince, cpuSnapshot, perItem, pick, seedContracts, seedProvider, stats, sz, operator, type CpuSplit, type Env, type Stats,
} from './lib.js';

export interface DispatchResult {
  contracts: number;
  agents: number;
  pools: number;
  replicas: number;
  ratePerSecond: number;
  achievedRate: number;
  latency: Stats;
  payment: Stats;
  /** Contracts whose claim answer arrived before the payment's own answer. */
  beforePaymentAnswer: number;
  claimRequests: number;
  emptyClaims: number;
  errors: Record<string, number>;
  cpu: CpuSplit;
  cpuPerContract: CpuSplit;
  seconds: number;
  /** The warm-up wave before the measured one (fresh replicas: connections opened, statements planned). */
  warmup: { contracts: number; latency: Stats };
  /** Latency p50/p99 of each quarter of the payments, in order. */
  byQuarter: Stats[];
}

export async function benchDispatch(env: Env): Promise<DispatchResult> {
  const cfg = {
    contracts: sz(1000, 60),
    warmup: sz(200, 10),
    agents: pick(20, 6),
    pools: pick(4, 2),
    rate: Number(process.env.BENCH_DISPATCH_RATE ?? pick(50, 60)),
    wait: 25,
  };
  const locations = ['europe', 'na', 'apac', 'latam'];
  const seeded = await seedProvider(env.db, {
    label: 'disp',
    pools: Array.from({ length: cfg.pools }, (_, i) => ({ location: locations[i % locations.length]!, type: 'proxmox', offerings: 2, agents: Math.ceil(cfg.agents / cfg.pools) })),
  });
  const pk = seeded.provider.publicKey;
  // Contracts round-robin over the pools' offerings, accepted, payment pending.
  const offerings = Array.from({ length: cfg.warmup + cfg.contracts }, (_, i) => {
    const p = seeded.pools[i % seeded.pools.length]!;
    return p.offerings[Math.floor(i / seeded.pools.length) % p.offerings.length]!;
  });
  const seededIds = await seedContracts(env.db, pk, offerings, 'pending');
  const warmIds = seededIds.slice(0, cfg.warmup);
  const ids = seededIds.slice(cfg.warmup);
  await env.db.query(`ANALYZE contract_sign_requests`);

  // Its own connections: aborting the held long-polls at the end leaves other parts' sockets alone.
  const httpAgent = keepAliveAgent();
  const replicas = env.urls.map((u) => SignedClient.http(u, httpAgent));
  const base = `/api/v1/providers/${pk}/contracts`;
  const t0 = new Map<string, number>();
  const t1 = new Map<string, number>();
  const paidAnswerAt = new Map<string, number>();
  const errors: Record<string, number> = {};
  const err = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  let claimRequests = 0;
  let emptyClaims = 0;
  let stop = false;
  const stopper = new AbortController();
  setMaxListeners(0, stopper.signal); // one abort listener per request in flight
  const agents: BoundClient[] = seeded.pools.flatMap((p) => p.agents).slice(0, cfg.agents).map((id, k) => replicas[k % replicas.length]!.as(id, 'X-Agent-Pubkey'));
  let firstClaims = 0;

  const agentLoops = agents.map(async (client) => {
    let first = true;
    while (!stop) {
      let r;
      try {
        claimRequests++;
        const p = client.request<{ items: { contract_id: string; lock_token: number }[] }>('POST', `${base}/claim?wait=${cfg.wait}`, { max: 1 }, { signal: stopper.signal, timeoutMs: (cfg.wait + 10) * 1000 });
        if (first) {
          first = false;
          firstClaims++;
        }
        r = await p;
      } catch (e) {
        if (stop) return;
        err(`claim: ${(e as Error).message}`);
        await sleep(50);
        continue;
      }
      const now = performance.now();
      if (r.status !== 200) {
        err(`claim ${r.status}`);
        await sleep(50);
        continue;
      }
      if (r.body.items.length === 0) {
        emptyClaims++;
        continue;
      }
      for (const item of r.body.items) {
        if (t1.has(item.contract_id)) err('granted twice');
        t1.set(item.contract_id, now);
        const c = await client.request('POST', `${base}/${item.contract_id}/provisioned`, { lock_token: item.lock_token, instance_details: { hostname: `vm-${item.contract_id.slice(0, 8)}` } });
        if (c.status !== 200) err(`provisioned ${c.status}`);
      }
    }
  });

  // Let every agent reach its first park before the first payment.
  while (firstClaims < agents.length) await sleep(20);
  await sleep(pick(1000, 300));

  const payers = replicas.map((r) => r.as(operator));
  const interval = 1000 / cfg.rate;
  /** Pays `wave` on schedule; resolves when every payment is answered and every contract granted (or 60 s after). */
  const payWave = async (wave: string[], paymentMs: number[]) => {
    const start = performance.now();
    const payments: Promise<void>[] = [];
    for (let i = 0; i < wave.length; i++) {
      const due = start + i * interval;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      const id = wave[i]!;
      const payer = payers[Math.floor(Math.random() * payers.length)]!;
      payments.push(
        (async () => {
          const s = performance.now();
          t0.set(id, s);
          try {
            const r = await payer.request('POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' });
            const e = performance.now();
            paymentMs.push(e - s);
            paidAnswerAt.set(id, e);
            if (r.status !== 200) err(`payment ${r.status} ${r.text.slice(0, 100)}`);
          } catch (e) {
            err(`payment: ${(e as Error).message}`);
          }
        })(),
      );
    }
    const sentSeconds = (performance.now() - start) / 1000;
    await Promise.all(payments);
    const deadline = performance.now() + 60_000;
    while (wave.some((id) => !t1.has(id)) && performance.now() < deadline) await sleep(20);
    return { sentSeconds, seconds: (performance.now() - start) / 1000 };
  };
  await payWave(warmIds, []);
  const warmLatency = stats(warmIds.filter((id) => t1.has(id) && t0.has(id)).map((id) => t1.get(id)! - t0.get(id)!));
  const paymentMs: number[] = [];
  const cpu0 = await cpuSnapshot(env);
  const { sentSeconds, seconds } = await payWave(ids, paymentMs);
  const cpu = await cpuSince(env, cpu0);
  stop = true;
  stopper.abort();
  await Promise.all(agentLoops);
  httpAgent.destroy();
  if (t1.size < seededIds.length) err(`${seededIds.length - t1.size} contracts not granted within 60 s of the last payment`);

  const lat = ids.filter((id) => t1.has(id) && t0.has(id)).map((id) => t1.get(id)! - t0.get(id)!);
  // In payment order, by quarter of the run: a slow start (connections opening, statements being planned) shows apart from steady state.
  const quarter = Math.ceil(ids.length / 4);
  const byQuarter = [0, 1, 2, 3].map((q) => stats(ids.slice(q * quarter, (q + 1) * quarter).filter((id) => t1.has(id) && t0.has(id)).map((id) => t1.get(id)! - t0.get(id)!)));
  const beforePaymentAnswer = ids.filter((id) => t1.has(id) && paidAnswerAt.has(id) && t1.get(id)! < paidAnswerAt.get(id)!).length;
  if (!QUICK && ids.length < 1000) err('fewer than 1,000 contracts');
  return {
    contracts: ids.length,
    agents: agents.length,
    pools: cfg.pools,
    replicas: env.urls.length,
    ratePerSecond: cfg.rate,
    achievedRate: ids.length > 1 ? (ids.length - 1) / sentSeconds : NaN,
    latency: stats(lat),
    warmup: { contracts: warmIds.length, latency: warmLatency },
    byQuarter,
    payment: stats(paymentMs),
    beforePaymentAnswer,
    claimRequests,
    emptyClaims,
    errors,
    cpu,
    cpuPerContract: perItem(cpu, ids.length),
    seconds,
  };
}
