// Work notifications (DESIGN.md long-poll): a hint to re-query, never the data. Sent only inside
// the transaction that creates work (paid + accepted, released, failed without back-off, retried,
// expired), so listeners never wake before the rows are visible. The payload names the provider,
// the pool the work is routed to and how many contracts, so a replica wakes only that many of
// that pool's waiting agents instead of all of them. A teardown's notice also names its sticky
// owner ("provider pool n owner"), so the replica where the owner waits wakes exactly it.
import type { Queryable } from '../db/db.js';
import { contractFrom } from './contract-row.js';
import { grantableSql, teardownGrantableSql } from './contract-state.js';
import { RESOLVED_POOL_ID } from './routing.js';

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
}

/**
 * Rows (provider_pubkey, pool_id, n, owner) of work notices for contracts `c` matching `where`:
 * provisions per routed pool (owner NULL), teardowns per built-in pool and owner ('-' when none).
 */
function noticeRowsSql(where: string): string {
  return `SELECT c.provider_pubkey, ${RESOLVED_POOL_ID} AS pool_id, count(*)::int AS n, NULL::text AS owner
          FROM ${contractFrom()} WHERE ${where} AND ${grantableSql()} GROUP BY 1, 2
          UNION ALL
          SELECT c.provider_pubkey, c.provisioned_pool_id, count(*)::int, COALESCE(c.teardown_owner, '${NO_POOL}')
          FROM contract_sign_requests c WHERE ${where} AND ${teardownGrantableSql()} GROUP BY 1, 2, 4`;
}

/**
 * SQL expression that sends one notice per (provider, pool[, owner]) for the contracts selected by
 * `contractIds` (a subquery yielding contract ids) that offer work, and evaluates to the number of notices.
 */
export function notifyWorkSql(contractIds: string): string {
  return `(SELECT count(pg_notify('${WORK_CHANNEL}',
            w.provider_pubkey || ' ' || COALESCE(w.pool_id, '${NO_POOL}') || ' ' || w.n || COALESCE(' ' || w.owner, '')))
    FROM (${noticeRowsSql(`c.contract_id IN (${contractIds})`)}) w)`;
}

export async function notifyWork(tx: Queryable, contractIds: readonly string[]): Promise<void> {
  if (contractIds.length === 0) return;
  await tx.query(`SELECT ${notifyWorkSql('SELECT unnest($1::text[])')}`, [contractIds]);
}

export function parseWorkNotice(payload: string): WorkNotice | null {
  const [provider, pool, n, owner] = payload.split(' ');
  const count = Number(n);
  if (!provider || !pool || !Number.isInteger(count) || count < 1) return null;
  const notice: WorkNotice = { provider, poolId: pool === NO_POOL ? null : pool, count };
  if (owner) notice.teardown = { owner: owner === NO_POOL ? null : owner };
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
): Promise<{ notices: WorkNotice[]; checkedAt: Date | null }> {
  const r = await db.query<{ provider_pubkey: string; pool_id: string | null; n: number; owner: string | null; checked_at: Date }>(
    `SELECT w.*, now() AS checked_at FROM (${noticeRowsSql(`c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at <= now()
       AND c.provisioning_lock_expires_at > COALESCE($1::timestamptz, now() - make_interval(secs => $2))`)}) w`,
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
