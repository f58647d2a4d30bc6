// The one delegation check: setup on the API's answer, run and doctor on what setup stored.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delegationMessage, type AgentSetupResult } from '@dc/core';
import { generateIdentity, signMessage } from '@dc/core/node';
import { parseConfig, renderConfig } from '../src/config.js';
import { checkIdentity, checkSetupAnswer } from '../src/delegation.js';
import { runDoctor } from '../src/doctor.js';
import { CliError, ConfigError } from '../src/errors.js';
import { writeKeyFile } from '../src/keys.js';
import { cleanup, tempDir } from './helpers.js';

const dir = tempDir();
after(() => cleanup(dir));

const server = generateIdentity();
const agent = generateIdentity();
const provider = generateIdentity().publicKey;

function answer(over: Partial<AgentSetupResult['delegation']> = {}, signer = server): AgentSetupResult {
  const delegation = { provider_pubkey: provider, agent_pubkey: agent.publicKey, pool_id: 'pool-1', permissions: ['fetch_contracts', 'heartbeat', 'provision'], issued_at: '2026-01-01T00:00:00.000Z' };
  return {
    provider_pubkey: provider,
    pool_id: 'pool-1',
    pool_name: 'eu',
    pool_location: 'europe',
    provisioner_type: 'manual',
    permissions: delegation.permissions,
    delegation: { ...delegation, ...over },
    delegation_signature: signMessage(signer.privateKey, delegationMessage(delegation)),
  };
}

test('setup accepts only a delegation to its own key, for the provider and pool of the answer, signed by the server key', () => {
  checkSetupAnswer(answer(), agent.publicKey, server.publicKey);
  assert.throws(() => checkSetupAnswer(answer(), generateIdentity().publicKey, server.publicKey), (e) => e instanceof CliError && /for another key, provider or pool/.test(e.message));
  assert.throws(() => checkSetupAnswer(answer({ pool_id: 'pool-2' }), agent.publicKey, server.publicKey), /for another key, provider or pool/);
  assert.throws(() => checkSetupAnswer(answer({}, generateIdentity()), agent.publicKey, server.publicKey), (e) => e instanceof CliError && /does not verify against server key/.test(e.message));
});

test('run and doctor refuse a stored delegation that does not verify, naming the field', async () => {
  const a = answer();
  const configPath = join(dir, 'config.toml');
  const keyPath = join(dir, 'agent.key');
  writeKeyFile(keyPath, agent);
  const write = (signature: string) => {
    const text = renderConfig({
      apiUrl: 'https://api.example.net', providerPubkey: provider, poolId: 'pool-1', poolName: 'eu', poolLocation: 'europe', agentPubkey: agent.publicKey, label: null,
      serverKey: server.publicKey, privateKeyPath: keyPath, provisionerType: 'manual', delegation: { issuedAt: a.delegation.issued_at, permissions: a.delegation.permissions, signature },
    });
    writeFileSync(configPath, text, { mode: 0o600 });
    return parseConfig(text, configPath);
  };

  checkIdentity(write(a.delegation_signature), agent);
  const doctorOk = await runDoctor(configPath, { offline: true });
  assert.equal(doctorOk.checks.find((c) => c.name === 'delegation')?.ok, true);

  const forged = write(signMessage(generateIdentity().privateKey, delegationMessage(a.delegation)));
  assert.throws(() => checkIdentity(forged, agent), (e) => e instanceof ConfigError && e.field === 'delegation.signature');
  assert.throws(() => checkIdentity(forged, generateIdentity()), (e) => e instanceof ConfigError && e.field === 'keys.private_key_path');
  const doctor = await runDoctor(configPath, { offline: true });
  const check = doctor.checks.find((c) => c.name === 'delegation');
  assert.equal(check?.ok, false);
  assert.match(check!.message, /delegation\.signature does not verify for this key, provider and pool against agent\.server_key/);
});
