// Pool statistics (DESIGN.md "Observability and audit (v3)"), computed in SQL from the lock history
// (contract_events, attributed to pools by pool_id) and contract timestamps. Definitions:
// - the window is 60 buckets of window/60 seconds aligned to the Unix epoch, the last containing
//   now(); every total counts the events in those buckets, so the series adds up to the totals;
// - provisioned / failed_attempts / expired_leases / terminated count the events of that kind; an
//   expired lease later confirmed with the same token counts only as provisioned;
// - success_rate = provisioned ÷ (provisioned + failed attempts + unconfirmed expiries), null
//   without attempts; a failure the agent classed `contract` (the contract's own input was at
//   fault, v3 fleet operations) is not counted: neither the agent nor the pool failed;
// - time to provision runs from provisionable_at to the `provisioned` event (nearest rank), as the
//   event recorded it (provision_ms, migration 004);
// - waiting: contracts routed to the pool that are accepted and paid now, oldest by provisionable_at.
import { STATS_BUCKETS, STATS_WINDOW_SECONDS, type PoolStats, type StatsWindow } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { notFound } from '../errors.js';

/** Start of the first of the 60 epoch-aligned buckets of `bucketSeconds` (a trusted integer). */
export function windowStartSql(bucketSeconds: number): string {
  return `to_timestamp((floor(extract(epoch FROM now()) / ${bucketSeconds}) - ${STATS_BUCKETS - 1}) * ${bucketSeconds})`;
}

/**
 * Outcome events `e` that count: failures and expiries of provision leases (a teardown's count
 * elsewhere), not a failure classed `contract`, and not an expiry whose lease was confirmed after all.
 */
export const COUNTED_OUTCOME = `(e.event IN ('provisioned', 'terminated') OR e.action = 'provision')
  AND e.error_class IS DISTINCT FROM 'contract'
  AND (e.event <> 'expired' OR (SELECT count(*) FROM contract_events c2
    WHERE c2.contract_id = e.contract_id AND c2.lock_token = e.lock_token AND c2.event = 'provisioned') = 0)`;
// A scalar subquery, not NOT EXISTS: the planner may turn an EXISTS under OR into a hash of every
// provisioned event (a scan of the whole index per pool); this stays a probe per expiry.

/** success_rate over the window of the outcome events `e` matching `who` (SQL over `e`). */
function successRateOf(who: string, window: StatsWindow): string {
  const from = windowStartSql(STATS_WINDOW_SECONDS[window] / STATS_BUCKETS);
  return `(SELECT CASE WHEN count(*) = 0 THEN NULL
                  ELSE (count(*) FILTER (WHERE e.event = 'provisioned'))::float8 / count(*) END
     FROM contract_events e
     WHERE ${who} AND e.at >= ${from} AND e.event IN ('provisioned', 'failed', 'expired') AND ${COUNTED_OUTCOME})`;
}

/** success_rate over the window for the pool id expression `poolId` (index contract_events_pool_outcome_idx). */
export function successRateSql(poolId: string, window: StatsWindow): string {
  return successRateOf(`e.pool_id = ${poolId}`, window);
}

/** The same for one agent's own outcomes (the agent object; index contract_events_agent_outcome_idx). */
export function agentSuccessRateSql(agent: string, window: StatsWindow): string {
  return successRateOf(`e.agent_pubkey = ${agent}`, window);
}

/**
 * CTE `waiting` (pool_id, n, oldest_seconds): contracts accepted and paid now, by the pool they are
 * routed to (the offering's stored route), for the providers `providerCond` selects (SQL over `c`).
 * Grouped per offering first (an index-only scan of contract_sign_requests_waiting_idx).
 */
export function waitingCte(providerCond: string): string {
  return `waiting AS MATERIALIZED (
    SELECT o.route_pool_id AS pool_id, sum(k.n)::int AS n,
      extract(epoch FROM now() - min(k.since))::float8 AS oldest_seconds
    FROM (SELECT c.provider_pubkey, c.offering_id, count(*) AS n, min(COALESCE(c.provisionable_at, c.created_at)) AS since
          FROM contract_sign_requests c
          WHERE c.status = 'accepted' AND c.payment_status = 'succeeded' AND ${providerCond}
          GROUP BY c.provider_pubkey, c.offering_id) k
    JOIN provider_offerings o ON o.provider_pubkey = k.provider_pubkey AND o.offering_id = k.offering_id
    GROUP BY 1)`;
}
/** Waiting figures of pool alias `p` from the `waiting` CTE. */
export const WAITING_COUNT_SQL = `COALESCE((SELECT w.n FROM waiting w WHERE w.pool_id = p.pool_id), 0)`;
export const OLDEST_WAITING_SECONDS_SQL = `(SELECT w.oldest_seconds FROM waiting w WHERE w.pool_id = p.pool_id)`;

/** The whole statistics statement for one window (exported for the benchmark's EXPLAIN). $1 provider, $2 pool id. */
export function statsSql(bucketSeconds: number): string {
  const from = windowStartSql(bucketSeconds);
  return `
  WITH p AS MATERIALIZED (SELECT p.pool_id FROM agent_pools p WHERE p.pool_id = $2 AND p.provider_pubkey = $1),
  ${waitingCte('c.provider_pubkey = $1')},
  w AS MATERIALIZED (SELECT ${from} AS from_t),
  ev AS MATERIALIZED (
    SELECT e.event, e.provision_ms, e.at,
      floor((extract(epoch FROM e.at) - extract(epoch FROM w.from_t)) / ${bucketSeconds})::int AS b
    FROM contract_events e, w
    WHERE e.pool_id = $2 AND e.at >= w.from_t
      AND e.event IN ('provisioned', 'failed', 'expired', 'terminated') AND ${COUNTED_OUTCOME}
  ),
  ttp AS (SELECT ev.provision_ms AS ms FROM ev WHERE ev.event = 'provisioned' AND ev.provision_ms IS NOT NULL),
  per_bucket AS (
    SELECT b, count(*) FILTER (WHERE event = 'provisioned')::int AS provisioned,
              count(*) FILTER (WHERE event IN ('failed', 'expired'))::int AS failed
    FROM ev GROUP BY b
  )
  SELECT w.from_t AS "from", w.from_t + make_interval(secs => ${bucketSeconds * STATS_BUCKETS}) AS "to",
    (SELECT count(*) FILTER (WHERE event = 'provisioned') FROM ev)::int AS provisioned,
    (SELECT count(*) FILTER (WHERE event = 'terminated') FROM ev)::int AS terminated,
    (SELECT count(*) FILTER (WHERE event = 'failed') FROM ev)::int AS failed_attempts,
    (SELECT count(*) FILTER (WHERE event = 'expired') FROM ev)::int AS expired_leases,
    (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM ttp)::float8 AS p50,
    (SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) FROM ttp)::float8 AS p95,
    (SELECT max(ms) FROM ttp)::float8 AS max,
    ${WAITING_COUNT_SQL} AS waiting,
    ${OLDEST_WAITING_SECONDS_SQL} AS oldest_waiting_seconds,
    (SELECT json_agg(json_build_object(
        't', w.from_t + make_interval(secs => g.b * ${bucketSeconds}),
        'provisioned', COALESCE(pb.provisioned, 0), 'failed', COALESCE(pb.failed, 0)) ORDER BY g.b)
     FROM generate_series(0, ${STATS_BUCKETS - 1}) AS g(b) LEFT JOIN per_bucket pb ON pb.b = g.b) AS series
  FROM p, w`;
}

interface StatsRow {
  from: Date;
  to: Date;
  provisioned: number;
  terminated: number;
  failed_attempts: number;
  expired_leases: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  waiting: number;
  oldest_waiting_seconds: number | null;
  series: { t: string; provisioned: number; failed: number }[] | string;
}

const iso = (t: string | Date) => new Date(t).toISOString();

export async function poolStats(db: Queryable, provider: string, poolId: string, window: StatsWindow): Promise<PoolStats> {
  const bucketSeconds = STATS_WINDOW_SECONDS[window] / STATS_BUCKETS;
  const row = (await db.query<StatsRow>(statsSql(bucketSeconds), [provider, poolId])).rows[0];
  if (!row) throw notFound(`Pool ${poolId}`);
  const attempts = row.provisioned + row.failed_attempts + row.expired_leases;
  // json_agg arrives parsed from pg and as text from some drivers.
  const series = typeof row.series === 'string' ? (JSON.parse(row.series) as Exclude<StatsRow['series'], string>) : row.series;
  return {
    window,
    bucket_seconds: bucketSeconds,
    from: iso(row.from),
    to: iso(row.to),
    provisioned: row.provisioned,
    terminated: row.terminated,
    failed_attempts: row.failed_attempts,
    expired_leases: row.expired_leases,
    success_rate: attempts === 0 ? null : row.provisioned / attempts,
    time_to_provision_ms: { p50: row.p50, p95: row.p95, max: row.max },
    waiting: row.waiting,
    oldest_waiting_seconds: row.oldest_waiting_seconds,
    series: series.map((b) => ({ t: iso(b.t), provisioned: b.provisioned, failed: b.failed })),
  };
}
