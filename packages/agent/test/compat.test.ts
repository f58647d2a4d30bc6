// dc-agent against a fake API over real HTTP: an API without claim (404) and without long-poll,
// 5xx answers, and what setup sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKey } from '../src/keys.js';
import { runSetup } from '../src/setup.js';
import { FakeApi } from './fake-api.js';
import { cleanup, runAgentCli, sharedDir, sleep, tempDir, waitFor, writeAgentConfig } from './helpers.js';

let dir: string;
before(() => {
  dir = tempDir();
});
after(() => cleanup(dir));

test('without claim (404) it falls back to pending-provision + lock, skips contracts locked by others (409), and polls at poll_interval when long-poll is not honoured', async () => {
  const api = new FakeApi();
  await api.listen();
  const home = join(dir, 'legacy');
  const records = sharedDir(dir, 'legacy-records');
  const { config, pubkey } = writeAgentConfig(api, home, records);
  api.addContract('c1', 'ee'.repeat(32)); // another agent holds it
  api.addContract('c2');
  api.addContract('c3');
  const agent = runAgentCli(['run', '--config', config]);
  try {
    await agent.waitForLog((l) => l.event === 'claim.unsupported', 15_000);
    await waitFor('c2 and c3 provisioned', () => api.contracts.get('c2')!.status === 'provisioned' && api.contracts.get('c3')!.status === 'provisioned', 15_000);
    assert.equal(api.contracts.get('c2')!.provisioned_by, pubkey);
    assert.deepEqual(api.contracts.get('c2')!.instance_details, { host_scope: hostname(), hostname: 'vm-c2', ipv4: ['192.0.2.10'], agent: 'agent', uid: process.getuid?.() === 0 ? 65534 : process.getuid?.() });
    assert.equal(api.contracts.get('c1')!.status, 'accepted', 'the contract another agent holds is left alone');
    assert.equal(api.count('POST', '/contracts/claim'), 1, 'claim is not asked again after a 404');
    assert.ok(api.count('POST', '/contracts/c1/lock') >= 1, 'it tried c1 and skipped it on 409');
    assert.ok(agent.logs.some((l) => l.event === 'claim.skipped' || l.event === 'contract.claimed'));
    // Confirmations carried the fencing token the lock granted.
    const confirm = api.seen.find((s) => s.path.endsWith('/contracts/c2/provisioned'))!;
    assert.equal(JSON.parse(confirm.body).lock_token, 1);

    // The fake answers pending-provision at once: the agent sleeps poll_interval between polls.
    const t0 = Date.now();
    const before = api.count('GET', '/contracts/pending-provision');
    await sleep(2000);
    const polls = api.count('GET', '/contracts/pending-provision') - before;
    const elapsed = Date.now() - t0;
    assert.ok(polls >= 2 && polls <= Math.ceil(elapsed / 500) + 1, `${polls} polls in ${elapsed} ms at a 0.5 s poll interval`);
    assert.deepEqual(api.violations, [], 'every request was correctly signed');
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
    await api.close();
  }
});

test('heartbeats advertise both actions and the host scope; the inventory comes with the first heartbeat, then not again within 10 minutes', async () => {
  const api = new FakeApi();
  await api.listen();
  const home = join(dir, 'inventory');
  const records = sharedDir(dir, 'inventory-records');
  mkdirSync(home, { recursive: true, mode: 0o755 });
  const inventory = join(home, 'inventory.sh');
  writeFileSync(inventory, `#!/bin/sh\necho '["dc-0b8a5f2e-8c1d-4f7e-9a6b-3c2d1e0f9a8b"]'\n`, { mode: 0o755 });
  const { config } = writeAgentConfig(api, home, records, `inventory_command = "${inventory}"\nhost_scope = "rack-9"\n`);
  const agent = runAgentCli(['run', '--config', config]);
  try {
    // The fake asks for a heartbeat every second.
    await waitFor('three heartbeats', () => api.count('POST', '/heartbeat') >= 3, 15_000);
    const beats = api.seen.filter((s) => s.method === 'POST' && s.path.endsWith('/heartbeat')).map((s) => JSON.parse(s.body));
    for (const b of beats) {
      assert.deepEqual(b.capabilities.actions, ['provision', 'terminate']);
      assert.equal(b.capabilities.host_scope, 'rack-9');
      // Issue 12: version and max_concurrent (the config's 2) in every heartbeat.
      assert.equal(b.max_concurrent, 2);
      assert.match(b.version, /^[0-9A-Za-z.+-]{1,32}$/);
      assert.equal(typeof b.active_contracts, 'number');
    }
    assert.deepEqual(beats[0].inventory, ['0b8a5f2e-8c1d-4f7e-9a6b-3c2d1e0f9a8b'], 'tags become contract ids');
    assert.ok(beats.slice(1).every((b) => !('inventory' in b)), 'at most every 10 minutes');
    const sent = await agent.waitForLog((l) => l.event === 'inventory.sent');
    assert.equal(sent.machines, 1);
    // Work requests ask for teardowns too: claim, and the pending-provision fallback.
    const claim = api.seen.find((s) => s.path.split('?')[0]!.endsWith('/contracts/claim'));
    assert.deepEqual(JSON.parse(claim?.body ?? '{}').actions, ['provision', 'terminate']);
    await waitFor('a pending-provision poll', () => api.count('GET', '/contracts/pending-provision') > 0, 15_000);
    const pending = api.seen.find((s) => s.path.includes('/contracts/pending-provision'));
    assert.match(pending?.path ?? '', /[?&]actions=provision(%2C|,)terminate(&|$)/);
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
    await api.close();
  }
});

test('5xx answers: retries with back-off and recovers when the API answers again', async () => {
  const api = new FakeApi();
  api.failPending = 4;
  await api.listen();
  const home = join(dir, 'flaky');
  const records = sharedDir(dir, 'flaky-records');
  const { config } = writeAgentConfig(api, home, records);
  api.addContract('d1');
  const agent = runAgentCli(['run', '--config', config]);
  try {
    await waitFor('d1 provisioned', () => api.contracts.get('d1')!.status === 'provisioned', 20_000);
    const failed = agent.logs.filter((l) => l.event === 'claim.failed');
    assert.equal(failed.length, 4);
    assert.match(failed[0]!.msg, /503 unavailable: The API is restarting\.; next try in \d+ ms/);
    assert.equal(failed[0]!.level, 'warn');
    assert.ok(agent.logs.some((l) => l.event === 'api.recovered'));
    // The pauses between failed polls are back-off with jitter, not a tight loop.
    const at = api.seen.filter((s) => s.path.includes('pending-provision')).map((s) => s.at);
    for (let i = 1; i < 4; i++) assert.ok(at[i]! - at[i - 1]! >= 100, `pause ${i}: ${at[i]! - at[i - 1]!} ms`);
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr());
    await api.close();
  }
});

test('setup: the private key never leaves the host; requests are signed by the new key', async () => {
  const api = new FakeApi();
  await api.listen();
  try {
    const config = join(dir, 'setup-fake', 'config.toml');
    const out = await runSetup({ token: 'apt_europe_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', apiUrl: api.url, serverKey: api.serverKey.publicKey, config, nonInteractive: true });
    const pem = readFileSync(out.keyPath, 'utf8');
    const { readKeyFile } = await import('../src/keys.js');
    const identity = readKeyFile(out.keyPath).identity;
    assert.equal(encodeKey(identity), pem);
    const seed = identity.privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16);
    const secrets = [seed.toString('hex'), seed.toString('base64'), pem.split('\n')[1]!];
    const everything = api.seen.map((s) => `${s.method} ${s.path}\n${JSON.stringify(s.headers)}\n${s.body}`).join('\n');
    for (const s of secrets) assert.ok(!everything.includes(s), 'no form of the private key was sent');
    const setupReq = api.seen.find((s) => s.path === '/api/v1/agents/setup')!;
    assert.equal(setupReq.headers['x-agent-pubkey'], identity.publicKey);
    assert.equal(JSON.parse(setupReq.body).agent_pubkey, identity.publicKey);
    assert.deepEqual(api.violations, []);
  } finally {
    await api.close();
  }
});
