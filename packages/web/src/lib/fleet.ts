// Words for fleet operations (DESIGN.md "Fleet operations (v3)"): fallback timers, capacity,
// cool-downs, and which pools may serve as another pool's fallback.
import type { Pool, PoolAgent } from '@dc/core';

/** "90 s", "5 min", "1 h 30 min", "1 d". */
export function secondsWords(total: number): string {
  const s = Math.max(0, Math.round(total));
  if (s < 120 && s % 60 !== 0) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h} h${m ? ` ${m} min` : ''}`;
  }
  return s === 86_400 ? '1 d' : `${Math.floor(s / 3600)} h`;
}

/** When work routed to a pool may go to its fallback: `fallback_after_seconds` in words. */
export function fallbackWhen(afterSeconds: number | null): string {
  if (afterSeconds === null) return 'only when no agent can take work';
  if (afterSeconds === 0) return 'at once';
  return `after ${secondsWords(afterSeconds)}`;
}

/** Live leases over the agent's limit: "2 / 4", "2 / ∞" when it sets none. */
export function capacityText(a: Pick<PoolAgent, 'live_leases' | 'max_concurrent'>): string {
  return `${a.live_leases} / ${a.max_concurrent ?? '∞'}`;
}

/** Whether a cool-down is still running at `nowMs`. */
export function coolingDown(cooldownUntil: string | null, nowMs: number): boolean {
  return cooldownUntil !== null && Date.parse(cooldownUntil) > nowMs;
}

/**
 * Pools the server accepts as `self`'s fallback: the provider's others of the same provisioner
 * type, in the same location unless another region is allowed. (Cycles are the server's to refuse:
 * it checks them under a lock.)
 */
export function fallbackCandidates(
  pools: readonly Pool[],
  self: { pool_id?: string; location: string; provisioner_type: string; cross_region: boolean },
): Pool[] {
  return pools
    .filter((p) => p.pool_id !== self.pool_id && p.provisioner_type === self.provisioner_type && (self.cross_region || p.location === self.location))
    .sort((a, b) => (a.location === b.location ? a.name.localeCompare(b.name) : a.location === self.location ? -1 : b.location === self.location ? 1 : a.location.localeCompare(b.location)));
}
