// Fleet operations on the agent's side, against the fake API over real HTTP: `dc-agent drain` and
// `resume` (signed as the agent itself), `--wait` and its timeout, what `run` does with the
// heartbeat's state, what `status` shows, error_class on failed, and a repeated SIGTERM.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_REASON_MAX } from '@dc/core';
import { createLogger } from '../src/log.js';
import { REPEAT_WINDOW_MS, signalHandler } from '../src/daemon/signals.js';
import { errorClassOf, ContractInputError, ProvisionError } from '../src/provisioners/types.js';
import { FakeApi } from './fake-api.js';
import { agentCli, cleanup, runAgentCli, sharedDir, sleep, tempDir, waitFor, writeAgentConfig } from './helpers.js';

let dir: string;
let api: FakeApi;
before(async () => {
  dir = tempDir();
  api = new FakeApi();
  api.claimSupported = true;
  await api.listen();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

let n = 0;
function agentHome(opts: { scriptEnv?: Record<string, string>; agentExtra?: string } = {}) {
  const name = `agent-${++n}`;
  const records = sharedDir(dir, `${name}-records`);
  const a = writeAgentConfig(api, join(dir, name), records, '', opts);
  return { ...a, records };
}

const agentPuts = (pubkey: string) => api.seen.filter((s) => s.method === 'PUT' && s.path.endsWith(`/agents/${pubkey}`));

describe('dc-agent drain and resume', () => {
  test('drain signs PUT …/agents/{own key} {state: draining, reason} as the agent itself, and says what it did', async () => {
    const a = agentHome();
    const r = await agentCli(['drain', '--config', a.config, '--reason', 'kernel upgrade']);
    assert.equal(r.code, 0, r.stderr);
    const puts = agentPuts(a.pubkey);
    assert.equal(puts.length, 1);
    assert.equal(puts[0]!.path, `/api/v1/providers/${api.provider}/agents/${a.pubkey}`);
    assert.equal(puts[0]!.headers['x-agent-pubkey'], a.pubkey, 'signed by the agent key');
    assert.deepEqual(JSON.parse(puts[0]!.body), { state: 'draining', reason: 'kernel upgrade' });
    assert.deepEqual(api.violations, []);
    assert.equal(api.fleet(a.pubkey).state, 'draining');
    assert.equal(api.fleet(a.pubkey).setBy, 'agent');
    assert.match(r.stdout, new RegExp(`^Agent ${a.pubkey} \\(fake-agent\\) is draining \\(reason: kernel upgrade\\): dc-api grants it no new provision work`, 'm'));
    // Holding nothing, it is drained at once.
    assert.match(r.stdout, /^Drained: it holds no lease, so it is safe to stop/m);

    const resumed = await agentCli(['resume', '--config', a.config]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(JSON.parse(agentPuts(a.pubkey)[1]!.body), { state: 'active', reason: null });
    assert.equal(api.fleet(a.pubkey).state, 'active');
    assert.match(resumed.stdout, /is active: dc-api grants it new provision work again/);
  });

  test('drain --wait blocks while the agent holds a lease and exits 0 once it holds none', async () => {
    const a = agentHome();
    api.addContract('held-1');
    api.contracts.get('held-1')!.lock_agent = a.pubkey;
    api.contracts.get('held-1')!.lock_token = 1;
    const p = runAgentCli(['drain', '--config', a.config, '--wait', '--timeout', '60']);
    await waitFor('drain to poll the agent record', () => api.seen.filter((s) => s.method === 'GET' && s.path.endsWith(`/agents/${a.pubkey}`)).length >= 2, 15_000);
    assert.equal(p.child.exitCode, null, 'still waiting while the lease is held');
    assert.match(p.stdout(), /Waiting up to 60 s until it holds no lease; it holds 1 live lease now\./);
    // The provision finishes: the lease ends.
    api.contracts.get('held-1')!.status = 'provisioned';
    api.contracts.get('held-1')!.lock_agent = null;
    assert.equal(await p.exit, 0, p.stderr());
    assert.match(p.stdout(), /^ {2}0 live leases left$/m);
    assert.match(p.stdout(), /^Drained: it holds no lease/m);
  });

  test('--timeout runs out while a lease is held: exit 3, the agent stays draining; --timeout alone implies --wait', async () => {
    const a = agentHome();
    api.addContract('held-2');
    api.contracts.get('held-2')!.lock_agent = a.pubkey;
    api.contracts.get('held-2')!.lock_token = 1;
    const t0 = Date.now();
    const r = await agentCli(['drain', '--config', a.config, '--wait', '--timeout', '1']);
    assert.equal(r.code, 3, r.stderr);
    assert.ok(Date.now() - t0 >= 1000, 'it waited the full second');
    assert.match(r.stderr, /^dc-agent: not drained after 1 s: it still holds 1 live lease\. It stays draining; wait longer \(dc-agent drain --wait\) or take work again \(dc-agent resume\)\./m);
    assert.equal(api.fleet(a.pubkey).state, 'draining');

    const implied = await agentCli(['drain', '--config', a.config, '--timeout', '0.3', '--json']);
    assert.equal(implied.code, 3, implied.stderr);
    const j = JSON.parse(implied.stdout);
    assert.equal(j.drained, false);
    assert.equal(j.live_leases, 1);
    api.contracts.get('held-2')!.status = 'provisioned';
    api.contracts.get('held-2')!.lock_agent = null;
  });

  test('clear errors: bad --timeout or --reason (2), no config (3), revoked (78), API down (1), resumed while waiting (1)', async () => {
    const a = agentHome();
    const badTimeout = await agentCli(['drain', '--config', a.config, '--timeout', 'soon']);
    assert.equal(badTimeout.code, 2);
    assert.match(badTimeout.stderr, /--timeout must be a number of seconds \(0 for no limit\), got "soon"/);
    const longReason = await agentCli(['drain', '--config', a.config, '--reason', 'x'.repeat(STATE_REASON_MAX + 1)]);
    assert.equal(longReason.code, 2);
    assert.match(longReason.stderr, new RegExp(`--reason must be at most ${STATE_REASON_MAX} characters`));
    assert.equal(agentPuts(a.pubkey).length, 0, 'nothing was sent');

    const missing = await agentCli(['drain', '--config', join(dir, 'nope.toml')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /nope\.toml does not exist; run "dc-agent setup" first/);

    api.revoked.add(a.pubkey);
    const revoked = await agentCli(['drain', '--config', a.config]);
    assert.equal(revoked.code, 78);
    assert.match(revoked.stderr, /this agent has been revoked by its provider \(401 agent_revoked\)/);
    const resumeRevoked = await agentCli(['resume', '--config', a.config]);
    assert.equal(resumeRevoked.code, 78);
    api.revoked.delete(a.pubkey);

    const down = writeAgentConfig({ url: 'http://127.0.0.1:1', provider: api.provider, poolId: api.poolId }, join(dir, 'down'), dir);
    const unreachable = await agentCli(['drain', '--config', down.config]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:1: .*connection refused/);

    // Someone resumes the agent while drain --wait waits: it will never drain, so it stops waiting.
    api.addContract('held-3');
    api.contracts.get('held-3')!.lock_agent = a.pubkey;
    api.contracts.get('held-3')!.lock_token = 1;
    const p = runAgentCli(['drain', '--config', a.config, '--wait']);
    await waitFor('draining', () => api.fleet(a.pubkey).state === 'draining', 10_000);
    api.fleet(a.pubkey).state = 'active';
    api.fleet(a.pubkey).setBy = 'provider';
    assert.equal(await p.exit, 1);
    assert.match(p.stderr(), /the agent is active again \(set by provider\), so it will not drain/);
    api.contracts.get('held-3')!.status = 'provisioned';
    api.contracts.get('held-3')!.lock_agent = null;
  });
});

describe('dc-agent run and status with fleet state', () => {
  test('run logs each state change once, keeps claiming its own leases and teardowns while draining; status shows state, reason, drained and health', async () => {
    const a = agentHome({ scriptEnv: { SCRIPT_MODE: 'wait' } });
    const agent = runAgentCli(['run', '--config', a.config]);
    try {
      await agent.waitForLog((l) => l.event === 'heartbeat.ok');
      api.addContract('run-1');
      await waitFor('the script to start', () => existsSync(join(a.records, 'run-1.started')), 15_000);

      // The provider drains it: the next heartbeat answer says so.
      Object.assign(api.fleet(a.pubkey), { state: 'draining', reason: 'disk swap', setBy: 'provider', consecutiveFailures: 2, cooldownUntil: new Date(Date.now() + 90_000).toISOString() });
      const draining = await agent.waitForLog((l) => l.event === 'agent.draining', 10_000);
      assert.match(draining.msg, /this agent is draining \(set by the provider: disk swap\): it gets no new provision work, finishes what it holds and still tears down its own machines/);
      // While draining, claims still ask for both actions (its own leases and teardowns come back) ...
      const claimsBefore = api.count('POST', '/contracts/claim');
      api.addContract('run-2');
      await waitFor('another claim', () => api.count('POST', '/contracts/claim') > claimsBefore + 1, 15_000);
      const lastClaim = api.seen.filter((s) => s.path.split('?')[0]!.endsWith('/contracts/claim')).at(-1)!;
      assert.deepEqual(JSON.parse(lastClaim.body).actions, ['provision', 'terminate']);
      // ... and the API grants no new provision: run-2 stays free.
      assert.equal(api.contracts.get('run-2')!.lock_agent, null);

      const st = await agentCli(['status', '--config', a.config]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^state: +draining \(by the provider: "disk swap"\), not drained yet: 1 live lease$/m);
      assert.match(st.stdout, /^health: +2 consecutive failures, cooling down until \S+ \(\d+ s left; the provider can reset it\); no attempts in 24 h$/m);
      assert.match(st.stdout, /^leases: +1 live lease, max_concurrent 2 \(dc-api: online\)$/m);
      const sj = JSON.parse((await agentCli(['status', '--config', a.config, '--json'])).stdout);
      assert.equal(sj.agent.state, 'draining');
      assert.equal(sj.agent.drained, false);
      assert.equal(sj.state.agent_state, 'draining', 'the state file has it from the heartbeat');
      assert.equal(sj.state.state_reason, 'disk swap');

      // The provision finishes: drained, logged once.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(a.records, 'go'), '');
      await agent.waitForLog((l) => l.event === 'agent.drained', 15_000);
      await waitFor('a few more heartbeats', () => agent.logs.filter((l) => l.event === 'agent.drained').length === 1 && api.count('POST', '/heartbeat') > 6, 15_000);
      await sleep(1500);
      assert.equal(agent.logs.filter((l) => l.event === 'agent.draining').length, 1, 'draining logged once');
      assert.equal(agent.logs.filter((l) => l.event === 'agent.drained').length, 1, 'drained logged once');
      const offline = await agentCli(['status', '--config', a.config, '--offline']);
      assert.match(offline.stdout, /^state: +draining, drained \(at the last heartbeat\)$/m);

      // Resumed: logged once, and it takes new work again.
      api.fleet(a.pubkey).state = 'active';
      await agent.waitForLog((l) => l.event === 'agent.active', 10_000);
      await waitFor('run-2 provisioned', () => api.contracts.get('run-2')!.status === 'provisioned', 15_000);
      assert.equal(agent.logs.filter((l) => l.event === 'agent.active').length, 1);
      const order = agent.logs.map((l) => l.event).filter((e) => e.startsWith('agent.d') || e === 'agent.active');
      assert.deepEqual(order, ['agent.draining', 'agent.drained', 'agent.active']);
    } finally {
      assert.equal(await agent.stop(), 0, agent.stderr());
    }
  });
});

describe('error_class on failed', () => {
  test('script exit 65 (EX_DATAERR) is reported as error_class contract; any other failure as agent', async () => {
    const bad = agentHome({ scriptEnv: { SCRIPT_MODE: 'dataerr' } });
    const broken = agentHome({ scriptEnv: { SCRIPT_MODE: 'fail' } });
    api.addContract('ec-contract');
    const a1 = runAgentCli(['run', '--config', bad.config]);
    try {
      await waitFor('the contract-class failure', () => api.failures.get('ec-contract'), 15_000);
    } finally {
      assert.equal(await a1.stop(), 0, a1.stderr());
    }
    const [f1] = api.failures.get('ec-contract')!;
    assert.equal(f1!.error_class, 'contract');
    assert.match(f1!.error_message, /script exited with code 65 \(EX_DATAERR: the contract's input is at fault\); stderr: no such image for ec-contract/);
    assert.equal(api.fleet(bad.pubkey).consecutiveFailures, 0, 'not held against the agent');
    const logged = a1.logs.find((l) => l.event === 'contract.failed');
    assert.equal(logged?.error_class, 'contract');

    api.addContract('ec-agent');
    const a2 = runAgentCli(['run', '--config', broken.config]);
    try {
      await waitFor('the agent-class failure', () => api.failures.get('ec-agent'), 15_000);
    } finally {
      assert.equal(await a2.stop(), 0, a2.stderr());
    }
    const [f2] = api.failures.get('ec-agent')!;
    assert.equal(f2!.error_class, 'agent');
    assert.match(f2!.error_message, /script exited with code 3; stderr: hypervisor is out of memory/);
    assert.equal(api.fleet(broken.pubkey).consecutiveFailures, 1);
  });

  test('errorClassOf: contract only for ContractInputError', () => {
    assert.equal(errorClassOf(new ContractInputError('os_image "x" is not offered')), 'contract');
    assert.equal(errorClassOf(new ProvisionError('script timed out')), 'agent');
    assert.equal(errorClassOf(new Error('bug')), 'agent');
    assert.equal(errorClassOf('?'), 'agent');
  });
});

describe('signals', () => {
  test('a second signal within a second is the first one delivered twice; a later one aborts', () => {
    let now = 10_000;
    const lines: string[] = [];
    const stop = new AbortController();
    const force = new AbortController();
    const on = signalHandler({ stop, force, log: createLogger({ write: (l) => lines.push(l) }), now: () => now });
    on('SIGTERM');
    assert.equal(stop.signal.aborted, true);
    now += REPEAT_WINDOW_MS - 1;
    on('SIGTERM');
    assert.equal(force.signal.aborted, false, 'within the window: the same stop');
    assert.match(JSON.parse(lines[1]!).msg, /SIGTERM again within 1 s: the same stop delivered twice/);
    now += 2;
    on('SIGINT');
    assert.equal(force.signal.aborted, true, 'past the window: abort running work');
    on('SIGTERM');
    assert.equal(lines.length, 3, 'nothing more after the abort');
  });

  test('two SIGTERMs at once: the running provision still finishes and is confirmed; exit 0', async () => {
    const a = agentHome({ scriptEnv: { SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '1.5' }, agentExtra: 'shutdown_grace_seconds = 60' });
    const agent = runAgentCli(['run', '--config', a.config]);
    await agent.waitForLog((l) => l.event === 'heartbeat.ok');
    api.addContract('sig-1');
    await waitFor('the script to start', () => existsSync(join(a.records, 'sig-1.started')), 15_000);
    // The second right after the first was handled (two kills at once may be merged into one by the kernel).
    agent.child.kill('SIGTERM');
    await agent.waitForLog((l) => l.event === 'agent.signal');
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exit, 0, agent.stderr());
    assert.equal(api.contracts.get('sig-1')!.status, 'provisioned', 'not aborted by the repeated signal');
    const signals = agent.logs.filter((l) => l.event === 'agent.signal');
    assert.equal(signals.length, 2);
    assert.equal(signals[1]!.repeated, true);
    assert.ok(!agent.logs.some((l) => l.event === 'lease.released'));
  });

  test('a second SIGTERM more than a second later aborts the running provision: torn down and released', async () => {
    const a = agentHome({ scriptEnv: { SCRIPT_MODE: 'wait' }, agentExtra: 'shutdown_grace_seconds = 60' });
    const agent = runAgentCli(['run', '--config', a.config]);
    await agent.waitForLog((l) => l.event === 'heartbeat.ok');
    api.addContract('sig-2');
    await waitFor('the script to start', () => existsSync(join(a.records, 'sig-2.started')), 15_000);
    agent.child.kill('SIGTERM');
    await agent.waitForLog((l) => l.event === 'agent.signal');
    await sleep(REPEAT_WINDOW_MS + 300);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exit, 0, agent.stderr());
    assert.ok(agent.logs.some((l) => l.event === 'agent.signal' && /aborting running work/.test(l.msg)));
    assert.ok(existsSync(join(a.records, 'sig-2.terminated')), 'torn down');
    const c = api.contracts.get('sig-2')!;
    assert.equal(c.status, 'accepted');
    assert.equal(c.lock_agent, null, 'released');
  });
});
