// Provider registration: PUT/GET /api/v1/providers/{pk}.
import type { Provider } from '@dc/core';
import { ApiError, providerPath, type Client } from './client.js';

/** The registration, or null when this key has not registered a name yet (404). */
export async function getProvider(c: Client): Promise<Provider | null> {
  try {
    return await c.request<Provider>('GET', providerPath(c.publicKey));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export function registerProvider(c: Client, name: string): Promise<Provider> {
  return c.request<Provider>('PUT', providerPath(c.publicKey), { json: { name } });
}
