// Work notifications (DESIGN.md long-poll): a hint to re-query, never the data. Sent only inside
// the transaction that creates work (paid + accepted, released, failed without back-off, retried,
// expired), so listeners never wake before the rows are visible. The payload names the provider,
// the pool the work is routed to and how many contracts, so a replica wakes only that many of
// that pool's waiting agents instead of all of them. A teardown's notice also names its sticky
// owner ("provider pool n owner"), so the replica where the owner waits wakes exactly it.
// Fleet operations (v3): provision work is announced to every pool where it became eligible, the
// routed pool and the fallback pools open now; an agent that became eligible again (resume,
// reset-health) gets "provider pool 1 @agent", which wakes only that agent's waiter.
import type { Queryable } from '../db/db.js';
import { FALLBACK_CHAIN_MAX_DEPTH } from '../timing.js';
import { DEFAULT_AGENT_OFFLINE_AFTER_SECONDS } from '../config.js';
import { grantableSql, teardownGrantableSql } from './contract-state.js';
import { poolHasEligibleAgentSql } from './eligibility.js';

/** Channel on which contract_sign_requests announces new work. */
export const WORK_CHANNEL = 'dc_contract_work';
/** Payload pool field for work no pool is routed to (only legacy agents can take it). */
export const NO_POOL = '-';

export interface WorkNotice {
  provider: string;
  poolId: string | null;
  count: number;
  /** Set for teardown work: its sticky owner (null: none), whose waiter is woken first. */
  teardown?: { owner: string | null };
  /** Set when this agent became eligible again (resume, reset-health): wake only its provision waiter. */
  agent?: string;
}

/** What a work notice needs to know beyond the contracts: which fallback pools are open reads the offline cutoff. */
export interface WorkNoticePolicy {
  offlineAfterSeconds: number;
}

/** Marks the fourth field of an agent notice (a teardown owner is a hex key or '-'). */
const AGENT_MARK = '@';

/**
 * Rows (provider_pubkey, pool_id, n, owner) of work notices for contracts `c` matching `where`:
 * provisions per routed pool and per fallback pool open now (owner NULL; the chain walked forward
 * from the routed pool as routing.ts fallbackRoutesCte walks it backwards), teardowns per built-in pool and
 * owner ('-' when none). `offline`: DC_AGENT_OFFLINE_AFTER_SECONDS as a trusted integer literal.
 */
function noticeRowsSql(where: string, offline: number): string {
  const off = String(Math.trunc(offline));
  return `WITH RECURSIVE work AS MATERIALIZED (
            SELECT c.provider_pubkey, c.route_pool_id AS pool_id, COALESCE(c.provisionable_at, c.created_at) AS since
            FROM contract_sign_requests c WHERE ${where} AND ${grantableSql()}
          ), chain (provider_pubkey, pool_id, since, delay_s, open_now, depth) AS (
            SELECT w.provider_pubkey, q.fallback_pool_id, w.since, q.fallback_after_seconds, NOT ${poolHasEligibleAgentSql('q', off)}, 1
            FROM work w JOIN agent_pools q ON q.pool_id = w.pool_id WHERE q.fallback_pool_id IS NOT NULL
            UNION ALL
            SELECT ch.provider_pubkey, q.fallback_pool_id, ch.since, ch.delay_s + q.fallback_after_seconds,
              ch.open_now AND NOT ${poolHasEligibleAgentSql('q', off)}, ch.depth + 1
            FROM chain ch JOIN agent_pools q ON q.pool_id = ch.pool_id
            WHERE q.fallback_pool_id IS NOT NULL AND ch.depth < ${FALLBACK_CHAIN_MAX_DEPTH}
          )
          SELECT provider_pubkey, pool_id, count(*)::int AS n, NULL::text AS owner FROM work GROUP BY 1, 2
          UNION ALL
          SELECT provider_pubkey, pool_id, count(*)::int, NULL FROM chain
          WHERE open_now OR now() >= since + make_interval(secs => delay_s) GROUP BY 1, 2
          UNION ALL
          SELECT c.provider_pubkey, c.provisioned_pool_id, count(*)::int, COALESCE(c.teardown_owner, '${NO_POOL}')
          FROM contract_sign_requests c WHERE ${where} AND ${teardownGrantableSql()} GROUP BY 1, 2, 4`;
}

/** SQL: pg_notify of one notice row `w` (provider_pubkey, pool_id, n, owner). */
const notifyRow = (w: string) =>
  `pg_notify('${WORK_CHANNEL}', ${w}.provider_pubkey || ' ' || COALESCE(${w}.pool_id, '${NO_POOL}') || ' ' || ${w}.n || COALESCE(' ' || ${w}.owner, ''))`;

/**
 * SQL expression that sends one notice per (provider, pool[, owner]) for the contracts selected by
 * `contractIds` (a subquery yielding contract ids) that offer work, and evaluates to the number of
 * notices. `offlineAfterSeconds` decides which fallback pools are open now.
 */
export function notifyWorkSql(contractIds: string, offlineAfterSeconds: number): string {
  return `(SELECT count(${notifyRow('w')}) FROM (${noticeRowsSql(`c.contract_id IN (${contractIds})`, offlineAfterSeconds)}) w)`;
}

/** Sends the notices for `contractIds`; `offlineAfterSeconds` defaults to DC_AGENT_OFFLINE_AFTER_SECONDS's default (tests, tools). */
export async function notifyWork(tx: Queryable, contractIds: readonly string[], offlineAfterSeconds = DEFAULT_AGENT_OFFLINE_AFTER_SECONDS): Promise<void> {
  if (contractIds.length === 0) return;
  await tx.query(`SELECT ${notifyWorkSql('SELECT unnest($1::text[])', offlineAfterSeconds)}`, [contractIds], { prepare: true });
}

/** Agent `agent` became eligible for new work again (resume, reset-health): wake its waiter, wherever it waits. */
export async function notifyAgentEligible(tx: Queryable, provider: string, poolId: string | null, agent: string): Promise<void> {
  await tx.query(`SELECT pg_notify('${WORK_CHANNEL}', $1 || ' ' || $2 || ' 1 ${AGENT_MARK}' || $3)`, [provider, poolId ?? NO_POOL, agent]);
}

/**
 * Pool `poolId` can take work again (unpaused): one notice for the provision work routed to it now
 * (at most `cap` counted), waking that many of its waiters.
 */
export async function notifyPoolWork(tx: Queryable, provider: string, poolId: string, cap = 1000): Promise<void> {
  await tx.query(
    `SELECT pg_notify('${WORK_CHANNEL}', $1 || ' ' || $2 || ' ' || x.n) FROM (
       SELECT count(*)::int AS n FROM (
         SELECT 1 FROM contract_sign_requests c
         WHERE c.route_pool_id = $2 AND c.provider_pubkey = $1 AND ${grantableSql()}
         LIMIT $3) k) x
     WHERE x.n > 0`,
    [provider, poolId, cap],
  );
}

export function parseWorkNotice(payload: string): WorkNotice | null {
  const [provider, pool, n, owner] = payload.split(' ');
  const count = Number(n);
  if (!provider || !pool || !Number.isInteger(count) || count < 1) return null;
  const notice: WorkNotice = { provider, poolId: pool === NO_POOL ? null : pool, count };
  if (owner?.startsWith(AGENT_MARK)) notice.agent = owner.slice(AGENT_MARK.length);
  else if (owner) notice.teardown = { owner: owner === NO_POOL ? null : owner };
  return notice;
}

/**
 * Work that leases expiring since `since` made available, per provider and pool, with the database
 * time of the check (null when nothing expired). Expiry writes nothing, so no notice announces it:
 * each replica's expiry timer asks this instead. Without `since` it looks back `lookbackSeconds`.
 */
export async function expiredLeaseNotices(
  db: Queryable,
  since: Date | null,
  lookbackSeconds: number,
  offlineAfterSeconds: number,
): Promise<{ notices: WorkNotice[]; checkedAt: Date | null }> {
  const r = await db.query<{ provider_pubkey: string; pool_id: string | null; n: number; owner: string | null; checked_at: Date }>(
    `SELECT w.*, now() AS checked_at FROM (${noticeRowsSql(`c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at <= now()
       AND c.provisioning_lock_expires_at > COALESCE($1::timestamptz, now() - make_interval(secs => $2))`, offlineAfterSeconds)}) w`,
    [since, lookbackSeconds],
  );
  return {
    notices: r.rows.map((row) => ({
      provider: row.provider_pubkey,
      poolId: row.pool_id,
      count: row.n,
      ...(row.owner !== null && { teardown: { owner: row.owner === NO_POOL ? null : row.owner } }),
    })),
    checkedAt: r.rows[0]?.checked_at ?? null,
  };
}

/** Milliseconds until the earliest live lease expires (database clock), or null when none is held. */
export async function msUntilNextLeaseExpiry(db: Queryable): Promise<number | null> {
  const r = await db.query<{ ms: number | null }>(
    `SELECT ceil(extract(epoch FROM min(provisioning_lock_expires_at) - now()) * 1000)::int AS ms
     FROM contract_sign_requests WHERE provisioning_lock_agent IS NOT NULL AND provisioning_lock_expires_at > now()`,
  );
  return r.rows[0]?.ms ?? null;
}
