// `dc-agent doctor`: is this host ready to run? config, key, delegation, API, provisioner.
import { dirname, join, resolve } from 'node:path';
import { ApiClient } from './api/client.js';
import { Transport } from './api/transport.js';
import { AgentsApi } from './api/agents.js';
import { loadConfig, type AgentConfig } from './config.js';
import { checkIdentity } from './delegation.js';
import { errorMessage, ApiError } from './errors.js';
import { readKeyFile } from './keys.js';
import { createLogger } from './log.js';
import { SERVICE_USER, checkFiles, expectedOwner, type Owner } from './ownership.js';
import { createProvisioner } from './provisioners/index.js';
import type { Identity } from '@dc/core/node';

export type CheckName = 'config' | 'key' | 'files' | 'delegation' | 'api' | 'provisioner';
export interface Check {
  name: CheckName;
  ok: boolean;
  /** null: not run, because something it needs failed or --offline. */
  skipped?: boolean;
  message: string;
  /** A shell command that fixes what failed, when there is one. */
  fix?: string;
}
export interface DoctorReport {
  ok: boolean;
  config_path: string;
  checks: Check[];
}

const TIMEOUT_MS = 15_000;

export interface DoctorOptions {
  offline?: boolean;
  /** Run as root: the user the agent runs as (the installer's service user). */
  serviceUser?: string;
  /** Who must own the key and config; tests pass their own (default: expectedOwner()). */
  owner?: Owner | null;
}

export async function runDoctor(configPath: string, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: Check[] = [];
  const add = (name: CheckName, ok: boolean, message: string, skipped = false) => checks.push({ name, ok, message, ...(skipped ? { skipped } : {}) });
  const skip = (name: CheckName, why: string) => add(name, false, `skipped: ${why}`, true);

  let config: AgentConfig | null = null;
  let agentOnly: AgentConfig | null = null;
  try {
    config = loadConfig(configPath);
    agentOnly = config;
    add('config', true, `${config.path} is valid (pool ${config.agent.poolName ?? config.agent.poolId}, provisioner ${config.provisioner!.type})`);
  } catch (err) {
    add('config', false, errorMessage(err));
    try {
      agentOnly = loadConfig(configPath, { provisioner: false });
    } catch {
      agentOnly = null;
    }
  }
  const owner = opts.owner !== undefined ? opts.owner : expectedOwner(opts.serviceUser ?? SERVICE_USER);
  if (!agentOnly) {
    skip('key', 'the configuration cannot be read');
    // A config this user may not read is often an ownership problem: say how to fix it.
    checks.push(filesCheck([resolve(configPath), join(dirname(resolve(configPath)), 'agent.key')], owner));
    for (const n of ['delegation', 'api', 'provisioner'] as const) skip(n, 'the configuration cannot be read');
    return { ok: false, config_path: configPath, checks };
  }

  let identity: Identity | null = null;
  try {
    const k = readKeyFile(agentOnly.keys.privateKeyPath);
    identity = k.identity;
    if (agentOnly.agent.agentPubkey && agentOnly.agent.agentPubkey !== identity.publicKey) {
      add('key', false, `${agentOnly.keys.privateKeyPath} holds key ${identity.publicKey}, but agent.agent_pubkey is ${agentOnly.agent.agentPubkey}`);
      identity = null;
    } else {
      // Its owner and mode are the `files` check's.
      add('key', true, `${agentOnly.keys.privateKeyPath}: agent key ${identity.publicKey}`);
    }
  } catch (err) {
    add('key', false, errorMessage(err));
  }

  checks.push(filesCheck([agentOnly.keys.privateKeyPath, agentOnly.path], owner));

  if (!identity) skip('delegation', 'no usable key');
  else if (!agentOnly.delegation || !agentOnly.agent.serverKey) add('delegation', false, 'the config has no [delegation] or agent.server_key (written by setup); re-run setup');
  else {
    try {
      checkIdentity(agentOnly, identity);
      add('delegation', true, `signed by server key ${agentOnly.agent.serverKey.slice(0, 16)}… for pool ${agentOnly.agent.poolId}, issued ${agentOnly.delegation.issuedAt}`);
    } catch (err) {
      add('delegation', false, errorMessage(err));
    }
  }

  if (opts.offline) {
    skip('api', '--offline');
    skip('provisioner', '--offline');
  } else {
    if (!identity) skip('api', 'no usable key');
    else await checkApi(agentOnly, identity, add);
    if (!config) skip('provisioner', 'the [provisioner] configuration is invalid');
    else {
      try {
        const p = createProvisioner(config.provisioner!, createLogger({ write: () => undefined }));
        add('provisioner', true, `${p.type}: ${await p.check(AbortSignal.timeout(TIMEOUT_MS))}`);
      } catch (err) {
        add('provisioner', false, `${config.provisioner!.type}: ${errorMessage(err)}`);
      }
    }
  }
  // A check skipped for --offline does not fail the report; one skipped because another failed
  // is covered by that failure.
  return { ok: checks.every((c) => c.ok || c.skipped), config_path: configPath, checks };
}

/** The key and config belong to the user the agent runs as, and to nobody else. */
function filesCheck(files: string[], owner: Owner | null): Check {
  const r = checkFiles(files, owner);
  if (!r.ok) return { name: 'files', ok: false, message: r.problems.join('; '), fix: r.fix };
  const who = owner ? `owned by ${owner.user}` : 'owned by root (there is no service user on this host)';
  return { name: 'files', ok: true, message: `key and config are ${who} and closed to group and others` };
}

async function checkApi(cfg: AgentConfig, identity: Identity, add: (n: CheckName, ok: boolean, m: string) => void): Promise<void> {
  const a = cfg.agent;
  const t = new Transport(a.apiUrl, null);
  try {
    const published = await new AgentsApi(t).serverKey(AbortSignal.timeout(TIMEOUT_MS));
    if (a.serverKey && published !== a.serverKey) {
      add('api', false, `${a.apiUrl} publishes server key ${published}, not the ${a.serverKey} this agent was set up with: is agent.api_url the right server?`);
      return;
    }
  } catch (err) {
    add('api', false, `${a.apiUrl} is not reachable: ${errorMessage(err)}`);
    return;
  } finally {
    t.close();
  }
  const api = new ApiClient(a.apiUrl, identity, a.providerPubkey);
  try {
    // A signed, read-only agent call: 200 proves the delegation is active.
    await api.contracts.pendingProvision({ limit: 1, wait: 0 }, AbortSignal.timeout(TIMEOUT_MS));
    add('api', true, `${a.apiUrl} is reachable and this agent's delegation is active`);
  } catch (err) {
    const why = err instanceof ApiError && err.code === 'agent_revoked' ? 'this agent has been revoked by its provider' : errorMessage(err);
    add('api', false, `${a.apiUrl}: ${why}`);
  } finally {
    api.close();
  }
}

export function formatDoctor(r: DoctorReport): string {
  const lines = r.checks.flatMap((c) => [
    `${c.ok ? 'ok  ' : c.skipped ? 'skip' : 'FAIL'}  ${c.name.padEnd(11)} ${c.message}`,
    ...(c.fix ? [`      ${' '.repeat(11)} run: ${c.fix}`] : []),
  ]);
  lines.push(r.ok ? 'All checks passed.' : 'Some checks failed; fix them and run dc-agent doctor again.');
  return lines.join('\n') + '\n';
}
