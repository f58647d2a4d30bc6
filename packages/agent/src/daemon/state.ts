// The small state file `run` keeps next to the config, for `dc-agent status`: pool, last
// heartbeat, contracts in flight. Written atomically (temporary file, then rename), at most a few
// times a second; losing it loses nothing but what status shows.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AgentState as FleetState, StateSetter, WorkAction } from '@dc/core';

/** tearing_down: a teardown lease's work; cleaning_up: removing what a failed or lost attempt created. */
export type JobPhase = 'provisioning' | 'tearing_down' | 'confirming' | 'cleaning_up' | 'releasing';

export interface InFlight {
  contract_id: string;
  offering_id: string;
  /** What the lease is for (a provision becomes a teardown when its contract ends meanwhile). */
  action: WorkAction;
  lock_token: number;
  phase: JobPhase;
  started_at: string;
}

export interface AgentState {
  pid: number;
  version: string;
  agent_pubkey: string;
  provider_pubkey: string;
  pool_id: string;
  pool_name: string | null;
  provisioner_type: string;
  host_scope: string;
  started_at: string;
  updated_at: string;
  stopped_at: string | null;
  exit_code: number | null;
  last_heartbeat_at: string | null;
  api_reachable: boolean | null;
  last_error: string | null;
  in_flight: InFlight[];
  /** torn_down: own attempts cleaned up; terminated: teardowns confirmed. */
  counts: { provisioned: number; handed_off: number; failed: number; torn_down: number; terminated: number };
  /** When the last inventory was sent, and how many machines it listed. */
  last_inventory_at: string | null;
  inventory_count: number | null;
  /** Fleet state from the last heartbeat answer (null: not known yet, or an API without it). */
  agent_state: FleetState | null;
  drained: boolean | null;
  state_reason: string | null;
  state_set_by: StateSetter | null;
}

/** What the daemon learns while it runs; the rest comes with the constructor. */
type Learned =
  | 'updated_at' | 'stopped_at' | 'exit_code' | 'last_heartbeat_at' | 'api_reachable' | 'last_error' | 'in_flight' | 'counts'
  | 'last_inventory_at' | 'inventory_count' | 'agent_state' | 'drained' | 'state_reason' | 'state_set_by';

const WRITE_DELAY_MS = 200;

export class StateFile {
  private state: AgentState;
  private timer: NodeJS.Timeout | null = null;
  private warned = false;

  constructor(
    readonly path: string,
    initial: Omit<AgentState, Learned>,
    private readonly onWriteError: (err: Error) => void = () => undefined,
  ) {
    this.state = {
      ...initial,
      updated_at: initial.started_at,
      stopped_at: null,
      exit_code: null,
      last_heartbeat_at: null,
      api_reachable: null,
      last_error: null,
      in_flight: [],
      counts: { provisioned: 0, handed_off: 0, failed: 0, torn_down: 0, terminated: 0 },
      last_inventory_at: null,
      inventory_count: null,
      agent_state: null,
      drained: null,
      state_reason: null,
      state_set_by: null,
    };
    this.flush();
  }

  get current(): Readonly<AgentState> {
    return this.state;
  }

  update(patch: Partial<AgentState>): void {
    this.state = { ...this.state, ...patch };
    this.schedule();
  }

  setJob(id: string, job: InFlight | null): void {
    const rest = this.state.in_flight.filter((j) => j.contract_id !== id);
    this.update({ in_flight: job ? [...rest, job] : rest });
  }

  phase(id: string, phase: JobPhase): void {
    this.update({ in_flight: this.state.in_flight.map((j) => (j.contract_id === id ? { ...j, phase } : j)) });
  }

  count(what: keyof AgentState['counts']): void {
    this.update({ counts: { ...this.state.counts, [what]: this.state.counts[what] + 1 } });
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), WRITE_DELAY_MS);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state.updated_at = new Date().toISOString();
    const tmp = `${this.path}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(this.state, null, 2) + '\n', { mode: 0o644 });
      renameSync(tmp, this.path);
    } catch (err) {
      if (!this.warned) this.onWriteError(err as Error);
      this.warned = true;
    }
  }
}

export function readState(path: string): AgentState | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as AgentState;
  } catch {
    return null;
  }
}

/** Whether the process that wrote the state is still alive. */
export function isRunning(s: AgentState): boolean {
  if (s.stopped_at) return false;
  try {
    process.kill(s.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
