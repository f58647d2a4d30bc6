// Heartbeats at the pace the API asks for (next_heartbeat_seconds), so the dashboard shows the
// agent online. While the API is unreachable it backs off with jitter, never slower than that pace.
import { classify, errorMessage } from '../errors.js';
import { Backoff, pause } from '../util.js';
import { AGENT_VERSION } from '../version.js';
import type { DaemonContext } from './context.js';

/** Until the API has told us its pace. */
const DEFAULT_INTERVAL_S = 30;

export async function heartbeatLoop(ctx: DaemonContext, activeContracts: () => number, signal: AbortSignal): Promise<void> {
  const backoff = new Backoff(1000, ctx.cfg.maxBackoffSeconds * 1000);
  let intervalMs = DEFAULT_INTERVAL_S * 1000;
  let connected = false;
  while (!signal.aborted) {
    let waitMs: number;
    try {
      const r = await ctx.api.agents.heartbeat(
        {
          version: AGENT_VERSION,
          provisioner_type: ctx.provisioner.type,
          active_contracts: activeContracts(),
          capabilities: { max_concurrent: ctx.cfg.maxConcurrent, long_poll: true, claim: true },
        },
        signal,
      );
      intervalMs = Math.max(1, r.next_heartbeat_seconds) * 1000;
      waitMs = intervalMs;
      const now = new Date().toISOString();
      ctx.state.update({ last_heartbeat_at: now, api_reachable: true, pool_name: r.pool_name ?? ctx.state.current.pool_name });
      if (!connected || backoff.attempts > 0) {
        ctx.log.info('heartbeat.ok', `connected to ${ctx.cfg.apiUrl} (pool ${r.pool_name ?? r.pool_id ?? 'none'}); heartbeat every ${intervalMs / 1000} s`, {
          pool_id: r.pool_id,
          next_heartbeat_seconds: r.next_heartbeat_seconds,
        });
      }
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
