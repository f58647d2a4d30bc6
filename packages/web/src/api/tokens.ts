// Setup tokens: create (the secret is in this one answer only), list pending, revoke.
import type { SetupTokenCreated, SetupTokenInfo } from '@dc/core';
import { providerPath, type Client } from './client.js';

export function createSetupToken(c: Client, poolId: string, input: { label?: string; expires_in_hours?: number }): Promise<SetupTokenCreated> {
  return c.request<SetupTokenCreated>('POST', providerPath(c.publicKey, 'pools', poolId, 'setup-tokens'), { json: input });
}

export async function listPendingTokens(c: Client, poolId: string, signal?: AbortSignal): Promise<SetupTokenInfo[]> {
  return (await c.request<{ items: SetupTokenInfo[] }>('GET', providerPath(c.publicKey, 'pools', poolId, 'setup-tokens'), { ...(signal ? { signal } : {}) })).items;
}

export function revokeSetupToken(c: Client, tokenId: string): Promise<void> {
  return c.request<void>('DELETE', providerPath(c.publicKey, 'setup-tokens', tokenId));
}

/** The pieces of a setup one-liner (`--token T --api-url U --server-key K`), for the dc-agent form. */
export function parseSetupCommand(cmd: string): { token: string; apiUrl: string; serverKey: string } | null {
  const token = /--token\s+(\S+)/.exec(cmd)?.[1];
  const apiUrl = /--api-url\s+(\S+)/.exec(cmd)?.[1];
  const serverKey = /--server-key\s+([0-9a-f]{64})/.exec(cmd)?.[1];
  return token && apiUrl && serverKey ? { token, apiUrl, serverKey } : null;
}

/** `dc-agent setup …` for hosts where dc-agent is already installed. */
export function dcAgentCommand(cmd: string): string | null {
  const p = parseSetupCommand(cmd);
  return p ? `dc-agent setup --token ${p.token} --api-url ${p.apiUrl} --server-key ${p.serverKey}` : null;
}
