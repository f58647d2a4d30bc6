// dc-api resource: agents (setup, heartbeat, the server key, and the agent's own record: state,
// health and capacity, which `drain`, `resume` and `status` read and set).
import { ENDPOINTS, type AgentSetupInput, type AgentSetupResult, type AgentUpdate, type HeartbeatInput, type HeartbeatResult, type PoolAgent } from '@dc/core';
import type { Transport } from './transport.js';

export class AgentsApi {
  constructor(
    private readonly t: Transport,
    private readonly providerPubkey: string | null = null,
  ) {}

  /** The key that signs delegations (unsigned GET). */
  async serverKey(signal?: AbortSignal): Promise<string> {
    return (await this.t.call(ENDPOINTS.serverKey, { signal })).public_key;
  }

  /** Registers this transport's key with a one-time token (signed by that key). */
  setup(body: AgentSetupInput, signal?: AbortSignal): Promise<AgentSetupResult> {
    return this.t.call(ENDPOINTS.setupAgent, { body, signal });
  }

  heartbeat(body: HeartbeatInput, signal?: AbortSignal): Promise<HeartbeatResult> {
    return this.t.call(ENDPOINTS.heartbeat, { params: { pubkey: this.provider() }, body, signal });
  }

  /** One agent's record (this agent's own: the API lets an agent read only itself). */
  get(agentPubkey: string, signal?: AbortSignal): Promise<PoolAgent> {
    return this.t.call(ENDPOINTS.getAgent, { params: { pubkey: this.provider(), agent_pubkey: agentPubkey }, signal });
  }

  /** Sets this agent's state (`draining` or `active`) and reason; an agent may change only itself. */
  update(agentPubkey: string, body: AgentUpdate, signal?: AbortSignal): Promise<PoolAgent> {
    return this.t.call(ENDPOINTS.updateAgent, { params: { pubkey: this.provider(), agent_pubkey: agentPubkey }, body, signal });
  }

  private provider(): string {
    if (!this.providerPubkey) throw new Error('provider_pubkey is not configured');
    return this.providerPubkey;
  }
}
