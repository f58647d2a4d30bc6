// Per-pool gauges on /metrics (DESIGN.md "Observability and audit (v3)"). Values come from the
// database, so every replica reports the same figures; a replica recomputes them with one query at
// most every DC_POOL_METRICS_SECONDS, and concurrent scrapes share one computation.
import { Gauge } from 'prom-client';
import type { AppContext } from './context.js';
import { poolGaugeRows, type PoolGaugeRow } from './store/pool-metrics.js';

/** Label cardinality bound: the oldest pools get their own label, the rest are summed under _other. */
export const POOL_LABELS_MAX = 1000;
export const OTHER_POOLS = '_other';

export function registerPoolGauges(ctx: AppContext, maxPools = POOL_LABELS_MAX): void {
  const registers = [ctx.metrics.registry];
  const waiting = new Gauge({ name: 'dc_pool_contracts_waiting', help: 'Contracts accepted and paid, routed to the pool, not yet provisioned.', labelNames: ['pool_id'] as const, registers, collect });
  const oldest = new Gauge({ name: 'dc_pool_oldest_waiting_seconds', help: 'Seconds the oldest waiting contract has waited since it became provisionable.', labelNames: ['pool_id'] as const, registers, collect });
  const terminating = new Gauge({ name: 'dc_pool_contracts_terminating', help: 'Contracts whose machine in the pool is being torn down.', labelNames: ['pool_id'] as const, registers, collect });
  const agents = new Gauge({ name: 'dc_pool_agents', help: 'Agents of the pool by status.', labelNames: ['pool_id', 'status'] as const, registers, collect });
  const attempts = new Gauge({ name: 'dc_pool_provision_attempts', help: 'Provision attempts over the last hour: provisioned, failed, or expired and never confirmed.', labelNames: ['pool_id'] as const, registers, collect });
  const success = new Gauge({ name: 'dc_pool_provision_success_ratio', help: 'Provisioned / provision attempts over the last hour (absent without attempts).', labelNames: ['pool_id'] as const, registers, collect });
  const ttp = new Gauge({ name: 'dc_pool_time_to_provision_seconds', help: 'Time from provisionable to provisioned over the last hour (nearest-rank quantiles).', labelNames: ['pool_id', 'quantile'] as const, registers, collect });

  let computedAt = 0;
  let inFlight: Promise<void> | null = null;

  const refresh = async (): Promise<void> => {
    const rows = await poolGaugeRows(ctx.db, ctx.config.agentOfflineAfterSeconds);
    for (const g of [waiting, oldest, terminating, agents, ttp, attempts, success]) g.reset();
    const own = rows.slice(0, maxPools);
    for (const r of own) set(r.pool_id, r, true);
    const rest = rows.slice(maxPools);
    if (rest.length > 0) {
      // Counts add up; the oldest wait is the maximum; quantiles cannot be summed, so _other has none.
      const sum = (k: 'waiting' | 'terminating' | 'online' | 'offline' | 'revoked' | 'attempts' | 'succeeded') => rest.reduce((n, r) => n + r[k], 0);
      const waits = rest.map((r) => r.oldest_waiting_seconds).filter((x): x is number => x !== null);
      set(OTHER_POOLS, {
        pool_id: OTHER_POOLS, waiting: sum('waiting'), terminating: sum('terminating'), online: sum('online'), offline: sum('offline'),
        revoked: sum('revoked'), oldest_waiting_seconds: waits.length ? Math.max(...waits) : null, p50: null, p95: null,
        attempts: sum('attempts'), succeeded: sum('succeeded'),
      }, false);
    }
    computedAt = Date.now();
  };

  function set(pool_id: string, r: PoolGaugeRow, quantiles: boolean): void {
    waiting.set({ pool_id }, r.waiting);
    // No waiting contract: the oldest wait is 0, so an alert on it resolves.
    oldest.set({ pool_id }, r.oldest_waiting_seconds ?? 0);
    terminating.set({ pool_id }, r.terminating);
    for (const status of ['online', 'offline', 'revoked'] as const) agents.set({ pool_id, status }, r[status]);
    attempts.set({ pool_id }, r.attempts);
    if (r.attempts > 0) success.set({ pool_id }, r.succeeded / r.attempts);
    if (quantiles) {
      if (r.p50 !== null) ttp.set({ pool_id, quantile: '0.5' }, r.p50);
      if (r.p95 !== null) ttp.set({ pool_id, quantile: '0.95' }, r.p95);
    }
  }

  // prom-client calls collect() on each gauge per scrape; the first one refreshes (if stale) for all.
  async function collect(): Promise<void> {
    if (Date.now() - computedAt < ctx.config.poolMetricsSeconds * 1000) return;
    inFlight ??= refresh().finally(() => (inFlight = null));
    await inFlight;
  }
}
