// Pools and their statistics. Each endpoint has its own query; counts follow routing.ts.
import { randomBytes } from 'node:crypto';
import { FALLBACK_AFTER_DEFAULT_SECONDS, type Ghost, type Orphan, type Pool, type PoolAgent, type PoolCreate, type PoolUpdate } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, fail, notFound, pgCode } from '../errors.js';
import { FALLBACK_CHAIN_MAX_DEPTH } from '../timing.js';
import { POOL_IS_DEFAULT, lockRouting, refreshRoutes } from './routing.js';
import { ownerStickySql } from './leases.js';
import { WAITING_COUNT_SQL, agentSuccessRateSql, successRateSql, waitingCte } from './stats.js';
import { providerActor, recordAudit } from './audit.js';
import { notifyPoolWork } from './work-notify.js';

/** Contracts that occupy the pool they are routed to: paid and being provisioned. */
export const ACTIVE_CONTRACT_STATUSES = `('accepted', 'provisioning')`;
/**
 * Contracts whose machine exists (DESIGN.md v3 "Counts"): they count for the pool that built them
 * (provisioned_pool_id) and the agent that owns them (teardown_owner), whatever the payment.
 */
export const MACHINE_STATUSES = `('provisioned', 'terminating', 'termination_failed')`;

export function newPoolId(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'pool';
  return `${slug}-${randomBytes(4).toString('hex')}`;
}

// $1 provider, $2 pool id or NULL for all, $3 offline-after seconds.
const POOL_STATS_SQL = `
  WITH ${waitingCte('c.provider_pubkey = $1')},
  p AS (
    SELECT p.*, ${POOL_IS_DEFAULT} AS is_default
    FROM agent_pools p
    WHERE p.provider_pubkey = $1 AND ($2::text IS NULL OR p.pool_id = $2)
  ),
  -- Active contracts counted once per offering (an index-only scan), then summed per pool.
  -- MATERIALIZED: computed once, not once per pool (which also kept the plan above the JIT threshold).
  active AS MATERIALIZED (
    SELECT c.offering_id, count(*) AS n FROM contract_sign_requests c
    WHERE c.provider_pubkey = $1 AND c.status IN ${ACTIVE_CONTRACT_STATUSES} AND c.payment_status = 'succeeded'
    GROUP BY c.offering_id
  )
  SELECT p.pool_id, p.provider_pubkey, p.name, p.location, p.provisioner_type, p.created_at,
    p.paused, p.fallback_pool_id, p.fallback_after_seconds, p.fallback_cross_region,
    (SELECT count(*) FROM provider_agent_delegations d
      WHERE d.pool_id = p.pool_id AND d.revoked_at IS NULL)::int AS agents_count,
    (SELECT count(*) FROM provider_agent_delegations d JOIN agent_status s USING (agent_pubkey)
      WHERE d.pool_id = p.pool_id AND d.revoked_at IS NULL
        AND s.last_seen_at > now() - make_interval(secs => $3))::int AS online_count,
    (SELECT count(*) FROM provider_offerings o
      WHERE o.route_pool_id = p.pool_id AND o.status = 'active')::int AS offerings_count,
    (SELECT COALESCE(sum(k.n), 0) FROM active k
      JOIN provider_offerings o ON o.provider_pubkey = $1 AND o.offering_id = k.offering_id
      WHERE o.route_pool_id = p.pool_id)::int
    + (SELECT count(*) FROM contract_sign_requests m
        WHERE m.provisioned_pool_id = p.pool_id AND m.status IN ${MACHINE_STATUSES})::int AS active_contracts,
    ${successRateSql('p.pool_id', '24h')} AS success_rate_24h,
    ${WAITING_COUNT_SQL} AS waiting
  FROM p
  ORDER BY p.name, p.pool_id`;

export async function listPools(db: Queryable, provider: string, offlineAfter: number): Promise<Pool[]> {
  return (await db.query<Pool>(POOL_STATS_SQL, [provider, null, offlineAfter])).rows;
}

export async function getPool(db: Queryable, provider: string, poolId: string, offlineAfter: number): Promise<Pool> {
  const row = (await db.query<Pool>(POOL_STATS_SQL, [provider, poolId, offlineAfter])).rows[0];
  if (!row) throw notFound(`Pool ${poolId}`);
  return row;
}

/** Escapes LIKE's wildcards in a search term and wraps it for a substring match. */
export function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

export interface AgentPage {
  limit?: number | undefined;
  offset?: number | undefined;
  status?: PoolAgent['status'] | undefined;
  q?: string | undefined;
}

/**
 * SQL: the stored fields of the agent object (core PoolAgent) over delegation `d` and its status
 * row `s` (LEFT JOIN); `offline` the DC_AGENT_OFFLINE_AFTER_SECONDS parameter.
 */
function agentStoredColumns(offline: string): string {
  return `d.agent_pubkey, d.label,
    CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked'
         WHEN s.last_seen_at > now() - make_interval(secs => ${offline}) THEN 'online'
         ELSE 'offline' END AS status,
    s.version, s.last_seen_at, d.issued_at AS created_at, d.revoked_at,
    s.max_concurrent, s.active_contracts AS reported_active_contracts,
    d.pool_id, d.state, d.state_reason, d.state_set_by, d.consecutive_failures,
    CASE WHEN d.cooldown_until > now() THEN d.cooldown_until END AS cooldown_until,
    s.capabilities ->> 'host_scope' AS host_scope`;
}

/**
 * SQL: the agent objects of the rows of CTE `p` (agentStoredColumns), with the fields computed per
 * agent: machines it owns, live leases of both actions (index contract_sign_requests_lock_agent_idx),
 * drained, and its 24 h success rate (index contract_events_agent_outcome_idx).
 */
const agentObjectsFromP = (extra = '') => `SELECT ${extra} p.agent_pubkey, p.label, p.status, p.version,
    (SELECT count(*) FROM contract_sign_requests c
      WHERE c.teardown_owner = p.agent_pubkey AND c.status IN ${MACHINE_STATUSES})::int AS active_contracts,
    p.last_seen_at, p.created_at, p.revoked_at, p.max_concurrent, p.reported_active_contracts,
    p.pool_id, p.state, p.state_reason, p.state_set_by, (p.state = 'draining' AND l.n = 0) AS drained, l.n AS live_leases,
    p.consecutive_failures, p.cooldown_until, ${agentSuccessRateSql('p.agent_pubkey', '24h')} AS success_rate_24h, p.host_scope
  FROM p CROSS JOIN LATERAL (
    SELECT count(*)::int AS n FROM contract_sign_requests l
    WHERE l.provisioning_lock_agent = p.agent_pubkey AND l.provisioning_lock_expires_at > now()) l`;

/** One agent of the provider (revoked ones included), as the agent object; 404 when the provider has no such agent. */
export async function readAgent(db: Queryable, provider: string, agentPubkey: string, offlineAfter: number): Promise<PoolAgent> {
  const r = await db.query<PoolAgent>(
    `WITH p AS (
       SELECT ${agentStoredColumns('$3')} FROM provider_agent_delegations d LEFT JOIN agent_status s USING (agent_pubkey)
       WHERE d.agent_pubkey = $1 AND d.provider_pubkey = $2
     )
     ${agentObjectsFromP()}`,
    [agentPubkey, provider, offlineAfter],
  );
  if (!r.rows[0]) throw notFound(`Agent ${agentPubkey}`);
  return r.rows[0];
}

/**
 * A pool's agents ordered by label then key, one page at a time with the filtered total from the
 * same scan (count(*) OVER ()); the per-agent computed fields run for the page's rows only.
 */
export async function pagePoolAgents(db: Queryable, poolId: string, offlineAfter: number, page: AgentPage = {}): Promise<{ items: PoolAgent[]; total: number }> {
  const params: unknown[] = [poolId, offlineAfter, page.status ?? null, page.q ? containsPattern(page.q) : null];
  const limit = page.limit === undefined ? 'ALL' : String(page.limit);
  const r = await db.query<PoolAgent & { total: number }>(
    `WITH a AS (
       SELECT ${agentStoredColumns('$2')}
       FROM provider_agent_delegations d
       LEFT JOIN agent_status s USING (agent_pubkey)
       WHERE d.pool_id = $1 AND ($4::text IS NULL OR d.label ILIKE $4 OR d.agent_pubkey ILIKE $4)
     ),
     p AS (
       SELECT a.*, count(*) OVER ()::int AS total FROM a
       WHERE $3::text IS NULL OR a.status = $3
       ORDER BY a.label NULLS LAST, a.agent_pubkey
       LIMIT ${limit} OFFSET ${page.offset ?? 0}
     )
     ${agentObjectsFromP('p.total,')}
     ORDER BY p.label NULLS LAST, p.agent_pubkey`,
    params,
  );
  // Past the last page no row carries the total: count it (rare; a client paging beyond the end).
  const total = r.rows[0]?.total ?? ((page.offset ?? 0) > 0 ? (await pagePoolAgents(db, poolId, offlineAfter, { ...page, offset: 0, limit: 1 })).total : 0);
  return { items: r.rows.map(({ total: _total, ...agent }) => agent), total };
}

/** 404 unless the provider has this pool (a cheap check before reading its parts). */
export async function requirePool(db: Queryable, provider: string, poolId: string): Promise<void> {
  const r = await db.query(`SELECT 1 FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2`, [poolId, provider]);
  if (r.rowCount === 0) throw notFound(`Pool ${poolId}`);
}

export async function listPoolAgents(db: Queryable, poolId: string, offlineAfter: number, limit?: number): Promise<PoolAgent[]> {
  return (await pagePoolAgents(db, poolId, offlineAfter, { limit })).items;
}

/** What the fallback rules read of a pool. */
interface PoolNode {
  pool_id: string;
  name: string;
  location: string;
  provisioner_type: string;
  paused: boolean;
  fallback_pool_id: string | null;
  fallback_after_seconds: number | null;
  fallback_cross_region: boolean;
}

/**
 * Locks every pool of the provider, in pool_id order, for the rest of the transaction: fallback
 * links are checked against all of them, and two concurrent changes could otherwise each pass the
 * check and together close a cycle.
 */
async function lockProviderPools(tx: Queryable, provider: string): Promise<Map<string, PoolNode>> {
  const r = await tx.query<PoolNode>(
    `SELECT pool_id, name, location, provisioner_type, paused, fallback_pool_id, fallback_after_seconds, fallback_cross_region
     FROM agent_pools WHERE provider_pubkey = $1 ORDER BY pool_id FOR UPDATE`,
    [provider],
  );
  return new Map(r.rows.map((p) => [p.pool_id, p]));
}

/**
 * The fallback rules (DESIGN.md "Fallback pools") for the links that touch pool `changed` after a
 * change: its own fallback and those of the pools falling back to it. A fallback is a pool of the
 * same provider (an unknown id or another provider's pool is fallback_mismatch: no existence
 * oracle), of the same provisioner_type and, unless the pool falling back sets
 * fallback_cross_region, the same location; following fallbacks never returns to a pool (a pool
 * naming itself included: fallback_cycle).
 */
function assertFallbacks(pools: Map<string, PoolNode>, changed: string): void {
  for (const p of pools.values()) {
    if (p.fallback_pool_id === null || (p.pool_id !== changed && p.fallback_pool_id !== changed)) continue;
    if (p.fallback_pool_id === p.pool_id) throw fail('fallback_cycle', 'A pool cannot be its own fallback; name another pool of the same type and location.');
    const f = pools.get(p.fallback_pool_id);
    if (!f) throw fail('fallback_mismatch', `fallback_pool_id ${p.fallback_pool_id} is not one of your pools.`);
    if (f.provisioner_type !== p.provisioner_type) {
      throw fail('fallback_mismatch', `Pool "${p.name}" (${p.provisioner_type}) cannot fall back to pool "${f.name}" (${f.provisioner_type}): the provisioner types must match.`);
    }
    if (f.location !== p.location && !p.fallback_cross_region) {
      throw fail('fallback_mismatch', `Pool "${p.name}" (${p.location}) cannot fall back to pool "${f.name}" (${f.location}) unless it sets fallback_cross_region: true.`);
    }
  }
  const seen: string[] = [];
  for (let at: string | null = changed; at !== null && seen.length <= FALLBACK_CHAIN_MAX_DEPTH + 1; at = pools.get(at)?.fallback_pool_id ?? null) {
    if (seen.includes(at)) {
      const names = [...seen, at].map((id) => `"${pools.get(id)?.name ?? id}"`).join(' → ');
      throw fail('fallback_cycle', `These fallbacks would form a cycle: ${names}.`);
    }
    seen.push(at);
  }
  if (seen.length > FALLBACK_CHAIN_MAX_DEPTH) throw fail('fallback_cycle', `A fallback chain may be at most ${FALLBACK_CHAIN_MAX_DEPTH} pools long.`);
}

export async function createPool(db: Db, provider: string, input: PoolCreate): Promise<string> {
  const poolId = newPoolId(input.name);
  await db.transaction(async (tx) => {
    await lockRouting(tx, provider, 'pools');
    const pools = await lockProviderPools(tx, provider);
    const node: PoolNode = {
      pool_id: poolId, name: input.name, location: input.location, provisioner_type: input.provisioner_type, paused: input.paused ?? false,
      fallback_pool_id: input.fallback_pool_id ?? null,
      fallback_after_seconds: input.fallback_after_seconds === undefined ? FALLBACK_AFTER_DEFAULT_SECONDS : input.fallback_after_seconds,
      fallback_cross_region: input.fallback_cross_region ?? false,
    };
    assertFallbacks(pools.set(poolId, node), poolId);
    try {
      await tx.query(
        `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type, paused, fallback_pool_id, fallback_after_seconds, fallback_cross_region)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [poolId, provider, input.name, input.location, input.provisioner_type, node.paused, node.fallback_pool_id, node.fallback_after_seconds, node.fallback_cross_region],
      );
    } catch (err) {
      throw translatePoolError(err, input.name);
    }
    await refreshRoutes(tx, provider);
    await recordAudit(tx, { provider, kind: 'pool_created', actor: providerActor(provider), subject: { type: 'pool', id: poolId, pool_id: poolId }, detail: { ...input } });
  });
  return poolId;
}

export async function updatePool(db: Db, provider: string, poolId: string, input: PoolUpdate): Promise<void> {
  await db.transaction(async (tx) => {
    // Every pool of the provider is locked (fallback rules); offerings naming this pool take FOR
    // SHARE on it, so the type check below cannot race either.
    await lockRouting(tx, provider, 'pools');
    const pools = await lockProviderPools(tx, provider);
    const cur = pools.get(poolId);
    if (!cur) throw notFound(`Pool ${poolId}`);
    if (input.provisioner_type && input.provisioner_type !== cur.provisioner_type) {
      const n = (
        await tx.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM provider_offerings WHERE agent_pool_id = $1 AND provisioner_type <> $2`,
          [poolId, input.provisioner_type],
        )
      ).rows[0]!.n;
      if (n > 0) {
        throw fail('pool_in_use', `${n} offering(s) name this pool explicitly with provisioner type ${cur.provisioner_type}; change or re-point them first.`);
      }
    }
    const next: PoolNode = {
      ...cur,
      name: input.name ?? cur.name,
      location: input.location ?? cur.location,
      provisioner_type: input.provisioner_type ?? cur.provisioner_type,
      paused: input.paused ?? cur.paused,
      fallback_pool_id: input.fallback_pool_id === undefined ? cur.fallback_pool_id : input.fallback_pool_id,
      fallback_after_seconds: input.fallback_after_seconds === undefined ? cur.fallback_after_seconds : input.fallback_after_seconds,
      fallback_cross_region: input.fallback_cross_region ?? cur.fallback_cross_region,
    };
    assertFallbacks(pools.set(poolId, next), poolId);
    try {
      await tx.query(
        `UPDATE agent_pools SET name = $3, location = $4, provisioner_type = $5, paused = $6, fallback_pool_id = $7,
           fallback_after_seconds = $8, fallback_cross_region = $9
         WHERE pool_id = $1 AND provider_pubkey = $2`,
        [poolId, provider, next.name, next.location, next.provisioner_type, next.paused, next.fallback_pool_id, next.fallback_after_seconds, next.fallback_cross_region],
      );
    } catch (err) {
      throw translatePoolError(err, input.name ?? '');
    }
    if (next.location !== cur.location || next.provisioner_type !== cur.provisioner_type) await refreshRoutes(tx, provider);
    await recordAudit(tx, { provider, kind: 'pool_updated', actor: providerActor(provider), subject: { type: 'pool', id: poolId, pool_id: poolId }, detail: { changes: { ...input } } });
    // Resumed: its waiting agents may take the work that waited (eligibility changed, not the work).
    if (cur.paused && !next.paused) await notifyPoolWork(tx, provider, poolId);
  });
}

export async function deletePool(db: Db, provider: string, poolId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockRouting(tx, provider, 'pools');
    const found = await tx.query<{ name: string }>(`SELECT name FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2 FOR UPDATE`, [poolId, provider]);
    if (found.rowCount === 0) throw notFound(`Pool ${poolId}`);
    const r = (
      await tx.query<{ agents: number; offerings: number }>(
        `SELECT (SELECT count(*) FROM provider_agent_delegations WHERE pool_id = $1 AND revoked_at IS NULL)::int AS agents,
                (SELECT count(*) FROM provider_offerings WHERE agent_pool_id = $1)::int AS offerings`,
        [poolId],
      )
    ).rows[0]!;
    if (r.agents > 0) throw fail('pool_not_empty', `The pool still has ${r.agents} agent(s); revoke them before deleting the pool.`);
    if (r.offerings > 0) {
      throw fail('pool_in_use', `${r.offerings} offering(s) name this pool explicitly; re-point them before deleting the pool.`);
    }
    // Pools naming this one as their fallback: a concurrent change of fallbacks locks every pool of
    // the provider (this one included), so it runs before or after this check, never across it.
    const dependents = (
      await tx.query<{ name: string }>(`SELECT name FROM agent_pools WHERE fallback_pool_id = $1 ORDER BY name`, [poolId])
    ).rows.map((d) => `"${d.name}"`);
    if (dependents.length > 0) {
      throw fail('pool_in_use', `Pool(s) ${dependents.join(', ')} fall back to this pool; change their fallback first.`);
    }
    const machines = (
      await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM contract_sign_requests WHERE provisioned_pool_id = $1 AND status IN ${MACHINE_STATUSES}`,
        [poolId],
      )
    ).rows[0]!.n;
    if (machines > 0) {
      throw fail('pool_in_use', `${machines} machine(s) built by this pool still exist (provisioned or being torn down); end their contracts first.`);
    }
    try {
      await tx.query(`DELETE FROM agent_pools WHERE pool_id = $1`, [poolId]);
    } catch (err) {
      if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw fail('pool_in_use', 'An offering names this pool; re-point it first.');
      throw err;
    }
    await refreshRoutes(tx, provider);
    await recordAudit(tx, { provider, kind: 'pool_deleted', actor: providerActor(provider), subject: { type: 'pool', id: poolId, pool_id: poolId }, detail: { name: found.rows[0]!.name } });
  });
}

function translatePoolError(err: unknown, name: string): unknown {
  const code = pgCode(err);
  if (code === PG_UNIQUE_VIOLATION) return fail('pool_name_taken', `You already have a pool named "${name}"; pick another name.`);
  if (code === PG_FOREIGN_KEY_VIOLATION) {
    return fail('provider_not_registered', 'Register the provider first with PUT /api/v1/providers/{pubkey}.');
  }
  return err;
}

/**
 * What the agents of a pool report against what the contracts say (DESIGN.md v3 "Inventory"):
 * orphans (a tagged machine whose contract ended or is unknown), ghosts (a provisioned contract
 * whose machine is missing from its owner's last inventory, counting only contracts provisioned
 * before that report), and teardowns no agent can take now.
 */
export async function poolMachines(
  db: Queryable, poolId: string, graceSeconds: number,
): Promise<{ orphans: Orphan[]; ghosts: Ghost[]; teardowns_waiting: number }> {
  const orphans = (
    await db.query<Orphan>(
      `SELECT i.agent_pubkey, x.contract_id,
         CASE WHEN c.status = 'terminated' THEN 'terminated' WHEN c.status IS NULL THEN 'unknown' ELSE 'cancelled' END AS reason
       FROM provider_agent_delegations d
       JOIN agent_inventory i ON i.agent_pubkey = d.agent_pubkey
       CROSS JOIN LATERAL unnest(i.contract_ids) AS x(contract_id)
       LEFT JOIN contract_sign_requests c ON c.contract_id = x.contract_id AND c.provider_pubkey = d.provider_pubkey
       WHERE d.pool_id = $1 AND (c.status IS NULL OR c.status IN ('terminated', 'cancelled', 'rejected'))
       ORDER BY i.agent_pubkey, x.contract_id`,
      [poolId],
    )
  ).rows;
  const ghosts = (
    await db.query<Ghost>(
      `SELECT c.teardown_owner AS agent_pubkey, c.contract_id
       FROM provider_agent_delegations d
       JOIN agent_inventory i ON i.agent_pubkey = d.agent_pubkey
       JOIN contract_sign_requests c ON c.teardown_owner = d.agent_pubkey AND c.status = 'provisioned'
       WHERE d.pool_id = $1 AND c.provisioned_at < i.reported_at AND NOT (c.contract_id = ANY(i.contract_ids))
       ORDER BY c.teardown_owner, c.contract_id`,
      [poolId],
    )
  ).rows;
  // Waiting: no live lease, the owner is not sticky, and no other agent of the pool that takes
  // teardowns, was seen within the grace period and reports the machine's host_scope.
  const waiting = (
    await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM contract_sign_requests c
       WHERE c.provisioned_pool_id = $1 AND c.status = 'terminating' AND NOT c.teardown_handed_off
         AND (c.provisioning_lock_agent IS NULL OR c.provisioning_lock_expires_at <= now())
         AND NOT ${ownerStickySql('$2')}
         AND NOT EXISTS (
           SELECT 1 FROM provider_agent_delegations d JOIN agent_status s ON s.agent_pubkey = d.agent_pubkey
           WHERE d.pool_id = $1 AND d.revoked_at IS NULL AND s.last_seen_at > now() - make_interval(secs => $2)
             AND s.capabilities -> 'actions' @> '["terminate"]'::jsonb
             AND (s.capabilities ->> 'host_scope') IS NOT DISTINCT FROM c.host_scope)`,
      [poolId, graceSeconds],
    )
  ).rows[0]!.n;
  return { orphans, ghosts, teardowns_waiting: waiting };
}

/** Orphans and ghosts per pool (every pool, oldest first), for /metrics; definitions as in poolMachines. */
export async function machineGaugeRows(db: Queryable): Promise<{ pool_id: string; orphans: number; ghosts: number }[]> {
  const r = await db.query<{ pool_id: string; orphans: number; ghosts: number }>(
    `WITH inv AS MATERIALIZED (
       SELECT d.pool_id, d.provider_pubkey, i.agent_pubkey, i.contract_ids, i.reported_at
       FROM agent_inventory i JOIN provider_agent_delegations d USING (agent_pubkey) WHERE d.pool_id IS NOT NULL
     ), o AS (
       SELECT inv.pool_id, count(*)::int AS n FROM inv CROSS JOIN LATERAL unnest(inv.contract_ids) AS x(contract_id)
       LEFT JOIN contract_sign_requests c ON c.contract_id = x.contract_id AND c.provider_pubkey = inv.provider_pubkey
       WHERE c.status IS NULL OR c.status IN ('terminated', 'cancelled', 'rejected') GROUP BY 1
     ), g AS (
       SELECT inv.pool_id, count(*)::int AS n FROM inv
       JOIN contract_sign_requests c ON c.teardown_owner = inv.agent_pubkey AND c.status = 'provisioned'
       WHERE c.provisioned_at < inv.reported_at AND NOT (c.contract_id = ANY(inv.contract_ids)) GROUP BY 1
     )
     SELECT p.pool_id, COALESCE(o.n, 0) AS orphans, COALESCE(g.n, 0) AS ghosts
     FROM agent_pools p LEFT JOIN o ON o.pool_id = p.pool_id LEFT JOIN g ON g.pool_id = p.pool_id
     ORDER BY p.created_at, p.pool_id`,
  );
  return r.rows;
}
