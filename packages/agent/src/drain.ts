// `dc-agent drain` and `dc-agent resume` (DESIGN.md "Fleet operations (v3)"): the agent sets its
// own state with a signed `PUT …/agents/{agent_pubkey}`, as itself, with the key and config `run`
// uses. A draining agent gets no new provision grants (the API refuses them under the agent's row
// lock); it finishes what it holds and still tears down its own machines. `--wait` polls the
// agent's record until it is `drained` (draining and holding no live lease).
import { STATE_REASON_MAX, type AgentState, type PoolAgent } from '@dc/core';
import type { Identity } from '@dc/core/node';
import { ApiClient } from './api/client.js';
import { loadConfig, type AgentConfig } from './config.js';
import { checkIdentity } from './delegation.js';
import { ApiError, CliError, EXIT_FAILURE, EXIT_USAGE, NetworkError, classify } from './errors.js';
import { readKeyFile } from './keys.js';
import { sleep } from './util.js';

/** `drain --wait` gives up after this long unless --timeout says otherwise (0: no limit). */
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 600;
/** How often `--wait` asks the API; a GET of one agent row, cheap for the API. */
export const DRAIN_POLL_MS = 1000;
/** One API call of drain, resume or status. */
const CALL_TIMEOUT_MS = 15_000;
/** `drain --wait` ran out of time with leases still held (the agent stays draining). */
export const EXIT_NOT_DRAINED = 3;

/** The agent's config, key and an API client signed by that key: what drain, resume and status need. */
export interface AgentSession {
  config: AgentConfig;
  identity: Identity;
  api: ApiClient;
}

/** Opens the agent's own identity; config or key problems are ConfigError (exit 3), as for run. */
export function openSession(configPath: string): AgentSession {
  // The [provisioner] section does not matter here: a half-filled config can still drain.
  const config = loadConfig(configPath, { provisioner: false });
  const { identity } = readKeyFile(config.keys.privateKeyPath);
  checkIdentity(config, identity);
  return { config, identity, api: new ApiClient(config.agent.apiUrl, identity, config.agent.providerPubkey) };
}

/** Parses --timeout: seconds, 0 for no limit. */
export function parseTimeout(raw: string | number | undefined): number {
  if (raw === undefined) return DEFAULT_DRAIN_TIMEOUT_SECONDS;
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (String(raw).trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new CliError(`--timeout must be a number of seconds (0 for no limit), got "${raw}".`, EXIT_USAGE);
  }
  return n;
}

export function checkReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (reason.length > STATE_REASON_MAX) throw new CliError(`--reason must be at most ${STATE_REASON_MAX} characters (got ${reason.length}).`, EXIT_USAGE);
  return reason;
}

/** Sets this agent's state; API errors become CliErrors with the agent's usual exit codes. */
export async function setOwnState(s: AgentSession, state: AgentState, reason: string | null | undefined): Promise<PoolAgent> {
  const body = state === 'active' ? { state, reason: null } : { state, ...(reason !== undefined ? { reason } : {}) };
  return explained(s, () => s.api.agents.update(s.identity.publicKey, body, AbortSignal.timeout(CALL_TIMEOUT_MS)));
}

export async function getOwnRecord(s: AgentSession, signal?: AbortSignal): Promise<PoolAgent> {
  return explained(s, () => s.api.agents.get(s.identity.publicKey, signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS)));
}

export interface WaitOutcome {
  drained: boolean;
  agent: PoolAgent;
}

/**
 * Polls the agent's record until it is drained or `timeoutS` passes (0: no limit). `onChange` hears
 * each new count of live leases. Network hiccups are retried until the deadline; other refusals end it.
 */
export async function waitDrained(
  s: AgentSession,
  first: PoolAgent,
  timeoutS: number,
  onChange: (a: PoolAgent) => void = () => undefined,
  pollMs = DRAIN_POLL_MS,
): Promise<WaitOutcome> {
  const deadline = timeoutS > 0 ? Date.now() + timeoutS * 1000 : Infinity;
  let agent = first;
  let leases = agent.live_leases;
  for (;;) {
    if (agent.drained) return { drained: true, agent };
    if (agent.state !== 'draining') {
      throw new CliError(`the agent is ${agent.state} again (set by ${agent.state_set_by ?? 'the provider'}), so it will not drain; run dc-agent drain again if that is what you want.`, EXIT_FAILURE);
    }
    const left = deadline - Date.now();
    if (left <= 0) return { drained: false, agent };
    await sleep(Math.min(pollMs, left));
    try {
      agent = await getOwnRecord(s);
    } catch (err) {
      // A blip while waiting is not worth giving up over: try again until the deadline.
      if (err instanceof CliError && err.cause instanceof NetworkError) continue;
      throw err;
    }
    if (agent.live_leases !== leases) {
      leases = agent.live_leases;
      onChange(agent);
    }
  }
}

/** The agent's exit codes for an API answer: 78 revoked, 3 forbidden (wrong provider), 1 otherwise. */
async function explained<T>(s: AgentSession, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const url = s.config.agent.apiUrl;
    const d = classify(err);
    if (d.kind === 'fatal') throw new CliError(d.message, d.exitCode);
    if (err instanceof NetworkError) throw new CliError(`cannot reach the API at ${url}: ${err.message}`, EXIT_FAILURE, err);
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      throw new CliError(`the API at ${url} does not know this agent's state (${err.status} ${err.code}: ${err.message}); it may predate drain (upgrade dc-api).`, EXIT_FAILURE, err);
    }
    if (err instanceof ApiError) throw new CliError(`the API refused: ${err.status} ${err.code}: ${err.message}`, EXIT_FAILURE, err);
    throw err;
  }
}

/** "1 live lease", "3 live leases". */
export function leases(n: number): string {
  return `${n} live lease${n === 1 ? '' : 's'}`;
}

export function describeAgent(a: PoolAgent): string {
  return `${a.agent_pubkey}${a.label ? ` (${a.label})` : ''}`;
}
