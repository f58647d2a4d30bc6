// Heartbeats at the pace the API asks for (next_heartbeat_seconds), so the dashboard shows the
// agent online. While the API is unreachable it backs off with jitter, never slower than that pace.
// Each heartbeat advertises the work this agent takes (`actions`) and the hypervisor it manages
// (`host_scope`): the API offers teardowns only to agents that can see the machine. At most every
// INVENTORY_INTERVAL_MS it also reports the contract ids of the tagged machines the provisioner
// sees, so pool detail can list orphans and ghosts.
// The answer carries the agent's fleet state (`state`, `drained`): a change is logged once and
// written to the state file for `dc-agent status`. Nothing else changes here while draining: the
// API refuses new provision grants under the agent's row lock, and claims still return this
// agent's own leases and teardowns (see claim-loop.ts).
import { WORK_ACTIONS, type AgentState as FleetState, type HeartbeatResult } from '@dc/core';
import { classify, errorMessage } from '../errors.js';
import { Backoff, linkSignals, pause } from '../util.js';
import { AGENT_VERSION } from '../version.js';
import type { DaemonContext } from './context.js';

/** Until the API has told us its pace. */
const DEFAULT_INTERVAL_S = 30;
/** DESIGN.md: inventory is sent at most every 10 minutes. */
export const INVENTORY_INTERVAL_MS = 10 * 60_000;
/** Listing the machines must not hold up a heartbeat for long. */
const INVENTORY_TIMEOUT_MS = 60_000;

export async function heartbeatLoop(ctx: DaemonContext, activeContracts: () => number, signal: AbortSignal): Promise<void> {
  const backoff = new Backoff(1000, ctx.cfg.maxBackoffSeconds * 1000);
  let intervalMs = DEFAULT_INTERVAL_S * 1000;
  let connected = false;
  // Free-form beyond actions and host_scope (which decide who may take a teardown).
  const capabilities = { max_concurrent: ctx.cfg.maxConcurrent, long_poll: true, claim: true, actions: [...WORK_ACTIONS], host_scope: ctx.provisioner.hostScope };
  /** When an inventory was last delivered (or the provisioner could not make one). */
  let inventoryAt = -Infinity;
  const fleet = fleetStateWatcher(ctx);
  while (!signal.aborted) {
    let waitMs: number;
    const inventory = Date.now() - inventoryAt >= INVENTORY_INTERVAL_MS ? await takeInventory(ctx, signal) : undefined;
    if (inventory === null) inventoryAt = Date.now(); // nothing to report: ask again next interval
    try {
      const r = await ctx.api.agents.heartbeat(
        {
          version: AGENT_VERSION,
          provisioner_type: ctx.provisioner.type,
          active_contracts: activeContracts(),
          // Every heartbeat: the API bounds grants by it and the dashboard shows work against it.
          max_concurrent: ctx.cfg.maxConcurrent,
          capabilities,
          ...(inventory ? { inventory } : {}),
        },
        signal,
      );
      intervalMs = Math.max(1, r.next_heartbeat_seconds) * 1000;
      waitMs = intervalMs;
      const now = new Date().toISOString();
      ctx.state.update({ last_heartbeat_at: now, api_reachable: true, pool_name: r.pool_name ?? ctx.state.current.pool_name });
      if (inventory) {
        inventoryAt = Date.now();
        ctx.state.update({ last_inventory_at: now, inventory_count: inventory.length });
        ctx.log.info('inventory.sent', `reported ${inventory.length} tagged machines`, { machines: inventory.length });
      }
      if (!connected || backoff.attempts > 0) {
        ctx.log.info('heartbeat.ok', `connected to ${ctx.cfg.apiUrl} (pool ${r.pool_name ?? r.pool_id ?? 'none'}); heartbeat every ${intervalMs / 1000} s`, {
          pool_id: r.pool_id,
          next_heartbeat_seconds: r.next_heartbeat_seconds,
        });
      }
      fleet(r);
      if (r.pool_id && r.pool_id !== ctx.cfg.poolId) {
        ctx.log.warn('heartbeat.pool_mismatch', `the API places this agent in pool ${r.pool_id}, the config says ${ctx.cfg.poolId}`);
      }
      connected = true;
      backoff.reset();
    } catch (err) {
      if (signal.aborted) break;
      if (ctx.fatal(err)) break;
      waitMs = Math.min(intervalMs, backoff.next());
      const level = classify(err).kind === 'transient' ? 'warn' : 'error';
      ctx.log[level]('heartbeat.failed', `heartbeat failed: ${errorMessage(err)}; next try in ${waitMs} ms`, { attempt: backoff.attempts });
      ctx.state.update({ api_reachable: false, last_error: errorMessage(err) });
    }
    if (!(await pause(waitMs, signal))) break;
  }
}

/**
 * Logs each change of the agent's fleet state once: draining (with who set it and why, asked of
 * the API best effort), drained (safe to stop), active again. An API from before fleet operations
 * sends no state: nothing is logged.
 */
export function fleetStateWatcher(ctx: DaemonContext): (r: Pick<HeartbeatResult, 'state' | 'drained'>) => void {
  let last: { state: FleetState; drained: boolean } | null = null;
  let logged: Promise<void> = Promise.resolve();
  return (r) => {
    if (r.state !== 'active' && r.state !== 'draining') return;
    const now = { state: r.state, drained: r.drained === true };
    const before = last;
    last = now;
    if (before && before.state === now.state && before.drained === now.drained) return;
    ctx.state.update({ agent_state: now.state, drained: now.drained, ...(now.state === 'active' ? { state_reason: null, state_set_by: null } : {}) });
    if (now.state === 'active') {
      // Starting active is the normal case: agent.started said enough.
      if (before) logged = logged.then(() => ctx.log.info('agent.active', 'this agent is active again: it takes new provision work', { state: now.state }));
      return;
    }
    // In order: "draining" (after asking the API why) before "drained".
    if (!before || before.state !== 'draining') logged = logged.then(() => logDraining(ctx));
    if (now.drained) {
      logged = logged.then(() =>
        ctx.log.info('agent.drained', 'this agent is drained: it holds no lease, so it is safe to stop (dc-agent resume takes work again)', { state: now.state, drained: true }),
      );
    }
  };
}

async function logDraining(ctx: DaemonContext): Promise<void> {
  let why = '';
  try {
    const a = await ctx.api.agents.get(ctx.agentPubkey, AbortSignal.timeout(5_000));
    why = ` (set by ${a.state_set_by === 'agent' ? 'this agent, dc-agent drain' : 'the provider'}${a.state_reason ? `: ${a.state_reason}` : ''})`;
    ctx.state.update({ state_reason: a.state_reason, state_set_by: a.state_set_by });
  } catch {
    /* the reason is a nicety; the state is what matters */
  }
  ctx.log.info('agent.draining', `this agent is draining${why}: it gets no new provision work, finishes what it holds and still tears down its own machines`, { state: 'draining' });
}

/**
 * The provisioner's list of tagged machines; null when it cannot list them or listing failed (an
 * empty list would claim every provisioned contract's machine is missing).
 */
async function takeInventory(ctx: DaemonContext, signal: AbortSignal): Promise<string[] | null> {
  const limit = linkSignals(signal, AbortSignal.timeout(INVENTORY_TIMEOUT_MS));
  try {
    return await ctx.provisioner.inventory(limit.signal);
  } catch (err) {
    if (!signal.aborted) ctx.log.warn('inventory.failed', `could not list the tagged machines: ${errorMessage(err)}; the heartbeat goes without an inventory`);
    return null;
  } finally {
    limit.dispose();
  }
}
