// Per-pool gauges for /metrics (DESIGN.md "Observability and audit (v3)"): one statement for every
// pool, so a scrape costs one query however many pools exist (and none while the cache is fresh).
import type { Queryable } from '../db/db.js';
import { COUNTED_OUTCOME, OLDEST_WAITING_SECONDS_SQL, WAITING_COUNT_SQL, waitingCte } from './stats.js';

export interface PoolGaugeRow {
  pool_id: string;
  waiting: number;
  oldest_waiting_seconds: number | null;
  terminating: number;
  online: number;
  offline: number;
  revoked: number;
  /** Time to provision over the last hour, seconds (null without provisions). */
  p50: number | null;
  p95: number | null;
  /** Provision attempts (stats' definition) over the last hour, and how many were provisioned. */
  attempts: number;
  succeeded: number;
}

/** Every pool, oldest first (a stable order, so the pools that get their own labels stay the same). */
export async function poolGaugeRows(db: Queryable, offlineAfterSeconds: number): Promise<PoolGaugeRow[]> {
  const r = await db.query<PoolGaugeRow>(
    `WITH p AS MATERIALIZED (SELECT p.pool_id, p.created_at FROM agent_pools p),
     ${waitingCte('true')},
     -- A teardown belongs to the pool its machine lives in (index contract_sign_requests_teardown_idx).
     term AS (
       SELECT c.provisioned_pool_id AS pool_id, count(*)::int AS n FROM contract_sign_requests c
       WHERE c.status = 'terminating' GROUP BY c.provisioned_pool_id
     )
     SELECT p.pool_id,
       ${WAITING_COUNT_SQL} AS waiting,
       ${OLDEST_WAITING_SECONDS_SQL} AS oldest_waiting_seconds,
       COALESCE(term.n, 0) AS terminating,
       a.online, a.offline, a.revoked, t.p50, t.p95, o.attempts, o.succeeded
     FROM p
     LEFT JOIN term ON term.pool_id = p.pool_id
     CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE d.revoked_at IS NULL AND s.last_seen_at > now() - make_interval(secs => $1))::int AS online,
              count(*) FILTER (WHERE d.revoked_at IS NULL AND (s.last_seen_at IS NULL OR s.last_seen_at <= now() - make_interval(secs => $1)))::int AS offline,
              count(*) FILTER (WHERE d.revoked_at IS NOT NULL)::int AS revoked
       FROM provider_agent_delegations d LEFT JOIN agent_status s USING (agent_pubkey)
       WHERE d.pool_id = p.pool_id
     ) a
     CROSS JOIN LATERAL (
       SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x.s)::float8 AS p50,
              percentile_disc(0.95) WITHIN GROUP (ORDER BY x.s)::float8 AS p95
       FROM (SELECT e.provision_ms / 1000.0 AS s FROM contract_events e
             WHERE e.pool_id = p.pool_id AND e.event = 'provisioned' AND e.at >= now() - interval '1 hour'
               AND e.provision_ms IS NOT NULL) x
     ) t
     CROSS JOIN LATERAL (
       SELECT count(*)::int AS attempts, (count(*) FILTER (WHERE e.event = 'provisioned'))::int AS succeeded
       FROM contract_events e
       WHERE e.pool_id = p.pool_id AND e.at >= now() - interval '1 hour'
         AND e.event IN ('provisioned', 'failed', 'expired') AND ${COUNTED_OUTCOME}
     ) o
     ORDER BY p.created_at, p.pool_id`,
    [offlineAfterSeconds],
  );
  return r.rows;
}
