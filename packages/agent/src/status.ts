// `dc-agent status`: what the local `run` last wrote to its state file.
import { loadConfig } from './config.js';
import { isRunning, readState, type AgentState } from './daemon/state.js';

export interface StatusReport {
  config_path: string;
  state_file: string;
  running: boolean;
  state: AgentState | null;
}

export function readStatus(configPath: string): StatusReport {
  const cfg = loadConfig(configPath, { provisioner: false });
  const state = readState(cfg.agent.stateFile);
  return { config_path: cfg.path, state_file: cfg.agent.stateFile, running: state ? isRunning(state) : false, state };
}

function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return `${iso} (${s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`} ago)`;
}

export function formatStatus(r: StatusReport): string {
  const s = r.state;
  if (!s) return `No state at ${r.state_file}: "dc-agent run" has not run with ${r.config_path}.\n`;
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
    `in flight:       ${provisions.length === 0 ? 'none' : ''}`,
    ...provisions.map(line),
    `teardowns:       ${teardowns.length === 0 ? 'none' : ''}`,
    ...teardowns.map(line),
    `done:            provisioned ${s.counts.provisioned}, terminated ${s.counts.terminated ?? 0}, handed off ${s.counts.handed_off}, failed ${s.counts.failed}, cleaned up ${s.counts.torn_down}`,
    ...(s.last_error ? [`last error:      ${s.last_error}`] : []),
  ];
  return lines.join('\n') + '\n';
}
