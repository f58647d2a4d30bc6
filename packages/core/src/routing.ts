// The routing rule (DESIGN.md "Regions and routing"; the spec's find_pool_for_offering) in its
// pure form, for clients that show where an offering will go before it is saved, and for tests
// that check the server's SQL (store/routing.ts) against it:
//   1. an explicit agent_pool_id wins;
//   2. else the provider's oldest pool (created_at, then pool_id) whose location equals the
//      offering's region and whose provisioner_type equals the offering's;
//   3. else no pool.
import { countryToRegion, type RegionId } from './regions.js';

export interface RoutablePool {
  pool_id: string;
  location: string;
  provisioner_type: string;
  created_at: string;
}

export interface RoutableOffering {
  datacenter_country: string;
  provisioner_type: string;
  agent_pool_id?: string | null;
}

export type PoolMatchKind = 'explicit' | 'location' | 'none';

export interface Route {
  pool_id: string | null;
  pool_match: PoolMatchKind;
  datacenter_region: RegionId;
}

/** Oldest first: by created_at, then pool_id (the tie-break the SQL uses). */
export function comparePoolAge(a: RoutablePool, b: RoutablePool): number {
  const ta = Date.parse(a.created_at);
  const tb = Date.parse(b.created_at);
  if (ta !== tb) return ta - tb;
  return a.pool_id < b.pool_id ? -1 : a.pool_id > b.pool_id ? 1 : 0;
}

/** Where an offering is routed among the provider's pools. */
export function routeOffering(offering: RoutableOffering, pools: readonly RoutablePool[]): Route {
  const region = countryToRegion(offering.datacenter_country);
  if (offering.agent_pool_id) return { pool_id: offering.agent_pool_id, pool_match: 'explicit', datacenter_region: region };
  const match = pools
    .filter((p) => p.location === region && p.provisioner_type === offering.provisioner_type)
    .sort(comparePoolAge)[0];
  return match
    ? { pool_id: match.pool_id, pool_match: 'location', datacenter_region: region }
    : { pool_id: null, pool_match: 'none', datacenter_region: region };
}
