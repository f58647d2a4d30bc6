// dc-agent setup, doctor, status and --help against a real dc-api.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delegationMessage, setupArgs, type ProvisionerType } from '@dc/core';
import { publicKeyFromHex, verifyMessage } from '@dc/core/node';
import { parseConfig } from '../src/config.js';
import { readKeyFile } from '../src/keys.js';
import { AGENT_VERSION } from '../src/version.js';
import { agentCli, cleanup, createPool, createProvider, createToken, readToml, serverKey, startApi, tempDir, type TestApi } from './helpers.js';

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

async function pool(type: ProvisionerType = 'script', name = `p-${Math.random().toString(36).slice(2, 8)}`) {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name, location: 'europe', provisioner_type: type });
  return { provider, poolId };
}

describe('dc-agent setup', () => {
  test('registers with a token from DC_SETUP_TOKEN, pins the server key, writes key and config (0600) in the spec shape', async () => {
    const { provider, poolId } = await pool('proxmox', 'eu-pve');
    const { token } = await createToken(api, provider, poolId, 'from-token');
    const key = await serverKey(api);
    const home = join(dir, 'a');
    const config = join(home, 'config.toml');
    const r = await agentCli(['setup', '--api-url', api.url, '--server-key', key, '--config', config, '--non-interactive'], { env: { DC_SETUP_TOKEN: token } });
    assert.equal(r.code, 0, r.stderr);

    const keyFile = join(home, 'agent.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(config).mode & 0o777, 0o600);
    assert.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const { identity } = readKeyFile(keyFile);

    const cfg = readToml(config);
    assert.deepEqual(Object.keys(cfg), ['agent', 'keys', 'delegation', 'provisioner']);
    assert.equal(cfg.agent.api_url, api.url);
    assert.equal(cfg.agent.provider_pubkey, provider.publicKey);
    assert.equal(cfg.agent.pool_id, poolId);
    assert.equal(cfg.agent.agent_pubkey, identity.publicKey);
    assert.equal(cfg.agent.poll_interval_seconds, 30);
    assert.equal(cfg.agent.lock_timeout_seconds, 300);
    assert.equal(cfg.keys.private_key_path, keyFile);
    assert.equal(cfg.provisioner.type, 'proxmox');
    assert.deepEqual(Object.keys(cfg.provisioner.proxmox).slice(0, 5), ['api_url', 'api_token_id', 'api_token_secret', 'node', 'template_vmid']);
    // The stored delegation verifies against the pinned key.
    const d = cfg.delegation;
    const msg = delegationMessage({ provider_pubkey: provider.publicKey, agent_pubkey: identity.publicKey, pool_id: poolId, permissions: d.permissions, issued_at: d.issued_at });
    assert.ok(verifyMessage(publicKeyFromHex(key), msg, d.signature));

    // The dashboard sees the agent with the token's label.
    const detail = await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools/${poolId}`);
    assert.equal(detail.agents.length, 1);
    assert.equal(detail.agents[0].agent_pubkey, identity.publicKey);
    assert.equal(detail.agents[0].label, 'from-token');

    // It prints what to fill in next, for proxmox.
    assert.match(r.stdout, /Next: fill in the \[provisioner\.proxmox\] section of .*config\.toml/);
    for (const k of ['api_url', 'api_token_id', 'api_token_secret', 'node', 'template_vmid']) assert.match(r.stdout, new RegExp(`^  ${k}\\b`, 'm'));
    assert.match(r.stdout, /dc-agent doctor --config/);
    // The placeholders make the file invalid until filled in, with a message naming the field.
    assert.throws(() => parseConfig(readFileSync(config, 'utf8'), config), /provisioner\.proxmox\.api_url is still the placeholder/);

    // Re-running on a configured host refuses (exit 4) and leaves everything as it was ...
    const { token: token2 } = await createToken(api, provider, poolId);
    const again = await agentCli(['setup', '--api-url', api.url, '--config', config, '--token', token2]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /already exists: this host is set up\. Re-run with --force/);
    assert.equal(readKeyFile(keyFile).identity.publicKey, identity.publicKey);
    // ... unless --force: a new key, a new registration.
    const forced = await agentCli(['setup', '--api-url', api.url, '--config', config, '--token', token2, '--force', '--label', 'again']);
    assert.equal(forced.code, 0, forced.stderr);
    const newKey = readKeyFile(keyFile).identity.publicKey;
    assert.notEqual(newKey, identity.publicKey);
    assert.equal(readToml(config).agent.agent_pubkey, newKey);
    assert.equal(readToml(config).agent.label, 'again');
    assert.match(forced.stdout, /as published by the API/, 'without --server-key the published key is used, and it says so');
  });

  test('--token-file keeps the token out of argv', async () => {
    const { provider, poolId } = await pool();
    const { token } = await createToken(api, provider, poolId);
    const tokenFile = join(dir, 'token.txt');
    writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    const config = join(dir, 'tf', 'config.toml');
    const r = await agentCli(['setup', '--api-url', api.url, '--token-file', tokenFile, '--config', config, '--non-interactive']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readToml(config).provisioner.type, 'script');
    assert.match(r.stdout, /\[provisioner\.script\]/);
    assert.match(r.stdout, /^  command\b/m);
  });

  test('a wrong --server-key is refused before the token is spent', async () => {
    const { provider, poolId } = await pool();
    const { token, fields } = await createToken(api, provider, poolId);
    const config = join(dir, 'wrongkey', 'config.toml');
    const r = await agentCli(['setup', '--api-url', api.url, '--server-key', 'ab'.repeat(32), '--token', token, '--config', config]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /publishes server key [0-9a-f]{64}, not the pinned --server-key abab/);
    assert.equal(existsSync(config), false);
    assert.equal(existsSync(join(dir, 'wrongkey', 'agent.key')), false, 'no key left behind');
    const pending = await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools/${poolId}/setup-tokens`);
    assert.equal(pending.items.length, 1, 'the token is still unused');
    // and it still works with the right key
    const ok = await agentCli(['setup', ...setupArgs(fields), '--config', config]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('token errors and bad input are clear, and nothing is written', async () => {
    const { provider, poolId } = await pool();
    const { token, fields } = await createToken(api, provider, poolId);
    const config = join(dir, 'used', 'config.toml');
    assert.equal((await agentCli(['setup', ...setupArgs(fields), '--config', config])).code, 0);
    const reuse = await agentCli(['setup', '--api-url', api.url, '--token', token, '--config', join(dir, 'used2', 'config.toml')]);
    assert.equal(reuse.code, 1);
    assert.match(reuse.stderr, /already used \(409\); create a new one/);
    assert.equal(existsSync(join(dir, 'used2')) && existsSync(join(dir, 'used2', 'agent.key')), false);

    const unknown = await agentCli(['setup', '--api-url', api.url, '--token', 'apt_europe_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--config', join(dir, 'x', 'config.toml')]);
    assert.match(unknown.stderr, /does not know this setup token/);
    const notToken = await agentCli(['setup', '--api-url', api.url, '--token', 'hello', '--config', join(dir, 'x', 'config.toml')]);
    assert.equal(notToken.code, 2);
    assert.match(notToken.stderr, /does not look like a setup token/);
    const noToken = await agentCli(['setup', '--api-url', api.url, '--non-interactive', '--config', join(dir, 'x', 'config.toml')]);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /--token, --token-file or DC_SETUP_TOKEN/);
    const http = await agentCli(['setup', '--api-url', 'http://api.example.net', '--token', token, '--config', join(dir, 'x', 'config.toml')]);
    assert.equal(http.code, 2);
    assert.match(http.stderr, /must use https \(plain http only for loopback/);
    const down = await agentCli(['setup', '--api-url', 'http://127.0.0.1:1', '--token', token, '--config', join(dir, 'x', 'config.toml')]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:1: .*connection refused/);
  });
});

describe('dc-agent doctor and status', () => {
  test('doctor finds a key that does not match and a revoked agent; status without a run', async () => {
    const { provider, poolId } = await pool('manual');
    const { fields } = await createToken(api, provider, poolId);
    const config = join(dir, 'doc', 'config.toml');
    assert.equal((await agentCli(['setup', ...setupArgs(fields), '--config', config])).code, 0);

    const good = JSON.parse((await agentCli(['doctor', '--config', config, '--json'])).stdout);
    assert.equal(good.ok, true, JSON.stringify(good));
    assert.match(good.checks.find((c: { name: string }) => c.name === 'provisioner').message, /manual: hand-off, log only/);

    const st = await agentCli(['status', '--config', config]);
    assert.equal(st.code, 1);
    assert.match(st.stdout, /"dc-agent run" has not run/);

    const agentPubkey = readToml(config).agent.agent_pubkey as string;
    await api.ok(provider, 'DELETE', `/api/v1/providers/${provider.publicKey}/agents/${agentPubkey}`);
    const revoked = await agentCli(['doctor', '--config', config]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stdout, /FAIL  api +.*this agent has been revoked by its provider/);

    // A key from another setup does not match the config's agent_pubkey or its delegation.
    writeFileSync(join(dir, 'doc', 'agent.key'), 'ab'.repeat(32));
    const wrong = JSON.parse((await agentCli(['doctor', '--config', config, '--json', '--offline'])).stdout);
    const keyCheck = wrong.checks.find((c: { name: string }) => c.name === 'key');
    assert.equal(keyCheck.ok, false);
    assert.match(keyCheck.message, /holds key [0-9a-f]{64}, but agent\.agent_pubkey is/);
    assert.equal(wrong.checks.find((c: { name: string }) => c.name === 'api').skipped, true);

    // An invalid config names the field.
    writeFileSync(config, readFileSync(config, 'utf8').replace('poll_interval_seconds = 30', 'poll_interval_seconds = "soon"'));
    const bad = await agentCli(['doctor', '--config', config]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /FAIL  config +.*agent\.poll_interval_seconds must be a number between 0.05 and 3600, got "soon"/);
  });
});

test('--help on every command: a description, an example, and each option with its environment variable', async () => {
  const top = await agentCli(['--help']);
  assert.equal(top.code, 0);
  for (const c of ['setup', 'run', 'doctor', 'status', 'drain', 'resume']) assert.match(top.stdout, new RegExp(`^  ${c} \\[options\\]`, 'm'));
  const v = await agentCli(['--version']);
  assert.equal(v.stdout.trim(), AGENT_VERSION);
  assert.equal(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version, AGENT_VERSION);
  for (const c of ['setup', 'run', 'doctor', 'status', 'drain', 'resume']) {
    const h = await agentCli([c, '--help']);
    assert.equal(h.code, 0, c);
    assert.match(h.stdout, /Example:\n  .*dc-agent /, `${c} has an example`);
    const options = h.stdout.split('\n').filter((l) => /^  --/.test(l));
    assert.ok(options.length > 0);
    // every option line is followed (possibly on a wrapped line) by its env var
    const blocks = h.stdout.split(/\n(?=  -)/).filter((b) => b.startsWith('  --'));
    for (const b of blocks) assert.match(b, /env:\s+DC_[A-Z_]+/, `${c}: ${b.split('\n')[0]} has an environment variable`);
  }
  const usage = await agentCli(['run', '--no-such-flag']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown option '--no-such-flag'/);
});
