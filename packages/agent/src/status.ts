// `dc-agent status`: what the local `run` last wrote to its state file, and what dc-api knows of
// this agent (state, reason, drained, health, leases), asked with the agent's own key.
import type { PoolAgent } from '@dc/core';
import { loadConfig } from './config.js';
import { isRunning, readState, type AgentState } from './daemon/state.js';
import { getOwnRecord, leases, openSession } from './drain.js';
import { errorMessage } from './errors.js';

export interface StatusReport {
  config_path: string;
  state_file: string;
  running: boolean;
  state: AgentState | null;
  /** dc-api's record of this agent (null: --offline, or it could not be asked: see agent_error). */
  agent: PoolAgent | null;
  agent_error: string | null;
}

/** How long status waits for the API before it shows the local state alone. */
const API_TIMEOUT_MS = 5_000;

export async function readStatus(configPath: string, opts: { offline?: boolean } = {}): Promise<StatusReport> {
  const cfg = loadConfig(configPath, { provisioner: false });
  const state = readState(cfg.agent.stateFile);
  const report: StatusReport = { config_path: cfg.path, state_file: cfg.agent.stateFile, running: state ? isRunning(state) : false, state, agent: null, agent_error: null };
  if (opts.offline) return report;
  try {
    const session = openSession(configPath);
    try {
      report.agent = await getOwnRecord(session, AbortSignal.timeout(API_TIMEOUT_MS));
    } finally {
      session.api.close();
    }
  } catch (err) {
    report.agent_error = errorMessage(err);
  }
  return report;
}

function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return `${iso} (${s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`} ago)`;
}

/** State, health and leases: from the API when it answered, else the last heartbeat's state. */
function fleetLines(r: StatusReport, now = Date.now()): string[] {
  const a = r.agent;
  if (!a) {
    const s = r.state;
    const last = s?.agent_state ? `${s.agent_state}${s.agent_state === 'draining' ? `, ${s.drained ? 'drained' : 'not drained'}` : ''} (at the last heartbeat)` : 'unknown';
    return [`state:           ${last}${r.agent_error ? `; the API was not asked or did not answer: ${r.agent_error}` : ''}`];
  }
  const setBy = a.state_set_by === 'agent' ? 'by this agent' : a.state_set_by === 'provider' ? 'by the provider' : '';
  const why = [setBy, a.state_reason ? `"${a.state_reason}"` : ''].filter(Boolean).join(': ');
  const state =
    a.state === 'draining'
      ? `draining${why ? ` (${why})` : ''}, ${a.drained ? 'drained: safe to stop' : `not drained yet: ${leases(a.live_leases)}`}`
      : 'active';
  const until = a.cooldown_until ? Date.parse(a.cooldown_until) : NaN;
  const cooling = Number.isFinite(until) && until > now ? `cooling down until ${a.cooldown_until} (${Math.ceil((until - now) / 1000)} s left; the provider can reset it)` : 'not cooling down';
  const rate = a.success_rate_24h === null ? 'no attempts in 24 h' : `${Math.round(a.success_rate_24h * 100)}% successful in 24 h`;
  return [
    `state:           ${state}`,
    `health:          ${a.consecutive_failures} consecutive failures, ${cooling}; ${rate}`,
    `leases:          ${leases(a.live_leases)}${a.max_concurrent !== null ? `, max_concurrent ${a.max_concurrent}` : ''} (dc-api: ${a.status})`,
  ];
}

export function formatStatus(r: StatusReport): string {
  const s = r.state;
  if (!s) return `No state at ${r.state_file}: "dc-agent run" has not run with ${r.config_path}.\n${r.agent ? fleetLines(r).join('\n') + '\n' : ''}`;
  // A state file written before teardowns existed has no action: those were provisions.
  const teardowns = s.in_flight.filter((j) => j.action === 'terminate');
  const provisions = s.in_flight.filter((j) => j.action !== 'terminate');
  const line = (j: (typeof s.in_flight)[number]) => `  ${j.contract_id}  ${j.phase.padEnd(12)} lease token ${j.lock_token}, since ${j.started_at}`;
  const lines = [
    `dc-agent ${s.version}: ${r.running ? `running (pid ${s.pid})` : `not running${s.stopped_at ? ` (stopped ${ago(s.stopped_at)}, exit code ${s.exit_code})` : ' (it did not stop cleanly)'}`}`,
    `pool:            ${s.pool_name ?? '?'} (${s.pool_id}), provisioner ${s.provisioner_type}`,
    `agent key:       ${s.agent_pubkey}`,
    `started:         ${ago(s.started_at)}`,
    `last heartbeat:  ${ago(s.last_heartbeat_at)}${s.api_reachable === false ? ' — the API is not reachable right now' : ''}`,
    `host scope:      ${s.host_scope ?? '?'}`,
    `inventory:       ${s.last_inventory_at ? `${s.inventory_count} tagged machines, sent ${ago(s.last_inventory_at)}` : 'not sent'}`,
    ...fleetLines(r),
    `in flight:       ${provisions.length === 0 ? 'none' : ''}`,
    ...provisions.map(line),
    `teardowns:       ${teardowns.length === 0 ? 'none' : ''}`,
    ...teardowns.map(line),
    `done:            provisioned ${s.counts.provisioned}, terminated ${s.counts.terminated ?? 0}, handed off ${s.counts.handed_off}, failed ${s.counts.failed}, cleaned up ${s.counts.torn_down}`,
    ...(s.last_error ? [`last error:      ${s.last_error}`] : []),
  ];
  return lines.join('\n') + '\n';
}
