// End to end on a real dc-api: the dashboard's one-liner installs the agent into a temporary
// prefix, `dc-agent run` provisions a paid contract with the script provisioner, the customer sees
// the instance details, SIGTERM stops the agent cleanly.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setupOneLiner } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import {
  BUNDLE, SCRIPT_USER, agentCli, cleanup, createOffering, createPool, createProvider, createToken, paidContract, patchToml, readToml,
  runAgentCli, scriptFixture, serverKey, sharedDir, startApi, tempDir, waitFor, type TestApi,
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

function sh(cmd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(existsSync('/bin/bash') ? '/bin/bash' : 'bash', ['-c', cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('GET /setup, the bundle and its checksum are served; the script is one function called on its last line', async () => {
  const script = await fetch(`${api.url}/setup`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /shellscript/);
  const text = await script.text();
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.at(-1), 'dc_agent_install "$@"');
  assert.match(text, /^dc_agent_install\(\) \{$/m);
  // Nothing but comments before the function: a truncated download defines at most half a function.
  const before = text.slice(0, text.indexOf('dc_agent_install() {')).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  assert.deepEqual(before, []);

  const bundle = Buffer.from(await (await fetch(`${api.url}/downloads/dc-agent.mjs`)).arrayBuffer());
  assert.deepEqual(bundle, readFileSync(BUNDLE));
  const sum = await (await fetch(`${api.url}/downloads/dc-agent.mjs.sha256`)).text();
  assert.equal(sum, `${createHash('sha256').update(bundle).digest('hex')}  dc-agent.mjs\n`);

  // A truncated download runs nothing.
  const cut = text.slice(0, Math.floor(text.length * 0.6));
  const r = await sh(`printf '%s' "$SCRIPT" | bash -s -- --token x --api-url ${api.url} --prefix ${dir}/cut`, { PATH: process.env.PATH ?? '', SCRIPT: cut });
  assert.notEqual(r.code, 0);
  assert.equal(existsSync(join(dir, 'cut', 'usr')), false, 'nothing was installed');
});

test('the installer stops with instructions when Node.js is missing or older than 18', async () => {
  const script = await (await fetch(`${api.url}/setup`)).text();
  const bin = join(dir, 'nonode-bin');
  mkdirSync(bin, { recursive: true });
  // Just the tools the script needs before its Node.js check, and no node.
  for (const tool of ['id', 'grep', 'mkdir']) {
    const at = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (at) symlinkSync(at, join(bin, tool));
  }
  writeFileSync(join(dir, 'setup.sh'), script);
  const args = `--token apt_europe_AAAAAAAAAAAAAAAAAAAAAAAAAAAA --api-url ${api.url} --prefix ${dir}/nonode --skip-user`;
  const missing = await sh(`"$BASH" ${dir}/setup.sh ${args}`, { PATH: bin });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Node\.js 18 or newer is required and was not found/);
  assert.match(missing.stderr, /apt-get install -y nodejs/);

  writeFileSync(join(bin, 'node'), '#!/bin/sh\ncase "$1" in -p) echo 16 ;; --version) echo v16.20.2 ;; esac\n');
  chmodSync(join(bin, 'node'), 0o755);
  const old = await sh(`"$BASH" ${dir}/setup.sh ${args}`, { PATH: bin });
  assert.equal(old.code, 1);
  assert.match(old.stderr, /Node\.js v16\.20\.2 at .*node is too old; dc-agent needs 18 or newer/);
  assert.equal(existsSync(join(dir, 'nonode', 'usr')), false, 'nothing was installed');
});

test('one-liner install into a prefix, dc-agent run provisions a paid contract, SIGTERM exits 0', async () => {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: 'europe-script', location: 'europe', provisioner_type: 'script' });
  const { token, setup_command: shown, fields } = await createToken(api, provider, poolId, 'node-1');
  const key = await serverKey(api);
  assert.deepEqual(fields, { api_url: api.url, token, server_key: key });
  // The one-liner is built from the fields by core, for the dashboard and here alike (plain http
  // only because the API is on loopback).
  const setup_command = setupOneLiner(fields);
  assert.equal(shown, setup_command);
  assert.equal(setup_command, `curl -fsSL ${api.url}/setup | bash -s -- --token ${token} --api-url ${api.url} --server-key ${key}`);

  const prefix = join(dir, 'root');
  const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir };
  const install = await sh(`${setup_command} --prefix ${prefix} --skip-user`, env);
  assert.equal(install.code, 0, `installer failed: ${install.stderr}\n${install.stdout}`);
  assert.match(install.stderr, /checksum verified/);
  assert.match(install.stdout, /Registered agent [0-9a-f]{64}/);
  assert.match(install.stdout, /Next: fill in the \[provisioner.script\] section/);

  const bin = join(prefix, 'usr/local/bin/dc-agent');
  const config = join(prefix, 'etc/dc-agent/config.toml');
  const keyFile = join(prefix, 'etc/dc-agent/agent.key');
  assert.deepEqual(readFileSync(join(prefix, 'usr/local/lib/dc-agent/dc-agent.mjs')), readFileSync(BUNDLE));
  assert.equal(statSync(config).mode & 0o777, 0o600);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(prefix, 'etc/dc-agent')).mode & 0o777, 0o700);
  const unit = readFileSync(join(prefix, 'etc/systemd/system/dc-agent.service'), 'utf8');
  assert.match(unit, /^RestartPreventExitStatus=78$/m);
  assert.match(unit, new RegExp(`^ExecStart=${bin} run --config ${config}$`, 'm'));
  assert.match(unit, /^User=dc-agent$/m);
  assert.ok(!readdirSync(join(prefix, 'etc/dc-agent')).some((f) => f.endsWith('.new') || f.endsWith('.tmp')), 'no temporary files left');

  // The config has the spec's shape.
  const cfg = readToml(config);
  assert.equal(cfg.agent.api_url, api.url);
  assert.equal(cfg.agent.provider_pubkey, provider.publicKey);
  assert.equal(cfg.agent.pool_id, poolId);
  assert.equal(cfg.agent.poll_interval_seconds, 30);
  assert.equal(cfg.agent.lock_timeout_seconds, 300);
  assert.equal(cfg.agent.server_key, key);
  assert.equal(cfg.keys.private_key_path, keyFile);
  assert.equal(cfg.provisioner.type, 'script');
  assert.equal(cfg.provisioner.script.command, 'CHANGE-ME');

  // Until the provider fills it in, run refuses and names the field.
  const refused = await agentCli(['run', '--config', config], { env });
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /provisioner\.script\.command is still the placeholder/);

  // Fill in what setup asked for.
  const records = sharedDir(dir, 'records');
  patchToml(config, {
    agent: { claim_wait_seconds: 10, max_backoff_seconds: 1 },
    'provisioner.script': { command: scriptFixture(dir), user: SCRIPT_USER, timeout_seconds: 20, env: { RECORD_DIR: records, AGENT_NAME: 'node-1' } },
  });
  const doctor = await agentCli(['doctor', '--config', config, '--json'], { env });
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
  const report = JSON.parse(doctor.stdout);
  assert.deepEqual(report.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]), [['config', true], ['key', true], ['files', true], ['delegation', true], ['api', true], ['provisioner', true]]);

  const agent = runAgentCli(['run', '--config', config], { env, bin });
  try {
    await agent.waitForLog((l) => l.event === 'heartbeat.ok', 15_000, 'the first heartbeat');
    const pool = await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools/${poolId}`);
    assert.equal(pool.agents[0].status, 'online');
    assert.equal(pool.agents[0].label, 'node-1');
    assert.equal(pool.agents[0].version, '0.1.0');

    await createOffering(api, provider, { offering_id: 'vps-s', datacenter_country: 'DE', provisioner_type: 'script' });
    const customer = generateIdentity();
    const sshKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';
    const { id } = await paidContract(api, provider, 'vps-s', { ssh_pubkey: sshKey, instance_config: { hostname: 'alice-web', memory_mb: 2048 } }, customer);

    const seen = await waitFor('the contract to be provisioned', async () => {
      const r = await api.ok(customer, 'GET', `/api/v1/contracts/${id}`);
      return r.status === 'provisioned' ? r : null;
    }, 20_000);
    assert.deepEqual(seen.instance_details, { host_scope: hostname(), hostname: `vm-${id.slice(0, 8)}`, ipv4: ['192.0.2.10'], agent: 'node-1', uid: process.getuid?.() === 0 ? 65534 : process.getuid?.() });
    assert.equal(seen.provisioned_by, readToml(config).agent.agent_pubkey);
    await agent.waitForLog((l) => l.event === 'contract.provisioned' && l.contract_id === id, 5000);

    // The contract reached the script on stdin only; customer values never in its environment or argv.
    const stdin = JSON.parse(readFileSync(join(records, `${id}.provision.stdin.json`), 'utf8'));
    assert.equal(stdin.contract_id, id);
    assert.equal(stdin.ssh_pubkey, sshKey);
    assert.deepEqual(stdin.instance_config, { hostname: 'alice-web', memory_mb: 2048 });
    const scriptEnv = readFileSync(join(records, `${id}.provision.env`), 'utf8');
    assert.match(scriptEnv, new RegExp(`^DC_CONTRACT_ID=${id}$`, 'm'));
    assert.match(scriptEnv, /^DC_ACTION=provision$/m);
    assert.match(scriptEnv, /^DC_OFFERING_ID=vps-s$/m);
    assert.match(scriptEnv, /^ARGV=$/m);
    for (const secret of ['alice-web', 'AAAAC3NzaC1lZDI1NTE5', 'DC_SETUP_TOKEN', token]) assert.ok(!scriptEnv.includes(secret), `${secret} is not in the script's environment`);

    // status shows the pool and the heartbeat while it runs.
    // (The state file is written at most every 200 ms.)
    const st = await waitFor('status to show the provisioned contract', async () => {
      const status = await agentCli(['status', '--config', config, '--json'], { env });
      assert.equal(status.code, 0, status.stderr);
      const j = JSON.parse(status.stdout);
      return j.state.counts.provisioned === 1 ? j : null;
    }, 5000);
    assert.equal(st.running, true);
    assert.equal(st.state.pool_id, poolId);
    assert.equal(st.state.pool_name, 'europe-script');
    assert.ok(st.state.last_heartbeat_at);
    assert.equal(st.state.counts.provisioned, 1);
    assert.deepEqual(st.state.in_flight, []);
  } finally {
    const code = await agent.stop('SIGTERM');
    assert.equal(code, 0, agent.stderr());
  }
  assert.ok(agent.logs.some((l) => l.event === 'agent.stopped'));
  for (const l of agent.logs) assert.ok(typeof l.ts === 'string' && typeof l.event === 'string' && typeof l.msg === 'string', 'every stdout line is a JSON log event');
  const after = JSON.parse((await agentCli(['status', '--config', config, '--json'], { env })).stdout);
  assert.equal(after.running, false);
  assert.equal(after.state.exit_code, 0);

  // Re-running the installer on the configured host upgrades the agent but does not register again.
  const again = await sh(`${setup_command} --prefix ${prefix} --skip-user`, env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /already set up/);
});
