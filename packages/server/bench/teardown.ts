// Teardown dispatch latency (DESIGN.md "Sticky owner": teardown requests wake the owner through
// the same LISTEN/NOTIFY dispatch as payments): provider `POST …/contracts/{id}/terminate` → the
// teardown lease held by the agent that built the machine.
//
// Two API replicas (in this process, each with its own PostgreSQL pool and LISTEN connection) on
// a new database; agents long-poll `claim?wait=25` with actions provision+terminate, half on each
// replica. Each agent first provisions its share of contracts through the API, so every machine
// has a sticky owner. Then the provider terminates them one at a time at a steady rate on the
// replica the owner does NOT wait on (the notice has to cross replicas): t0 just before the
// terminate request, t1 when the owner's claim answer carrying the teardown arrives (this
// process's monotonic clock). The owner confirms `terminated` at once and claims again.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node packages/server/dist/bench/teardown.js
//   (BENCH_QUICK=1 for a small run)
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { generateIdentity, type Identity } from '@dc/core/node';
import { SignedClient, freePort, keepAliveAgent, mustOk, sleep } from '@dc/testkit';
import { loadConfig } from '../src/config.js';
import { PostgresDb } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import { QUICK, pick, stats, ms, type Stats } from './lib.js';

export interface TeardownResult {
  contracts: number;
  agents: number;
  replicas: number;
  ratePerSecond: number;
  latency: Stats;
  terminateAnswer: Stats;
  wrongAgent: number;
  seconds: number;
}

export async function benchTeardown(adminUrl: string): Promise<TeardownResult> {
  const cfg = { agents: pick(10, 4), perAgent: pick(30, 5), rate: pick(20, 20), replicas: 2 };
  const name = `dc_bench_teardown_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const operator = generateIdentity();
  const servers: RunningServer[] = [];
  const dbs: PostgresDb[] = [];
  const httpAgent = keepAliveAgent();
  const aborts: AbortController[] = [];
  try {
    const urls: string[] = [];
    for (let i = 0; i < cfg.replicas; i++) {
      const port = await freePort();
      const db = new PostgresDb(u.toString(), { max: 20 });
      dbs.push(db);
      const config = loadConfig({ LOG_LEVEL: 'silent', PORT: String(port), HOST: '127.0.0.1', DC_OPERATOR_PUBKEYS: operator.publicKey, DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000' });
      servers.push(await startServer(config, { db, jobs: false, logger: false }));
      urls.push(`http://127.0.0.1:${port}`);
    }
    const clients = urls.map((x) => SignedClient.http(x, httpAgent));
    const provider = generateIdentity();
    const pk = provider.publicKey;
    const P = `/api/v1/providers/${pk}`;
    const prov = clients[0]!.as(provider);
    mustOk(await prov.request('PUT', P, { name: 'bench teardown' }));
    const pool = mustOk(await prov.request('POST', `${P}/pools`, { name: 'td', location: 'europe', provisioner_type: 'proxmox' })).body.pool_id as string;
    mustOk(await prov.request('POST', `${P}/offerings`, { offering_id: 'td', name: 'td', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR' }));
    const agents: { id: Identity; replica: number }[] = [];
    for (let i = 0; i < cfg.agents; i++) {
      const tok = mustOk(await prov.request('POST', `${P}/pools/${pool}/setup-tokens`, {})).body.token;
      const id = generateIdentity();
      mustOk(await clients[0]!.as(id, 'X-Agent-Pubkey').request('POST', '/api/v1/agents/setup', { token: tok, agent_pubkey: id.publicKey }));
      mustOk(await clients[0]!.as(id, 'X-Agent-Pubkey').request('POST', `${P}/heartbeat`, { version: '1', capabilities: { actions: ['provision', 'terminate'], host_scope: 'c1' } }));
      agents.push({ id, replica: i % cfg.replicas });
    }
    // Provision: each agent builds perAgent machines through the API (lock + provisioned).
    const owner = new Map<string, number>();
    for (let a = 0; a < agents.length; a++) {
      const ag = clients[0]!.as(agents[a]!.id, 'X-Agent-Pubkey');
      for (let k = 0; k < cfg.perAgent; k++) {
        const c = mustOk(await clients[0]!.as(generateIdentity()).request('POST', '/api/v1/contracts', { provider_pubkey: pk, offering_id: 'td' })).body.contract_id as string;
        mustOk(await prov.request('POST', `${P}/contracts/${c}/accept`));
        mustOk(await clients[0]!.as(operator).request('POST', `/api/v1/contracts/${c}/payment`, { status: 'succeeded' }));
        const l = mustOk(await ag.request('POST', `${P}/contracts/${c}/lock`));
        mustOk(await ag.request('POST', `${P}/contracts/${c}/provisioned`, { lock_token: l.body.lock_token, instance_details: { host_scope: 'c1' } }));
        owner.set(c, a);
      }
    }
    // Agents long-poll for teardowns on their replica.
    const sentAt = new Map<string, number>();
    const samples: number[] = [];
    let wrongAgent = 0;
    let stop = false;
    const loops = agents.map(async (a, i) => {
      const ac = new AbortController();
      aborts.push(ac);
      const ag = clients[a.replica]!.as(a.id, 'X-Agent-Pubkey');
      while (!stop) {
        const r = await ag.request('POST', `${P}/contracts/claim?wait=25`, { max: 5, actions: ['provision', 'terminate'] }, { signal: ac.signal, timeoutMs: 30_000 }).catch(() => null);
        if (!r || r.status !== 200) continue;
        const t1 = performance.now();
        for (const item of r.body.items as { contract_id: string; lock_token: number; action: string }[]) {
          const t0 = sentAt.get(item.contract_id);
          if (t0 !== undefined) samples.push(t1 - t0);
          if (owner.get(item.contract_id) !== i) wrongAgent++;
          await ag.request('POST', `${P}/contracts/${item.contract_id}/terminated`, { lock_token: item.lock_token });
        }
      }
    });
    await sleep(1000); // every agent parked
    const ids = [...owner.keys()];
    const answers: number[] = [];
    const t0run = performance.now();
    const interval = 1000 / cfg.rate;
    await Promise.all(
      ids.map(async (id, k) => {
        const due = t0run + k * interval;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        // On the replica the owner does not wait on: the wake-up crosses replicas.
        const other = clients[(agents[owner.get(id)!]!.replica + 1) % cfg.replicas]!.as(provider);
        const t0 = performance.now();
        sentAt.set(id, t0);
        mustOk(await other.request('POST', `${P}/contracts/${id}/terminate`, {}));
        answers.push(performance.now() - t0);
      }),
    );
    const deadline = Date.now() + 30_000;
    while (samples.length < ids.length && Date.now() < deadline) await sleep(50);
    const seconds = (performance.now() - t0run) / 1000;
    stop = true;
    for (const ac of aborts) ac.abort();
    await Promise.race([Promise.all(loops), sleep(2000)]);
    return {
      contracts: ids.length, agents: cfg.agents, replicas: cfg.replicas, ratePerSecond: cfg.rate,
      latency: stats(samples), terminateAnswer: stats(answers), wrongAgent, seconds,
    };
  } finally {
    for (const s of servers) await s.close().catch(() => {});
    for (const d of dbs) await d.close().catch(() => {});
    httpAgent.destroy();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

const isMain = process.argv[1]?.endsWith('/bench/teardown.js');
if (isMain) {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) {
    process.stderr.write('DATABASE_URL (a PostgreSQL server where databases may be created) is required\n');
    process.exit(2);
  }
  benchTeardown(url).then(
    (r) => {
      console.log(`teardown dispatch latency${QUICK ? ' (quick)' : ''}: ${r.contracts} terminate requests at ${r.ratePerSecond}/s, ${r.agents} agents, ${r.replicas} replicas`);
      console.log(`  terminate → lease held by the sticky owner: n ${r.latency.n}, p50 ${ms(r.latency.p50)} ms, p99 ${ms(r.latency.p99)} ms, max ${ms(r.latency.max)} ms`);
      console.log(`  terminate request answered: p50 ${ms(r.terminateAnswer.p50)} ms, p99 ${ms(r.terminateAnswer.p99)} ms; taken by another agent: ${r.wrongAgent}`);
      console.log(JSON.stringify(r));
      process.exit(r.latency.n === r.contracts && r.wrongAgent === 0 ? 0 : 1);
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
