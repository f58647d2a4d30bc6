// Routing (DESIGN.md "Regions and routing"; the spec's find_pool_for_offering). The rule:
//   1. an explicit agent_pool_id wins;
//   2. else the provider's oldest pool (created_at, then pool_id) whose location equals the
//      offering's datacenter_region and whose provisioner_type equals the offering's;
//   3. else no pool.
// The rule is evaluated here only, when something it reads changes (refreshRoutes), and stored:
// provider_offerings.route_pool_id, and contract_sign_requests.route_pool_id for the contracts
// that can still become provision work (ROUTED_STATUSES; a new contract copies its offering's in a
// trigger, migration 007). Everything else reads the stored route.
// Fallback pools (DESIGN.md "Fleet operations (v3)") extend who may take a routed contract:
// fallbackRoutesCte, which reads the eligibility rule (eligibility.ts).
//
// Race-freedom of the stored route: every transaction that changes pools locks the provider's row
// FOR NO KEY UPDATE first, every offering write locks it FOR SHARE first (lockRouting), so an
// offering's route is always computed from committed pools; contract creation reads the offering
// FOR SHARE, so a route refresh waits for it or it waits for the refresh, and the refresh writes
// contracts in a statement after the one that changed the offering (it sees the new contract).
import type { Queryable } from '../db/db.js';
import { FALLBACK_CHAIN_MAX_DEPTH } from '../timing.js';
import { poolHasEligibleAgentSql } from './eligibility.js';
import { routedStatusSql } from './contract-state.js';

/**
 * The rule as SQL: a LATERAL join adding `route.auto_pool_id` to offering `o` (index
 * agent_pools_route_idx); RESOLVED_POOL_ID is then the pool. Only refreshRoutes (and tests,
 * as the oracle of the stored route) evaluate it.
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
/** How offering `o` got its stored route. */
export const POOL_MATCH = `CASE WHEN o.agent_pool_id IS NOT NULL THEN 'explicit'
  WHEN o.route_pool_id IS NOT NULL THEN 'location' ELSE 'none' END`;

/**
 * Locks the provider's row, the FIRST statement of a transaction that changes what routes are
 * computed from: `pools` (create, update, delete: FOR NO KEY UPDATE) excludes every other such
 * transaction of the provider; `offerings` (create, update, import: FOR SHARE) excludes only pool
 * changes. Contract creation's foreign-key check (FOR KEY SHARE) conflicts with neither.
 */
export async function lockRouting(tx: Queryable, provider: string, changing: 'pools' | 'offerings'): Promise<void> {
  await tx.query(`SELECT 1 FROM provider_registrations WHERE pubkey = $1 FOR ${changing === 'pools' ? 'NO KEY UPDATE' : 'SHARE'}`, [provider]);
}

/**
 * Re-evaluates the rule for the provider's offerings (`offeringIds`, or all after a pool change)
 * and stores what changed, on the offerings and on their contracts in ROUTED_STATUSES. Run after
 * the change, under lockRouting. Returns how many offerings changed route.
 */
export async function refreshRoutes(tx: Queryable, provider: string, offeringIds: readonly string[] | null = null): Promise<number> {
  const changed = await tx.query<{ offering_id: string; route_pool_id: string | null }>(
    `UPDATE provider_offerings x SET route_pool_id = r.pool_id
     FROM (SELECT o.offering_id, ${RESOLVED_POOL_ID} AS pool_id FROM provider_offerings o ${ROUTE_JOIN}
           WHERE o.provider_pubkey = $1 ${offeringIds ? 'AND o.offering_id = ANY($2::text[])' : ''}) r
     WHERE x.provider_pubkey = $1 AND x.offering_id = r.offering_id AND x.route_pool_id IS DISTINCT FROM r.pool_id
     RETURNING x.offering_id, x.route_pool_id`,
    offeringIds ? [provider, offeringIds] : [provider],
  );
  if (changed.rowCount === 0) return 0;
  // A statement of its own: its snapshot includes contracts created while the offering was locked.
  await tx.query(
    `UPDATE contract_sign_requests c SET route_pool_id = x.pool_id
     FROM unnest($2::text[], $3::text[]) AS x(offering_id, pool_id)
     WHERE c.provider_pubkey = $1 AND c.offering_id = x.offering_id AND ${routedStatusSql()}
       AND c.route_pool_id IS DISTINCT FROM x.pool_id`,
    [provider, changed.rows.map((r) => r.offering_id), changed.rows.map((r) => r.route_pool_id)],
  );
  return changed.rowCount;
}

/**
 * "Is pool `p` the default (oldest) pool of its location and type?" Boolean SQL over agent_pools
 * alias `p` (the pools list shows it: a pool receives location-matched offerings only then).
 */
export const POOL_IS_DEFAULT = `NOT EXISTS (
  SELECT 1 FROM agent_pools older
  WHERE older.provider_pubkey = p.provider_pubkey
    AND older.location = p.location
    AND older.provisioner_type = p.provisioner_type
    AND (older.created_at, older.pool_id) < (p.created_at, p.pool_id))`;

/** "Contract c is routed to pool `poolParam`" (its stored route). */
export const routedTo = (poolParam: string) => `c.route_pool_id = ${poolParam}`;

/**
 * CTE `fb`: the pools whose fallback chain leads to the caller's pool `poolParam` (DESIGN.md
 * "Fallback pools"), found by walking the chain backwards from it, each with
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
    SELECT pool_id, delay_s, open_now FROM chain)`;
}

/** SQL: contract `c`, routed to the `fb` pool `p`, may go to the caller's pool now (the chain rule). */
export const FALLBACK_OPEN = `(p.open_now OR now() >= COALESCE(c.provisionable_at, c.created_at) + make_interval(secs => p.delay_s))`;

/** "Contract c is routed to a pool of `fb`" (fallbackRoutesCte), and (`open`) may go to the caller's pool now. */
export function routedViaFallbackSql(open: boolean): string {
  return `EXISTS (SELECT 1 FROM fb p WHERE p.pool_id = c.route_pool_id${open ? ` AND ${FALLBACK_OPEN}` : ''})`;
}

/** FROM clause of the contracts `c` routed to a pool `p` of `fb`: one index walk per (few) fallback pool. */
export const FALLBACK_CONTRACTS_FROM = `fb p JOIN contract_sign_requests c ON c.route_pool_id = p.pool_id`;
