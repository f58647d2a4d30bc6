// Pools: list with counts, detail with agents, create, partial update, delete.
import type { Pool, PoolCreate, PoolDetail, PoolUpdate } from '@dc/core';
import { providerPath, type Client } from './client.js';

export async function listPools(c: Client, signal?: AbortSignal): Promise<Pool[]> {
  return (await c.request<{ items: Pool[] }>('GET', providerPath(c.publicKey, 'pools'), { ...(signal ? { signal } : {}) })).items;
}

export function getPool(c: Client, poolId: string, signal?: AbortSignal): Promise<PoolDetail> {
  return c.request<PoolDetail>('GET', providerPath(c.publicKey, 'pools', poolId), { ...(signal ? { signal } : {}) });
}

export function createPool(c: Client, input: PoolCreate): Promise<Pool> {
  return c.request<Pool>('POST', providerPath(c.publicKey, 'pools'), { json: input });
}

export function updatePool(c: Client, poolId: string, patch: PoolUpdate): Promise<Pool> {
  return c.request<Pool>('PUT', providerPath(c.publicKey, 'pools', poolId), { json: patch });
}

export function deletePool(c: Client, poolId: string): Promise<void> {
  return c.request<void>('DELETE', providerPath(c.publicKey, 'pools', poolId));
}
