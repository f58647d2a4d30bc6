// Routing (DESIGN.md "Regions and routing"; the spec's find_pool_for_offering). One rule, written
// here twice in SQL because two shapes of question are asked, and tested to agree:
//   1. an explicit agent_pool_id wins;
//   2. else the provider's oldest pool (created_at, then pool_id) whose location equals the
//      offering's datacenter_region and whose provisioner_type equals the offering's;
//   3. else no pool.
// Fallback pools (DESIGN.md "Fleet operations (v3)") extend who may take a routed contract:
// routesCte, which reads the eligibility rule (eligibility.ts).
import { FALLBACK_CHAIN_MAX_DEPTH } from '../timing.js';
import { poolHasEligibleAgentSql } from './eligibility.js';

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
 * offering), read from the parameter `poolParam`.
 */
export function meCte(poolParam: string): string {
  return `me AS MATERIALIZED (SELECT p.pool_id, p.provider_pubkey, p.location, p.provisioner_type, ${POOL_IS_DEFAULT} AS is_default
            FROM agent_pools p WHERE p.pool_id = ${poolParam})`;
}

/** "Contract c is routed to the caller's pool `me`" (meCte): one primary-key probe of its offering. */
export const ROUTED_TO_ME = `EXISTS (SELECT 1 FROM provider_offerings o2, me p
  WHERE o2.provider_pubkey = c.provider_pubkey AND o2.offering_id = c.offering_id
    AND ${routedToPool('o2', 'p', 'p.is_default')})`;

/**
 * CTE `fb`: the pools whose fallback chain leads to the caller's pool `poolParam` (DESIGN.md
 * "Fallback pools"), found by walking the chain backwards from it, each with POOL_IS_DEFAULT,
 * `delay_s` (the fallback timers of the pools from it up to the caller's, summed; NULL when one of
 * them is null = "only when unavailable") and `open_now` (none of those pools has an eligible agent
 * now). The caller's pool takes a contract routed to an `fb` pool when open_now, or now() >=
 * provisionable_at + delay_s (FALLBACK_OPEN). Empty unless some pool falls back to the caller's
 * (index agent_pools_fallback_idx), which is the common case: queries skip their fallback part then.
 */
export function fallbackRoutesCte(poolParam: string, offline: string): string {
  return `fb AS MATERIALIZED (
    WITH RECURSIVE chain (pool_id, delay_s, open_now, depth) AS (
      SELECT r.pool_id, r.fallback_after_seconds, NOT ${poolHasEligibleAgentSql('r', offline)}, 1
      FROM agent_pools r WHERE r.fallback_pool_id = ${poolParam}
      UNION ALL
      SELECT r.pool_id, ch.delay_s + r.fallback_after_seconds, ch.open_now AND NOT ${poolHasEligibleAgentSql('r', offline)}, ch.depth + 1
      FROM chain ch JOIN agent_pools r ON r.fallback_pool_id = ch.pool_id
      WHERE ch.depth < ${FALLBACK_CHAIN_MAX_DEPTH})
    SELECT p.pool_id, p.provider_pubkey, p.location, p.provisioner_type, ${POOL_IS_DEFAULT} AS is_default, ch.delay_s, ch.open_now
    FROM chain ch JOIN agent_pools p ON p.pool_id = ch.pool_id)`;
}

/** SQL: contract `c`, routed to the `fb` pool `p`, may go to the caller's pool now (the chain rule). */
export const FALLBACK_OPEN = `(p.open_now OR now() >= COALESCE(c.provisionable_at, c.created_at) + make_interval(secs => p.delay_s))`;

/** "Contract c is routed to a pool of `fb`" (fallbackRoutesCte), and (`open`) may go to the caller's pool now. */
export function routedViaFallbackSql(open: boolean): string {
  return `EXISTS (SELECT 1 FROM provider_offerings o2, fb p
  WHERE o2.provider_pubkey = c.provider_pubkey AND o2.offering_id = c.offering_id
    AND ${routedToPool('o2', 'p', 'p.is_default')}${open ? ` AND ${FALLBACK_OPEN}` : ''})`;
}

/**
 * FROM clause of the contracts `c` of provider `provider` routed to a pool `p` of `fb`: from the
 * (few) fallback pools to their offerings to those offerings' contracts, never a walk over every
 * contract of the provider. An offering routes to one pool, so each contract appears once.
 */
export function fallbackContractsFrom(provider: string): string {
  return `fb p
    JOIN provider_offerings o2 ON o2.provider_pubkey = ${provider} AND ${routedToPool('o2', 'p', 'p.is_default')}
    JOIN contract_sign_requests c ON c.provider_pubkey = o2.provider_pubkey AND c.offering_id = o2.offering_id`;
}
