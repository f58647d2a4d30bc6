// Agents: revoke (the agent's next signed call is refused; its leases are released).
import { providerPath, type Client } from './client.js';

export function revokeAgent(c: Client, agentPubkey: string): Promise<void> {
  return c.request<void>('DELETE', providerPath(c.publicKey, 'agents', agentPubkey));
}
