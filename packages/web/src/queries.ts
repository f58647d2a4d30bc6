// React Query hooks: each reads one endpoint under its key from api/query-keys.ts, polled so
// tables stay live without reloads.
import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import type { AuditQuery, ContractListQuery, OfferingListQuery, PoolAgentListQuery, Provider, StatsWindow } from '@dc/core';
import { ApiError, type Client } from './api/client.js';
import { queryKeys } from './api/query-keys.js';
import { useClient, useMaybeRegistered } from './session.js';

/** How often live tables re-read the API (ms): an agent coming online shows within this. */
const POLL_MS = 2500;
/** Statistics move per bucket (a minute at the finest): re-read them less often. */
const STATS_POLL_MS = 15_000;

/**
 * The registration, or null when this key has not registered a name yet (404). A key generated in
 * this browser and not registered yet is not asked about: the 404 would only add a console error.
 */
export function useProvider() {
  const c = useClient();
  const ask = useMaybeRegistered();
  return useQuery({
    queryKey: queryKeys.provider,
    queryFn: async (): Promise<Provider | null> => {
      if (!ask) return null;
      try {
        return await c.call('getProvider');
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
    },
    staleTime: 60_000,
  });
}

export function usePools() {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.pools,
    queryFn: async ({ signal }) => (await c.call('listPools', { signal })).items,
    refetchInterval: POLL_MS,
  });
}

export function usePool(poolId: string) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.pool(poolId),
    // The agents come a page at a time from usePoolAgents; here only the pool and its counts.
    queryFn: ({ signal }) => c.call('getPool', { params: { pool_id: poolId }, query: { agents_limit: 0 }, signal }),
    refetchInterval: POLL_MS,
  });
}

/** One page of a pool's agents, filtered on the server; also what a filter change asks for at once. */
export function poolAgentsQuery(c: Client, poolId: string, q: PoolAgentListQuery) {
  return queryOptions({
    queryKey: queryKeys.poolAgents(poolId, q),
    queryFn: ({ signal }) => c.call('listPoolAgents', { params: { pool_id: poolId }, query: q, signal }),
  });
}

/** One page of a pool's agents, filtered on the server (a 1,000-agent pool sends 100 rows). */
export function usePoolAgents(poolId: string, q: PoolAgentListQuery) {
  const c = useClient();
  return useQuery({
    ...poolAgentsQuery(c, poolId, q),
    refetchInterval: POLL_MS,
    placeholderData: keepPreviousData,
  });
}

export function usePendingTokens(poolId: string) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.tokens(poolId),
    queryFn: async ({ signal }) => (await c.call('listSetupTokens', { params: { pool_id: poolId }, signal })).items,
    refetchInterval: POLL_MS,
  });
}

/** One page of offerings; also what OfferingsPage prefetches for "Next". */
export function offeringsQuery(c: Client, q: OfferingListQuery) {
  return queryOptions({ queryKey: queryKeys.offeringsPage(q), queryFn: ({ signal }) => c.call('listOfferings', { query: q, signal }) });
}

export function useOfferings(q: OfferingListQuery) {
  const c = useClient();
  return useQuery({
    ...offeringsQuery(c, q),
    refetchInterval: POLL_MS,
    // Keep showing the previous page while the next filter/page loads (no flash of "Loading").
    placeholderData: keepPreviousData,
  });
}

export function useContracts(q: ContractListQuery) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.contractsPage(q),
    queryFn: ({ signal }) => c.call('listContracts', { query: q, signal }),
    refetchInterval: POLL_MS,
    placeholderData: keepPreviousData,
  });
}

export function useContractEvents(contractId: string) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.events(contractId),
    queryFn: async ({ signal }) => (await c.call('contractEvents', { params: { id: contractId }, signal })).items,
    refetchInterval: POLL_MS,
  });
}

export function usePoolStats(poolId: string, window: StatsWindow) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.poolStats(poolId, window),
    queryFn: ({ signal }) => c.call('poolStats', { params: { pool_id: poolId }, query: { window }, signal }),
    refetchInterval: STATS_POLL_MS,
    placeholderData: keepPreviousData,
  });
}

export function useAudit(q: AuditQuery) {
  const c = useClient();
  return useQuery({
    queryKey: queryKeys.auditPage(q),
    queryFn: ({ signal }) => c.call('listAudit', { query: q, signal }),
    refetchInterval: POLL_MS,
    placeholderData: keepPreviousData,
  });
}
