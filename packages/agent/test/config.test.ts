// The configuration file: what setup writes parses back; every problem names its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVISIONER_TYPES } from '@dc/core';
import { parseConfig, renderConfig, type RenderInput } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { PROVISIONERS, nextSteps } from '../src/provisioners/index.js';

const input: RenderInput = {
  apiUrl: 'https://api.example.net',
  providerPubkey: 'ab'.repeat(32),
  poolId: 'pool-1',
  poolName: 'europe-proxmox',
  poolLocation: 'europe',
  agentPubkey: 'cd'.repeat(32),
  label: 'node "1"',
  serverKey: 'ef'.repeat(32),
  privateKeyPath: '/etc/dc-agent/agent.key',
  provisionerType: 'manual',
  delegation: { issuedAt: '2026-01-01T00:00:00.000Z', permissions: ['fetch_contracts', 'heartbeat', 'provision'], signature: '12'.repeat(64) },
};

test('what setup writes for a manual pool is complete and parses back', () => {
  const c = parseConfig(renderConfig(input), '/etc/dc-agent/config.toml');
  assert.equal(c.agent.apiUrl, 'https://api.example.net');
  assert.equal(c.agent.label, 'node "1"');
  assert.equal(c.agent.pollIntervalSeconds, 30);
  assert.equal(c.agent.lockTimeoutSeconds, 300);
  assert.equal(c.agent.maxConcurrent, 2);
  assert.equal(c.agent.stateFile, '/etc/dc-agent/state.json', 'the state file sits next to the config');
  assert.deepEqual(c.provisioner, { type: 'manual', settings: { webhookUrl: null, webhookTimeoutSeconds: 10, hostScope: null } });
  assert.deepEqual(c.delegation?.permissions, ['fetch_contracts', 'heartbeat', 'provision']);
});

function fieldOf(toml: string): string | null {
  try {
    parseConfig(toml, '/x/config.toml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^\/x\/config\.toml/);
    return err.field;
  }
  return null;
}

test('each invalid value is reported with its dotted field name', () => {
  const base = renderConfig({ ...input, provisionerType: 'script' }).replace('command = "CHANGE-ME"', 'command = "/usr/local/bin/prov"');
  assert.equal(fieldOf(base), null);
  assert.equal(fieldOf(base.replace(/provider_pubkey = "[^"]+"/, 'provider_pubkey = "XYZ"')), 'agent.provider_pubkey');
  assert.equal(fieldOf(base.replace('max_concurrent = 2', 'max_concurrent = 2.5')), 'agent.max_concurrent');
  assert.equal(fieldOf(base.replace('user = "dc-agent"', 'user = "Robert; rm -rf /"')), 'provisioner.script.user');
  assert.equal(fieldOf(base.replace('type = "script"', 'type = "vmware"')), 'provisioner.type');
  assert.equal(fieldOf(base.replace('[provisioner.script]', '[provisioner.skript]')), 'provisioner.script');
  assert.equal(fieldOf(base + '\n[extra]\nx = 1\n'), 'extra');
  assert.equal(fieldOf(base.replace('command = "/usr/local/bin/prov"', 'command = "CHANGE-ME"')), 'provisioner.script.command');
  assert.equal(fieldOf(base.replace('# host_scope = "rack-1"', 'host_scope = "rack 1; drop"')), 'provisioner.script.host_scope');
  assert.equal(fieldOf(base.replace('# host_scope = "rack-1"', 'host_scope = "cluster-a/rack-1"')), null);
  const pve = renderConfig({ ...input, provisionerType: 'proxmox' });
  assert.equal(fieldOf(pve), 'provisioner.proxmox.api_url');
  const filled = pve
    .replace('https://CHANGE-ME:8006', 'https://pve1.example.net:8006')
    .replace('dc-agent@pve!CHANGE-ME', 'dc-agent@pve!prov')
    .replace('api_token_secret = "CHANGE-ME"', 'api_token_secret = "0f3c-secret"')
    .replace('node = "CHANGE-ME"', 'node = "pve1"');
  assert.equal(fieldOf(filled), 'provisioner.proxmox.template_vmid');
  assert.equal(fieldOf(filled.replace('template_vmid = 0', 'template_vmid = 9000')), null);
  assert.equal(fieldOf(filled.replace('template_vmid = 0', 'template_vmid = 9000').replace('https://pve1.example.net:8006', 'http://pve1.example.net:8006')), 'provisioner.proxmox.api_url');
  assert.equal(fieldOf(filled.replace('template_vmid = 0', 'template_vmid = 9000').replace('dc-agent@pve!prov', 'just-a-name')), 'provisioner.proxmox.api_token_id');
});

test('every provisioner type core knows has a module: setup writes its section, prints its next steps, and run reads it back', () => {
  for (const type of PROVISIONER_TYPES) {
    assert.equal(PROVISIONERS[type].type, type);
    const text = renderConfig({ ...input, provisionerType: type });
    assert.match(text, new RegExp(`^type = "${type}"\n\n\\[provisioner\\.${type}\\]$`, 'm'));
    assert.ok(nextSteps(type).length > 0, `${type} tells a person what to fill in`);
    // Parses, or stops at a placeholder of its own section (never at another section).
    const field = fieldOf(text);
    assert.ok(field === null || field.startsWith(`provisioner.${type}.`), `${type}: ${field}`);
  }
  assert.deepEqual(nextSteps('vmware'), [], 'a type this agent does not know gets no section and no steps');
  assert.doesNotMatch(renderConfig({ ...input, provisionerType: 'vmware' }), /\[provisioner\.vmware\]/);
});
