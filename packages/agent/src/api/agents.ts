// dc-api resource: agents (setup, heartbeat, the server key).
import type { AgentSetupResult, HeartbeatInput, HeartbeatResult } from '@dc/core';
import type { Transport } from './transport.js';

export class AgentsApi {
  constructor(
    private readonly t: Transport,
    private readonly providerPubkey: string | null = null,
  ) {}

  /** The key that signs delegations (unsigned GET). */
  async serverKey(signal?: AbortSignal): Promise<string> {
    const r = await this.t.request<{ public_key: string }>('GET', '/api/v1/server-key', { signed: false, signal });
    return r.public_key;
  }

  /** Registers this transport's key with a one-time token (signed by that key). */
  setup(input: { token: string; agentPubkey: string; label?: string }, signal?: AbortSignal): Promise<AgentSetupResult> {
    return this.t.request<AgentSetupResult>('POST', '/api/v1/agents/setup', {
      body: { token: input.token, agent_pubkey: input.agentPubkey, ...(input.label ? { label: input.label } : {}) },
      signal,
    });
  }

  heartbeat(body: HeartbeatInput, signal?: AbortSignal): Promise<HeartbeatResult> {
    return this.t.request<HeartbeatResult>('POST', `/api/v1/providers/${this.provider()}/heartbeat`, { body, signal });
  }

  private provider(): string {
    if (!this.providerPubkey) throw new Error('provider_pubkey is not configured');
    return this.providerPubkey;
  }
}
