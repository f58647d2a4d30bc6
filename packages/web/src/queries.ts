// React Query hooks: one query key per resource, polled so tables stay live without reloads.
import { keepPreviousData, useQueries, useQuery } from '@tanstack/react-query';
import type { ContractStatus, OfferingListQuery } from '@dc/core';
import { POLL_MS } from './api/constants.js';
import { getPool, listPools } from './api/pools.js';
import { listPendingTokens } from './api/tokens.js';
import { listOfferings } from './api/offerings.js';
import { listContractEvents, listContracts } from './api/contracts.js';
import { useClient } from './session.js';

export const keys = {
  pools: ['pools'] as const,
  pool: (id: string) => ['pool', id] as const,
  tokens: (poolId: string) => ['tokens', poolId] as const,
  offerings: (q: OfferingListQuery) => ['offerings', q] as const,
  contracts: (q: object) => ['contracts', q] as const,
  events: (id: string) => ['events', id] as const,
};

export function usePools() {
  const c = useClient();
  return useQuery({ queryKey: keys.pools, queryFn: ({ signal }) => listPools(c, signal), refetchInterval: POLL_MS });
}

export function usePool(poolId: string) {
  const c = useClient();
  return useQuery({ queryKey: keys.pool(poolId), queryFn: ({ signal }) => getPool(c, poolId, signal), refetchInterval: POLL_MS });
}

export function usePendingTokens(poolId: string) {
  const c = useClient();
  return useQuery({ queryKey: keys.tokens(poolId), queryFn: ({ signal }) => listPendingTokens(c, poolId, signal), refetchInterval: POLL_MS });
}

export function useOfferings(q: OfferingListQuery) {
  const c = useClient();
  return useQuery({
    queryKey: keys.offerings(q),
    queryFn: ({ signal }) => listOfferings(c, q, signal),
    refetchInterval: POLL_MS,
    // Keep showing the previous page while the next filter/page loads (no flash of "Loading").
    placeholderData: keepPreviousData,
  });
}

export function useContracts(q: { status?: ContractStatus; limit: number; offset: number }) {
  const c = useClient();
  return useQuery({ queryKey: keys.contracts(q), queryFn: ({ signal }) => listContracts(c, q, signal), refetchInterval: POLL_MS, placeholderData: keepPreviousData });
}

export function useContractEvents(contractId: string) {
  const c = useClient();
  return useQuery({ queryKey: keys.events(contractId), queryFn: ({ signal }) => listContractEvents(c, contractId, signal), refetchInterval: POLL_MS });
}

/** agent_pubkey → label over every pool (for lock holders and provisioned-by in contracts). */
export function useAgentLabels(): Map<string, string | null> {
  const c = useClient();
  const pools = usePools();
  const details = useQueries({
    queries: (pools.data ?? []).map((p) => ({
      queryKey: keys.pool(p.pool_id),
      queryFn: ({ signal }: { signal: AbortSignal }) => getPool(c, p.pool_id, signal),
      refetchInterval: 10_000,
    })),
  });
  const m = new Map<string, string | null>();
  for (const d of details) for (const a of d.data?.agents ?? []) m.set(a.agent_pubkey, a.label);
  return m;
}
