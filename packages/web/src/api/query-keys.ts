// Every React Query key of the dashboard, so a fetch and the invalidations after a change name
// the same thing. A list's bare key (`offerings`) is the prefix of each of its pages.
import type { AuditQuery, ContractListQuery, OfferingListQuery, PoolAgentListQuery, StatsWindow } from '@dc/core';

export const queryKeys = {
  provider: ['provider'] as const,
  pools: ['pools'] as const,
  pool: (poolId: string) => ['pool', poolId] as const,
  /** Under the pool's key: invalidating or removing the pool covers its agent pages. */
  poolAgents: (poolId: string, q: PoolAgentListQuery) => ['pool', poolId, 'agents', q] as const,
  tokens: (poolId: string) => ['tokens', poolId] as const,
  offerings: ['offerings'] as const,
  offeringsPage: (q: OfferingListQuery) => ['offerings', q] as const,
  /** One offering, under the list's prefix so a change to offerings refreshes it too. */
  offering: (offeringId: string) => ['offerings', 'one', offeringId] as const,
  contracts: ['contracts'] as const,
  /** The unfinished contracts of one offering (the delete dialog), under the contracts' prefix. */
  offeringBlockers: (offeringId: string) => ['contracts', 'blocking', offeringId] as const,
  contractsPage: (q: ContractListQuery) => ['contracts', q] as const,
  events: (contractId: string) => ['events', contractId] as const,
  poolStats: (poolId: string, window: StatsWindow) => ['pool-stats', poolId, window] as const,
  audit: ['audit'] as const,
  auditPage: (q: AuditQuery) => ['audit', q] as const,
};
