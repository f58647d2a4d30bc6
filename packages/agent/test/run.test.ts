// dc-agent run against a real dc-api: leases, teardown, concurrency, shutdown, revocation, outages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProvisionerType } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import {
  agentCli, cleanup, contractOf, createOffering, createPool, createProvider, eventsOf, paidContract, sleep, startAgent, setupScriptAgent,
  hasCommand, sharedDir, startApi, tempDir, waitFor, type TestApi,
} from './helpers.js';
import { FakePve } from './fake-pve.js';
import { ManualProvisioner } from '../src/provisioners/manual.js';
import { createLogger } from '../src/log.js';

let api: TestApi;
let dir: string;
before(async () => {
  // Short leases (renewed every second) and a fast heartbeat (every 2 s).
  api = await startApi({ DC_LOCK_TTL_SECONDS: '2', DC_AGENT_OFFLINE_AFTER_SECONDS: '6' });
  dir = tempDir();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

let n = 0;
async function scenario(type: ProvisionerType = 'script') {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: `pool-${++n}`, location: 'europe', provisioner_type: type });
  await createOffering(api, provider, { offering_id: 'vps', datacenter_country: 'FR', provisioner_type: type });
  const records = sharedDir(dir, `records-${n}`);
  return { provider, poolId, records };
}

const provisionedEvents = async (provider: Identity, id: string) => (await eventsOf(api, provider, id)).filter((e) => e.event === 'provisioned');

test('lease lost mid-provision: the script is torn down and its confirmation is not accepted', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'lossy', records, script: { env: { RECORD_DIR: records, AGENT_NAME: 'lossy', SCRIPT_MODE: 'wait' } } });
  const agent = startAgent(a);
  try {
    const { id } = await paidContract(api, provider, 'vps');
    await waitFor('the script to start', () => existsSync(join(records, `${id}.started`)), 20_000);
    // Another agent of the pool takes the contract over: the lease expires (backdated) and is granted anew.
    const thief = await setupScriptAgent(api, provider, poolId, dir, { name: 'thief', records });
    const thiefKey = (await import('../src/keys.js')).readKeyFile(join(thief.home, 'agent.key')).identity;
    await waitFor('the thief to get the lease', async () => {
      await api.testDb.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
      const r = await api.call(thiefKey, 'POST', `/api/v1/providers/${provider.publicKey}/contracts/${id}/lock`, {}, 'X-Agent-Pubkey');
      return r.status === 200 ? r.body : null;
    });
    writeFileSync(join(records, 'go'), '');
    await waitFor('the teardown', () => existsSync(join(records, `${id}.terminated`)), 20_000);
    const lost = await agent.waitForLog((l) => l.event === 'contract.teardown' && l.contract_id === id);
    assert.match(lost.msg, /lease is gone \(lease_lost\)|refused the confirmation \(lease_lost\)/);
    assert.deepEqual(await provisionedEvents(provider, id), [], 'no confirmation was accepted');
    const c = await contractOf(api, provider, id);
    assert.equal(c.status, 'accepted');
    assert.equal(c.lock_agent, thief.pubkey, 'the lease is the new holder\'s');
    assert.ok(!agent.logs.some((l) => l.event === 'contract.provisioned'));
    // The teardown got the same contract on stdin, with DC_ACTION=terminate.
    const stdin = JSON.parse(readFileSync(join(records, `${id}.terminate.stdin.json`), 'utf8'));
    assert.equal(stdin.action, 'terminate');
    assert.equal(stdin.contract_id, id);
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test('contract cancelled mid-provision: the lease becomes its teardown; the script is stopped, torn down, and the agent confirms terminated', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'cancelled', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'wait' } } });
  const agent = startAgent(a);
  try {
    const customer = generateIdentity();
    const { id } = await paidContract(api, provider, 'vps', {}, customer);
    await waitFor('the script to start', () => existsSync(join(records, `${id}.started`)), 20_000);
    const token = (await contractOf(api, provider, id)).lock_token;
    assert.equal((await api.ok(customer, 'POST', `/api/v1/contracts/${id}/cancel`)).status, 'terminating', 'a machine may exist: it is torn down');
    await agent.waitForLog((l) => l.event === 'lease.ended' && l.contract_id === id, 10_000, 'the renewal to notice');
    await waitFor('the teardown', () => existsSync(join(records, `${id}.terminated`)), 10_000);
    const c = await waitFor('terminated', async () => {
      const c = await contractOf(api, provider, id);
      return c.status === 'terminated' ? c : null;
    }, 10_000);
    assert.equal(c.terminated_by, a.pubkey);
    const confirmed = await agent.waitForLog((l) => l.event === 'contract.terminated' && l.contract_id === id);
    assert.equal(confirmed.lock_token, token, 'the same lease, now a teardown lease');
    assert.deepEqual(await provisionedEvents(provider, id), []);
    const stdin = JSON.parse(readFileSync(join(records, `${id}.terminate.stdin.json`), 'utf8'));
    assert.equal(stdin.instance_details, null, 'nothing was confirmed: tear down by tag');
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test('renews the lease while a provision runs past half the TTL, then confirms with the same token', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'slow', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '3.5' } } });
  const agent = startAgent(a);
  try {
    const { id } = await paidContract(api, provider, 'vps');
    await waitFor('provisioned', async () => (await contractOf(api, provider, id)).status === 'provisioned', 20_000);
    const events = await eventsOf(api, provider, id);
    const kinds = events.map((e) => e.event);
    assert.equal(kinds[0], 'granted');
    assert.ok(kinds.filter((k) => k === 'renewed').length >= 2, `renewed during the 3.5 s provision with a 2 s TTL: ${kinds.join(',')}`);
    assert.equal(kinds.at(-1), 'provisioned');
    assert.ok(!kinds.includes('expired'));
    assert.equal(new Set(events.map((e) => e.lock_token)).size, 1, 'one fencing token throughout');
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test('script timeout: reported as a failed attempt whose error names the timeout and the stderr tail', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'timeout', records, script: { timeout_seconds: 1, env: { RECORD_DIR: records, SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '30' } } });
  const agent = startAgent(a);
  try {
    const { id } = await paidContract(api, provider, 'vps');
    const c = await waitFor('the failure report', async () => {
      const c = await contractOf(api, provider, id);
      return c.attempts === 1 ? c : null;
    }, 20_000);
    assert.equal(c.status, 'accepted');
    assert.ok(c.next_attempt_at, 'backing off before the next attempt');
    assert.match(c.last_error ?? '', /script timed out after 1 s \(provisioner\.script\.timeout_seconds\); stderr: sleeping 30s/);
    assert.equal(c.lock_agent, null);
    await agent.waitForLog((l) => l.event === 'contract.failed' && l.contract_id === id);
    // What the failed attempt created was removed (by tag) before the failure was reported.
    assert.ok(existsSync(join(records, `${id}.terminated`)), 'torn down before reporting failed');
    const cleaned = agent.logs.findIndex((l) => l.event === 'contract.torn_down' && l.contract_id === id);
    const reported = agent.logs.findIndex((l) => l.event === 'contract.failed' && l.contract_id === id);
    assert.ok(cleaned >= 0 && cleaned < reported, 'cleanup first, then the failure report');
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test('max_concurrent bounds the contracts in flight; status shows them', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'busy', records, agent: { max_concurrent: 2 }, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'wait' } } });
  const agent = startAgent(a);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await paidContract(api, provider, 'vps')).id);
    const started = () => ids.filter((id) => existsSync(join(records, `${id}.started`)));
    await waitFor('two scripts to start', () => started().length === 2, 20_000);
    await sleep(1500);
    assert.equal(started().length, 2, 'no third contract while two run');
    const st = JSON.parse((await agentCli(['status', '--config', a.config, '--json'])).stdout);
    assert.equal(st.state.in_flight.length, 2);
    assert.deepEqual(st.state.in_flight.map((j: { phase: string }) => j.phase), ['provisioning', 'provisioning']);
    const text = (await agentCli(['status', '--config', a.config])).stdout;
    assert.match(text, /running \(pid \d+\)/);
    assert.match(text, /in flight: +\n {2}[0-9a-f-]{36} +provisioning/);
    writeFileSync(join(records, 'go'), '');
    await waitFor('all four provisioned', async () => {
      for (const id of ids) if ((await contractOf(api, provider, id)).status !== 'provisioned') return false;
      return true;
    }, 20_000);
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});

test('SIGTERM during a provision: short grace aborts it, tears it down and releases the lease; exit 0', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'stopper', records, agent: { shutdown_grace_seconds: 0.5 }, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'wait' } } });
  const agent = startAgent(a);
  const { id } = await paidContract(api, provider, 'vps');
  await waitFor('the script to start', () => existsSync(join(records, `${id}.started`)), 20_000);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.stderr());
  assert.ok(existsSync(join(records, `${id}.terminated`)), 'torn down');
  const kinds = (await eventsOf(api, provider, id)).map((e) => e.event);
  assert.deepEqual(kinds, ['granted', ...kinds.slice(1, -1).filter((k) => k === 'renewed'), 'released']);
  const c = await contractOf(api, provider, id);
  assert.equal(c.lock_agent, null);
  assert.equal(c.attempts, 0, 'a release is not a failed attempt');
});

test('SIGTERM during a provision: within the grace period it finishes and confirms; exit 0', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'finisher', records, script: { env: { RECORD_DIR: records, SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '1' } } });
  const agent = startAgent(a);
  const { id } = await paidContract(api, provider, 'vps');
  await waitFor('the script to start', () => existsSync(join(records, `${id}.started`)), 20_000);
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exit, 0, agent.stderr());
  assert.equal((await contractOf(api, provider, id)).status, 'provisioned');
  assert.ok(agent.logs.some((l) => l.event === 'agent.stopping'));
});

test('manual provisioner: notifies the webhook and hands off; the provider completes it', async () => {
  const received: unknown[] = [];
  const hook = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      received.push(JSON.parse(b));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  try {
    const { provider, poolId } = await scenario('manual');
    const a = await setupScriptAgent(api, provider, poolId, dir, {
      name: 'manual',
      provisioner: { 'provisioner.manual': { webhook_url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/dc` } },
    });
    const agent = startAgent(a);
    try {
      const customer = generateIdentity();
      const { id } = await paidContract(api, provider, 'vps', { instance_config: { hostname: 'db-1' } }, customer);
      await waitFor('the hand-off', async () => (await contractOf(api, provider, id)).status === 'provisioning', 20_000);
      assert.deepEqual(received, [
        { event: 'contract.handoff', contract_id: id, offering_id: 'vps', provider_pubkey: provider.publicKey, pool_id: poolId, instance_config: { hostname: 'db-1' }, ssh_pubkey: null },
      ]);
      const ev = (await eventsOf(api, provider, id)).map((e) => e.event);
      assert.deepEqual(ev, ['granted', 'handed_off']);
      await agent.waitForLog((l) => l.event === 'manual.handoff' && l.contract_id === id);
      await api.ok(provider, 'POST', `/api/v1/providers/${provider.publicKey}/contracts/${id}/provisioned`, { instance_details: { ip: '198.51.100.7' } });
      const seen = await api.ok(customer, 'GET', `/api/v1/contracts/${id}`);
      assert.equal(seen.status, 'provisioned');
      assert.deepEqual(seen.instance_details, { ip: '198.51.100.7' });

      // Completed by the provider, its teardown starts handed off to a person (no agent is asked).
      const ended = await api.ok(customer, 'POST', `/api/v1/contracts/${id}/cancel`);
      assert.equal(ended.status, 'terminating');
      assert.equal(ended.teardown_handed_off, true);

      await api.ok(provider, 'POST', `/api/v1/providers/${provider.publicKey}/contracts/${id}/terminated`, { note: 'removed by hand' });
      const done = await contractOf(api, provider, id);
      assert.equal(done.status, 'terminated');
      assert.equal(done.terminated_by, provider.publicKey);

      // Should a manual agent be given a teardown, it hands it to a person with the machine's details.
      const webhookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hooks/dc`;
      const manual = new ManualProvisioner({ webhookUrl, webhookTimeoutSeconds: 5 }, createLogger({ write: () => undefined }));
      const job = { contractId: id, offeringId: 'vps', providerPubkey: provider.publicKey, customerPubkey: customer.publicKey, poolId, sshPubkey: null, instanceConfig: null, provisionerConfig: null };
      assert.deepEqual(await manual.terminate({ ...job, instanceDetails: { ip: '198.51.100.7' }, why: 'teardown' }, AbortSignal.timeout(5000)), {
        kind: 'handoff',
        note: 'teardown handed off to a person (manual provisioner); webhook notified',
      });
      assert.deepEqual(received.at(-1), { event: 'contract.terminate', contract_id: id, offering_id: 'vps', provider_pubkey: provider.publicKey, pool_id: poolId, instance_config: {}, ssh_pubkey: null, instance_details: { ip: '198.51.100.7' } });
      assert.equal(await manual.inventory(), null, 'a person keeps the machines: no inventory');
    } finally {
      assert.equal(await agent.stop(), 0, agent.stderr());
    }
  } finally {
    hook.close();
  }
});

test('revoked agent: exits with code 78 and says so', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'revoked', records });
  const agent = startAgent(a);
  await agent.waitForLog((l) => l.event === 'heartbeat.ok');
  await api.ok(provider, 'DELETE', `/api/v1/providers/${provider.publicKey}/agents/${a.pubkey}`);
  const code = await Promise.race([agent.exit, sleep(15_000).then(() => -1)]);
  assert.equal(code, 78, agent.stderr());
  assert.match(agent.stderr(), /dc-agent: this agent has been revoked by its provider \(401 agent_revoked\); it stops and will not retry\. To bring this host back, create a new setup token/);
  const line = agent.logs.find((l) => l.event === 'agent.revoked');
  assert.ok(line, 'a JSON log line says it too');
  assert.equal(line.level, 'error');
  assert.equal(line.exit_code, 78);
  const st = JSON.parse((await agentCli(['status', '--config', a.config, '--json'])).stdout);
  assert.equal(st.state.exit_code, 78);
});

test('invalid config: run refuses with a message naming the field (exit 3)', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'badcfg', records });
  const text = readFileSync(a.config, 'utf8');
  const cases: [string, RegExp][] = [
    [text.replace(/max_concurrent = \d+/, 'max_concurrent = 0'), /agent\.max_concurrent must be an integer between 1 and 10, got 0/],
    [text.replace(/api_url = "[^"]+"/, 'api_url = "ftp://x"'), /agent\.api_url must use http or https/],
    [text.replace(/^timeout_seconds = [\d.]+$/m, 'timeout_secs = 5'), /provisioner\.script\.timeout_secs is not a known setting/],
    [text.replace(/\[keys\][^[]*/, ''), /\[keys\] is missing/],
    [text.replace('[agent]', '[agent'), /is not valid TOML: .*line 1/],
  ];
  for (const [body, want] of cases) {
    writeFileSync(a.config, body);
    const r = await agentCli(['run', '--config', a.config]);
    assert.equal(r.code, 3, `${want}: ${r.stderr}`);
    assert.match(r.stderr, /^dc-agent: configuration error: /);
    assert.match(r.stderr, want);
  }
  const missing = await agentCli(['run', '--config', join(dir, 'nope.toml')]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /nope\.toml does not exist; run "dc-agent setup" first/);
});

test('proxmox provisioner through dc-agent run: a paid contract becomes a running VM over pinned TLS', { skip: hasCommand('openssl') ? false : 'openssl is not installed' }, async () => {
  const certDir = join(dir, 'pve-tls');
  mkdirSync(certDir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'), '-days', '2', '-subj', '/CN=pve1'], { stdio: 'ignore' });
  const tls = { key: readFileSync(join(certDir, 'key.pem'), 'utf8'), cert: readFileSync(join(certDir, 'cert.pem'), 'utf8') };
  const pve = new FakePve({ tls });
  await pve.listen();
  try {
    const { provider, poolId } = await scenario('proxmox');
    await api.ok(provider, 'PUT', `/api/v1/providers/${provider.publicKey}/offerings/vps`, { provisioner_config: { cores: 2, memory_mb: 4096, disk_gb: 30 } });
    const a = await setupScriptAgent(api, provider, poolId, dir, {
      name: 'pve-agent',
      provisioner: {
        'provisioner.proxmox': {
          api_url: pve.url, api_token_id: pve.tokenId, api_token_secret: pve.tokenSecret, node: pve.node, template_vmid: 9000,
          tls_fingerprint: new X509Certificate(tls.cert).fingerprint256, ciuser: 'debian', task_poll_seconds: 0.02, guest_agent_timeout_seconds: 5,
        },
      },
    });
    const doctor = JSON.parse((await agentCli(['doctor', '--config', a.config, '--json'])).stdout);
    assert.equal(doctor.ok, true, JSON.stringify(doctor.checks));
    const agent = startAgent(a);
    try {
      const customer = generateIdentity();
      const ssh = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@home';
      const { id } = await paidContract(api, provider, 'vps', { ssh_pubkey: ssh, instance_config: { hostname: 'carol-vm' } }, customer);
      const seen = await waitFor('the VM to be provisioned', async () => {
        const r = await api.ok(customer, 'GET', `/api/v1/contracts/${id}`);
        return r.status === 'provisioned' ? r : null;
      }, 20_000);
      const vm = pve.guests()[0]!;
      assert.equal(seen.instance_details.vmid, vm.vmid);
      assert.deepEqual(seen.instance_details.ipv4, [`10.0.0.${vm.vmid % 250}`]);
      assert.equal(seen.instance_details.hostname, `dc-${id}-carol-vm`, "the VM's name (its cloud-init hostname): the contract's tag, then the requested hostname");
      assert.deepEqual(vm.config.tags, `dc-${id}`);
      assert.equal(vm.status, 'running');
      assert.equal(vm.config.memory, '4096');
      assert.equal(decodeURIComponent(String(vm.config.sshkeys)), ssh + '\n');
      assert.deepEqual(pve.violations, []);
    } finally {
      assert.equal(await agent.stop(), 0, agent.stderr());
    }
  } finally {
    await pve.close();
  }
});

// Last: it stops the shared API.
test('API down during run: the agent retries with back-off, does not crash, and recovers when the API returns', async () => {
  const { provider, poolId, records } = await scenario();
  const a = await setupScriptAgent(api, provider, poolId, dir, { name: 'outage', records });
  const agent = startAgent(a);
  try {
    await agent.waitForLog((l) => l.event === 'heartbeat.ok');
    await api.stop();
    await agent.waitForLog((l) => l.event === 'claim.failed' && /connection refused/.test(l.msg), 15_000, 'a refused claim');
    await agent.waitForLog((l) => l.event === 'heartbeat.failed', 15_000, 'a failed heartbeat');
    await sleep(1500);
    assert.equal(agent.child.exitCode, null, 'still running');
    const failures = agent.logs.filter((l) => l.event === 'claim.failed').length;
    assert.ok(failures >= 2 && failures < 20, `retried with back-off (${failures} failed claims in a few seconds)`);
    await api.start();
    await waitFor('a heartbeat after the outage', () => agent.logs.filter((l) => l.event === 'heartbeat.ok').length >= 2, 15_000);
    const { id } = await paidContract(api, provider, 'vps');
    await waitFor('provisioned after the outage', async () => (await contractOf(api, provider, id)).status === 'provisioned', 20_000);
  } finally {
    await api.start();
    assert.equal(await agent.stop(), 0, agent.stderr());
  }
});
