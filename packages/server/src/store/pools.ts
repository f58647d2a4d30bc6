// Pools and their statistics. Each endpoint has its own query; counts follow routing.ts.
import { randomBytes } from 'node:crypto';
import type { Pool, PoolAgent, PoolCreate, PoolUpdate } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, fail, notFound, pgCode } from '../errors.js';
import { POOL_IS_DEFAULT, routedToPool } from './routing.js';

/** Contracts that occupy a pool: paid and being or already provisioned. */
export const ACTIVE_CONTRACT_STATUSES = `('accepted', 'provisioning', 'provisioned')`;

export function newPoolId(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'pool';
  return `${slug}-${randomBytes(4).toString('hex')}`;
}

// $1 provider, $2 pool id or NULL for all, $3 offline-after seconds.
const POOL_STATS_SQL = `
  WITH p AS (
    SELECT p.*, ${POOL_IS_DEFAULT} AS is_default
    FROM agent_pools p
    WHERE p.provider_pubkey = $1 AND ($2::text IS NULL OR p.pool_id = $2)
  ),
  -- Active contracts counted once per offering (an index-only scan), then summed per pool.
  active AS (
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
      WHERE ${routedToPool('o', 'p', 'p.is_default')})::int AS active_contracts
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

export async function listPoolAgents(db: Queryable, poolId: string, offlineAfter: number): Promise<PoolAgent[]> {
  const r = await db.query<PoolAgent>(
    `SELECT d.agent_pubkey, d.label,
       CASE WHEN d.revoked_at IS NOT NULL THEN 'revoked'
            WHEN s.last_seen_at > now() - make_interval(secs => $2) THEN 'online'
            ELSE 'offline' END AS status,
       s.version,
       (SELECT count(*) FROM contract_sign_requests c
         WHERE c.provisioned_by = d.agent_pubkey AND c.status = 'provisioned')::int AS active_contracts,
       s.last_seen_at, d.issued_at AS created_at, d.revoked_at
     FROM provider_agent_delegations d
     LEFT JOIN agent_status s USING (agent_pubkey)
     WHERE d.pool_id = $1
     ORDER BY d.label NULLS LAST, d.agent_pubkey`,
    [poolId, offlineAfter],
  );
  return r.rows;
}

export async function createPool(db: Queryable, provider: string, input: PoolCreate): Promise<string> {
  const poolId = newPoolId(input.name);
  try {
    await db.query(
      `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type) VALUES ($1, $2, $3, $4, $5)`,
      [poolId, provider, input.name, input.location, input.provisioner_type],
    );
  } catch (err) {
    throw translatePoolError(err, input.name);
  }
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
  });
}

export async function deletePool(db: Db, provider: string, poolId: string): Promise<void> {
  await db.transaction(async (tx) => {
    const found = await tx.query(`SELECT 1 FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2 FOR UPDATE`, [poolId, provider]);
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
    try {
      await tx.query(`DELETE FROM agent_pools WHERE pool_id = $1`, [poolId]);
    } catch (err) {
      if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw fail('pool_in_use', 'An offering names this pool; re-point it first.');
      throw err;
    }
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
