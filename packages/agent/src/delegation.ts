// The delegation (DESIGN.md "Pools, tokens, agents"): the server key's signed statement that this
// agent key acts for a provider in a pool. Checked in one place: by setup on the API's answer
// before anything is written, and by run and doctor on what setup stored.
import { delegationMessage, type AgentSetupResult, type DelegationFields } from '@dc/core';
import { publicKeyFromHex, verifyMessage, type Identity } from '@dc/core/node';
import type { AgentConfig } from './config.js';
import { CliError, ConfigError } from './errors.js';

/** Whether `signature` is the server key's signature of this delegation. */
export function delegationVerifies(d: DelegationFields, signature: string, serverKey: string): boolean {
  return verifyMessage(publicKeyFromHex(serverKey), delegationMessage(d), signature);
}

/** setup: the API's answer must delegate to our new key, for the provider and pool it names, signed by the server key. */
export function checkSetupAnswer(r: AgentSetupResult, agentPubkey: string, serverKey: string): void {
  const d = r.delegation;
  if (d.agent_pubkey !== agentPubkey || d.provider_pubkey !== r.provider_pubkey || d.pool_id !== r.pool_id) {
    throw new CliError('the API answered with a delegation for another key, provider or pool; refusing it.');
  }
  if (!delegationVerifies(d, r.delegation_signature, serverKey)) {
    throw new CliError(`the delegation's signature does not verify against server key ${serverKey}; refusing it (nothing was written).`);
  }
}

/** run and doctor: the key file and the stored delegation belong together; throws ConfigError otherwise. */
export function checkIdentity(config: AgentConfig, identity: Identity): void {
  const a = config.agent;
  if (a.agentPubkey && a.agentPubkey !== identity.publicKey) {
    throw new ConfigError(
      `${config.path}: the key in ${config.keys.privateKeyPath} (public ${identity.publicKey.slice(0, 16)}…) is not agent.agent_pubkey (${a.agentPubkey.slice(0, 16)}…); the key file and the config belong to different setups.`,
      'keys.private_key_path',
    );
  }
  const d = config.delegation;
  if (d && a.serverKey) {
    const fields = { provider_pubkey: a.providerPubkey, agent_pubkey: identity.publicKey, pool_id: a.poolId, permissions: d.permissions, issued_at: d.issuedAt };
    if (!delegationVerifies(fields, d.signature, a.serverKey)) {
      throw new ConfigError(`${config.path}: delegation.signature does not verify for this key, provider and pool against agent.server_key.`, 'delegation.signature');
    }
  }
}
