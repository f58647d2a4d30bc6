// Routing (DESIGN.md "Regions and routing"; the spec's find_pool_for_offering). One rule, written
// here twice in SQL because two shapes of question are asked, and tested to agree:
//   1. an explicit agent_pool_id wins;
//   2. else the provider's oldest pool (created_at, then pool_id) whose location equals the
//      offering's datacenter_region and whose provisioner_type equals the offering's;
//   3. else no pool.

/**
 * "Which pool does this offering go to?" A LATERAL join adding `route.auto_pool_id`; use with
 * RESOLVED_POOL_ID and POOL_MATCH. `o` is provider_offerings. Index: agent_pools_route_idx.
 */
export const ROUTE_JOIN = `
  LEFT JOIN LATERAL (
    SELECT p.pool_id AS auto_pool_id FROM agent_pools p
    WHERE o.agent_pool_id IS NULL
      AND p.provider_pubkey = o.provider_pubkey
      AND p.location = o.datacenter_region
      AND p.provisioner_type = o.provisioner_type
    ORDER BY p.created_at, p.pool_id
    LIMIT 1
  ) route ON true`;
export const RESOLVED_POOL_ID = `COALESCE(o.agent_pool_id, route.auto_pool_id)`;
export const POOL_MATCH = `CASE WHEN o.agent_pool_id IS NOT NULL THEN 'explicit'
  WHEN route.auto_pool_id IS NOT NULL THEN 'location' ELSE 'none' END`;

/**
 * "Is pool `p` the default (oldest) pool of its location and type?" Boolean SQL over agent_pools
 * alias `p`. A pool receives location-matched offerings only when this is true.
 */
export const POOL_IS_DEFAULT = `NOT EXISTS (
  SELECT 1 FROM agent_pools older
  WHERE older.provider_pubkey = p.provider_pubkey
    AND older.location = p.location
    AND older.provisioner_type = p.provisioner_type
    AND (older.created_at, older.pool_id) < (p.created_at, p.pool_id))`;

/**
 * "Is offering `o` routed to pool `p`?" given `p_is_default` (POOL_IS_DEFAULT computed once per
 * pool). Written as two index-friendly branches instead of evaluating ROUTE_JOIN per offering.
 */
export function routedToPool(o: string, p: string, pIsDefault: string): string {
  return `(${o}.agent_pool_id = ${p}.pool_id
    OR (${o}.agent_pool_id IS NULL AND ${pIsDefault}
        AND ${o}.provider_pubkey = ${p}.provider_pubkey
        AND ${o}.datacenter_region = ${p}.location
        AND ${o}.provisioner_type = ${p}.provisioner_type))`;
}

/**
 * CTE `me`: the caller's pool with its POOL_IS_DEFAULT computed once per statement (not once per
 * offering), read from the parameter `poolParam`; `me AS (SELECT 1)` for a legacy agent (null).
 */
export function meCte(poolParam: string | null): string {
  return poolParam
    ? `me AS MATERIALIZED (SELECT p.pool_id, p.provider_pubkey, p.location, p.provisioner_type, ${POOL_IS_DEFAULT} AS is_default
              FROM agent_pools p WHERE p.pool_id = ${poolParam})`
    : `me AS (SELECT 1)`;
}

/** "Contract c is routed to the caller's pool `me`" (meCte): one primary-key probe of its offering. */
export const ROUTED_TO_ME = `EXISTS (SELECT 1 FROM provider_offerings o2, me p
  WHERE o2.provider_pubkey = c.provider_pubkey AND o2.offering_id = c.offering_id
    AND ${routedToPool('o2', 'p', 'p.is_default')})`;
