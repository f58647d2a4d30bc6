// Fleet operations end to end: a real dc-api (PGlite, or PostgreSQL with TEST_DATABASE_URL) and
// the real dc-agent bundle. `dc-agent drain --wait` blocks while the agent holds a lease on a slow
// provision and exits 0 once it completes, while the agent gets no new grant; `--timeout` runs
// out with exit 3 while the lease is held; `resume` brings the waiting work. error_class reaches
// the agent's health: a script's exit 65 does not count against it, another failure does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolAgent } from '@dc/core';
import type { Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import {
  agentCli, cleanup, contractOf, createOffering, createPool, createProvider, eventsOf, paidContract, runAgentCli, setupScriptAgent, sharedDir, startAgent,
  startApi, tempDir, waitFor, type TestApi,
} from './helpers.js';

let api: TestApi;
let dir: string;
before(async () => {
  api = await startApi();
  dir = tempDir();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

async function agentRecord(provider: Identity, agentPubkey: string): Promise<PoolAgent> {
  const r = await api.client.call(provider, 'getAgent', { params: { pubkey: provider.publicKey, agent_pubkey: agentPubkey } });
  return mustOk(r).body;
}

test('drain --wait exits 0 once the agent holds no lease; meanwhile it gets no new grant; --timeout runs out with exit 3; resume brings the work', async () => {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: 'drain-pool', location: 'europe', provisioner_type: 'script' });
  await createOffering(api, provider, { offering_id: 'vps', datacenter_country: 'DE', provisioner_type: 'script' });
  const records = sharedDir(dir, 'drain-records');
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'node-1', records, script: { env: { RECORD_DIR: records, AGENT_NAME: 'node-1', SCRIPT_MODE: 'wait' } } });
  const agent = startAgent(a);
  try {
    await agent.waitForLog((l) => l.event === 'heartbeat.ok', 15_000, 'the first heartbeat');
    const { id: first } = await paidContract(api, provider, 'vps');
    await waitFor('the slow provision to start', () => existsSync(join(records, `${first}.started`)), 20_000);

    const drain = runAgentCli(['drain', '--wait', '--reason', 'kernel upgrade', '--config', a.config]);
    await waitFor('drain to set the state', async () => (await agentRecord(provider, a.pubkey)).state === 'draining', 15_000);
    const rec = await agentRecord(provider, a.pubkey);
    assert.equal(rec.state_set_by, 'agent');
    assert.equal(rec.state_reason, 'kernel upgrade');
    assert.equal(rec.drained, false);
    assert.equal(rec.live_leases, 1);

    // New work while draining: not granted to this agent.
    const { id: second } = await paidContract(api, provider, 'vps');

    // A second drain with a short timeout runs out while the lease is held.
    const short = await agentCli(['drain', '--timeout', '1', '--config', a.config]);
    assert.equal(short.code, 3, short.stderr);
    assert.match(short.stderr, /not drained after 1 s: it still holds 1 live lease/);
    assert.equal(drain.child.exitCode, null, 'drain --wait is still waiting');

    // The provision completes: the lease ends and drain --wait returns 0.
    writeFileSync(join(records, 'go'), '');
    assert.equal(await drain.exit, 0, drain.stderr());
    assert.match(drain.stdout(), /is draining \(reason: kernel upgrade\)/);
    assert.match(drain.stdout(), /^Drained: it holds no lease/m);
    assert.equal((await contractOf(api, provider, first)).status, 'provisioned');
    const drained = await agentRecord(provider, a.pubkey);
    assert.equal(drained.drained, true);
    assert.equal(drained.live_leases, 0);
    await agent.waitForLog((l) => l.event === 'agent.drained', 15_000, 'the agent to log that it is drained');
    assert.match(agent.logs.find((l) => l.event === 'agent.draining')!.msg, /set by this agent, dc-agent drain: kernel upgrade/);

    // The second contract was never granted while the agent drained.
    const c2 = await contractOf(api, provider, second);
    assert.equal(c2.status, 'accepted');
    assert.equal(c2.lock_agent, null);
    assert.deepEqual((await eventsOf(api, provider, second)).filter((e) => e.event === 'granted'), []);
    assert.equal(existsSync(join(records, `${second}.started`)), false);

    const status = await agentCli(['status', '--config', a.config]);
    assert.match(status.stdout, /^state: +draining \(by this agent: "kernel upgrade"\), drained: safe to stop$/m);

    // Resume: the waiting contract is provisioned.
    const resumed = await agentCli(['resume', '--config', a.config]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await agentRecord(provider, a.pubkey)).state, 'active');
    await waitFor('the second contract to be provisioned', async () => (await contractOf(api, provider, second)).status === 'provisioned', 30_000);
    await agent.waitForLog((l) => l.event === 'agent.active', 15_000, 'the agent to log that it is active again');
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test("error_class: a script's exit 65 does not count toward the agent's failures; another exit does", async () => {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: 'health-pool', location: 'europe', provisioner_type: 'script' });
  await createOffering(api, provider, { offering_id: 'vps', datacenter_country: 'DE', provisioner_type: 'script' });
  const records = sharedDir(dir, 'health-records');
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'picky', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'dataerr' } } });
  const agent = startAgent(a);
  try {
    const { id } = await paidContract(api, provider, 'vps');
    const c = await waitFor('the failure report', async () => {
      const c = await contractOf(api, provider, id);
      return c.attempts === 1 ? c : null;
    }, 20_000);
    assert.match(c.last_error ?? '', /script exited with code 65 \(EX_DATAERR: the contract's input is at fault\); stderr: no such image/);
    assert.equal((await agentRecord(provider, a.pubkey)).consecutive_failures, 0, "the contract's fault is not the agent's");
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }

  const b = await setupScriptAgent(api, provider, poolId, dir, { name: 'broken', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'fail' } } });
  const broken = startAgent(b);
  try {
    const { id } = await paidContract(api, provider, 'vps');
    await waitFor('the failure report', async () => (await contractOf(api, provider, id)).attempts === 1, 20_000);
    assert.equal((await agentRecord(provider, b.pubkey)).consecutive_failures, 1, "the agent's own failure counts");
  } finally {
    assert.equal(await broken.stop(), 0, broken.stderr());
  }
});

test('a draining agent restarted mid-provision gets its own lease back through claim, finishes it, and is drained', async () => {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: 'restart-pool', location: 'europe', provisioner_type: 'script' });
  await createOffering(api, provider, { offering_id: 'vps', datacenter_country: 'DE', provisioner_type: 'script' });
  const records = sharedDir(dir, 'restart-records');
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'restarted', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'wait' } } });
  const first = startAgent(a);
  const { id } = await paidContract(api, provider, 'vps');
  await waitFor('the slow provision to start', () => existsSync(join(records, `${id}.started`)), 20_000);
  assert.equal((await agentCli(['drain', '--config', a.config])).code, 0);
  // A crash: no wind-down, the lease stays with the agent.
  first.child.kill('SIGKILL');
  await first.exit;
  const token = (await contractOf(api, provider, id)).lock_token;

  const second = startAgent(a);
  try {
    const resumed = await second.waitForLog((l) => l.event === 'contract.claimed' && l.contract_id === id, 20_000, 'its own lease back');
    assert.equal(resumed.lock_token, token, 'the same lease, renewed: not a new grant');
    await second.waitForLog((l) => l.event === 'agent.draining', 15_000);
    writeFileSync(join(records, 'go'), '');
    await waitFor('provisioned', async () => (await contractOf(api, provider, id)).status === 'provisioned', 20_000);
    const rec = await waitFor('drained', async () => {
      const r = await agentRecord(provider, a.pubkey);
      return r.drained ? r : null;
    }, 15_000);
    assert.equal(rec.state, 'draining');
    const events = (await eventsOf(api, provider, id)).map((e) => e.event);
    assert.deepEqual(events.filter((e) => e === 'granted'), ['granted'], 'granted once, before the drain');
    assert.equal(events.at(-1), 'provisioned');
  } finally {
    assert.equal(await second.stop(), 0, second.stderr());
  }
});
