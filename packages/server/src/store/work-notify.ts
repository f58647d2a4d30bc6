// Work notifications (DESIGN.md long-poll): a hint to re-query, never the data. Sent only inside
// the transaction that creates work (paid + accepted, released, failed without back-off, retried,
// expired), so listeners never wake before the rows are visible. The payload names the provider,
// the pool the work is routed to and how many contracts, so a replica wakes only that many of
// that pool's waiting agents instead of all of them.
import type { Queryable } from '../db/db.js';
import { RESOLVED_POOL_ID, ROUTE_JOIN } from './routing.js';

/** Channel on which contract_sign_requests announces new work. */
export const WORK_CHANNEL = 'dc_contract_work';
/** Payload pool field for work no pool is routed to (only legacy agents can take it). */
export const NO_POOL = '-';

export interface WorkNotice {
  provider: string;
  poolId: string | null;
  count: number;
}

/**
 * SQL expression that sends one notice per (provider, pool) for the contracts selected by
 * `contractIds` (a subquery yielding contract ids) and evaluates to the number of notices.
 */
export function notifyWorkSql(contractIds: string): string {
  return `(SELECT count(pg_notify('${WORK_CHANNEL}', w.provider_pubkey || ' ' || COALESCE(w.pool_id, '${NO_POOL}') || ' ' || w.n))
    FROM (SELECT c.provider_pubkey, ${RESOLVED_POOL_ID} AS pool_id, count(*) AS n
          FROM contract_sign_requests c
          LEFT JOIN provider_offerings o ON o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id
          ${ROUTE_JOIN}
          WHERE c.contract_id IN (${contractIds})
          GROUP BY 1, 2) w)`;
}

export async function notifyWork(tx: Queryable, contractIds: readonly string[]): Promise<void> {
  if (contractIds.length === 0) return;
  await tx.query(`SELECT ${notifyWorkSql('SELECT unnest($1::text[])')}`, [contractIds]);
}

export function parseWorkNotice(payload: string): WorkNotice | null {
  const [provider, pool, n] = payload.split(' ');
  const count = Number(n);
  if (!provider || !pool || !Number.isInteger(count) || count < 1) return null;
  return { provider, poolId: pool === NO_POOL ? null : pool, count };
}
