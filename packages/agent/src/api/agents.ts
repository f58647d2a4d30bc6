// dc-api resource: agents (setup, heartbeat, the server key).
import { ENDPOINTS, type AgentSetupInput, type AgentSetupResult, type HeartbeatInput, type HeartbeatResult } from '@dc/core';
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

  private provider(): string {
    if (!this.providerPubkey) throw new Error('provider_pubkey is not configured');
    return this.providerPubkey;
  }
}
