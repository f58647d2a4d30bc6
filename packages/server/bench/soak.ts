// Soak: 1,000 agents long-polling `claim?wait=50` and heartbeating every 10 s, with a trickle of
// paid contracts (paid one at a time through the operator endpoint, provisioned by whichever agent
// the wake-up reaches), for 10 minutes (BENCH_SOAK_SECONDS; the quick pass: 20 s, 60 agents).
// Every 30 s (quick: 5 s) it samples, per replica, RSS and open file descriptors, and the
// database connections of the bench database. A leak shows as growth from the first sample after
// warm-up to the last; the result reports the growth and its slope per 10 minutes.
import { readdirSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { keepAliveAgent, SignedClient, sleep } from '@dc/testkit';
import { QUICK, operator, procRssKb, seedContracts, seedProvider, sz, type Env } from './lib.js';

export interface SoakSample {
  /** Seconds since the soak started. */
  t: number;
  rssKb: (number | null)[];
  fds: (number | null)[];
  dbConnections: number | null;
}

export interface SoakResult {
  seconds: number;
  agents: number;
  heartbeatSeconds: number;
  contractsPerMinute: number;
  samples: SoakSample[];
  paid: number;
  provisioned: number;
  heartbeats: number;
  claims: number;
  errors: Record<string, number>;
  /** Per replica: last sample minus the first after warm-up (KiB, count). */
  rssGrowthKb: (number | null)[];
  fdGrowth: (number | null)[];
  dbConnectionGrowth: number | null;
}

function openFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

export async function benchSoak(env: Env): Promise<SoakResult> {
  const seconds = Number(process.env.BENCH_SOAK_SECONDS ?? (QUICK ? 20 : 600));
  const sampleEvery = QUICK ? 5 : 30;
  const agentsN = sz(1000, 60);
  const heartbeatSeconds = 10;
  const contractsPerMinute = QUICK ? 60 : 30;
  const wait = 50;
  const seeded = await seedProvider(env.db, { label: 'soak', pools: [{ location: 'ssa', type: 'script', offerings: 1, agents: agentsN }] });
  const pk = seeded.provider.publicKey;
  const pool = seeded.pools[0]!;
  // One connection per agent, as real agents have; destroyed at the end.
  const httpAgent = keepAliveAgent();
  const clients = env.urls.map((u) => SignedClient.http(u, httpAgent));
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const errors: Record<string, number> = {};
  const err = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  let heartbeats = 0;
  let claims = 0;
  let provisioned = 0;
  let paid = 0;
  const t0 = performance.now();
  const running = () => !stop.signal.aborted && performance.now() - t0 < seconds * 1000;

  const agentLoops = pool.agents.map(async (agent, k) => {
    const api = clients[k % clients.length]!;
    // Heartbeats on their own timer, phase-spread over the interval.
    const hb = (async () => {
      await sleep(Math.random() * heartbeatSeconds * 1000);
      while (running()) {
        try {
          const r = await api.request(agent, 'POST', `/api/v1/providers/${pk}/heartbeat`, { version: 'soak' }, { keyHeader: 'X-Agent-Pubkey', signal: stop.signal });
          if (r.status === 200) heartbeats++;
          else err(`heartbeat ${r.status}`);
        } catch (e) {
          if (!stop.signal.aborted) err(`heartbeat ${(e as Error).message}`);
        }
        await sleep(heartbeatSeconds * 1000);
      }
    })();
    while (running()) {
      try {
        const r = await api.request<{ items: { contract_id: string; lock_token: number }[] }>(agent, 'POST', `/api/v1/providers/${pk}/contracts/claim?wait=${wait}`, { max: 1 }, {
          keyHeader: 'X-Agent-Pubkey', signal: stop.signal, timeoutMs: (wait + 10) * 1000,
        });
        claims++;
        if (r.status !== 200) {
          err(`claim ${r.status}`);
          await sleep(1000);
          continue;
        }
        for (const item of r.body.items) {
          const done = await api.request(agent, 'POST', `/api/v1/providers/${pk}/contracts/${item.contract_id}/provisioned`, { lock_token: item.lock_token, instance_details: {} }, { keyHeader: 'X-Agent-Pubkey' });
          if (done.status === 200) provisioned++;
          else err(`provisioned ${done.status}`);
        }
      } catch (e) {
        if (!stop.signal.aborted) err(`claim ${(e as Error).message}`);
      }
    }
    await hb;
  });

  // The trickle: contracts accepted with SQL, each paid through the API (which announces it).
  const trickle = (async () => {
    const gap = 60_000 / contractsPerMinute;
    let i = 0;
    while (running()) {
      const [id] = await seedContracts(env.db, pk, [pool.offerings[0]!], 'pending');
      const r = await clients[i++ % clients.length]!.request(operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' });
      if (r.status === 200) paid++;
      else err(`payment ${r.status}`);
      await sleep(gap);
    }
  })();

  const samples: SoakSample[] = [];
  const sample = async () => {
    let dbConnections: number | null = null;
    if (env.kind === 'postgres' && env.dbName) {
      const r = await env.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dc-api'`, [env.dbName]);
      dbConnections = r.rows[0]!.n;
    }
    const pids = env.kind === 'pglite' ? [process.pid] : env.apiPids;
    samples.push({ t: Math.round((performance.now() - t0) / 1000), rssKb: pids.map(procRssKb), fds: pids.map(openFds), dbConnections });
  };
  while (running()) {
    await sample();
    const next = sampleEvery * 1000 * samples.length;
    await sleep(Math.max(0, Math.min(next, seconds * 1000) - (performance.now() - t0)));
  }
  await sample();
  stop.abort();
  await trickle;
  await Promise.all(agentLoops);
  httpAgent.destroy();
  // Growth is judged from the second sample (the first catches the 1,000 connections being opened).
  const first = samples[Math.min(1, samples.length - 1)]!;
  const last = samples[samples.length - 1]!;
  const diff = (a: (number | null)[], b: (number | null)[]) => a.map((x, i) => (x === null || b[i] === null || b[i] === undefined ? null : b[i]! - x));
  return {
    seconds,
    agents: agentsN,
    heartbeatSeconds,
    contractsPerMinute,
    samples,
    paid,
    provisioned,
    heartbeats,
    claims,
    errors,
    rssGrowthKb: diff(first.rssKb, last.rssKb),
    fdGrowth: diff(first.fds, last.fds),
    dbConnectionGrowth: first.dbConnections === null || last.dbConnections === null ? null : last.dbConnections - first.dbConnections,
  };
}
