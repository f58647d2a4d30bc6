// Pools and their statistics. Each endpoint has its own query; counts follow routing.ts.
import { randomBytes } from 'node:crypto';
import type { Ghost, Orphan, Pool, PoolAgent, PoolCreate, PoolUpdate } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, fail, notFound, pgCode } from '../errors.js';
import { POOL_IS_DEFAULT, routedToPool } from './routing.js';
import { ownerStickySql } from './leases.js';
import { WAITING_COUNT_SQL, successRateSql, waitingCte } from './stats.js';
import { providerActor, recordAudit } from './audit.js';

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
    (SELECT count(*) FROM provider_agent_delegations d
      WHERE d.pool_id = p.pool_id AND d.revoked_at IS NULL)::int AS agents_count,
    (SELECT count(*) FROM provider_agent_delegations d JOIN agent_status s USING (agent_pubkey)
      WHERE d.pool_id = p.pool_id AND d.revoked_at IS NULL
        AND s.last_seen_at > now() - make_interval(secs => $3))::int AS online_count,
    (SELECT count(*) FROM provider_offerings o
      WHERE o.status = 'active' AND ${routedToPool('o', 'p', 'p.is_default')})::int AS offerings_count,
    (SELECT COALESCE(sum(k.n), 0) FROM active k
      JOIN provider_offerings o ON o.provider_pubkey = $1 AND o.offering_id = k.offering_id
      WHERE ${routedToPool('o', 'p', 'p.is_default')})::int
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
 * A pool's agents ordered by label then key, one page at a time with the filtered total from the
 * same scan (count(*) OVER ()); the per-agent machine count runs for the page's rows only.
 */
export async function pagePoolAgents(db: Queryable, poolId: string, offlineAfter: number, page: AgentPage = {}): Promise<{ items: PoolAgent[]; total: number }> {
  const params: unknown[] = [poolId, offlineAfter, page.status ?? null, page.q ? containsPattern(page.q) : null];
  const limit = page.limit === undefined ? 'ALL' : String(page.limit);
  const r = await db.query<PoolAgent & { total: number }>(
    `WITH a AS (
       SELECT d.agent_pubkey, d.label,
         CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked'
              WHEN s.last_seen_at > now() - make_interval(secs => $2) THEN 'online'
              ELSE 'offline' END AS status,
         s.version, s.last_seen_at, d.issued_at AS created_at, d.revoked_at,
         s.max_concurrent, s.active_contracts AS reported_active_contracts
       FROM provider_agent_delegations d
       LEFT JOIN agent_status s USING (agent_pubkey)
       WHERE d.pool_id = $1 AND ($4::text IS NULL OR d.label ILIKE $4 OR d.agent_pubkey ILIKE $4)
     ),
     page AS (
       SELECT a.*, count(*) OVER ()::int AS total FROM a
       WHERE $3::text IS NULL OR a.status = $3
       ORDER BY a.label NULLS LAST, a.agent_pubkey
       LIMIT ${limit} OFFSET ${page.offset ?? 0}
     )
     SELECT p.agent_pubkey, p.label, p.status, p.version,
       (SELECT count(*) FROM contract_sign_requests c
         WHERE c.teardown_owner = p.agent_pubkey AND c.status IN ${MACHINE_STATUSES})::int AS active_contracts,
       p.last_seen_at, p.created_at, p.revoked_at, p.max_concurrent, p.reported_active_contracts, p.total
     FROM page p
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

export async function createPool(db: Db, provider: string, input: PoolCreate): Promise<string> {
  const poolId = newPoolId(input.name);
  await db.transaction(async (tx) => {
    try {
      await tx.query(
        `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type) VALUES ($1, $2, $3, $4, $5)`,
        [poolId, provider, input.name, input.location, input.provisioner_type],
      );
    } catch (err) {
      throw translatePoolError(err, input.name);
    }
    await recordAudit(tx, { provider, kind: 'pool_created', actor: providerActor(provider), subject: { type: 'pool', id: poolId, pool_id: poolId }, detail: { ...input } });
  });
  return poolId;
}

export async function updatePool(db: Db, provider: string, poolId: string, input: PoolUpdate): Promise<void> {
  await db.transaction(async (tx) => {
    // Row lock: offerings naming this pool take FOR SHARE on it, so the type check cannot race.
    const cur = (
      await tx.query<{ provisioner_type: string }>(
        `SELECT provisioner_type FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2 FOR UPDATE`,
        [poolId, provider],
      )
    ).rows[0];
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
    try {
      await tx.query(
        `UPDATE agent_pools SET name = COALESCE($3, name), location = COALESCE($4, location),
           provisioner_type = COALESCE($5, provisioner_type)
         WHERE pool_id = $1 AND provider_pubkey = $2`,
        [poolId, provider, input.name ?? null, input.location ?? null, input.provisioner_type ?? null],
      );
    } catch (err) {
      throw translatePoolError(err, input.name ?? '');
    }
    await recordAudit(tx, { provider, kind: 'pool_updated', actor: providerActor(provider), subject: { type: 'pool', id: poolId, pool_id: poolId }, detail: { changes: { ...input } } });
  });
}

export async function deletePool(db: Db, provider: string, poolId: string): Promise<void> {
  await db.transaction(async (tx) => {
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
