// Orphans and ghosts per pool on /metrics (DESIGN.md v3 "Inventory"): `dc_pool_orphans` (tagged
// machines agents report whose contract ended or is unknown) and `dc_pool_ghosts` (provisioned
// contracts whose machine is missing from its owner's last inventory). From the database, so every
// replica reports alike; recomputed at most every DC_POOL_METRICS_SECONDS, with the same pool cap
// as the other per-pool gauges (the rest summed under _other).
import { Gauge } from 'prom-client';
import type { AppContext } from './context.js';
import { OTHER_POOLS, POOL_LABELS_MAX } from './pool-gauges.js';
import { machineGaugeRows } from './store/pools.js';

export function registerMachineGauges(ctx: AppContext, maxPools = POOL_LABELS_MAX): void {
  const registers = [ctx.metrics.registry];
  const orphans = new Gauge({ name: 'dc_pool_orphans', help: 'Tagged machines reported by the pool\'s agents whose contract ended or is unknown.', labelNames: ['pool_id'] as const, registers, collect });
  const ghosts = new Gauge({ name: 'dc_pool_ghosts', help: 'Provisioned contracts of the pool\'s agents whose machine is missing from the last inventory.', labelNames: ['pool_id'] as const, registers, collect });
  let computedAt = 0;
  let inFlight: Promise<void> | null = null;
  const refresh = async (): Promise<void> => {
    const rows = await machineGaugeRows(ctx.db);
    orphans.reset();
    ghosts.reset();
    for (const r of rows.slice(0, maxPools)) {
      orphans.set({ pool_id: r.pool_id }, r.orphans);
      ghosts.set({ pool_id: r.pool_id }, r.ghosts);
    }
    const rest = rows.slice(maxPools);
    if (rest.length > 0) {
      orphans.set({ pool_id: OTHER_POOLS }, rest.reduce((n, r) => n + r.orphans, 0));
      ghosts.set({ pool_id: OTHER_POOLS }, rest.reduce((n, r) => n + r.ghosts, 0));
    }
    computedAt = Date.now();
  };
  // The first gauge collected in a scrape refreshes both (when stale); concurrent scrapes share it.
  async function collect(): Promise<void> {
    if (Date.now() - computedAt < ctx.config.poolMetricsSeconds * 1000) return;
    inFlight ??= refresh().finally(() => (inFlight = null));
    await inFlight;
  }
}
