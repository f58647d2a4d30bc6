// Memory: resident set size (VmRSS from /proc/PID/status) of
//  - each API replica idle and while 1,000 agents hold `claim?wait=50` long-polls open (no work
//    for them: their pool has no offerings), and
//  - a real dc-agent (`dc-agent run`, the built bundle, script provisioner) idle and while it
//    provisions with a slow script.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from '@dc/core/node';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { SignedClient, keepAliveAgent, mustOk, sleep } from '@dc/testkit';
import { operator, pick, procCpuMs, procRssKb, replica, seedContracts, seedProvider, sz, type Env } from './lib.js';

export interface ApiMemoryResult {
  /** null on PGlite: the API runs inside the bench process (see `inProcess`). */
  replicas: { pid: number; atStartKb: number | null; idleKb: number | null; heldKb: number | null; held: number }[];
  inProcess: { idleKb: number | null; heldKb: number | null } | null;
  longPolls: number;
  waitSeconds: number;
  /** Long-polls that answered before we measured (should be 0). */
  answeredEarly: number;
  errors: Record<string, number>;
  settleSeconds: number;
}

export async function benchApiMemory(env: Env): Promise<ApiMemoryResult> {
  const n = sz(1000, 60);
  const wait = 50;
  const seeded = await seedProvider(env.db, { label: 'mem', pools: [{ location: 'cis', type: 'manual', offerings: 0, agents: n }] });
  const pk = seeded.provider.publicKey;
  await sleep(pick(1000, 200));
  const idle = env.apiPids.map((p) => procRssKb(p));
  const selfIdle = env.kind === 'pglite' ? procRssKb(process.pid) : null;
  // Its own connections (one per long-poll), destroyed when the polls are aborted.
  const httpAgent = keepAliveAgent();
  const replicas = env.urls.map((u) => SignedClient.http(u, httpAgent));
  const stopper = new AbortController();
  setMaxListeners(0, stopper.signal); // one abort listener per request in flight
  const errors: Record<string, number> = {};
  let answered = 0;
  let measuring = true;
  const perReplica = env.urls.map(() => 0);
  const polls = seeded.pools[0]!.agents.map((id, k) => {
    const r = k % env.urls.length;
    perReplica[r]!++;
    return replicas[r]!.request<{ items: unknown[] }>(id, 'POST', `/api/v1/providers/${pk}/contracts/claim?wait=${wait}`, { max: 1 }, { keyHeader: 'X-Agent-Pubkey', signal: stopper.signal, timeoutMs: (wait + 10) * 1000 }).then(
      (res) => {
        if (measuring) {
          answered++;
          errors[`answered early: ${res.status} ${res.text.slice(0, 80)}`] = (errors[`answered early: ${res.status} ${res.text.slice(0, 80)}`] ?? 0) + 1;
        }
      },
      (e: Error) => {
        if (measuring) errors[e.message] = (errors[e.message] ?? 0) + 1;
      },
    );
  });
  // Settled: every request authenticated, queried and parked; the replicas' CPU goes quiet.
  const t0 = performance.now();
  const busy = () => (env.kind === 'pglite' ? (process.cpuUsage().user + process.cpuUsage().system) / 1000 : env.apiPids.reduce((s, p) => s + (procCpuMs(p) ?? 0), 0));
  let quiet = 0;
  let last = busy();
  while (quiet < 3 && performance.now() - t0 < 20_000) {
    await sleep(250);
    const now = busy();
    quiet = now - last < 15 ? quiet + 1 : 0;
    last = now;
  }
  const settleSeconds = (performance.now() - t0) / 1000;
  const held = env.apiPids.map((p) => procRssKb(p));
  const selfHeld = env.kind === 'pglite' ? procRssKb(process.pid) : null;
  measuring = false;
  stopper.abort();
  await Promise.all(polls);
  httpAgent.destroy();
  return {
    replicas: env.apiPids.map((pid, i) => ({ pid, atStartKb: env.rssAtStart[i] ?? null, idleKb: idle[i] ?? null, heldKb: held[i] ?? null, held: perReplica[i]! })),
    inProcess: env.kind === 'pglite' ? { idleKb: selfIdle, heldKb: selfHeld } : null,
    longPolls: n,
    waitSeconds: wait,
    answeredEarly: answered,
    errors,
    settleSeconds,
  };
}

export interface AgentMemoryResult {
  skipped: string | null;
  idleKb: number | null;
  provisioningMaxKb: number | null;
  provisioningSamples: number;
  concurrent: number;
  scriptSeconds: number;
  /** claim (payment sent) → both contracts provisioned, as the agent logged it. */
  wallSeconds: number;
  exitCode: number | null;
  bundleBytes: number;
}

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BUNDLE = join(REPO_ROOT, 'packages/agent/dist/dc-agent.mjs');

/** A slow provisioning script: reads the contract, sleeps, prints instance details. */
const SCRIPT = `#!/bin/sh
cat > /dev/null
[ "$DC_ACTION" = terminate ] && exit 0
sleep "\${BENCH_SLEEP:-5}"
printf '{"hostname":"vm-%s","ipv4":["192.0.2.10"]}\\n' "$DC_CONTRACT_ID"
`;

export async function benchAgentMemory(env: Env): Promise<AgentMemoryResult> {
  const scriptSeconds = pick(5, 1);
  const concurrent = 2;
  const empty = (skipped: string): AgentMemoryResult => ({ skipped, idleKb: null, provisioningMaxKb: null, provisioningSamples: 0, concurrent, scriptSeconds, wallSeconds: NaN, exitCode: null, bundleBytes: 0 });
  if (!existsSync(BUNDLE)) return empty(`the agent bundle ${BUNDLE} is not built (npm run build)`);
  const url = env.urls[0]!;
  const api = replica(env, 0);
  const provider = generateIdentity();
  const pk = provider.publicKey;
  const prov = api.as(provider);
  mustOk(await prov.request('PUT', `/api/v1/providers/${pk}`, { name: 'Bench agent RSS' }), 'provider');
  const poolId = mustOk(await prov.request('POST', `/api/v1/providers/${pk}/pools`, { name: 'rss-script', location: 'europe', provisioner_type: 'script' }), 'pool').body.pool_id as string;
  mustOk(await prov.request('POST', `/api/v1/providers/${pk}/offerings`, { offering_id: 'rss-de', name: 'rss', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', provisioner_type: 'script' }), 'offering');
  const token = mustOk(await prov.request('POST', `/api/v1/providers/${pk}/pools/${poolId}/setup-tokens`, { label: 'rss-agent' }), 'token').body.token as string;
  const serverKey = mustOk(await api.request(null, 'GET', '/api/v1/server-key'), 'server key').body.public_key as string;

  const dir = mkdtempSync(join(tmpdir(), 'dc-bench-agent-'));
  chmodSync(dir, 0o755); // the script runs as an unprivileged user when we are root
  const config = join(dir, 'config.toml');
  const script = join(dir, 'provision.sh');
  writeFileSync(script, SCRIPT, { mode: 0o755 });
  chmodSync(script, 0o755);
  const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  try {
    const setup = await runToEnd([BUNDLE, 'setup', '--api-url', url, '--server-key', serverKey, '--config', config, '--non-interactive'], { ...baseEnv, DC_SETUP_TOKEN: token });
    if (setup.code !== 0) throw new Error(`dc-agent setup exited ${setup.code}: ${setup.stderr}${setup.stdout}`);
    const doc = parseToml(readFileSync(config, 'utf8')) as Record<string, any>;
    Object.assign(doc.agent, { claim_wait_seconds: 25, max_concurrent: concurrent, max_backoff_seconds: 1, shutdown_grace_seconds: 10 });
    doc.provisioner.script = { command: script, user: 'nobody', timeout_seconds: 120, env: { BENCH_SLEEP: String(scriptSeconds) } };
    writeFileSync(config, stringifyToml(doc), { mode: 0o600 });

    const child = spawn(process.execPath, [BUNDLE, 'run', '--config', config], { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: { event: string; [k: string]: unknown }[] = [];
    let stderr = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitLog = async (pred: (l: { event: string; [k: string]: unknown }) => boolean, count: number, timeoutMs: number, what: string, each?: () => void) => {
      const deadline = performance.now() + timeoutMs;
      while (logs.filter(pred).length < count) {
        if (child.exitCode !== null) throw new Error(`dc-agent exited ${child.exitCode} waiting for ${what}: ${stderr.slice(-500)}`);
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}; last logs: ${logs.slice(-5).map((l) => JSON.stringify(l)).join(' ')}`);
        each?.();
        await sleep(100);
      }
    };
    let exitCode: number | null = null;
    try {
      await waitLog((l) => l.event === 'heartbeat.ok', 1, 15_000, 'the first heartbeat');
      // Idle: connected, heartbeating, its claim long-poll parked.
      await sleep(pick(3000, 1000));
      const idleSamples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const v = procRssKb(child.pid!);
        if (v !== null) idleSamples.push(v);
        await sleep(200);
      }
      idleSamples.sort((a, b) => a - b);
      const idleKb = idleSamples[Math.floor(idleSamples.length / 2)] ?? null;

      const ids = await seedContracts(env.db, pk, Array.from({ length: concurrent }, () => 'rss-de'), 'pending');
      const t = performance.now();
      for (const id of ids) mustOk(await api.request(operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }), 'payment');
      const samples: number[] = [];
      const sample = () => {
        const v = procRssKb(child.pid!);
        if (v !== null) samples.push(v);
      };
      await waitLog((l) => l.event === 'contract.provisioned', concurrent, scriptSeconds * 1000 * concurrent + 30_000, 'the contracts to be provisioned', sample);
      const wallSeconds = (performance.now() - t) / 1000;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      exitCode = await exited;
      clearTimeout(timer);
      return {
        skipped: null,
        idleKb,
        provisioningMaxKb: samples.length ? Math.max(...samples) : null,
        provisioningSamples: samples.length,
        concurrent,
        scriptSeconds,
        wallSeconds,
        exitCode,
        bundleBytes: readFileSync(BUNDLE).length,
      };
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runToEnd(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
